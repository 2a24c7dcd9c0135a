package org.webphone.gateway.node;

import org.webphone.gateway.testing.Http;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.webphone.gateway.testing.PeerProcess;

/**
 * A gateway node run as its own JVM ({@code java -cp target/classes:<classpath.txt> Main}), configured
 * through environment variables exactly as an operator would, stopped by PID.
 */
final class NodeProcess extends PeerProcess {
  private static final AtomicInteger COUNTER = new AtomicInteger();

  private NodeProcess(String name, Process process, Path log) {
    super(name, process, log);
  }

  static NodeProcess start(String name, Map<String, String> env, String... args) throws IOException {
    Path base = Path.of(System.getProperty("project.basedir", "."));
    String classpath = base.resolve("target/classes") + ":" + Files.readString(base.resolve("target/classpath.txt")).trim();
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
        "-Dice4j.harvest.mapping.aws.enabled=false", "-Dice4j.harvest.mapping.stun.addresses=",
        "-cp", classpath, "org.webphone.gateway.Main"));
    cmd.addAll(List.of(args));
    Path dir = base.resolve("target/peers");
    Files.createDirectories(dir);
    Path log = dir.resolve(name + "-" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet() + ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    // The node's working directory is target/peers: no top-level cluster.xml or webroot/ is picked up by
    // accident, so each test says what it uses.
    pb.directory(dir.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("WEBPHONE_"));
    pb.environment().putAll(env);
    return new NodeProcess(name, pb.start(), log);
  }

  void awaitReady(Duration timeout) throws InterruptedException {
    awaitLog(l -> l.contains(" ready: http://"), timeout);
  }

  /** GET on the node's HTTP port: status and body. */
  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return Http.get("http://127.0.0.1:" + port + path);
  }

  /** Sends SIGTERM only (no SIGKILL), so a test can measure the graceful stop. */
  void terminate() {
    process().destroy();
  }
}
