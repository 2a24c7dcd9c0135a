package org.webphone.gateway.signalling;

import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Http;
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
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.TestNode;

/**
 * Sessions through the whole node (real pool, SIP and media verticles) with SIPp as the PBX: what the
 * PBX sees is the proof. A refused number never reaches SIPp; a resumed session keeps its SIP call (no
 * BYE) while the browser leg is rebuilt (ICE + DTLS with the new offer); an unresumed one is hung up
 * (BYE) after the grace period and its line unregistered; an incoming call from a SIPp caller is offered,
 * accepted with the browser's offer (ICE + DTLS done) and ended by the far end.
 */
@ExtendWith(VertxExtension.class)
class SessionWithRealGatewayTest {
  private Sipp sipp;
  private TestNode node;
  private WebSocketClient ws;

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (ws != null) {
        Harness.await(ws.close());
      }
      if (node != null) {
        node.close();
      }
    } finally {
      if (sipp != null) {
        sipp.close();
      }
    }
  }

  private void start(Vertx vertx, int graceSec) throws Exception {
    start(vertx, graceSec, Sipp.uas("uas-answer.xml", "-m", "2", "-rtp_echo"));
  }

  private void start(Vertx vertx, int graceSec, Sipp pbx) throws Exception {
    sipp = pbx;
    node = TestNode.start(new JsonObject()
        .put("sip", new JsonObject().put("optionsIntervalSec", 0))
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", sipp.port()))
        .put("session", new JsonObject().put("resumeGraceSec", graceSec)));
    ws = vertx.createWebSocketClient();
  }

  private int httpPort() {
    return node.config().getInt("http.port");
  }

  private static JsonObject m(String method) {
    return new JsonObject().put("method", method);
  }

  private int leased() throws Exception {
    JsonObject pool = Harness.await(node.node().vertx().eventBus().<JsonObject>request(Addresses.POOL_STATUS,
        new JsonObject())).body();
    return pool.getInteger("leased");
  }

  @Test
  void aRefusedNumberNeverReachesThePbxAndAnAllowedOneDoes(Vertx vertx) throws Exception {
    start(vertx, 0);
    try (SyntheticBrowser browser = new SyntheticBrowser()) {
      Harness.Client c = Harness.connect(ws, httpPort(), null, null);
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      for (String n : new String[] {"0900123456", "+441234", "5555"}) {
        assertEquals(202, c.request(m("Call").put("number", n).put("sdp", browser.offer())).getInteger("code"));
      }
      String metrics = Http.get(node.adminUrl() + "metrics").body();
      assertTrue(metrics.lines().anyMatch(l -> l.startsWith("webphone_signalling_refused_total")
          && l.contains("code=\"NUMBER_REFUSED\"") && l.endsWith(" 3.0")), "refusals on /metrics");
      String callId = c.request(m("Call").put("number", "600").put("sdp", browser.offer())).getString("callId");
      c.await("OnInCall", e -> callId.equals(e.getString("callId")));
      // Count what was asked, not datagrams: a loaded machine may make the INVITE be retransmitted.
      assertTrue(sipp.traceCount("INVITE sip:") >= 1, "the allowed number reached the PBX");
      assertEquals(sipp.traceCount("INVITE sip:"), sipp.traceCount("INVITE sip:600@"),
          "only the allowed number was sent to the PBX");
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
    try (SyntheticBrowser first = new SyntheticBrowser(); SyntheticBrowser second = new SyntheticBrowser()) {
      Harness.Client c = Harness.connect(ws, httpPort(), null, null);
      String token = c.await("OnSession").getString("resumeToken");
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      String callId = c.request(m("Call").put("number", "600").put("sdp", first.offer())).getString("callId");
      first.connect(c.awaitAnswer(callId).getString("sdp"));
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

  @Test
  void anIncomingCallIsOfferedToTheBrowserAcceptedWithItsOfferAndEndedByTheFarEnd(Vertx vertx) throws Exception {
    start(vertx, 0, Sipp.uas("registrar-ok.xml"));
    try (SyntheticBrowser browser = new SyntheticBrowser()) {
      Harness.Client c = Harness.connect(ws, httpPort(), null, null);
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      String account = status(Addresses.POOL_STATUS).getJsonArray("leases").getJsonObject(0).getString("accountId");
      try (Sipp caller = Sipp.start("uac-answered.xml", "127.0.0.1:" + node.config().getInt("sip.port"),
          java.util.List.of("-s", account))) {
        JsonObject ring = c.await("OnCallRequest");
        assertEquals("1001", ring.getString("caller"));
        assertEquals("Alice Caller", ring.getString("displayName"));
        String callId = ring.getString("callId");
        assertEquals("Ack", c.request(m("Accept").put("callId", callId).put("sdp", browser.offer())).getString("event"));
        browser.connect(c.awaitAnswer(callId).getString("sdp"));
        c.await("OnInCall", e -> callId.equals(e.getString("callId")));
        c.await("OnCallStateChanged", e -> callId.equals(e.getString("callId")) && e.getString("state").equals("Completed"));
        caller.awaitSuccess(Duration.ofSeconds(15));
      }
      c.ws.close();
      sipp.awaitSuccess(Duration.ofSeconds(15)); // the line's un-REGISTER
      awaitLeased(0);
    }
  }

  private void awaitLeased(int n) throws Exception {
    Eventually.await(Duration.ofSeconds(10), n + " leased accounts", this::leased, l -> l == n);
    if (n == 0) {
      // Nothing else left behind either: no session, SIP line or call, media session.
      assertEquals(0, status(Addresses.SIGNALLING_STATUS).getInteger("sessions"));
      JsonObject sip = status(Addresses.SIP_STATUS);
      assertEquals(0, sip.getInteger("lines"), sip.encode());
      assertEquals(0, sip.getInteger("calls"), sip.encode());
      JsonObject media = status(Addresses.MEDIA_STATUS);
      assertEquals(0, media.getInteger("sessions"), media.encode());
    }
  }

  private JsonObject status(String address) throws Exception {
    return Harness.await(node.node().vertx().eventBus().<JsonObject>request(address, new JsonObject())).body();
  }
}
