package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.webphone.gateway.media.MediaRelayVerticleTest.payload;
import static org.webphone.gateway.media.MediaRelayVerticleTest.rtp;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * Opus passed through the relay on an incoming call whose PBX offers Opus at its own payload type (107) while
 * the browser uses 111: the payload crosses untouched both ways with each leg's payload type, and every
 * timestamp computation uses Opus's 48 kHz clock: the RFC 4733 durations of a digit sent to the PBX and the
 * interarrival jitter of the PBX's stream. Real DTLS-SRTP from the gateway's own synthetic browser, a UDP
 * socket as the PBX.
 */
@ExtendWith(VertxExtension.class)
class WidebandRelayTest {
  private static final int PBX_OPUS = 107;
  private static final int PBX_TE = 100;
  private static final int BROWSER_OPUS = 111;
  private static final int BROWSER_TE48 = 110;
  private MediaFixture f;

  @AfterEach
  void close() throws Exception {
    if (f != null) {
      f.close();
    }
  }

  /** The synthetic browser's offer with telephone-event/48000 added, as Chromium offers it. */
  private static String browserOffer(SyntheticBrowser b) {
    return b.offer().replace("111 0 8 13 126", "111 0 8 13 " + BROWSER_TE48 + " 126")
        .replace("a=rtpmap:126 telephone-event/8000", "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:"
            + BROWSER_TE48 + " telephone-event/48000\r\na=rtpmap:126 telephone-event/8000");
  }

  @Test
  void anOutgoingCallThePbxAnswersOnOpusAtAnotherPayloadTypeMovesTheKeptBrowserLegToOpus(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("w3");
    String offer = browserOffer(browser);
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "op3")
        .put("sessionId", "w3").put("browserOffer", offer));
    assertTrue(created.getString("browserAnswer").contains("a=rtpmap:0 PCMU/8000"), "the browser leg starts on G.711");
    int rtpPort = Sdp.parse(created.getString("pbxSdp")).audio().port;
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    // The PBX answers Opus at 107 although we offered it at 111 (RFC 3264 lets it: it sends with our 111).
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "op3").put("sdp", pbxOpusOffer()));
    assertEquals("opus/48000/2", f.awaitEvent("renegotiate", 5).getString("codec"));
    assertTrue(f.sessionStatus("op3").getBoolean("codecPending"));
    // The page's new offer on the same PeerConnection: same ICE credentials and fingerprint.
    String answer = f.request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", "op3")
        .put("browserOffer", offer)).getString("browserAnswer");
    assertTrue(answer.contains("m=audio " + Sdp.parse(answer).audio().port + " UDP/TLS/RTP/SAVPF " + BROWSER_OPUS
        + " " + BROWSER_TE48 + "\r\n"), answer);
    assertEquals(false, f.sessionStatus("op3").getBoolean("codecPending"));

    browser.sendRtp(BROWSER_OPUS, payload(7));
    byte[] got = f.pbxReceive();
    assertNotNull(got, "Opus reaches the PBX on the kept DTLS association");
    assertEquals(PBX_OPUS, Rtp.payloadType(got, 0));
    f.pbxSend(rtp(PBX_OPUS, 1, 0, 0x7e57, payload(8)), rtpPort);
    f.pbxSend(rtp(BROWSER_OPUS, 2, 960, 0x7e57, payload(9)), rtpPort);
    for (int i = 0; i < 2; i++) {
      byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(back, "packet " + i + " from the PBX");
      assertEquals(BROWSER_OPUS, Rtp.payloadType(back, 0));
    }
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "op3"));
    f.assertNothingLeaks();
  }

  private String pbxOpusOffer() {
    return f.pbxSdp(1, PBX_OPUS + " 0 " + PBX_TE, "sendrecv").replace("a=sendrecv", "a=rtpmap:" + PBX_OPUS
        + " opus/48000/2\r\na=fmtp:" + PBX_OPUS + " useinbandfec=1\r\na=rtpmap:" + PBX_TE
        + " telephone-event/48000\r\na=sendrecv");
  }

  @Test
  void anIncomingOpusCallPassesOpusThroughCountsDtmfAndJitterOnThe48kHzClockAndACallWithoutACommonCodecIsRefused(
      Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("w1");
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "op1")
        .put("sessionId", "w1").put("browserOffer", browserOffer(browser)).put("pbxOffer", pbxOpusOffer()));
    String pbxAnswer = created.getString("pbxSdp");
    assertTrue(pbxAnswer.contains("m=audio " + Sdp.parse(pbxAnswer).audio().port + " RTP/AVP " + PBX_OPUS + " "
        + PBX_TE + "\r\n"), "the PBX is answered with its Opus and its telephone-event/48000: " + pbxAnswer);
    int rtpPort = Sdp.parse(pbxAnswer).audio().port;
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    assertEquals("opus/48000/2", f.sessionStatus("op1").getString("codec"));

    // Browser → PBX: 111 becomes 107, the Opus payload untouched.
    byte[] sent = browser.sendRtp(BROWSER_OPUS, payload(3));
    byte[] got = f.pbxReceive();
    assertNotNull(got);
    assertEquals(PBX_OPUS, Rtp.payloadType(got, 0));
    assertArrayEquals(Arrays.copyOfRange(sent, 12, sent.length), Arrays.copyOfRange(got, 12, got.length));

    // PBX → browser: 107 becomes 111; 50 packets 20 ms and 960 units apart (48 kHz) measure no real jitter.
    byte[] opus = payload(5);
    for (int i = 0; i < 50; i++) {
      f.pbxSend(rtp(PBX_OPUS, 300 + i, 960L * i, 0x5eed, opus), rtpPort);
      Thread.sleep(20); // the PBX's 20 ms packet clock
    }
    byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(back);
    assertEquals(BROWSER_OPUS, Rtp.payloadType(back, 0));
    assertArrayEquals(opus, Arrays.copyOfRange(back, 12, back.length));
    double jitterMs = f.sessionStatus("op1").getJsonObject("quality").getJsonObject("pbx").getDouble("jitterMs");
    // At the 8 kHz clock the 960-unit steps would read as 100 ms of jitter (RFC 3550 A.8 on the wrong clock).
    assertTrue(jitterMs < 15, "jitter of a 20 ms paced Opus stream on loopback, on the 48 kHz clock: " + jitterMs);

    // One digit to the PBX: 5 packets of growing duration, 3 end packets, in units of 48 kHz (960 per 20 ms).
    f.request(Addresses.MEDIA_DTMF, new JsonObject().put("callId", "op1").put("digits", "5"));
    List<byte[]> dtmf = f.pbxReceive(8);
    assertEquals(8, dtmf.size());
    for (int i = 0; i < 8; i++) {
      byte[] p = dtmf.get(i);
      assertEquals(PBX_TE, Rtp.payloadType(p, 0));
      assertEquals(5, p[12]);
      int duration = ((p[14] & 0xFF) << 8) | (p[15] & 0xFF);
      assertEquals(Math.min(i + 1, 5) * 960, duration, "duration of packet " + i + " in 48 kHz units");
      assertEquals(Rtp.timestamp(dtmf.get(0), 0), Rtp.timestamp(p, 0), "one timestamp per event");
    }
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "op1"));
    f.assertNothingLeaks();

    // A PBX offer without a codec the browser has is refused with a clear error, and leaves nothing behind.
    String g729 = f.pbxSdp(1, "18", "sendrecv").replace("a=sendrecv", "a=rtpmap:18 G729/8000\r\na=sendrecv");
    assertEquals(306, f.failure(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "op2").put("sessionId", "w2")
        .put("browserOffer", browser.offer()).put("pbxOffer", g729)));
    f.assertNothingLeaks();
  }
}
