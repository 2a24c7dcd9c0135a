package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.webphone.gateway.signalling.Harness.await;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;

/**
 * The gate and bad input, over real WebSockets and over the bus: every refusal is an Error with its
 * documented code, and the session and its call go on afterwards.
 */
@ExtendWith(VertxExtension.class)
class GateTest {
  private Harness h;

  @AfterEach
  void tearDown() throws Exception {
    if (h != null) {
      h.close();
    }
  }

  private static JsonObject m(String method) {
    return new JsonObject().put("method", method);
  }

  @Test
  void everyMalformedFrameGetsItsErrorAndTheCallGoesOn(Vertx vertx) throws Exception {
    // The table is sent faster than the default 20 frames a second; the rate limit has its own test.
    h = new Harness(vertx, 1, new JsonObject().put("limits", new JsonObject().put("messagesPerSecond", 1000)));
    Harness.Client c = h.ready();
    String callId = c.request(m("Call").put("number", "600").put("sdp", "v=0")).getString("callId");
    c.await("OnInCall");
    Object[][] table = {
        {"not json", 100},
        {"[1,2]", 100},
        {"\"text\"", 100},
        {"{}", 102},
        {"{\"method\":5}", 103},
        {"{\"method\":\"Dance\"}", 101},
        {"{\"method\":\"Call\"}", 102},
        {"{\"method\":\"Call\",\"number\":600,\"sdp\":\"v=0\"}", 103},
        {"{\"method\":\"Call\",\"number\":\"600\",\"sdp\":123}", 103},
        {"{\"method\":\"Call\",\"number\":\"600\",\"sdp\":\"v=0\"}", 104},
        {"{\"method\":\"Accept\",\"callId\":\"x\",\"sdp\":\"v=0\"}", 104},
        {"{\"method\":\"Reject\",\"callId\":\"" + callId + "\"}", 104},
        {"{\"method\":\"Accept\",\"callId\":\"bad id with spaces\",\"sdp\":\"v=0\"}", 103},
        {"{\"method\":\"SendDTMF\",\"callId\":\"" + callId + "\",\"digits\":\"1!\"}", 103},
        {"{\"method\":\"HangUp\",\"callId\":\"other-call\"}", 302},
        {"{\"method\":\"Hold\",\"callId\":\"" + callId + "\",\"ref\":{\"a\":1}}", 103},
        {"{\"method\":\"Resume\",\"token\":\"unknown-token-0123456789\"}", 302},
        {"{\"method\":\"Offer\",\"callId\":\"" + callId + "\"}", 102},
        {"x".repeat(65_537), 105},
    };
    for (Object[] row : table) {
      c.sendText((String) row[0]);
      JsonObject err = c.await("Error");
      String what = ((String) row[0]).length() > 60 ? "a large frame" : (String) row[0];
      assertEquals(row[1], err.getInteger("code"), what + " -> " + err);
      assertEquals(callId, c.request(m("Ping")).getString("callId"), "still usable, call kept after " + what);
    }
    c.ws.writeBinaryMessage(Buffer.buffer(new byte[] {1, 2, 3}));
    assertEquals(100, c.await("Error").getInteger("code"));
    assertEquals("Error", c.request(m("Call").put("number", "600").put("sdp", "v=0")).getString("event"));
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_HANGUP), "the call was never touched");
    assertEquals(1, h.status().getInteger("calls"));
    assertEquals("Ack", c.request(m("HangUp")).getString("event"));
    c.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void aFrameFarAboveTheLimitClosesTheSocketAndTheSessionEnds(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    Harness.Client c = h.ready();
    c.sendText("x".repeat(5 * 65_536));
    assertEquals(105, c.await("Error").getInteger("code"));
    c.awaitClosed();
    assertEquals(1009, (int) c.ws.closeStatusCode(), "message too big");
    h.assertNothingLeaked();
  }

  @Test
  void aForeignOriginIsRefusedBeforeAnyLeaseAndAListedOneIsLetIn(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    Harness.Client evil = h.connect(null, "http://evil.example");
    JsonObject err = evil.await("Error");
    assertEquals(200, err.getInteger("code"));
    evil.awaitClosed();
    assertEquals(1008, (int) evil.ws.closeStatusCode());
    assertEquals(0, h.lower.count(Addresses.POOL_LEASE));
    Harness.Client same = h.connect(null, "http://127.0.0.1:" + h.port);
    same.await("OnSetReadyStatus");
    same.ws.close();
    h.assertNothingLeaked();
    h.close();

    h = new Harness(vertx, 1, new JsonObject().put("http", new JsonObject()
        .put("allowedOrigins", new JsonArray().add("https://shop.example"))));
    Harness.Client shop = h.connect(null, "https://shop.example");
    shop.await("OnSetReadyStatus");
    Harness.Client local = h.connect(null, "http://127.0.0.1:" + h.port);
    assertEquals(200, local.await("Error").getInteger("code"), "with a list, only the list counts");
    shop.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void withATokenSecretOnlyAFreshSignedTokenOpensASession(Vertx vertx) throws Exception {
    String secret = "s3cret-for-tests";
    h = new Harness(vertx, 1, new JsonObject().put("auth", new JsonObject().put("tokenSecret", secret)
        .put("tokenMaxAgeSec", 60)));
    long now = System.currentTimeMillis() / 1000;
    String[] refused = {
        null,
        "garbage",
        AuthToken.issue("other-secret", now, "v"),
        AuthToken.issue(secret, now - 120, "v"),
        AuthToken.issue(secret, now, "v") + "x",
    };
    for (String t : refused) {
      Harness.Client c = h.connect(t == null ? null : "token=" + t);
      assertEquals(201, c.await("Error").getInteger("code"), "token " + t);
      c.awaitClosed();
    }
    assertEquals(0, h.lower.count(Addresses.POOL_LEASE));
    Harness.Client ok = h.connect("token=" + AuthToken.issue(secret, now, "visitor-1"));
    ok.await("OnSetReadyStatus");
    ok.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void numbersOutsideTheDialPolicyAreRefusedWithoutAnySipOrMedia(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    Harness.Client c = h.ready();
    String[] refused = {"0044123456", "+4420123", "0900123456", "1900555", "5555", "10a0", "1".repeat(40), " "};
    for (String n : refused) {
      JsonObject err = c.request(m("Call").put("number", n).put("sdp", "v=0"));
      assertEquals(202, err.getInteger("code"), n + " -> " + err);
      assertEquals("Call", err.getString("method"));
    }
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_MAKE));
    assertEquals(0, h.lower.count(Addresses.MEDIA_CREATE));
    assertEquals("Ack", c.request(m("Call").put("number", "10 42").put("sdp", "v=0")).getString("event"),
        "separators are removed, 1042 is allowed");
    c.await("OnInCall");
    JsonObject transfer = c.request(m("Transfer").put("callId", c.request(m("Ping")).getString("callId"))
        .put("number", "00123"));
    assertEquals(202, transfer.getInteger("code"), "the policy also applies to transfers");
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_TRANSFER));
    c.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void floodsOfFramesAndOfCallsAreCutWithRateErrors(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject().put("limits", new JsonObject().put("messagesPerSecond", 5)
        .put("callsPerMinutePerSession", 2)));
    Harness.Client c = h.ready();
    // All 20 frames arrive within one instant of the gateway's clock, however slowly this machine runs.
    long reads = h.stopClock();
    for (int i = 0; i < 20; i++) {
      c.send(m("Ping").put("ref", "p" + i));
    }
    Eventually.until(Harness.WAIT, "the gateway to read the 20 frames", () -> h.clockReads() - reads >= 20);
    h.advanceClock(1000);
    assertEquals("Pong", c.request(m("Ping")).getString("event"), "usable again after the one-second window");
    int pongs = 0;
    int limited = 0;
    for (JsonObject f = c.frames.poll(); f != null; f = c.frames.poll()) {
      pongs += "Pong".equals(f.getString("event")) ? 1 : 0;
      limited += "Error".equals(f.getString("event")) && f.getInteger("code") == 106 ? 1 : 0;
    }
    assertEquals(5, pongs, "the limit got through, the rest was dropped");
    assertEquals(1, limited, "one rate error, not one per dropped frame");

    for (int i = 0; i < 2; i++) {
      String id = c.request(m("Call").put("number", "1086").put("sdp", "v=0")).getString("callId");
      c.await("OnCallStateChanged", e -> id.equals(e.getString("callId")) && e.getString("state").equals("Busy"));
    }
    assertEquals(203, c.request(m("Call").put("number", "1086").put("sdp", "v=0")).getInteger("code"));
    assertEquals(2, h.lower.count(Addresses.SIP_CALL_MAKE));
    c.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void tooManySessionsFromOneAddressAreRefusedAndIdleOnesClosed(Vertx vertx) throws Exception {
    h = new Harness(vertx, 5, new JsonObject().put("limits", new JsonObject().put("maxSessionsPerIp", 2)
        .put("idleSessionSec", 1)));
    Harness.Client a = h.ready();
    Harness.Client b = h.ready();
    Harness.Client third = h.connect(null);
    assertEquals(204, third.await("Error").getInteger("code"));
    third.awaitClosed();
    assertEquals(2, h.lower.leases.size());
    // Nobody pings: both sessions are closed as idle, and everything is given back.
    assertTrue(a.await("OnSessionClosed").getString("reason").startsWith("idle"));
    b.await("OnSessionClosed");
    a.awaitClosed();
    h.assertNothingLeaked();
    Harness.Client again = h.ready();
    again.ws.close();
    h.assertNothingLeaked();
  }

  @Test
  void overTheBusBadCommandsFailWithTheSameCodesAndRefusedNumbersSendNoSip(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    Harness.Client bus = new Harness.Client();
    String events = "test.gate.events." + System.nanoTime();
    await(vertx.eventBus().<JsonObject>consumer(events, msg -> bus.frames.add(msg.body())).completion());
    JsonObject open = await(vertx.eventBus().<JsonObject>request(Addresses.SIGNALLING_OPEN,
        new JsonObject().put("events", events))).body();
    bus.await("OnSetReadyStatus");
    String commands = open.getString("commands");
    Object[][] table = {
        {new JsonObject(), 102},
        {m("Dance"), 101},
        {m("Call").put("number", "0900123").put("sdp", "v=0"), 202},
        {m("Accept").put("callId", "x").put("sdp", "v=0"), 104},
        {m("Resume").put("token", "0123456789abcdefghij"), 104},
        {"not an object", 100},
    };
    for (Object[] row : table) {
      Throwable t = vertx.eventBus().request(commands, row[0]).toCompletionStage().toCompletableFuture()
          .handle((r, e) -> e).get(5, TimeUnit.SECONDS);
      assertTrue(t instanceof ReplyException, row[0] + " was not refused");
      assertEquals(row[1], ((ReplyException) t).failureCode(), String.valueOf(row[0]));
    }
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_MAKE));
    Throwable unknown = vertx.eventBus().request(Addresses.SIGNALLING_OPEN, new JsonObject().put("resumeToken",
        "no-such-token-000000")).toCompletionStage().toCompletableFuture().handle((r, e) -> e).get(5, TimeUnit.SECONDS);
    assertEquals(302, ((ReplyException) unknown).failureCode());
    await(vertx.eventBus().request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId",
        open.getString("sessionId"))));
    h.assertNothingLeaked();
  }
}
