package org.webphone.gateway.media;

import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.client.StunMessages;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.webphone.gateway.media.MediaRelayVerticleTest.payload;
import static org.webphone.gateway.media.MediaRelayVerticleTest.rtp;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * Call scenarios beyond the basic relay: incoming calls, hold and re-offers, media timeout, browser leg
 * rebuild, junk on both legs, DTMF. Same real peers as {@link MediaRelayVerticleTest}.
 */
@ExtendWith(VertxExtension.class)
class MediaRelayScenariosTest {
  private MediaFixture f;

  @AfterEach
  void tearDown() throws Exception {
    if (f != null) {
      f.close();
    }
  }

  @Test
  void anIncomingCallAnswersThePbxOfferWithItsFirstG711CodecAndRelaysBothWays(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s2");
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "in1").put("sessionId", "s2")
        .put("browserOffer", browser.offer()).put("pbxOffer", f.pbxSdp(1, "8 0 101", "sendrecv")));
    String pbxAnswer = created.getString("pbxSdp");
    assertTrue(pbxAnswer.contains(" RTP/AVP 8 101"), pbxAnswer);
    assertTrue(pbxAnswer.contains("a=sendrecv"), pbxAnswer);
    assertTrue(created.getString("browserAnswer").contains("UDP/TLS/RTP/SAVPF 8 126"));
    int rtpPort = Sdp.parse(pbxAnswer).audio().port;
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);

    byte[] sent = browser.sendRtp(8, payload(1));
    byte[] got = f.pbxReceive();
    assertNotNull(got);
    assertEquals(8, Rtp.payloadType(got, 0));
    assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(got, 12, 172));
    // telephone-event: the browser's 126 becomes the PBX's 101, and back.
    browser.sendRtp(SyntheticBrowser.TE_PT, new byte[] {5, 0x0A, 0, (byte) 160});
    byte[] dtmf = f.pbxReceive();
    assertNotNull(dtmf);
    assertEquals(101, Rtp.payloadType(dtmf, 0));
    f.pbxSend(rtp(101, 1, 0, 42, new byte[] {7, 0x0A, 0, (byte) 160}), rtpPort);
    byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(back);
    assertEquals(SyntheticBrowser.TE_PT, Rtp.payloadType(back, 0));
    assertEquals(7, back[12]);

    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "in1"));
    f.assertNothingLeaks();
  }

  @Test
  void holdReOffersAnswerWithTheMirroredDirectionAndStopAudioTowardAPbxThatDoesNotReceive(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.startCall("h1", "s3", browser);
    browser.sendRtp(0, payload(1));
    assertNotNull(f.pbxReceive());

    // The PBX puts us on hold (it will only send): we answer recvonly and send it nothing.
    JsonObject answer = f.request(Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", "h1").put("sdp", f.pbxSdp(2, "0 101", "sendonly")));
    assertTrue(answer.getString("sdp").contains("a=recvonly"), answer.encode());
    assertTrue(f.sessionStatus("h1").getBoolean("hold"));
    long toPbx = f.counter("h1", "toPbx");
    for (int i = 0; i < 5; i++) {
      browser.sendRtp(0, payload(i));
    }
    f.pbx.setSoTimeout(300);
    assertNull(f.pbxReceive(), "audio reached a PBX that holds the call");
    assertEquals(toPbx, f.counter("h1", "toPbx"));

    // Off hold: sendrecv again, audio flows again.
    answer = f.request(Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", "h1").put("sdp", f.pbxSdp(3, "0 101", "sendrecv")));
    assertTrue(answer.getString("sdp").contains("a=sendrecv"));
    f.pbx.setSoTimeout(3000);
    browser.sendRtp(0, payload(9));
    assertNotNull(f.pbxReceive());

    // We hold the PBX: our re-offer says sendonly with a new o= version; its answer needs no reply SDP.
    JsonObject offer = f.request(Addresses.MEDIA_DIRECTION, new JsonObject().put("callId", "h1").put("direction", "sendonly"));
    String reOffer = offer.getString("sdp");
    assertTrue(reOffer.contains("a=sendonly"), reOffer);
    JsonObject ack = f.request(Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", "h1").put("sdp", f.pbxSdp(4, "0 101", "recvonly")));
    assertFalse(ack.containsKey("sdp"), ack.encode());
    assertEquals(103, f.failure(Addresses.MEDIA_DIRECTION, new JsonObject().put("callId", "h1").put("direction", "up")));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "h1"));
    f.assertNothingLeaks();
  }

  @Test
  void aBrowserThatStopsSendingEndsTheCallWithATimeoutEvent(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("timeoutSec", 1));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.startCall("t1", "s4", browser);
    browser.sendRtp(0, payload(1));
    JsonObject e = f.awaitEvent("timeout", 4);
    assertEquals("t1", e.getString("callId"));
    assertTrue(e.getString("reason").contains("browser"), e.encode());
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "t1"));
    f.assertNothingLeaks();
  }

  @Test
  void aRebuiltBrowserLegKeepsTheSsrcSequenceAndTimestampsTowardThePbxContinuous(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser first = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("r1", "s5", first);
    for (int i = 0; i < 10; i++) {
      first.sendRtp(0, payload(i));
      Thread.sleep(2);
    }
    List<byte[]> before = f.pbxReceive(10);
    assertEquals(10, before.size());
    byte[] last = before.get(9);

    SyntheticBrowser second = f.own(new SyntheticBrowser());
    JsonObject reply = f.request(Addresses.MEDIA_BROWSER_OFFER,
        new JsonObject().put("callId", "r1").put("browserOffer", second.offer()));
    second.connect(reply.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    f.awaitStatus("agents", 1);
    f.awaitStatus("dtlsSessions", 1);
    for (int i = 0; i < 10; i++) {
      second.sendRtp(0, payload(50 + i));
      Thread.sleep(2);
    }
    List<byte[]> after = f.pbxReceive(10);
    assertEquals(10, after.size());
    assertEquals(Rtp.ssrc(last, 0), Rtp.ssrc(after.get(0), 0), "SSRC changed");
    assertEquals((Rtp.seq(last, 0) + 1) & 0xFFFF, Rtp.seq(after.get(0), 0), "sequence jumped");
    long tsStep = (Rtp.timestamp(after.get(0), 0) - Rtp.timestamp(last, 0)) & 0xFFFFFFFFL;
    assertTrue(tsStep > 0 && tsStep < 8000 * 30, "timestamp went from " + Rtp.timestamp(last, 0) + " to "
        + Rtp.timestamp(after.get(0), 0));
    assertArrayEquals(payload(50), Arrays.copyOfRange(after.get(0), 12, 172));

    f.pbxSend(rtp(0, 1, 0, 42, payload(3)), rtpPort);
    assertNotNull(second.received.poll(3, TimeUnit.SECONDS), "PBX audio did not reach the new leg");
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "r1"));
    f.assertNothingLeaks();
  }

  @Test
  void junkOnBothLegsIsDroppedAndCountedWhileTheAudioGoesOn(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("j1", "s6", browser);

    // Browser leg: a replayed packet, a packet with a broken auth tag, non-RTP bytes; from the right pair.
    browser.sendRtp(0, payload(1));
    browser.sendRtp(0, payload(2));
    byte[] wire = browser.lastWire;
    assertEquals(2, f.pbxReceive(2).size());
    browser.sendRaw(wire);
    byte[] forged = wire.clone();
    Rtp.setSeq(forged, 0, Rtp.seq(wire, 0) + 1);
    forged[forged.length - 1] ^= 0x55;
    browser.sendRaw(forged);
    browser.sendRaw(new byte[] {(byte) 0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
    // A connectivity check signed with the wrong password: ice4j rejects it, the pair stays selected.
    browser.sendRaw(StunMessages.bindingRequest(browser.remoteUfrag() + ":x", "not-the-password", 1L));
    // Random datagrams at the shared WebRTC port from a stranger: ice4j drops them (no ufrag session).
    try (DatagramSocket stranger = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      byte[] junk = new byte[200];
      ThreadLocalRandom.current().nextBytes(junk);
      junk[0] = (byte) 0x80;
      stranger.send(new DatagramPacket(junk, junk.length, InetAddress.getLoopbackAddress(), f.webrtcPort));
      // PBX leg: RTP from a wrong source, then random bytes from the PBX itself.
      stranger.send(new DatagramPacket(rtp(0, 1, 0, 1, payload(9)), 172, InetAddress.getLoopbackAddress(), rtpPort));
      f.pbxSend(new byte[] {1, 2, 3}, rtpPort);
    }
    // The audio goes on, both ways.
    byte[] sent = browser.sendRtp(0, payload(3));
    byte[] got = f.pbxReceive();
    assertNotNull(got);
    assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(got, 12, 172));
    f.pbx.setSoTimeout(200);
    assertNull(f.pbxReceive(), "junk was relayed to the PBX");
    f.pbxSend(rtp(0, 1, 0, 42, payload(4)), rtpPort);
    byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(back);
    assertArrayEquals(payload(4), Arrays.copyOfRange(back, 12, 172));
    assertNull(browser.received.poll(200, TimeUnit.MILLISECONDS), "the stranger's RTP reached the browser");

    JsonObject c = f.sessionStatus("j1").getJsonObject("counters");
    assertEquals(2, c.getLong("browserAuthFailed"), c.encode());
    assertEquals(1, c.getLong("browserJunk"), c.encode());
    assertEquals(1, c.getLong("pbxWrongSource"), c.encode());
    assertEquals(1, c.getLong("pbxJunk"), c.encode());
    assertEquals(3, c.getLong("toPbx"), c.encode());
    assertEquals(1, c.getLong("toBrowser"), c.encode());
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "j1"));
    f.assertNothingLeaks();
  }

  @Test
  void dtmfDigitsGoToThePbxAsTelephoneEventsInTheCallsRtpStream(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.startCall("d1", "s7", browser);
    browser.sendRtp(0, payload(1));
    byte[] audio = f.pbxReceive();
    assertNotNull(audio);
    f.request(Addresses.MEDIA_DTMF, new JsonObject().put("callId", "d1").put("digits", "1#"));
    List<byte[]> packets = f.pbxReceive(16);
    assertEquals(16, packets.size(), "two digits are 8 packets each");
    int prevSeq = Rtp.seq(audio, 0);
    for (int i = 0; i < packets.size(); i++) {
      byte[] p = packets.get(i);
      assertEquals(101, Rtp.payloadType(p, 0));
      assertEquals(Rtp.ssrc(audio, 0), Rtp.ssrc(p, 0));
      assertEquals((prevSeq + 1) & 0xFFFF, Rtp.seq(p, 0));
      prevSeq = Rtp.seq(p, 0);
      assertEquals(i < 8 ? 1 : 11, p[12]);
      assertEquals(i % 8 >= 5, (p[13] & 0x80) != 0, "end bit of packet " + i);
    }
    assertEquals(103, f.failure(Addresses.MEDIA_DTMF, new JsonObject().put("callId", "d1").put("digits", "x")));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "d1"));
    f.assertNothingLeaks();
  }

  @Test
  void dtmfFromThePbxReachesTheBrowserAndIsReportedOncePerDigit(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("d2", "s8", browser);
    for (int i = 0; i < 6; i++) {
      boolean end = i >= 3;
      f.pbxSend(rtp(101, 300 + i, 8000, 42, new byte[] {5, (byte) ((end ? 0x80 : 0) | 10), 0, (byte) (160 * (i + 1))}),
          rtpPort);
    }
    for (int i = 0; i < 6; i++) {
      byte[] p = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(p, "telephone-event packet " + i);
      assertEquals(SyntheticBrowser.TE_PT, Rtp.payloadType(p, 0));
    }
    JsonObject e = f.awaitDtmf(3);
    assertEquals("5", e.getString("digit"));
    assertEquals("rfc4733", e.getString("source"));
    assertEquals("d2", e.getString("callId"));
    assertNull(f.events.poll(300, TimeUnit.MILLISECONDS), "a digit was reported twice");
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "d2"));
    f.assertNothingLeaks();
  }

  @Test
  void aBrowserWhoseCertificateDoesNotMatchItsOfferedFingerprintGetsNoMedia(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    String other = org.webphone.gateway.media.dtls.DtlsIdentity.generate("someone-else").fingerprint();
    f.listen("s9");
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "m1").put("sessionId", "s9")
        .put("browserOffer", browser.offer().replace(browser.fingerprint(), other)));
    Exception refused = null;
    try {
      browser.connect(created.getString("browserAnswer"));
    } catch (Exception e) {
      refused = e;
    }
    assertNotNull(refused, "the DTLS handshake succeeded with a certificate that is not the offered one");
    JsonObject e = f.awaitEvent("failed", 5);
    assertTrue(e.getString("reason").contains("fingerprint"), e.encode());
    assertFalse(f.sessionStatus("m1").getBoolean("browserConnected"));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "m1"));
    f.assertNothingLeaks();
  }

  @Test
  void aPbxThatStopsSendingEndsTheCallWithATimeoutEventOnlyAfterItHasSentMedia(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("timeoutSec", 1));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("t2", "s10", browser);
    // The browser keeps talking; the PBX sends a few packets, then nothing.
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2500);
    int i = 0;
    JsonObject timeout = null;
    while (System.nanoTime() < end && timeout == null) {
      browser.sendRtp(0, payload(i));
      if (i < 5) {
        f.pbxSend(rtp(0, i, 160L * i, 42, payload(i)), rtpPort);
      }
      i++;
      JsonObject e = f.events.poll(20, TimeUnit.MILLISECONDS);
      if (e != null && "timeout".equals(e.getString("state"))) {
        timeout = e;
      }
    }
    assertNotNull(timeout, "no timeout event within 2.5 s of the PBX going quiet");
    assertTrue(timeout.getString("reason").contains("PBX"), timeout.encode());
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "t2"));
    f.assertNothingLeaks();
  }

  @Test
  void aNattedPbxAddressIsLearnedFromItsFirstPacketThenLocked(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("learnPbxAddress", true));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s11");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "n1").put("sessionId", "s11").put("browserOffer", browser.offer()));
    int rtpPort = Sdp.parse(created.getString("pbxSdp")).audio().port;
    // The PBX's SDP names its private address; its packets come from the NAT's (here: our socket).
    String privateSdp = f.pbxSdp(1, "0 101", "sendrecv").replace("c=IN IP4 127.0.0.1", "c=IN IP4 10.9.8.7");
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "n1").put("sdp", privateSdp));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    f.pbxSend(rtp(0, 1, 0, 42, payload(1)), rtpPort);
    assertNotNull(browser.received.poll(3, TimeUnit.SECONDS), "the first PBX packet was not relayed");
    browser.sendRtp(0, payload(2));
    assertNotNull(f.pbxReceive(), "the browser's audio did not go to the learned address");
    try (DatagramSocket other = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      other.send(new DatagramPacket(rtp(0, 2, 160, 43, payload(3)), 172, InetAddress.getLoopbackAddress(), rtpPort));
    }
    assertNull(browser.received.poll(300, TimeUnit.MILLISECONDS), "a second source was accepted after learning");
    assertEquals(1, f.counter("n1", "pbxWrongSource"));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "n1"));
    f.assertNothingLeaks();
  }

  @Test
  void withPbxSrtpThePbxLegIsSdesSrtpBothWaysAndForgedPbxPacketsAreDropped(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("pbxSrtp", true).put("pbxSrtpOverPlainSip", true));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s12");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "sd1").put("sessionId", "s12").put("browserOffer", browser.offer()));
    Sdp offer = Sdp.parse(created.getString("pbxSdp"));
    assertEquals("RTP/SAVP", offer.audio().proto);
    String crypto = offer.audio().attr("crypto");
    assertTrue(crypto.startsWith("1 AES_CM_128_HMAC_SHA1_80 inline:"), crypto);
    byte[] gatewayKey = java.util.Base64.getDecoder().decode(crypto.substring(crypto.indexOf("inline:") + 7));
    byte[] pbxKey = new byte[30];
    ThreadLocalRandom.current().nextBytes(pbxKey);
    org.webphone.gateway.media.rtp.SrtpKeys pbxSide = org.webphone.gateway.media.rtp.SrtpKeys.sdes(pbxKey, gatewayKey);
    String answer = f.pbxSdp(1, "0 101", "sendrecv").replace("RTP/AVP", "RTP/SAVP")
        + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + java.util.Base64.getEncoder().encodeToString(pbxKey) + "\r\n";
    // A plain RTP/AVP answer to an RTP/SAVP offer is refused.
    assertEquals(306, f.failure(Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", "sd1").put("sdp", f.pbxSdp(1, "0 101", "sendrecv"))));
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "sd1").put("sdp", answer));
    int rtpPort = offer.audio().port;
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);

    byte[] sent = browser.sendRtp(0, payload(1));
    byte[] wire = f.pbxReceive();
    assertNotNull(wire);
    assertEquals(182, wire.length, "SRTP adds the 10-byte auth tag");
    org.webphone.gateway.media.rtp.PacketBuffer buf = new org.webphone.gateway.media.rtp.PacketBuffer();
    buf.load(wire, 0, wire.length);
    assertEquals(org.jitsi.srtp.SrtpErrorStatus.OK, pbxSide.unprotect(buf));
    assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(buf.getBuffer(), 12, 172));

    buf.load(rtp(0, 1, 0, 42, payload(5)), 0, 172);
    assertEquals(org.jitsi.srtp.SrtpErrorStatus.OK, pbxSide.protect(buf));
    byte[] srtp = Arrays.copyOf(buf.getBuffer(), buf.getLength());
    f.pbxSend(srtp, rtpPort);
    byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(back, "the PBX's SRTP did not reach the browser");
    assertArrayEquals(payload(5), Arrays.copyOfRange(back, 12, 172));
    f.pbxSend(srtp, rtpPort); // a replay
    byte[] forged = rtp(0, 2, 160, 42, payload(6));
    f.pbxSend(Arrays.copyOf(forged, 182), rtpPort); // plain RTP with a made-up tag
    assertNull(browser.received.poll(300, TimeUnit.MILLISECONDS), "a replayed or forged PBX packet was relayed");
    assertEquals(2, f.counter("sd1", "pbxAuthFailed"));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "sd1"));
    f.assertNothingLeaks();
  }
}
