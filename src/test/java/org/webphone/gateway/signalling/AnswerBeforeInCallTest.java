package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;

/**
 * The page gets the {@code Answer} no later than {@code InCall} (issue 21), even when the PBX answers before the
 * relay has built the browser's ICE agent: the fake relay here answers later, the fake SIP side answers at once.
 */
@ExtendWith(VertxExtension.class)
class AnswerBeforeInCallTest {
  private Harness h;

  @AfterEach
  void tearDown() throws Exception {
    if (h != null) {
      h.close();
    }
  }

  @Test
  void aPbxAnsweringBeforeTheBrowserAnswerIsReadyHasItsInCallSentRightAfterTheAnswer(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    h.lower.answerLater = true;
    Harness.Client c = h.ready();
    JsonObject ack = c.request(new JsonObject().put("method", "Call").put("number", "600").put("sdp", "v=0 offer"));
    String callId = ack.getString("callId");
    h.lower.awaitCount(Addresses.SIP_CALL_MAKE, 1);
    c.await("OnCallStateChanged", e -> e.getString("state").equals("Ringing"));
    // The fake SIP side emitted InCall right after Ringing: the session took it before this Ping's frame.
    assertEquals("Pong", c.request(new JsonObject().put("method", "Ping")).getString("event"));
    List<String> before = c.frames.stream().map(f -> f.getString("event") + "/" + f.getString("state")).toList();
    assertTrue(before.stream().noneMatch(e -> e.startsWith("OnInCall") || e.endsWith("/InCall")),
        "InCall waits for the Answer; got " + before);

    h.lower.answerLater(lineOf(), callId);
    assertEquals("v=0 answer", c.await("Answer").getString("sdp"));
    c.await("OnCallStateChanged", e -> e.getString("state").equals("InCall") && callId.equals(e.getString("callId")));
    assertEquals(callId, c.await("OnInCall").getString("callId"));

    // And once answered, the call behaves as any other: hang up ends it as Completed.
    assertEquals("Ack", c.request(new JsonObject().put("method", "HangUp").put("callId", callId)).getString("event"));
    c.await("OnCallStateChanged", e -> e.getString("state").equals("Completed"));
  }

  private String lineOf() {
    return h.lower.requests.stream().filter(r -> Addresses.SIP_CALL_MAKE.equals(r.getString("_address")))
        .findFirst().orElseThrow().getString("lineId");
  }
}
