package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Sipp;

/**
 * Resume on another node and a rolling restart, as deployed ({@link JarClusterBed}: three nodes from the packaged
 * jar, each on a host of its own, behind HAProxy with deploy/haproxy.cfg, round robin with no stickiness; Kamailio
 * and a SIPp echo as the PBX; headless Chromium through HAProxy; the event-bus load tool from the same jar). Three
 * nodes because the shipped cluster.xml protects the pool with a quorum of two: a rolling restart of two nodes would
 * leave one node that may not lease.
 *
 * <p>The rolling test's figures ({@code ROLLING-FIGURES <json>}) are what bench/rolling-restart.sh reports; it sets
 * {@code -Drolling.holdMs}, {@code -Drolling.clients} and {@code -Drolling.nodes} (how many nodes are restarted).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterBehindHaproxyIT {
  private static final int NODES = 3;
  private static final int ACCOUNTS = 8;
  private static final long HOLD_MS = Long.getLong("rolling.holdMs", 20_000);
  private static final int CLIENTS = Integer.getInteger("rolling.clients", 4);
  private static final int ROLLED = Integer.getInteger("rolling.nodes", 2);
  private static final Duration SETUP = Duration.ofSeconds(30);

  private JarClusterBed bed;
  private Browser browser;
  private Path dir;

  @BeforeAll
  @Timeout(value = 12, unit = TimeUnit.MINUTES) // three JVMs, HAProxy, Kamailio and Chromium on a shared 2-core machine
  void startTheDeployment(@TempDir Path tmp) throws Exception {
    dir = tmp;
    bed = JarClusterBed.start(tmp, NODES, ACCOUNTS);
    browser = bed.browser();
  }

  @AfterAll
  void stop() {
    if (bed != null) {
      bed.close();
    }
  }

  @Test
  @Order(1)
  void aCallThroughNode1GoesOnAfterAReloadThatHaproxySendsToNode2AndHangsUpThroughNode2() throws Exception {
    Sipp echo = bed.echo();
    long invites = echo.traceCount("INVITE sip:");
    long byes = echo.traceCount("BYE sip:");
    bed.onlyTo(0);
    browser.open(JarClusterBed.PAGE + "/");
    browser.awaitStatus("Ready", SETUP);
    browser.dialWithKeypad(JarClusterBed.ECHO);
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    String sessionId = sessionId();
    assertEquals("node1", owner(), "the resume token names the node that served the session");
    assertEquals(1, bed.node(0).fullHealth().getInteger("calls"), "node1 carries the call");
    assertEquals(0, bed.node(1).fullHealth().getInteger("sessions"), "node2 has no session yet");
    // "In call" can come before the media path is up (trickled candidates, DTLS): listen until the echo is heard.
    Eventually.await(SETUP, "the echoed tone through node1", () -> browser.remoteAudio(1000),
        ClusterBehindHaproxyIT::echoOf440).assertEchoOf(440);

    bed.onlyTo(1); // the reload and its WebSocket: node2
    long node2Before = Long.parseLong(bed.haproxy().stat(JarClusterBed.BACKEND, "node2", "stot"));
    browser.driver().navigate().refresh();
    browser.awaitStatus("In call", SETUP);
    assertEquals(sessionId, sessionId(), "the reload resumed the session");
    assertEquals("node1", owner(), "the session is still node1's");
    assertTrue(Long.parseLong(bed.haproxy().stat(JarClusterBed.BACKEND, "node2", "stot")) > node2Before,
        "HAProxy sent the reload to node2");
    bed.node(1).jvm().awaitLog(l -> l.contains("line=" + sessionId + " resumed here over WebSocket")
        && l.contains("forwarded to its node node1"), Duration.ofSeconds(10));
    Browser.RemoteAudio after = Eventually.await(SETUP, "the echoed tone after the reload",
        () -> browser.remoteAudio(1000), ClusterBehindHaproxyIT::echoOf440);
    after.assertEchoOf(440);
    assertEquals(0, echo.traceCount("BYE sip:") - byes, "SIPp saw no BYE:\n" + echo.diagnostics());
    assertEquals(1, echo.traceCount("INVITE sip:") - invites, "SIPp saw one INVITE:\n" + echo.diagnostics());
    assertEquals(1, bed.node(0).fullHealth().getInteger("calls"), "the call is still node1's");
    assertEquals(1, bed.node(1).fullHealth().getInteger("forwards"), "node2 forwards the page's socket");

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(15));
    echo.awaitTrace("BYE sip:", (int) byes + 1, Duration.ofSeconds(15));
    closeThePagesSession();
    Eventually.await(Duration.ofSeconds(45), "nothing left on node1 (session, lease, call, media)",
        () -> bed.node(0).fullHealth(),
        h -> h.getInteger("sessions") == 0 && h.getJsonObject("pool").getInteger("leased") == 0
            && h.getJsonObject("sip").getInteger("calls") == 0 && h.getJsonObject("media").getInteger("sessions") == 0);
    Eventually.await(Duration.ofSeconds(45), "nothing left on node2 (sessions, forwarded sockets, media)",
        () -> bed.node(1).fullHealth(), h -> h.getInteger("sessions") == 0 && h.getInteger("forwards") == 0
            && h.getJsonObject("media").getInteger("sessions") == 0);
    bed.toAll();
  }

  @Test
  @Order(2)
  @Timeout(value = 10, unit = TimeUnit.MINUTES)
  void aRollingRestartUnderLoadEndsNoCallMovesAnIdlePageAndNeverRegistersAnAccountTwice() throws Exception {
    String loadBefore = Files.readString(Path.of("/proc/loadavg")).trim();
    // An idle page on node1, the first node to drain.
    bed.onlyTo(0);
    browser.open(JarClusterBed.PAGE + "/");
    browser.awaitStatus("Ready", SETUP);
    assertEquals("node1", owner());
    String idleSession = sessionId();
    bed.toAll();

    Path summary = dir.resolve("load-summary.json");
    // CLIENTS clients calling back to back (the rate is above what they can place), calls of HOLD_MS with audio.
    PeerProcess load = bed.startLoadTool("--clients", Integer.toString(CLIENTS), "--calls", "100000", "--rate", "2",
        "--number", JarClusterBed.ECHO, "--hold-ms", Long.toString(HOLD_MS), "--duration", "900", "--progress", "5",
        "--media", "--media-timeout-ms", "8000", "--setup-timeout-ms", "20000", "--json", summary.toString());
    Eventually.until(Duration.ofSeconds(180), "the load tool's " + CLIENTS + " sessions and the page's on the nodes",
        () -> {
          if (!load.isAlive()) {
            throw new Eventually.Hopeless("the load tool exited:\n" + load.tail());
          }
          return sessions() == CLIENTS + 1;
        });
    JsonArray steps = new JsonArray();
    long start = System.nanoTime();
    for (int i = 0; i < ROLLED; i++) {
      JarClusterBed.Node node = bed.node(i);
      int calls = Eventually.await(Duration.ofSeconds(60), "a call in progress on " + node.id(), () -> {
        if (!load.isAlive()) {
          throw new Eventually.Hopeless("the load tool exited:\n" + load.tail());
        }
        return node.fullHealth().getInteger("calls", 0);
      }, c -> c > 0);
      long t0 = System.nanoTime();
      node.sigterm();
      HttpResponse<String> health = Eventually.await(Duration.ofSeconds(15), node.id() + " to say draining",
          node::publicHealth, r -> r.statusCode() == 503);
      assertEquals(new JsonObject().put("state", "draining"), new JsonObject(health.body()));
      if (i == 0) {
        assertTheIdlePageMovedOffNode1(idleSession);
      }
      int exit = node.jvm().awaitExit(Duration.ofMillis(HOLD_MS + 60_000));
      long t1 = System.nanoTime();
      assertEquals(0, exit, node.jvm().tail());
      assertTrue(node.jvm().logText().contains("drain ends: no call and no session left"), node.jvm().tail());
      node.restart(NODES + 1); // the nodes and the load tool's lite member
      long t2 = System.nanoTime();
      steps.add(new JsonObject().put("node", node.id()).put("callsAtSigterm", calls)
          .put("drainMs", (t1 - t0) / 1_000_000).put("restartMs", (t2 - t1) / 1_000_000));
      System.out.println("rolling restart: " + steps.getJsonObject(i).encode());
    }
    long totalMs = (System.nanoTime() - start) / 1_000_000;

    load.process().destroy(); // SIGTERM: no new call, the calls in progress end by themselves
    int loadExit = load.awaitExit(Duration.ofMillis(HOLD_MS + 60_000));
    String printed = load.logText();
    assertTrue(Files.exists(summary), "the load tool's summary:\n" + load.tail());
    JsonObject r = new JsonObject(Files.readString(summary));
    JsonObject figures = new JsonObject().put("date", Instant.now().toString())
        .put("cpus", Runtime.getRuntime().availableProcessors()).put("model", cpuModel()).put("nodes", NODES)
        .put("loadBefore", loadBefore).put("loadAfter", Files.readString(Path.of("/proc/loadavg")).trim())
        .put("clients", CLIENTS).put("holdMs", HOLD_MS).put("steps", steps).put("totalMs", totalMs)
        .put("attempted", r.getInteger("attempted")).put("completed", r.getInteger("completed"))
        .put("failed", r.getInteger("failed")).put("endedByGateway", r.getInteger("endedByGateway"))
        .put("movedBeforeCall", r.getInteger("movedBeforeCall")).put("reopened", r.getInteger("reopened"))
        .put("mostExtraContacts", bed.usrloc().mostExtraContacts());
    System.out.println("ROLLING-FIGURES " + figures.encode());
    assertEquals(0, r.getInteger("endedByGateway"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertEquals(0, r.getInteger("cut"), printed);
    assertEquals(r.getInteger("attempted"), r.getInteger("completed"), printed);
    assertEquals(CLIENTS, r.getInteger("registered"), printed);
    assertTrue(r.getInteger("reopened") >= ROLLED, "sessions moved off the draining nodes: " + printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);
    assertEquals(r.getInteger("completed"), r.getJsonObject("media").getInteger("calls"), printed);
    // Audio both ways to the end of each call: a gap of 4 s in a 20 s call would lose 20 %.
    assertTrue(r.getJsonObject("media").getJsonObject("callLossPct").getDouble("max") <= 15.0, printed);
    assertEquals(0, loadExit, printed);

    // What is left is the page's session, ready on a node: one session, one lease (the pool's count is
    // cluster-wide), one registration.
    browser.awaitStatus("Ready", SETUP);
    Eventually.until(Duration.ofSeconds(15), "only the page's session and lease left on the nodes",
        () -> sessions() == 1 && bed.node(0).fullHealth().getJsonObject("pool").getInteger("leased") == 1);
    Eventually.until(Duration.ofSeconds(15), "Kamailio to hold only the page's registration",
        () -> bed.usrloc().users() == 1);
    assertEquals(0, bed.usrloc().mostExtraContacts(), "an account was registered by two lines at once");
    assertTrue(bed.usrloc().mostUsers() >= CLIENTS, "the watch saw the lines: " + bed.usrloc().mostUsers());
  }

  /**
   * node1 drains: it closes the idle page's socket with 4002, and the page, with no user action, connects again
   * through HAProxy, lands on another node (HAProxy may still send a try or two to node1 until its checks fail)
   * and is ready there with a fresh session.
   */
  private void assertTheIdlePageMovedOffNode1(String idleSession) throws InterruptedException {
    Eventually.until(Duration.ofSeconds(60), "the idle page ready on another node with a fresh session",
        () -> "Ready".equals(browser.status()) && !idleSession.equals(sessionId()) && !"node1".equals(owner()));
    assertNotEquals("node1", owner());
  }

  /**
   * The page closes its socket for good (close 1000, no resume token kept): its session waits
   * {@code session.resumeGraceSec} (30 s by default) for a resume that never comes, then ends.
   */
  private void closeThePagesSession() {
    browser.js("window.webphone.client.close()");
  }

  /** What {@link Browser.RemoteAudio#assertEchoOf} asks of the echoed tone (packets are counted since the answer). */
  private static boolean echoOf440(Browser.RemoteAudio x) {
    return x.packets() > 100 && x.energy() > 0.005 && Math.abs(x.peakHz() - 440) < 25;
  }

  private int sessions() throws Exception {
    int n = 0;
    for (JarClusterBed.Node node : bed.nodes()) {
      n += node.fullHealth().getInteger("sessions");
    }
    return n;
  }

  private String sessionId() {
    return String.valueOf(browser.js("return window.webphone.client.sessionId"));
  }

  /** The node a resume token names as its session's owner ({@code <ownerNodeId>.<random>}). */
  private String owner() {
    Object token = browser.js("return window.webphone.client.resumeToken");
    return token == null ? "" : String.valueOf(token).split("\\.")[0];
  }

  private static String cpuModel() throws java.io.IOException {
    List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
    return lines.stream().filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim())
        .findFirst().orElse("unknown");
  }
}
