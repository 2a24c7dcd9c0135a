package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.load.BenchPeers;
import org.webphone.gateway.load.LoadOptions;
import org.webphone.gateway.load.LoadRun;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.RawWebSocket;

/**
 * Drain with real parts: two gateway nodes as their own JVMs ({@link NodeProcess}, the one place a node is
 * started) in one Hazelcast cluster on loopback, Kamailio (bench/kamailio/bench.cfg: registrar with digest auth,
 * every call to the SIPp UAS, usrloc readable over its ctl socket) and SIPp echoing RTP as the PBX side, and the
 * event-bus load tool in this JVM (a lite cluster member) with a synthetic WebRTC browser per call.
 * {@code media.timeoutSec} is 3: a call whose audio stopped for 3 s would be ended by the gateway and counted.
 * The nodes stay up between the tests (one peer set for the class); a test that needs one starts it again.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DrainProcessTest {
  private static final long HOLD_MS = 10_000;
  private static final int DRAIN_LIMIT_SEC = 16;
  private static final String TOKEN = "drain-test-admin-token";

  @TempDir
  static Path dir;

  private static final List<PeerProcess> peers = new ArrayList<>();
  private static final NodeProcess[] nodes = new NodeProcess[2];
  private static final List<Map<String, String>> envs = new ArrayList<>();
  private static final List<NodeFixtures.NodePorts> ports = new ArrayList<>();
  private static Path sippMessages;
  private static Path ctl;
  private static Vertx probe;
  private static UsrlocWatch usrloc;

  @BeforeAll
  static void startPeersAndNodes() throws Exception {
    int uas = Ports.free();
    sippMessages = dir.resolve("uas-messages.log");
    peers.add(PeerProcess.start("sipp-uas-drain", List.of("sipp", "-sf",
        Path.of(System.getProperty("project.basedir", "."), "bench/sipp/uas-bench.xml").toAbsolutePath().toString(),
        "-i", "127.0.0.1", "-p", Integer.toString(uas), "-mp", Integer.toString(Ports.freeRange(4)), "-rtp_echo",
        "-m", "1000", "-timer_resol", "10", "-nostdin", "-timeout", "300", "-trace_msg",
        "-message_file", sippMessages.toString()), null));
    int pbx = Ports.free();
    // BenchPeers gives Kamailio its ctl socket there.
    ctl = Path.of(System.getProperty("project.basedir", "."), "target/peers/kamailio-" + pbx + ".ctl");
    peers.add(BenchPeers.kamailio("kamailio-drain", pbx, "UAS_URI=\"sip:127.0.0.1:" + uas + "\""));
    String cluster = "webphone-drain-" + UUID.randomUUID();
    List<Integer> hz = List.of(Ports.free(), Ports.free(), Ports.free());
    for (int i = 0; i < 2; i++) {
      NodeFixtures.NodePorts p = NodeFixtures.NodePorts.allocate();
      ports.add(p);
      Map<String, String> env = p.env("drain-" + (char) ('a' + i));
      int rtp = Ports.freeRange(40);
      env.put("WEBPHONE_MEDIA_RTP_PORT_MIN", Integer.toString(rtp));
      env.put("WEBPHONE_MEDIA_RTP_PORT_MAX", Integer.toString(rtp + 39));
      env.put("WEBPHONE_MEDIA_TIMEOUT_SEC", "3");
      env.put("WEBPHONE_PBX_HOST", "127.0.0.1");
      env.put("WEBPHONE_PBX_PORT", Integer.toString(pbx));
      env.put("WEBPHONE_POOL_RANGE", "{\"prefix\":\"\",\"from\":2000,\"to\":2009,\"passwordTemplate\":\"secret-{user}\"}");
      env.put("WEBPHONE_HTTP_ADMIN_TOKEN", TOKEN);
      env.put("WEBPHONE_SHUTDOWN_DRAIN_LIMIT_SEC", Integer.toString(DRAIN_LIMIT_SEC));
      env.put("WEBPHONE_CLUSTER_ENABLED", "true");
      env.put("WEBPHONE_CLUSTER_CONFIG", NodeFixtures.clusterXml(dir, "node-" + i, cluster, hz.get(i), hz).toString());
      envs.add(env);
    }
    for (int i = 0; i < 2; i++) {
      nodes[i] = NodeProcess.start("node-drain-" + i, envs.get(i));
    }
    for (int i = 0; i < 2; i++) {
      nodes[i].awaitReady(Duration.ofSeconds(90));
    }
    Config hzProbe = new FileSystemXmlConfig(NodeFixtures.clusterXml(dir, "probe", cluster, hz.get(2), hz).toFile());
    hzProbe.setLiteMember(true); // as the load tool joins: it holds no pool data
    VertxOptions opts = new VertxOptions();
    opts.getEventBusOptions().setHost("127.0.0.1");
    probe = Eventually.result(60, "the load tool to join the cluster",
        Vertx.builder().with(opts).withClusterManager(new HazelcastClusterManager(hzProbe)).buildClustered());
    usrloc = new UsrlocWatch(ctl);
  }

  @AfterAll
  static void stopAll() throws Exception {
    if (usrloc != null) {
      usrloc.close();
    }
    if (probe != null) {
      Eventually.result(20, "the load tool to leave the cluster", probe.close());
    }
    for (NodeProcess n : nodes) {
      if (n != null) {
        n.close();
      }
    }
    peers.forEach(PeerProcess::close);
  }

  @Test
  @Order(1)
  void aRollingRestartUnderLoadEndsNoCallOfTheGatewayAndNeverLeasesAnAccountTwice() throws Exception {
    ensureRunning(0);
    ensureRunning(1);
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    // 4 clients calling back to back (rate above what they can place), 10 s calls with audio both ways.
    LoadRun run = new LoadRun(LoadOptions.parse(new String[] {"--target", "cluster", "--clients", "4", "--calls",
        "1000", "--rate", "2", "--hold-ms", Long.toString(HOLD_MS), "--duration", "240", "--progress", "5",
        "--media", "--media-timeout-ms", "8000"}), new PrintStream(text, true, StandardCharsets.UTF_8));
    String id = Eventually.result(10, "the load run to deploy", probe.deployVerticle(run));
    try {
      Eventually.result(60, "every virtual client to register", run.allRegistered());
      for (int i = 0; i < 2; i++) {
        int node = i;
        int calls = Eventually.await(Duration.ofSeconds(40), "a call in progress on node " + i,
            () -> fullHealth(node).getInteger("calls", 0), c -> c > 0);
        long t0 = System.nanoTime();
        nodes[i].terminate();
        assertDraining(i);
        assertNewSocketMoved(i);
        int exit = nodes[i].awaitExit(Duration.ofMillis(HOLD_MS + 20_000));
        long drainMs = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, exit, nodes[i].tail());
        assertTrue(nodes[i].logText().contains("drain ends: no call and no session left"), nodes[i].tail());
        System.out.printf("node %d drained %d call(s) in %d ms%n", i, calls, drainMs);
        // The node's leases are back in the pool: what is leased is what the other node's sessions hold.
        int other = 1 - i;
        Eventually.await(Duration.ofSeconds(5), "leases only for node " + other + "'s sessions", () -> fullHealth(other),
            h -> h.getJsonObject("pool").getInteger("leased").equals(h.getInteger("sessions")));
        nodes[i] = NodeProcess.start("node-drain-" + i, envs.get(i)); // the same command comes back
        nodes[i].awaitReady(Duration.ofSeconds(90));
        awaitMembers(i, 3); // both nodes and the load tool
      }
      run.stopCalling();
      JsonObject r = Eventually.result((int) HOLD_MS / 1000 + 40, "the load run to end", run.result()).json();
      String printed = text.toString(StandardCharsets.UTF_8);
      System.out.print(printed);
      assertEquals(0, r.getInteger("endedByGateway"), printed);
      assertEquals(0, r.getInteger("failed"), printed);
      assertEquals(0, r.getInteger("cut"), printed);
      assertEquals(r.getInteger("attempted"), r.getInteger("completed"), printed);
      assertTrue(r.getInteger("completed") >= 8, printed);
      assertTrue(r.getInteger("reopened") >= 2, "sessions moved off the draining nodes: " + printed);
      assertTrue(r.getBoolean("countsAddUp"), printed);
      assertEquals(r.getInteger("completed"), r.getJsonObject("media").getInteger("calls"), printed);
    } finally {
      Eventually.result(30, "the load run to undeploy", probe.undeploy(id));
    }
    for (int i = 0; i < 2; i++) {
      int n = i;
      Eventually.await(Duration.ofSeconds(10), "no session and no lease on node " + i, () -> fullHealth(n),
          h -> h.getInteger("sessions") == 0 && h.getJsonObject("pool").getInteger("leased") == 0);
    }
    Eventually.until(Duration.ofSeconds(10), "Kamailio to hold no registration", () -> usrloc.users() == 0);
    assertEquals(0, usrloc.mostExtraContacts(), "an account was registered by two lines at once");
    assertTrue(usrloc.mostUsers() >= 2, "the watch saw the lines: " + usrloc.mostUsers());
  }

  @Test
  @Order(2)
  void anAdminRequestDrainsOnlyWithTheTokenAndTheDrainLimitEndsTheCallsLeftWithBye() throws Exception {
    ensureRunning(0);
    ensureRunning(1);
    String drain = "http://127.0.0.1:" + ports.get(0).http() + "/admin/drain";
    assertEquals(401, Http.post(drain).statusCode());
    assertEquals(401, Http.post(drain, "Authorization", "Bearer not-the-token").statusCode());
    assertEquals(403, Http.post("http://127.0.0.1:" + ports.get(0).admin() + "/admin/drain",
        "Authorization", "Bearer " + TOKEN, "Origin", "http://evil.example").statusCode());
    assertEquals(200, Http.get("http://127.0.0.1:" + ports.get(0).http() + "/health").statusCode());
    long byesBefore = byes();

    ByteArrayOutputStream text = new ByteArrayOutputStream();
    // Calls far longer than the drain limit: the ones on node 0 are still up when the limit comes.
    LoadRun run = new LoadRun(LoadOptions.parse(new String[] {"--target", "cluster", "--clients", "4", "--calls", "4",
        "--rate", "10", "--hold-ms", "120000", "--duration", "150", "--progress", "5", "--media",
        "--media-timeout-ms", "8000"}), new PrintStream(text, true, StandardCharsets.UTF_8));
    String id = Eventually.result(10, "the load run to deploy", probe.deployVerticle(run));
    try {
      Eventually.result(60, "every virtual client to register", run.allRegistered());
      int calls = Eventually.await(Duration.ofSeconds(30), "calls in progress on node 0",
          () -> fullHealth(0).getInteger("calls", 0), c -> c > 0);
      HttpResponse<String> ok = Http.post(drain, "Authorization", "Bearer " + TOKEN);
      assertEquals(202, ok.statusCode(), ok.body());
      assertEquals("draining", new JsonObject(ok.body()).getString("state"));
      long t0 = System.nanoTime();
      assertDraining(0);
      int exit = nodes[0].awaitExit(Duration.ofSeconds(DRAIN_LIMIT_SEC + 30));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(0, exit, nodes[0].tail());
      assertTrue(ms >= (DRAIN_LIMIT_SEC - 1) * 1000L, "stopped after " + ms + " ms");
      assertTrue(nodes[0].logText().contains("drain ends: the drain limit"), nodes[0].tail());
      Eventually.until(Duration.ofSeconds(10), "SIPp to get a BYE for each call left on node 0",
          () -> byes() - byesBefore >= calls);
      run.endNow(); // the calls on node 1 would go on for two minutes
      JsonObject r = Eventually.result(30, "the load run to end", run.result()).json();
      String printed = text.toString(StandardCharsets.UTF_8);
      System.out.print(printed);
      assertEquals(calls, r.getInteger("endedByGateway"), printed);
      assertEquals(4 - calls, r.getInteger("cut"), printed);
      assertTrue(r.getBoolean("countsAddUp"), printed);
    } finally {
      Eventually.result(30, "the load run to undeploy", probe.undeploy(id));
    }
    Eventually.await(Duration.ofSeconds(10), "no session and no lease left", () -> fullHealth(1),
        h -> h.getInteger("sessions") == 0 && h.getJsonObject("pool").getInteger("leased") == 0);
    assertEquals(0, usrloc.mostExtraContacts(), "an account was registered by two lines at once");
  }

  // ------------------------------------------------------------------ helpers

  private static void ensureRunning(int i) throws Exception {
    if (!nodes[i].isAlive()) {
      nodes[i] = NodeProcess.start("node-drain-" + i, envs.get(i));
      nodes[i].awaitReady(Duration.ofSeconds(90));
    }
    awaitMembers(i, 3);
  }

  private static void awaitMembers(int i, int n) throws InterruptedException {
    Eventually.await(Duration.ofSeconds(30), n + " cluster members seen by node " + i, () -> fullHealth(i),
        h -> h.getJsonObject("cluster").getJsonArray("members").size() == n);
  }

  private static JsonObject fullHealth(int i) throws IOException, InterruptedException {
    HttpResponse<String> r = Http.get("http://127.0.0.1:" + ports.get(i).admin() + "/health");
    return new JsonObject(r.body());
  }

  /** The public /health answers 503 {"state":"draining"} at once: a load balancer stops sending here. */
  private static void assertDraining(int i) throws InterruptedException {
    HttpResponse<String> r = Eventually.await(Duration.ofSeconds(2), "node " + i + " to say draining",
        () -> Http.get("http://127.0.0.1:" + ports.get(i).http() + "/health"), x -> x.statusCode() == 503);
    assertEquals(new JsonObject().put("state", "draining"), new JsonObject(r.body()));
  }

  /** A new page's WebSocket is refused with close code 4002 after its Hello: it connects again elsewhere. */
  private static void assertNewSocketMoved(int i) throws IOException {
    try (RawWebSocket ws = RawWebSocket.connect(InetAddress.getLoopbackAddress(),
        new InetSocketAddress("127.0.0.1", ports.get(i).http()), "/ws", 0)) {
      ws.sendText("{\"method\":\"Hello\",\"ref\":\"1\"}");
      RawWebSocket.Frame f;
      do {
        f = ws.read(5000);
      } while (f.opcode() != RawWebSocket.CLOSE);
      assertEquals(4002, f.closeCode());
    }
  }

  /** BYE requests SIPp's UAS received so far (its message trace). */
  private static long byes() throws IOException {
    if (!Files.exists(sippMessages)) {
      return 0;
    }
    return Files.readAllLines(sippMessages, StandardCharsets.ISO_8859_1).stream()
        .filter(l -> l.startsWith("BYE sip:")).count();
  }

  /**
   * Kamailio's usrloc counters read every 200 ms ({@code kamcmd stats.get_statistics usrloc:}): the most
   * registered accounts seen, and the most contacts beyond one per account (0: no account was ever registered
   * by two lines at once). A thread of its own, stopped by {@link #close}.
   */
  private static final class UsrlocWatch implements AutoCloseable {
    private final Path ctl;
    private final AtomicInteger users = new AtomicInteger();
    private final AtomicInteger mostUsers = new AtomicInteger();
    private final AtomicInteger mostExtra = new AtomicInteger();
    private final Thread thread;
    private volatile boolean running = true;

    UsrlocWatch(Path ctl) {
      this.ctl = ctl;
      thread = new Thread(this::loop, "usrloc-watch");
      thread.setDaemon(true);
      thread.start();
    }

    private void loop() {
      while (running) {
        try {
          Process p = new ProcessBuilder("kamcmd", "-s", "unix:" + ctl, "stats.get_statistics", "usrloc:")
              .redirectErrorStream(true).start();
          String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
          if (p.waitFor(5, TimeUnit.SECONDS)) {
            int u = stat(out, "location_users");
            int c = stat(out, "location_contacts");
            if (u >= 0 && c >= 0) {
              users.set(u);
              mostUsers.accumulateAndGet(u, Math::max);
              mostExtra.accumulateAndGet(c - u, Math::max);
            }
          } else {
            p.destroyForcibly();
          }
          Thread.sleep(200);
        } catch (IOException e) {
          return;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }

    private static int stat(String out, String name) {
      for (String l : out.split("\n")) {
        if (l.contains(name)) {
          return Integer.parseInt(l.substring(l.lastIndexOf('=') + 1).trim());
        }
      }
      return -1;
    }

    int users() {
      return users.get();
    }

    int mostUsers() {
      return mostUsers.get();
    }

    int mostExtraContacts() {
      return mostExtra.get();
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join(10_000);
    }
  }
}
