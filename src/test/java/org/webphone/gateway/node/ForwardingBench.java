package org.webphone.gateway.node;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.webphone.gateway.testing.GatewaySession;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.RawWebSocket;

/**
 * Resume on any node, measured (bench/resume-forward.sh; not part of bin/test): two nodes as separate JVMs on
 * loopback ({@link NodeProcess}, one Hazelcast cluster of the two, embedded demo PBXs). Sessions are opened on
 * node a and taken back through node b, which then forwards them.
 * <ol>
 *   <li>Latency: {@code rounds} sequential {@code Ping}s (a frame to the session and its {@code Pong} back) on a
 *       socket on a (the owner) and on a socket through b: round trip p50/p99, and the difference (what
 *       forwarding adds to a frame and its event together).</li>
 *   <li>CPU on the forwarding node: b's process CPU (utime + stime, /proc) while {@code sessions} forwarded
 *       sessions each send {@code perSecond} Pings a second for {@code seconds}, against b idle for as long.</li>
 * </ol>
 * Bounded: every loop has a count, every read a timeout. Usage: {@code rounds sessions perSecond seconds}.
 */
public final class ForwardingBench {
  private static final int READ_MS = 10_000;

  private ForwardingBench() {
  }

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int sessions = args.length > 1 ? Integer.parseInt(args[1]) : 40;
    int perSecond = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    int seconds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
    Path dir = Files.createTempDirectory(Path.of("target"), "forwarding-bench-").toAbsolutePath();
    String cluster = "webphone-bench-" + UUID.randomUUID();
    int hzA = Ports.free();
    int hzB = Ports.free();
    NodeFixtures.NodePorts pa = NodeFixtures.NodePorts.allocate();
    NodeFixtures.NodePorts pb = NodeFixtures.NodePorts.allocate();
    List<NodeProcess> nodes = new ArrayList<>();
    try {
      for (String id : List.of("a", "b")) {
        NodeFixtures.NodePorts p = id.equals("a") ? pa : pb;
        Map<String, String> env = p.env(id);
        env.put("WEBPHONE_CLUSTER_ENABLED", "true");
        env.put("WEBPHONE_CLUSTER_CONFIG", clusterXml(dir, id, cluster, id.equals("a") ? hzA : hzB, List.of(hzA, hzB))
            .toString());
        env.put("WEBPHONE_LIMITS_ACCOUNTS_PER_IP", "10000");
        env.put("WEBPHONE_LIMITS_MAX_SESSIONS_PER_IP", "10000");
        env.put("WEBPHONE_LIMITS_MESSAGES_PER_SECOND", "100000");
        Path config = dir.resolve(id + "-config.json");
        Files.writeString(config, new JsonObject().put("pool", new JsonObject().put("range", new JsonObject()
            .put("prefix", "").put("from", 1000).put("to", 1000 + sessions + 10)
            .put("passwordTemplate", "secret-{user}"))).encode());
        nodes.add(NodeProcess.start("bench-forward-" + id, env, "--config", config.toString()));
      }
      for (NodeProcess n : nodes) {
        n.awaitReady(Duration.ofSeconds(600)); // a shared machine under load can take minutes
      }
      InetSocketAddress a = new InetSocketAddress("127.0.0.1", pa.http());
      InetSocketAddress b = new InetSocketAddress("127.0.0.1", pb.http());
      Thread.sleep(5000); // let both settle (JIT, cluster subscriptions) before anything is timed

      RawWebSocket direct = (RawWebSocket) open(a, null)[0];
      RawWebSocket forwarded = forwarded(a, b);
      rtts(forwarded, Math.min(500, rounds)); // warm-up of both paths, not counted
      rtts(direct, Math.min(500, rounds));
      long[] d = rtts(direct, rounds);
      long[] f = rtts(forwarded, rounds);
      System.out.printf("Ping round trip over %d frames: on the owner p50 %.3f ms p99 %.3f ms; through b p50 %.3f ms"
          + " p99 %.3f ms; added by forwarding p50 %.3f ms p99 %.3f ms%n", rounds, ms(d, 50), ms(d, 99), ms(f, 50),
          ms(f, 99), ms(f, 50) - ms(d, 50), ms(f, 99) - ms(d, 99));
      direct.close();
      forwarded.close();

      List<RawWebSocket> many = new ArrayList<>();
      for (int i = 0; i < sessions; i++) {
        many.add(forwarded(a, b));
      }
      long pid = nodes.get(1).pid();
      long idle0 = cpuMs(pid);
      Thread.sleep(seconds * 1000L);
      long idle = cpuMs(pid) - idle0;
      long frames = 0;
      long busy0 = cpuMs(pid);
      long start = System.nanoTime();
      long periodNs = 1_000_000_000L / perSecond;
      for (int tick = 0; tick < seconds * perSecond; tick++) {
        for (RawWebSocket w : many) {
          ping(w, tick);
          frames++;
        }
        long next = start + (tick + 1) * periodNs;
        long wait = next - System.nanoTime();
        if (wait > 0) {
          Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
      }
      long busy = cpuMs(pid) - busy0;
      double elapsed = (System.nanoTime() - start) / 1e9;
      System.out.printf("CPU of node b over %.1f s: idle %d ms; forwarding %d sessions x %d Pings/s (%d frames) %d ms;"
          + " extra %.1f us per forwarded frame and its Pong, %.3f %% of a core per session at %d frames/s%n",
          elapsed, idle, sessions, perSecond, frames, busy, (busy - idle) * 1000.0 / frames,
          (busy - idle) / elapsed / 10.0 / sessions, perSecond);
      for (RawWebSocket w : many) {
        w.close();
      }
    } finally {
      for (NodeProcess n : nodes) {
        n.close();
      }
    }
  }

  /** A ready session on {@code a}, its socket closed, then taken back through {@code b}: b's socket. */
  private static RawWebSocket forwarded(InetSocketAddress a, InetSocketAddress b) throws IOException {
    Object[] first = open(a, null);
    ((RawWebSocket) first[0]).close();
    Object[] again = open(b, (String) first[1]);
    if (!Boolean.TRUE.equals(again[2])) {
      throw new IOException("the session was not resumed through b");
    }
    return (RawWebSocket) again[0];
  }

  /** A socket with Hello (and resume), read until Ready: {socket, resume token, resumed}. */
  private static Object[] open(InetSocketAddress to, String resume) throws IOException {
    RawWebSocket ws = RawWebSocket.connect(InetAddress.getLoopbackAddress(), to, GatewaySession.path(), 0);
    JsonObject hello = new JsonObject().put("method", "Hello").put("ref", 0);
    if (resume != null) {
      hello.put("resume", resume);
    }
    ws.sendText(hello.encode());
    String token = null;
    Boolean resumed = null;
    for (int i = 0; i < 50; i++) {
      JsonObject e = text(ws);
      if ("OnSession".equals(e.getString("event"))) {
        token = e.getString("resumeToken");
        resumed = e.getBoolean("resumed");
      }
      if ("OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready", false)) {
        return new Object[] {ws, token, resumed};
      }
    }
    throw new IOException("no Ready within 50 frames");
  }

  private static long[] rtts(RawWebSocket ws, int n) throws IOException {
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      long t0 = System.nanoTime();
      ping(ws, i);
      out[i] = System.nanoTime() - t0;
    }
    Arrays.sort(out);
    return out;
  }

  private static void ping(RawWebSocket ws, int ref) throws IOException {
    ws.sendText("{\"method\":\"Ping\",\"ref\":" + ref + "}");
    for (int i = 0; i < 20; i++) {
      JsonObject e = text(ws);
      if ("Pong".equals(e.getString("event")) && e.getInteger("ref", -1) == ref) {
        return;
      }
    }
    throw new IOException("no Pong " + ref);
  }

  /** The next text frame as JSON; a close frame is an IOException with its code. */
  private static JsonObject text(RawWebSocket ws) throws IOException {
    for (int i = 0; i < 20; i++) {
      RawWebSocket.Frame f = ws.read(READ_MS);
      if (f.opcode() == RawWebSocket.CLOSE) {
        throw new IOException("the node closed the socket: " + f.closeCode());
      }
      if (f.opcode() == RawWebSocket.TEXT) {
        return new JsonObject(f.text());
      }
    }
    throw new IOException("no text frame within 20 frames");
  }

  private static double ms(long[] sorted, int percentile) {
    return sorted[Math.min(sorted.length - 1, sorted.length * percentile / 100)] / 1e6;
  }

  /** utime + stime of a process, in ms (clock ticks of 10 ms). */
  private static long cpuMs(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
  }

  /** The shipped cluster.xml with its own cluster name, this member's port and the members' list, in {@code dir}. */
  public static Path clusterXml(Path dir, String id, String name, int port, List<Integer> members) throws IOException {
    String xml = Files.readString(Path.of(System.getProperty("project.basedir", "."), "cluster.xml"))
        .replace("<cluster-name>webphone-gateway</cluster-name>", "<cluster-name>" + name + "</cluster-name>")
        .replace("<port auto-increment=\"true\" port-count=\"20\">5701</port>", "<port auto-increment=\"false\">" + port + "</port>")
        .replace("<member>127.0.0.1</member>", members.stream().map(p -> "<member>127.0.0.1:" + p + "</member>")
            .reduce("", String::concat));
    Path file = dir.resolve(id + "-cluster.xml");
    Files.writeString(file, xml);
    return file;
  }
}
