package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A gateway node as its own JVM inside a {@link NetnsBed} host ({@code java ... Main --config <file>}), so
 * that its threads and live heap can be measured the way an operator would ({@code /proc/<pid>/status},
 * {@code jcmd}); stopped by PID like any peer. The JVM flags are the production launcher's (ZGC) with a
 * bounded heap.
 */
public final class GatewayJvm extends PeerProcess {
  private GatewayJvm(Process process, Path log) {
    super("gateway-node", process, log);
  }

  /**
   * Starts a node in {@code host} with {@code config} (default-config.json's keys; the page comes from the
   * project's webroot/). Its working directory is target/peers.
   */
  public static GatewayJvm start(NetnsBed.Host host, JsonObject config) throws IOException {
    Path base = Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
    Path dir = base.resolve("target/peers");
    Files.createDirectories(dir);
    JsonObject cfg = new JsonObject()
        .put("http", new JsonObject().put("webroot", base.resolve("webroot").toString()))
        .mergeIn(config, true);
    Path file = Files.createTempFile(dir, "node-", ".json");
    Files.writeString(file, cfg.encodePrettily());
    List<String> cmd = new ArrayList<>(List.of(java("java"), "-Xmx512m", "-XX:+UseZGC",
        "-Djava.net.preferIPv4Stack=true", "-Dice4j.harvest.mapping.aws.enabled=false",
        "-Dice4j.harvest.mapping.stun.addresses=", "-cp", classpath(base, false), "org.webphone.gateway.Main",
        "--config", file.toString()));
    PeerProcess p = host.start("gateway-node", cmd);
    return new GatewayJvm(p.process(), p.log());
  }

  /**
   * Starts a node from the packaged jar inside {@code host} with exactly {@code command} (e.g. a systemd unit's
   * ExecStart, its variables expanded and its paths replaced by the test's: {@link #packagedJar()}) in
   * {@code workDir}, the unit's WorkingDirectory.
   */
  public static GatewayJvm startJar(NetnsBed.Host host, List<String> command, Path workDir) throws IOException {
    Files.createDirectories(workDir);
    PeerProcess p = PeerProcess.start("gateway-jar", host.inside(command), workDir);
    return new GatewayJvm(p.process(), p.log());
  }

  /**
   * The jar {@code mvn package} built (failsafe passes its path as {@code gateway.jar}); fails when it is not
   * there, so a jar-based test never runs on classes instead.
   */
  public static Path packagedJar() {
    Path jar = Path.of(System.getProperty("gateway.jar", "target/none.jar")).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      throw new AssertionError("no packaged jar at " + jar + ": run the jar-based tests with mvn verify (failsafe)");
    }
    return jar;
  }

  /** SIGKILL, as the kernel's OOM killer or a power cut would end it: no shutdown hook, no un-REGISTER. */
  public void kill() throws InterruptedException {
    process().destroyForcibly();
    if (!process().waitFor(10, TimeUnit.SECONDS)) {
      throw new AssertionError("node " + pid() + " still alive 10 s after SIGKILL");
    }
  }

  /** target/classes and the runtime classpath (and target/test-classes with {@code tests}). */
  static String classpath(Path base, boolean tests) throws IOException {
    String deps = Files.readString(base.resolve("target/classpath.txt")).trim();
    return (tests ? base.resolve("target/test-classes") + ":" : "") + base.resolve("target/classes") + ":" + deps;
  }

  static String java(String tool) {
    return Path.of(System.getProperty("java.home"), "bin", tool).toString();
  }

  public void awaitReady(Duration timeout) throws InterruptedException {
    awaitLog(l -> l.contains(" ready: http://"), timeout);
  }

  /** The JVM's live threads (Threads: of /proc/<pid>/status). */
  public int threads() throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc", String.valueOf(pid()), "status"))) {
      if (l.startsWith("Threads:")) {
        return Integer.parseInt(l.substring(8).trim());
      }
    }
    throw new IOException("no Threads: line for " + pid());
  }

  /**
   * The JVM's threads by name pattern (digits replaced by {@code #}, e.g. {@code vert.x-worker-thread-#}) and
   * how many of each, from {@code jcmd <pid> Thread.print}: what to compare when the count grows.
   */
  public Map<String, Integer> threadNames() throws IOException, InterruptedException {
    Map<String, Integer> m = new TreeMap<>();
    for (String l : jcmd("Thread.print").split("\n")) {
      if (l.startsWith("\"")) {
        m.merge(l.substring(1, l.indexOf('"', 1)).replaceAll("[0-9]+", "#"), 1, Integer::sum);
      }
    }
    return m;
  }

  private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+(\\d+)\\s+(\\d+)\\s*$");

  /**
   * Bytes of live objects: {@code jcmd <pid> GC.run}, then the total of {@code GC.class_histogram} (which
   * itself counts only what survives a full collection).
   */
  public long liveHeapBytes() throws IOException, InterruptedException {
    jcmd("GC.run");
    Matcher m = HISTOGRAM_TOTAL.matcher(jcmd("GC.class_histogram"));
    if (!m.find()) {
      throw new IOException("no Total line in jcmd GC.class_histogram of " + pid());
    }
    return Long.parseLong(m.group(2));
  }

  /** Runs {@code jcmd <pid> <command>} (the attach socket is found through /proc, across namespaces). */
  public String jcmd(String command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(java("jcmd"), String.valueOf(pid()), command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException("jcmd " + pid() + " " + command + " failed: " + out);
    }
    return out;
  }
}
