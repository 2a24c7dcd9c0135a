package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * A second call on a line, with real peers and the whole node: Kamailio (digest auth, record-route) is the PBX
 * the agent's line 1000 registers with and its consult calls go through (a route to a SIPp consultee, 2001);
 * SIPp customers and callers call the line at the gateway; the browser legs are {@link SyntheticBrowser}s (ICE,
 * DTLS), one per call.
 *
 * <p>Attended transfer: the SIPp customer sees its hold re-INVITE and a REFER whose Refer-To names the consult
 * dialog (checked here against the consultee's own trace: Call-ID, its tag as to-tag, ours as from-tag), answers
 * it with NOTIFY 100 and 200; the consultee ends the consult call with the BYE that the customer's INVITE with
 * Replaces causes at a real phone. Call waiting: a waiting call is declined, another accepted (the first caller
 * sees its hold re-INVITE), swapped (each sees its re-INVITE), and both are hung up by HangUp without callId
 * (the active call first). Each test ends with no SIP call and no media session left on the node.
 */
class SecondCallTest {
  private static final Duration SETUP = Duration.ofSeconds(20);

  private static Kamailio pbx;
  private static Sipp consultee;
  /** A second consultee (2002), for the transfer that is cancelled: answers and waits for our BYE. */
  private static Sipp cancelled;
  private static TestNode node;
  private static Vertx vertx;
  private static WebSocketClient ws;
  private Harness.Client client;

  @AfterEach
  void closeTheSession() throws Exception {
    if (client != null && !client.closed) {
      client.ws.close(); // also after a failure: the next test needs the line
    }
    node.awaitIdle(0); // the session's line unregistered and its one account given back
  }

  @BeforeAll
  static void startThePbxAndTheNode() throws Exception {
    consultee = Sipp.uas("consult-consultee.xml", "-timeout", "300");
    cancelled = Sipp.uas("uas-answer.xml", "-timeout", "300");
    pbx = Kamailio.start(Map.of("1000", "secret-1000"), Map.of("2001", consultee.port(), "2002", cancelled.port()));
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("sip", new JsonObject().put("dtmfMode", "info"))
        .put("session", new JsonObject().put("resumeGraceSec", 0))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("200[0-9]"))
            .put("blockedPrefixes", new JsonArray().add("2009"))));
    vertx = Vertx.vertx();
    ws = vertx.createWebSocketClient();
    // The first WebSocket of a fresh JVM (both ends' classes, Netty's set-up) may take longer than a request's wait.
    io.vertx.core.http.WebSocket first = org.webphone.gateway.testing.Eventually.result(SETUP, "a first WebSocket",
        ws.connect(node.config().getInt("http.port"), "127.0.0.1", "/ws"));
    Harness.await(first.close());
  }

  @AfterAll
  static void stopThem() throws Exception {
    try {
      if (vertx != null) {
        Harness.await(vertx.close());
      }
      if (node != null) {
        node.close();
      }
    } finally {
      for (AutoCloseable c : new AutoCloseable[] {consultee, cancelled, pbx}) {
        if (c != null) {
          c.close();
        }
      }
    }
  }

  @Test
  void anAttendedTransferRefersTheCustomerWithReplacesNamingTheConsultCallAndBothCallsEnd() throws Exception {
    Harness.Client c = ready();
    for (String method : new String[] {"Consult", "Swap", "CompleteTransfer", "CancelTransfer"}) {
      assertWrongState(c, method.equals("Consult") ? m(method).put("number", "2001").put("sdp", "v=0") : m(method),
          "without a call");
    }
    try (SyntheticBrowser agentLeg = new SyntheticBrowser(); SyntheticBrowser consultLeg = new SyntheticBrowser();
        Sipp customer = callTheLine("consult-customer.xml")) {
      String customerId = answer(c, agentLeg, "2000");
      // Bad input with one call: nothing is sent (the customer's scenario fails on any other request than its hold).
      assertEquals(202, c.request(m("Consult").put("number", "2009").put("sdp", consultLeg.offer())).getInteger("code"),
          "a consult to a blocked number is refused by the dial policy");
      for (String method : new String[] {"Swap", "CompleteTransfer", "CancelTransfer"}) {
        assertWrongState(c, m(method), "with one call");
      }

      JsonObject ack = c.request(m("Consult").put("number", "2001").put("sdp", consultLeg.offer()));
      String consultId = ack.getString("callId");
      assertEquals("Ack", ack.getString("event"), ack.encode());
      consultLeg.connect(c.awaitAnswer(consultId).getString("sdp"));
      c.awaitKeeping("OnCallStateChanged", e -> customerId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
      c.awaitKeeping("OnInCall", e -> consultId.equals(e.getString("callId")));
      assertWrongState(c, m("Consult").put("number", "2002").put("sdp", consultLeg.offer()), "with two calls");

      // The consultee's sign to leave (its BYE follows 3 s later, as the customer's Replaces would cause).
      assertEquals("Ack", c.request(m("SendDTMF").put("callId", consultId).put("digits", "1")).getString("event"));
      JsonObject done = c.request(m("CompleteTransfer"));
      assertEquals(customerId, done.getString("callId"), done.encode());
      c.awaitKeeping("OnTransferStateChanged", e -> customerId.equals(e.getString("callId")) && e.getInteger("code") == 200);
      c.awaitKeeping("OnCallStateChanged", e -> customerId.equals(e.getString("callId")) && "Completed".equals(e.getString("state")));
      c.awaitKeeping("OnCallStateChanged", e -> consultId.equals(e.getString("callId")) && "Completed".equals(e.getString("state")));
      customer.awaitSuccess(SETUP);

      customer.assertReplacesNames(consultee, "2001");
      customer.assertOneContact("INVITE ", 1); // the hold re-INVITE
      customer.assertOneContact("REFER ", 1);
      consultee.awaitSuccess(SETUP); // its BYE was answered 200
      assertEquals(1, consultee.traceCount("BYE "), "only the consultee's BYE ended the consult call");
    }
    node.awaitIdle(1);
  }

  @Test
  void cancellingTheTransferHangsUpTheConsultCallAndTakesTheCustomerOffHold() throws Exception {
    Harness.Client c = ready();
    try (SyntheticBrowser agentLeg = new SyntheticBrowser(); SyntheticBrowser consultLeg = new SyntheticBrowser();
        Sipp customer = callTheLine("cw-first.xml")) { // answered, held, resumed, then our BYE
      String customerId = answer(c, agentLeg, "2002");
      String consultId = c.request(m("Consult").put("number", "2002").put("sdp", consultLeg.offer())).getString("callId");
      consultLeg.connect(c.awaitAnswer(consultId).getString("sdp"));
      c.awaitKeeping("OnCallStateChanged", e -> customerId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
      c.awaitKeeping("OnInCall", e -> consultId.equals(e.getString("callId")));

      assertEquals(customerId, c.request(m("CancelTransfer")).getString("callId"), "the customer is the call again");
      c.awaitKeeping("OnCallStateChanged", e -> consultId.equals(e.getString("callId")) && "Completed".equals(e.getString("state")));
      cancelled.awaitSuccess(SETUP); // the consultee got our BYE
      c.awaitKeeping("OnCallStateChanged", e -> customerId.equals(e.getString("callId")) && "InCall".equals(e.getString("state")));
      assertWrongState(c, m("CancelTransfer"), "after the consult call ended");
      assertEquals(customerId, c.request(m("HangUp")).getString("callId"));
      customer.awaitSuccess(SETUP);
    }
    node.awaitIdle(1);
  }

  @Test
  void aCallWaitingIsDeclinedOrAcceptedHoldingTheFirstSwappedAndBothHungUp() throws Exception {
    Harness.Client c = ready();
    try (SyntheticBrowser firstLeg = new SyntheticBrowser(); SyntheticBrowser secondLeg = new SyntheticBrowser();
        Sipp first = callTheLine("cw-first.xml")) {
      String firstId = answer(c, firstLeg, "2002");

      // Decline: a call waiting rings on the page and is rejected; the first call is untouched.
      try (Sipp declined = callTheLine("uac-486.xml")) {
        JsonObject ring = c.await("OnCallRequest", e -> Boolean.TRUE.equals(e.getBoolean("waiting")));
        assertEquals("1001", ring.getString("caller"));
        assertWrongState(c, m("Swap"), "while the second call rings");
        assertEquals("Ack", c.request(m("Reject").put("callId", ring.getString("callId"))).getString("event"));
        declined.awaitSuccess(SETUP);
      }

      try (Sipp second = callTheLine("cw-second.xml")) {
        JsonObject ring = c.await("OnCallRequest", e -> Boolean.TRUE.equals(e.getBoolean("waiting")));
        assertEquals("2003", ring.getString("caller"));
        String secondId = ring.getString("callId");
        assertEquals(102, c.request(m("Accept").put("callId", secondId)).getInteger("code"),
            "without an audio path a second call needs its own browser leg");
        assertEquals("Ack", c.request(m("Accept").put("callId", secondId).put("sdp", secondLeg.offer())).getString("event"));
        secondLeg.connect(c.awaitAnswer(secondId).getString("sdp"));
        c.awaitKeeping("OnCallStateChanged", e -> firstId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
        c.awaitKeeping("OnInCall", e -> secondId.equals(e.getString("callId")));

        assertEquals(firstId, c.request(m("Swap")).getString("callId"), "Swap makes the held call active");
        c.awaitKeeping("OnCallStateChanged", e -> secondId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
        c.awaitKeeping("OnCallStateChanged", e -> firstId.equals(e.getString("callId")) && "InCall".equals(e.getString("state")));

        assertEquals(firstId, c.request(m("HangUp")).getString("callId"), "HangUp without callId ends the active call");
        first.awaitSuccess(SETUP);
        assertEquals(secondId, c.request(m("HangUp")).getString("callId"), "then the held one, the only call left");
        second.awaitSuccess(SETUP);
      }
    }
    node.awaitIdle(1);
  }

  /**
   * A page that comes back (Hello {resume}: the reload of a tab; the old socket is closed with 4001) gets every call
   * of the session in OnSession's {@code calls}: first an answered call and a call waiting that still rings (it is
   * accepted afterwards), then a held call and the active one; each answered call gets a new browser leg by Offer
   * (SIP untouched: both SIPp callers fail on any re-INVITE but the hold and resume their scenario expects), and Swap
   * and HangUp work on both afterwards.
   */
  @Test
  void aReloadGetsEveryCallBackARingingOneAndAHeldOneInTheirStatesThenSwapAndHangUpWorkOnBoth() throws Exception {
    Harness.Client c = client = Harness.connect(ws, node.config().getInt("http.port"), null, null);
    String resume = c.await("OnSession").getString("resumeToken");
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    try (SyntheticBrowser firstLeg = new SyntheticBrowser(); SyntheticBrowser secondLeg = new SyntheticBrowser();
        Sipp first = callTheLine("cw-first.xml")) {
      String firstId = answer(c, firstLeg, "2002");
      try (Sipp second = callTheLine("cw-second.xml")) {
        String secondId = c.await("OnCallRequest", e -> Boolean.TRUE.equals(e.getBoolean("waiting"))).getString("callId");

        c = reload(c, resume);
        JsonObject session = c.await("OnSession", e -> e.getBoolean("resumed"));
        resume = session.getString("resumeToken");
        JsonArray calls = session.getJsonArray("calls");
        assertEquals(2, calls.size(), calls.encode());
        assertEquals(new JsonObject().put("callId", firstId).put("state", "InCall").put("direction", "in")
            .put("caller", "2002"), calls.getJsonObject(0), "the active call first");
        assertEquals(new JsonObject().put("callId", secondId).put("state", "Ringing").put("direction", "in")
            .put("caller", "2003").put("waiting", true), calls.getJsonObject(1), "the call waiting still rings");
        try (SyntheticBrowser firstAgain = new SyntheticBrowser()) {
          offer(c, firstAgain, firstId);
          assertEquals("Ack", c.request(m("Accept").put("callId", secondId).put("sdp", secondLeg.offer())).getString("event"));
          secondLeg.connect(c.awaitAnswer(secondId).getString("sdp"));
          c.awaitKeeping("OnCallStateChanged", e -> firstId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
          c.awaitKeeping("OnInCall", e -> secondId.equals(e.getString("callId")));
        }

        c = reload(c, resume);
        calls = c.await("OnSession", e -> e.getBoolean("resumed")).getJsonArray("calls");
        assertEquals(List.of(secondId, firstId), List.of(calls.getJsonObject(0).getString("callId"),
            calls.getJsonObject(1).getString("callId")), "the active call first: " + calls.encode());
        assertEquals(List.of("InCall", "LocalHeld"), List.of(calls.getJsonObject(0).getString("state"),
            calls.getJsonObject(1).getString("state")), calls.encode());
        try (SyntheticBrowser firstAgain = new SyntheticBrowser(); SyntheticBrowser secondAgain = new SyntheticBrowser()) {
          offer(c, secondAgain, secondId);
          offer(c, firstAgain, firstId);
          assertEquals(firstId, c.request(m("Swap")).getString("callId"), "Swap after the reload");
          c.awaitKeeping("OnCallStateChanged", e -> secondId.equals(e.getString("callId")) && "LocalHeld".equals(e.getString("state")));
          c.awaitKeeping("OnCallStateChanged", e -> firstId.equals(e.getString("callId")) && "InCall".equals(e.getString("state")));
          assertEquals(firstId, c.request(m("HangUp")).getString("callId"));
          first.awaitSuccess(SETUP);
          assertEquals(secondId, c.request(m("HangUp")).getString("callId"));
          second.awaitSuccess(SETUP);
        }
      }
    }
    node.awaitIdle(1);
  }

  /** The same page again over a new socket (Hello {resume}); the old socket is closed with 4001. */
  private Harness.Client reload(Harness.Client old, String resumeToken) throws Exception {
    client = Harness.connect(ws, node.config().getInt("http.port"), "resume=" + resumeToken, null);
    old.awaitClosed();
    return client;
  }

  /** A new browser leg for the running call {@code callId}, as a reloaded page offers it. */
  private static void offer(Harness.Client c, SyntheticBrowser leg, String callId) throws Exception {
    assertEquals("Ack", c.request(m("Offer").put("callId", callId).put("sdp", leg.offer())).getString("event"));
    leg.connect(c.awaitAnswer(callId).getString("sdp"));
  }

  private Harness.Client ready() throws Exception {
    client = Harness.connect(ws, node.config().getInt("http.port"), null, null);
    client.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    return client;
  }

  /** A SIPp caller straight to the agent's line at the gateway (a source the gateway takes as the PBX's). */
  private static Sipp callTheLine(String scenario) throws Exception {
    return Sipp.start(scenario, "127.0.0.1:" + node.config().getInt("sip.port"), List.of("-s", "1000"));
  }

  /** Answers the ringing call from {@code caller} with {@code leg}; returns its callId once it is InCall. */
  private static String answer(Harness.Client c, SyntheticBrowser leg, String caller) throws Exception {
    JsonObject ring = c.await("OnCallRequest");
    assertEquals(caller, ring.getString("caller"));
    String id = ring.getString("callId");
    assertEquals("Ack", c.request(m("Accept").put("callId", id).put("sdp", leg.offer())).getString("event"));
    leg.connect(c.awaitAnswer(id).getString("sdp"));
    c.await("OnInCall", e -> id.equals(e.getString("callId")));
    return id;
  }

  private static void assertWrongState(Harness.Client c, JsonObject frame, String when) throws Exception {
    JsonObject e = c.request(frame);
    assertEquals(104, e.getInteger("code"), frame.getString("method") + " " + when + ": " + e.encode());
  }

  private static JsonObject m(String method) {
    return new JsonObject().put("method", method);
  }
}
