package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.load.LoadRun;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.RawWebSocket;
import org.webphone.gateway.testing.Sipp;

/**
 * Drain with real parts ({@link DrainBed}: two node JVMs in one cluster, Kamailio, SIPp echoing RTP, the
 * event-bus load tool with a synthetic WebRTC browser and audio on every call: the echo of each call's audio is
 * counted, so a call whose audio stopped during a drain would show its loss).
 *
 * <p>The rolling restart under load runs on the packaged jar behind HAProxy: e2e/ClusterBehindHaproxyIT.
 */
class DrainProcessTest {
  private static final int DRAIN_LIMIT_SEC = 16;

  @TempDir
  static Path dir;

  private static DrainBed bed;

  @BeforeAll
  static void startBed() throws Exception {
    bed = DrainBed.start(dir, DRAIN_LIMIT_SEC);
  }

  @AfterAll
  static void stopBed() throws Exception {
    if (bed != null) {
      bed.close();
    }
  }

  @Test
  void anAdminRequestDrainsOnlyWithTheTokenAndTheDrainLimitEndsTheCallsLeftWithBye() throws Exception {
    bed.ensureRunning(0);
    bed.ensureRunning(1);
    String drain = "http://127.0.0.1:" + bed.httpPort(0) + "/admin/drain";
    assertEquals(401, Http.post(drain).statusCode());
    assertEquals(401, Http.post(drain, "Authorization", "Bearer not-the-token").statusCode());
    assertEquals(403, Http.post("http://127.0.0.1:" + bed.adminPort(0) + "/admin/drain",
        "Authorization", "Bearer " + DrainBed.TOKEN, "Origin", "http://evil.example").statusCode());
    assertEquals(200, Http.get("http://127.0.0.1:" + bed.httpPort(0) + "/health").statusCode());
    long byesBefore = bed.byes();

    ByteArrayOutputStream text = new ByteArrayOutputStream();
    // Calls far longer than the drain limit: the ones on node 0 are still up when the limit comes.
    LoadRun run = bed.load(new PrintStream(text, true, StandardCharsets.UTF_8), "--target", "cluster", "--clients",
        "4", "--calls", "4", "--rate", "10", "--hold-ms", "120000", "--duration", "150", "--progress", "5", "--media",
        "--media-timeout-ms", "8000");
    try {
      Eventually.result(60, "every virtual client to register", run.allRegistered());
      // All four calls up first (they last 120 s): node 0's count cannot grow after it is read.
      Eventually.until(Duration.ofSeconds(30), "the four calls in progress on the two nodes",
          () -> bed.fullHealth(0).getInteger("calls", 0) + bed.fullHealth(1).getInteger("calls", 0) == 4);
      int calls = bed.fullHealth(0).getInteger("calls", 0);
      assertTrue(calls > 0, "node 0 carries some of the calls (the cluster's bus opens are round robin)");
      HttpResponse<String> ok = Http.post(drain, "Authorization", "Bearer " + DrainBed.TOKEN);
      assertEquals(202, ok.statusCode(), ok.body());
      assertEquals("draining", new JsonObject(ok.body()).getString("state"));
      long t0 = System.nanoTime();
      assertDraining(0);
      assertNewSocketMoved(0);
      // A call from the PBX to a line still on the draining node (it has a call) gets 480: a queue tries the next agent.
      String line = Eventually.await(Duration.ofSeconds(5), "a line of node 0 at Kamailio", () -> bed.lineRegisteredBy(0),
          l -> l != null);
      try (Sipp caller = Sipp.uac("uac-480.xml", "127.0.0.1:" + bed.pbxPort(), "-s", line)) {
        caller.awaitSuccess(Duration.ofSeconds(20));
      }
      int exit = bed.node(0).awaitExit(Duration.ofSeconds(DRAIN_LIMIT_SEC + 30));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(0, exit, bed.node(0).tail());
      assertTrue(ms >= (DRAIN_LIMIT_SEC - 1) * 1000L, "stopped after " + ms + " ms");
      assertTrue(bed.node(0).logText().contains("drain ends: the drain limit"), bed.node(0).tail());
      Eventually.until(Duration.ofSeconds(10), "SIPp to get a BYE for each call left on node 0",
          () -> bed.byes() - byesBefore >= calls);
      JsonObject r = Eventually.await(Duration.ofSeconds(15), "the load tool to count the calls ended by node 0",
          () -> Eventually.result(5, "the load run's counts", run.counts()), c -> c.getInteger("endedByGateway") >= calls);
      System.out.print(text.toString(StandardCharsets.UTF_8));
      assertEquals(calls, r.getInteger("endedByGateway"), r.encodePrettily());
      assertEquals(0, r.getInteger("completed"), r.encodePrettily()); // node 1's calls are still up
      assertTrue(r.getBoolean("countsAddUp"), r.encodePrettily());
    } finally {
      bed.endLoads();
    }
    Eventually.await(Duration.ofSeconds(10), "no session and no lease left", () -> bed.fullHealth(1),
        h -> h.getInteger("sessions") == 0 && h.getJsonObject("pool").getInteger("leased") == 0);
    assertEquals(0, bed.usrloc().mostExtraContacts(), "an account was registered by two lines at once");
  }

  /** The public /health answers 503 {"state":"draining"} at once: a load balancer stops sending here. */
  private static void assertDraining(int i) throws InterruptedException {
    HttpResponse<String> r = Eventually.await(Duration.ofSeconds(5), "node " + i + " to say draining",
        () -> Http.get("http://127.0.0.1:" + bed.httpPort(i) + "/health"), x -> x.statusCode() == 503);
    assertEquals(new JsonObject().put("state", "draining"), new JsonObject(r.body()));
  }

  /** A new page's WebSocket is refused with close code 4002 after its Hello: it connects again elsewhere. */
  private static void assertNewSocketMoved(int i) throws IOException {
    try (RawWebSocket ws = RawWebSocket.connect(InetAddress.getLoopbackAddress(),
        new InetSocketAddress("127.0.0.1", bed.httpPort(i)), "/ws", 0)) {
      ws.sendText("{\"method\":\"Hello\",\"ref\":\"1\"}");
      RawWebSocket.Frame f;
      do {
        f = ws.read(5000);
      } while (f.opcode() != RawWebSocket.CLOSE);
      assertEquals(4002, f.closeCode());
    }
  }
}
