package org.webphone.gateway.media;

import org.webphone.gateway.media.client.SyntheticBrowser;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The media verticle against a synthetic browser (ice4j controlling agent + bctls DTLS client + jitsi-srtp,
 * {@link SyntheticBrowser}) and a UDP socket playing the PBX: real ICE, DTLS and SRTP over loopback.
 */
@ExtendWith(VertxExtension.class)
class MediaRelayVerticleTest {
  private static final int PACKETS = 50;
  private MediaFixture f;

  @BeforeEach
  void deploy(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
  }

  @AfterEach
  void tearDown() throws Exception {
    f.close();
  }

  @Test
  void anOutgoingCallRelaysBrowserAudioToThePbxAndPbxAudioToTheBrowserThenFreesEverything()
      throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s1");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "c1").put("sessionId", "s1").put("browserOffer", browser.offer()));
    String answer = created.getString("browserAnswer");
    String pbxOffer = created.getString("pbxSdp");
    assertTrue(answer.contains("a=setup:passive"), answer);
    assertTrue(answer.contains("m=audio " + f.webrtcPort + " UDP/TLS/RTP/SAVPF 0 126"), answer);
    // The browser's Opus is offered first (wideband pass-through), then the G.711 its leg starts on.
    assertTrue(pbxOffer.contains(" RTP/AVP 111 0 101"), pbxOffer);
    int rtpPort = Sdp.parse(pbxOffer).audio().port;

    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "c1").put("sdp", f.pbxSdp(1, "0 101", "sendrecv")));
    browser.connect(answer);
    f.awaitEvent("connected", 5);

    List<byte[]> sent = new ArrayList<>();
    for (int i = 0; i < PACKETS; i++) {
      sent.add(browser.sendRtp(0, payload(i)));
      Thread.sleep(2);
    }
    int got = 0;
    int firstSeq = -1;
    for (int i = 0; i < PACKETS; i++) {
      byte[] p = f.pbxReceive();
      assertNotNull(p, "PBX got only " + got + " packets");
      assertEquals(0, Rtp.payloadType(p, 0));
      assertEquals(172, p.length);
      byte[] payload = java.util.Arrays.copyOfRange(p, 12, p.length);
      assertArrayEquals(java.util.Arrays.copyOfRange(sent.get(i), 12, 172), payload, "payload of packet " + i);
      if (firstSeq < 0) {
        firstSeq = Rtp.seq(p, 0);
      }
      assertEquals((firstSeq + i) & 0xFFFF, Rtp.seq(p, 0));
      got++;
    }
    assertEquals(PACKETS, got);

    List<byte[]> fromPbx = new ArrayList<>();
    for (int i = 0; i < PACKETS; i++) {
      byte[] rtp = rtp(0, 7000 + i, 160L * i, 0x0BADCAFE, payload(100 + i));
      fromPbx.add(rtp);
      f.pbxSend(rtp, rtpPort);
      Thread.sleep(2);
    }
    for (int i = 0; i < PACKETS; i++) {
      byte[] p = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(p, "browser got only " + i + " packets");
      assertArrayEquals(java.util.Arrays.copyOfRange(fromPbx.get(i), 12, 172), java.util.Arrays.copyOfRange(p, 12, 172));
    }
    assertEquals(0, browser.receivedFailed.get());
    JsonObject counters = f.sessionStatus("c1").getJsonObject("counters");
    assertEquals(PACKETS, counters.getLong("browserIn"));
    assertEquals(PACKETS, counters.getLong("toPbx"));
    assertEquals(PACKETS, counters.getLong("pbxIn"));
    assertEquals(PACKETS, counters.getLong("toBrowser"));

    f.closeAndAssertNothingLeaks("c1");
  }

  /**
   * The media loop reads a bounded number of datagrams per ready channel per select: a burst queued on one call's
   * PBX channel, longer than that bound, must still come out whole and in order.
   */
  @Test
  void aBurstQueuedOnThePbxChannelReachesTheBrowserWholeAndInOrder() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s1");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "c1").put("sessionId", "s1").put("browserOffer", browser.offer()));
    int rtpPort = Sdp.parse(created.getString("pbxSdp")).audio().port;
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "c1").put("sdp", f.pbxSdp(1, "0 101", "sendrecv")));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);

    // 100 datagrams, about 120 KB of socket buffer with the kernel's overhead: inside every receive buffer on the way.
    int burst = 100;
    for (int i = 0; i < burst; i++) {
      f.pbxSend(rtp(0, 9000 + i, 160L * i, 0x0BADCAFE, payload(300 + i)), rtpPort);
    }
    for (int i = 0; i < burst; i++) {
      byte[] p = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(p, "browser got only " + i + " packets of the burst");
      assertArrayEquals(payload(300 + i), java.util.Arrays.copyOfRange(p, 12, 172),
          "packet " + i + " of the burst");
    }
    assertEquals(burst, f.sessionStatus("c1").getJsonObject("counters").getLong("toBrowser"));
    f.closeAndAssertNothingLeaks("c1");
  }

  @Test
  void withAnswerLaterThePbxSdpComesFirstAndTheBrowserAnswerFollowsAsAnEvent() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s2");
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "c2")
        .put("sessionId", "s2").put("browserOffer", browser.offer()).put("answerLater", true));
    assertNull(created.getString("browserAnswer"), created.encode());
    String pbxOffer = created.getString("pbxSdp");
    // The browser's Opus is offered first (wideband pass-through), then the G.711 its leg starts on.
    assertTrue(pbxOffer.contains(" RTP/AVP 111 0 101"), pbxOffer);
    int rtpPort = Sdp.parse(pbxOffer).audio().port;
    // The PBX may answer before the browser leg exists (the INVITE left before the leg was built).
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "c2").put("sdp", f.pbxSdp(1, "0 101", "sendrecv")));
    JsonObject answerEvent = f.awaitEvent("answer", 5);
    assertEquals("c2", answerEvent.getString("callId"));
    String answer = answerEvent.getString("sdp");
    assertTrue(answer.contains("a=setup:passive"), answer);
    assertTrue(answer.contains("m=audio " + f.webrtcPort + " UDP/TLS/RTP/SAVPF 0 126"), answer);
    browser.connect(answer);
    f.awaitEvent("connected", 5);

    byte[] sent = browser.sendRtp(0, payload(1));
    byte[] atPbx = f.pbxReceive();
    assertNotNull(atPbx, "the browser's packet did not reach the PBX");
    assertArrayEquals(java.util.Arrays.copyOfRange(sent, 12, 172), java.util.Arrays.copyOfRange(atPbx, 12, 172));
    byte[] fromPbx = rtp(0, 9000, 0, 0x0BADF00D, payload(2));
    f.pbxSend(fromPbx, rtpPort);
    byte[] atBrowser = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(atBrowser, "the PBX's packet did not reach the browser");
    assertArrayEquals(java.util.Arrays.copyOfRange(fromPbx, 12, 172), java.util.Arrays.copyOfRange(atBrowser, 12, 172));

    f.closeAndAssertNothingLeaks("c2");
  }

  @Test
  void aCallClosedRightAfterItsAnswerLaterReplyLeavesNoAgentPortOrLeg() throws Exception {
    for (int i = 0; i < 5; i++) {
      SyntheticBrowser browser = f.own(new SyntheticBrowser());
      String callId = "quick-" + i;
      f.listen("s-" + callId);
      f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", callId).put("sessionId", "s-" + callId)
          .put("browserOffer", browser.offer()).put("answerLater", true));
      // Closed while the worker may still be building the ICE agent: that leg must be closed, not installed.
      f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", callId));
    }
    f.awaitStatus("agents", 0); // a leg finished after its close is closed on a worker
    f.assertNothingLeaks();
  }

  @Test
  void badRequestsGetTheDocumentedCodesAndLeaveNothingBehind() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    assertEquals(ErrorCode.MISSING_FIELD.code(), f.failure(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "x")));
    assertEquals(ErrorCode.BAD_SDP.code(), f.failure(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "x").put("sessionId", "s").put("browserOffer", "hello")));
    String noFingerprint = browser.offer().replaceAll("a=fingerprint:[^\r\n]*\r\n", "");
    assertEquals(ErrorCode.BAD_SDP.code(), f.failure(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "x").put("sessionId", "s").put("browserOffer", noFingerprint)));
    String opusOnly = browser.offer().replace("SAVPF 111 0 8 13 126", "SAVPF 111");
    assertEquals(ErrorCode.BAD_SDP.code(), f.failure(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "x").put("sessionId", "s").put("browserOffer", opusOnly)));
    assertEquals(ErrorCode.NOT_FOUND.code(), f.failure(Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", "nope").put("sdp", f.pbxSdp(1, "0", "sendrecv"))));
    assertEquals("nope", f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "nope")).getString("callId"));
    f.assertNothingLeaks();
  }

  static byte[] payload(int seed) {
    byte[] b = new byte[160];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) (seed * 31 + i);
    }
    return b;
  }

  static byte[] rtp(int pt, int seq, long ts, int ssrc, byte[] payload) {
    byte[] p = new byte[12 + payload.length];
    p[0] = (byte) 0x80;
    Rtp.setPayloadType(p, 0, pt);
    Rtp.setSeq(p, 0, seq);
    Rtp.setTimestamp(p, 0, ts);
    Rtp.setSsrc(p, 0, ssrc);
    System.arraycopy(payload, 0, p, 12, payload.length);
    return p;
  }
}
