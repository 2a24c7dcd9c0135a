package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * A PBX (SIPp, {@code srtp-answer.xml}) whose SDES answers the gateway cannot use: a crypto tag it did not
 * offer, a key of the wrong length, a suite it does not speak. Each call ends with a reason that says which,
 * the PBX gets its ACK and a BYE (SIPp's scenario fails otherwise), and nothing is left: no SIP call, no media
 * session, no RTP port, the line back in the pool once the page goes.
 */
@ExtendWith(VertxExtension.class)
class PbxSrtpBadAnswerTest {
  private static final String KEY = Base64.getEncoder().encodeToString(new byte[30]);
  private static final List<String[]> BAD_ANSWERS = List.of(
      new String[] {"3 AES_CM_128_HMAC_SHA1_80 inline:" + KEY, "PBX answer: crypto tag 3 was not offered"},
      new String[] {"1 AES_CM_128_HMAC_SHA1_80 inline:" + Base64.getEncoder().encodeToString(new byte[20]),
          "PBX answer: crypto tag 1: key||salt is 20 bytes, AES_CM_128_HMAC_SHA1_80 needs 30"},
      new String[] {"1 F8_128_HMAC_SHA1_80 inline:" + KEY, "PBX answer: crypto tag 1: unknown crypto suite F8_128_HMAC_SHA1_80"});

  private Sipp sipp;
  private TestNode node;

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (node != null) {
        node.close();
      }
    } finally {
      if (sipp != null) {
        sipp.close();
      }
    }
  }

  @Test
  void answersWithAnUnofferedTagABadKeyLengthOrAnUnknownSuiteEndTheCallWithTheReasonAndLeaveNothing(Vertx vertx)
      throws Exception {
    Path inf = Files.createTempFile(Path.of("target"), "srtp-answers-", ".csv").toAbsolutePath();
    StringBuilder lines = new StringBuilder("SEQUENTIAL\nregistration (unused)\n");
    BAD_ANSWERS.forEach(a -> lines.append(a[0]).append('\n'));
    Files.writeString(inf, lines);
    sipp = Sipp.uas("srtp-answer.xml", "-inf", inf.toString(), "-m", Integer.toString(1 + BAD_ANSWERS.size()));
    node = TestNode.start(new JsonObject()
        .put("sip", new JsonObject().put("optionsIntervalSec", 0))
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", sipp.port()))
        .put("session", new JsonObject().put("resumeGraceSec", 0))
        .put("media", new JsonObject().put("pbxSrtp", true).put("pbxSrtpOverPlainSip", true)));
    WebSocketClient ws = vertx.createWebSocketClient();
    try (SyntheticBrowser browser = new SyntheticBrowser()) {
      Harness.Client c = Harness.connect(ws, node.config().getInt("http.port"), null, null);
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      for (int i = 0; i < BAD_ANSWERS.size(); i++) {
        String why = BAD_ANSWERS.get(i)[1];
        String callId = c.request(Harness.method("Call").put("number", "600").put("sdp", browser.offer()))
            .getString("callId");
        JsonObject ended = c.await("OnCallStateChanged", e -> callId.equals(e.getString("callId"))
            && List.of("Error", "Completed", "Failed").contains(e.getString("state")));
        assertEquals("Error", ended.getString("state"), ended.encode());
        assertTrue(ended.getString("reason", "").contains(why), "reason \"" + why + "\" in " + ended.encode());
        sipp.awaitTrace("BYE", i + 1, Duration.ofSeconds(10)); // the PBX's call is hung up, not left open
        awaitNoCallOrMedia();
      }
      c.ws.close();
      sipp.awaitSuccess(Duration.ofSeconds(15)); // every ACK and BYE as scripted, then the un-REGISTER
      node.awaitIdle(0);
      // Closed channels leave the RTP selector at its next select (at most 500 ms later).
      JsonObject media = Eventually.await(Duration.ofSeconds(3), "the RTP selector to drop the closed channels",
          () -> status(Addresses.MEDIA_STATUS), m -> m.getInteger("rtpRegistrations") == 0);
      assertEquals(0, media.getInteger("rtpPorts"), media.encode());
      assertEquals(0, media.getInteger("rtpRegistrations"), media.encode());
      assertEquals(0, media.getInteger("agents"), media.encode());
    } finally {
      Harness.await(ws.close());
    }
  }

  private void awaitNoCallOrMedia() throws Exception {
    Eventually.until(Duration.ofSeconds(10), "no SIP call and no media session",
        () -> status(Addresses.SIP_STATUS).getInteger("calls") == 0
            && status(Addresses.MEDIA_STATUS).getInteger("sessions") == 0
            && status(Addresses.MEDIA_STATUS).getInteger("creating") == 0);
  }

  private JsonObject status(String address) throws Exception {
    return Harness.await(node.node().vertx().eventBus().<JsonObject>request(address, new JsonObject())).body();
  }
}
