package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.media.WebRtcTestClient;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Ports;

/**
 * Sessions through the whole node (real pool, SIP and media verticles) with SIPp as the PBX: what the
 * PBX sees is the proof. A refused number never reaches SIPp; a resumed session keeps its SIP call (no
 * BYE) while the browser leg is rebuilt (ICE + DTLS with the new offer); an unresumed one is hung up
 * (BYE) after the grace period and its line unregistered.
 */
@ExtendWith(VertxExtension.class)
class SessionWithRealGatewayTest {
  private Sipp sipp;
  private GatewayNode node;
  private GatewayConfig config;
  private WebSocketClient ws;

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (ws != null) {
        Harness.await(ws.close());
      }
      if (node != null) {
        node.stop().toCompletionStage().toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
      }
    } finally {
      if (sipp != null) {
        sipp.close();
      }
    }
  }

  private void start(Vertx vertx, int graceSec) throws Exception {
    sipp = Sipp.uas("uas-answer.xml", "-m", "2", "-rtp_echo");
    // Not TestNode: it picks the RTP range with Ports.free(true), which never succeeds on this kernel
    // (bind to port 0 hands out odd ports only); the same node, with an even range found here.
    int rtp = evenPortBase();
    config = GatewayConfig.of(new JsonObject()
        .put("http", new JsonObject().put("port", Ports.free()))
        .put("sip", new JsonObject().put("port", Ports.free()).put("optionsIntervalSec", 0))
        .put("media", new JsonObject().put("webrtcPort", Ports.free()).put("rtpPortMin", rtp).put("rtpPortMax", rtp + 99))
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", sipp.port()))
        .put("session", new JsonObject().put("resumeGraceSec", graceSec))
        .put("shutdown", new JsonObject().put("graceSec", 5)));
    node = new GatewayNode(config);
    node.start().toCompletionStage().toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
    ws = vertx.createWebSocketClient();
  }

  /** An even port with the next 99 free for UDP on loopback, from a random start (bounded attempts). */
  private static int evenPortBase() {
    java.util.Random r = new java.util.Random();
    for (int attempt = 0; attempt < 50; attempt++) {
      int base = 30000 + 2 * r.nextInt(12000);
      boolean free = true;
      for (int p = base; p < base + 100 && free; p += 10) {
        try (java.net.DatagramSocket s = new java.net.DatagramSocket(p, java.net.InetAddress.getLoopbackAddress())) {
          free = true;
        } catch (java.io.IOException e) {
          free = false;
        }
      }
      if (free) {
        return base;
      }
    }
    throw new IllegalStateException("no free even RTP range on loopback");
  }

  private int httpPort() {
    return config.getInt("http.port");
  }

  private static JsonObject m(String method) {
    return new JsonObject().put("method", method);
  }

  private int leased() throws Exception {
    JsonObject pool = Harness.await(node.vertx().eventBus().<JsonObject>request(Addresses.POOL_STATUS,
        new JsonObject())).body();
    return pool.getInteger("leased");
  }

  @Test
  void aRefusedNumberNeverReachesThePbxAndAnAllowedOneDoes(Vertx vertx) throws Exception {
    start(vertx, 0);
    try (WebRtcTestClient browser = new WebRtcTestClient()) {
      Harness.Client c = Harness.connect(ws, httpPort(), null, null);
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      for (String n : new String[] {"0900123456", "+441234", "5555"}) {
        assertEquals(202, c.request(m("Call").put("number", n).put("sdp", browser.offer())).getInteger("code"));
      }
      String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create("http://127.0.0.1:" + httpPort() + "/metrics")).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(metrics.lines().anyMatch(l -> l.startsWith("webphone_signalling_refused_total")
          && l.contains("code=\"NUMBER_REFUSED\"") && l.endsWith(" 3.0")), "refusals on /metrics");
      String callId = c.request(m("Call").put("number", "600").put("sdp", browser.offer())).getString("callId");
      c.await("OnInCall", e -> callId.equals(e.getString("callId")));
      assertEquals(1, sipp.traceCount("INVITE sip:"), "only the allowed number was sent to the PBX");
      assertTrue(sipp.diagnostics().contains("INVITE sip:600@"), "the INVITE is for 600");
      assertTrue(sipp.diagnostics().contains("X-Webphone-Call-Id: " + callId), "the call id reaches the PBX");
      assertEquals("Ack", c.request(m("HangUp")).getString("event"));
      c.await("OnCallStateChanged", e -> e.getString("state").equals("Completed"));
      c.ws.close();
      sipp.awaitSuccess(Duration.ofSeconds(15)); // BYE answered, then the line's un-REGISTER
      awaitLeased(0);
    }
  }

  @Test
  void aResumedSessionKeepsItsSipCallAndAnAbandonedOneIsHungUpAfterTheGrace(Vertx vertx) throws Exception {
    start(vertx, 2);
    try (WebRtcTestClient first = new WebRtcTestClient(); WebRtcTestClient second = new WebRtcTestClient()) {
      Harness.Client c = Harness.connect(ws, httpPort(), null, null);
      String token = c.await("OnSession").getString("resumeToken");
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      String callId = c.request(m("Call").put("number", "600").put("sdp", first.offer())).getString("callId");
      first.connect(c.await("Answer").getString("sdp"));
      c.await("OnInCall");
      c.ws.close(); // the page reloads

      Harness.Client back = Harness.connect(ws, httpPort(), "resume=" + token, null);
      JsonObject s = back.await("OnSession");
      assertTrue(s.getBoolean("resumed"));
      assertEquals(callId, s.getJsonObject("call").getString("callId"));
      assertEquals("Ack", back.request(m("Offer").put("callId", callId).put("sdp", second.offer())).getString("event"));
      second.connect(back.await("Answer").getString("sdp"));
      assertTrue(second.connected(), "the new browser leg has ICE and DTLS");
      assertEquals(0, sipp.traceCount("BYE"), "the PBX saw no BYE across the reload");
      assertEquals(1, sipp.traceCount("INVITE sip:"), "and no second INVITE");

      long dropped = System.nanoTime();
      back.ws.close(); // the tab closes for good
      sipp.awaitTrace("BYE", 1, Duration.ofSeconds(10));
      long heldMs = (System.nanoTime() - dropped) / 1_000_000;
      assertTrue(heldMs >= 1500, "the call was kept for the grace period first (" + heldMs + " ms)");
      sipp.awaitSuccess(Duration.ofSeconds(15));
      awaitLeased(0);
    }
  }

  private void awaitLeased(int n) throws Exception {
    long end = System.currentTimeMillis() + 10_000;
    while (leased() != n && System.currentTimeMillis() < end) {
      Thread.sleep(50);
    }
    assertEquals(n, leased(), "leased accounts");
  }
}
