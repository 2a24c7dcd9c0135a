package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.RtcpPackets;
import org.webphone.gateway.media.rtp.SrtpKeys;
import org.webphone.gateway.testing.Eventually;

/**
 * RTCP terminated on both legs: the synthetic browser decrypts the gateway's SRTCP and the PBX's RTCP port
 * is a plain UDP socket; both check the SR/RR/SDES/BYE fields against what was really sent and received,
 * packets dropped on purpose included. The report interval is shortened to 400 ms so a test takes seconds.
 */
@ExtendWith(VertxExtension.class)
class MediaRtcpTest {
  private static final int PBX_SSRC = 0x0BADCAFE;
  private MediaFixture f;
  private DatagramSocket pbxRtcp;

  @AfterEach
  void tearDown() throws Exception {
    if (pbxRtcp != null) {
      pbxRtcp.close();
    }
    if (f != null) {
      f.close();
    }
  }

  private void deploy(Vertx vertx, JsonObject media) throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("rtcpIntervalMs", 400).mergeIn(media));
    pbxRtcp = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    pbxRtcp.setSoTimeout(200);
  }

  /** Create, answer with the PBX's SDP naming its RTCP socket (a=rtcp), connect; returns the gateway's RTP port. */
  private int call(String callId, SyntheticBrowser browser) throws Exception {
    f.listen("s-" + callId);
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", callId)
        .put("sessionId", "s-" + callId).put("browserOffer", browser.offer()));
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", callId)
        .put("sdp", f.pbxSdp(1, "0 101", "sendrecv") + "a=rtcp:" + pbxRtcp.getLocalPort() + "\r\n"));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    return Sdp.parse(created.getString("pbxSdp")).audio().port;
  }

  @Test
  void theBrowserLegGetsSrtcpReportsThatMatchWhatWasSentAndLostAndTheGatewayMeasuresTheRoundTrip(Vertx vertx)
      throws Exception {
    deploy(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = call("c1", browser);
    assertEquals(SrtpKeys.Profile.AEAD_AES_128_GCM, browser.srtpProfile(), "GCM is preferred when offered");
    assertEquals("AEAD_AES_128_GCM", f.sessionStatus("c1").getString("srtpProfile"));

    // The browser sends 60 packets at 20 ms, leaving out 5 on purpose; the PBX sends 40 toward the browser,
    // ending with the browser's so that one SR after the end carries both final counts.
    int firstSeq = -1;
    int lastSeq = 0;
    for (int i = 0; i < 60; i++) {
      if (i == 30) {
        browser.skip(5);
      }
      byte[] sent = browser.sendRtp(0, MediaRelayVerticleTest.payload(i));
      lastSeq = org.webphone.gateway.media.rtp.Rtp.seq(sent, 0);
      firstSeq = firstSeq < 0 ? lastSeq : firstSeq;
      if (i >= 20) {
        int k = i - 20;
        f.pbxSend(MediaRelayVerticleTest.rtp(0, 9000 + k, 160L * k, PBX_SSRC, MediaRelayVerticleTest.payload(k)),
            rtpPort);
      }
      Thread.sleep(20);
    }
    int gatewaySsrc = 0;
    for (int i = 0; i < 40; i++) {
      byte[] p = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(p, "browser got only " + i + " of 40 packets");
      gatewaySsrc = org.webphone.gateway.media.rtp.Rtp.ssrc(p, 0);
    }

    // The gateway's last report after the media: an SR with the 40 packets it sent, a block about ours.
    long expectedMax = firstSeq + 64L;
    RtcpView sr = awaitBrowserRtcp(browser, v -> v.sr && v.packets == 40 && !v.blocks.isEmpty()
        && v.blocks.get(0).extendedMax() == expectedMax, 6);
    assertEquals(40 * 160, sr.octets, "SR octet count: payload octets sent");
    assertEquals(java.util.List.of(200, 202), sr.types, "SR then SDES");
    assertEquals("webphone-gateway", sr.cname);
    assertEquals(sr.senderSsrc, sr.sdesSsrc);
    RtcpView.Block block = sr.blocks.get(0);
    assertEquals(browser.ssrc, block.ssrc(), "the block is about the browser's stream");
    assertEquals(5, block.cumulativeLost(), "the 5 packets left out are lost");
    assertEquals(lastSeq, (int) (block.extendedMax() & 0xFFFF));
    assertTrue(block.jitter() < 8 * 40, "jitter of a 20 ms paced stream on loopback, in 8 kHz units: "
        + block.jitter());

    // The browser reports back (RR echoing that SR, plus an APP packet), then sends an SR of its own.
    long since = System.nanoTime() - srSeenAt;
    browser.sendRtcp(RtcpView.receiverReport(browser.ssrc, sr.senderSsrc, sr, since, true));
    long browserNtp = RtcpPackets.ntp(System.nanoTime());
    browser.sendRtcp(RtcpView.senderReport(browser.ssrc, browserNtp, 123_456, 60, 60 * 160));
    JsonObject q = awaitQuality("c1", "browser", j -> j.containsKey("rttMs") && j.getLong("remoteSentPackets", -1L) == 60);
    assertTrue(q.getDouble("rttMs") >= 0 && q.getDouble("rttMs") < 200, "loopback round trip: " + q);
    assertEquals(0.0, q.getDouble("remoteLossPercent"), "what the browser reported: " + q);
    assertEquals(5, q.getLong("lostPackets"));
    assertEquals(65, q.getLong("expectedPackets"));
    assertEquals(40, q.getLong("sentPackets"));
    assertTrue(f.counter("c1", "rtcpIgnored") >= 1, "the APP packet is skipped and counted");
    assertEquals(0, f.counter("c1", "rtcpBad"));

    // The gateway's next report echoes the browser's SR: LSR is its NTP middle.
    long lsr = (browserNtp >>> 16) & 0xFFFFFFFFL;
    RtcpView rr = awaitBrowserRtcp(browser, v -> !v.blocks.isEmpty() && v.blocks.get(0).lsr() == lsr, 4);
    assertTrue(rr.blocks.get(0).dlsr() < 65536 * 3, "DLSR under 3 s: " + rr.blocks.get(0).dlsr());
    assertEquals(0, browser.rtcpFailed.get());
    assertEquals(gatewaySsrc, sr.senderSsrc, "RTCP speaks for the SSRC the gateway sends media with");

    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "c1"));
    f.awaitEvent("closed", 5);
    int ourSsrc = gatewaySsrc;
    awaitBrowserRtcp(browser, v -> v.bye && v.byeSsrc == ourSsrc, 3);
    f.assertNothingLeaks();
  }

  @Test
  void thePbxLegGetsPlainRtcpOnItsRtcpPortWithTrueCountsAndABye(Vertx vertx) throws Exception {
    deploy(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = call("c2", browser);
    // PBX → gateway: 50 packets with sequence numbers 2000..2052, three of them (2010..2012) never sent.
    int sent = 0;
    for (int i = 0; i < 53; i++) {
      if (i < 10 || i > 12) {
        f.pbxSend(MediaRelayVerticleTest.rtp(0, 2000 + i, 160L * i, PBX_SSRC, MediaRelayVerticleTest.payload(i)),
            rtpPort);
        sent++;
      }
      if (i < 30) {
        browser.sendRtp(0, MediaRelayVerticleTest.payload(i));
      }
      Thread.sleep(20);
    }
    assertEquals(50, sent);
    assertEquals(30, f.pbxReceive(30).size(), "the PBX got the browser's 30 packets");

    RtcpView sr = awaitPbxRtcp(rtpPort, v -> v.sr && v.packets == 30 && !v.blocks.isEmpty()
        && v.blocks.get(0).extendedMax() == 2052, 6);
    assertEquals(30 * 160, sr.octets);
    assertEquals("webphone-gateway", sr.cname);
    RtcpView.Block block = sr.blocks.get(0);
    assertEquals(PBX_SSRC, block.ssrc());
    assertEquals(3, block.cumulativeLost());
    assertTrue(block.jitter() < 8 * 40, "jitter in 8 kHz units: " + block.jitter());

    // The PBX answers with an RR about the gateway's stream (echoing the SR): the gateway gets an RTT.
    long since = System.nanoTime() - srSeenAt;
    byte[] rr = RtcpView.receiverReport(PBX_SSRC, sr.senderSsrc, sr, since, false);
    pbxRtcp.send(new DatagramPacket(rr, rr.length, InetAddress.getLoopbackAddress(), rtpPort + 1));
    JsonObject q = awaitQuality("c2", "pbx", j -> j.containsKey("rttMs"));
    assertTrue(q.getDouble("rttMs") >= 0 && q.getDouble("rttMs") < 200, "loopback round trip: " + q);
    assertEquals(3, q.getLong("lostPackets"));
    assertEquals(0, f.counter("c2", "rtcpBad"));
    assertTrue(f.counter("c2", "pbxRtcpIn") >= 1);

    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "c2"));
    f.awaitEvent("closed", 5);
    RtcpView bye = awaitPbxRtcp(rtpPort, v -> v.bye, 3);
    assertEquals(sr.senderSsrc, bye.byeSsrc);
    assertTrue(bye.types.get(0) == 200 || bye.types.get(0) == 201, "BYE comes in a compound after SR/RR");
    f.assertNothingLeaks();
  }

  @Test
  void withAesCmToTheBrowserAndSdesSrtpToThePbxBothLegsCarryProtectedRtcpAndForgedRtcpIsDropped(Vertx vertx)
      throws Exception {
    deploy(vertx, new JsonObject().put("srtpAeadGcm", false).put("pbxSrtp", true).put("pbxSrtpOverPlainSip", true));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    f.listen("s-c3");
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "c3")
        .put("sessionId", "s-c3").put("browserOffer", browser.offer()));
    Sdp offer = Sdp.parse(created.getString("pbxSdp"));
    String crypto = offer.audio().attr("crypto");
    byte[] gatewayKey = java.util.Base64.getDecoder().decode(crypto.substring(crypto.indexOf("inline:") + 7));
    byte[] pbxKey = new byte[30];
    java.util.concurrent.ThreadLocalRandom.current().nextBytes(pbxKey);
    SrtpKeys pbxSide = SrtpKeys.sdes(pbxKey, gatewayKey);
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "c3").put("sdp",
        f.pbxSdp(1, "0 101", "sendrecv").replace("RTP/AVP", "RTP/SAVP") + "a=rtcp:" + pbxRtcp.getLocalPort() + "\r\n"
            + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + java.util.Base64.getEncoder().encodeToString(pbxKey)
            + "\r\n"));
    int rtpPort = offer.audio().port;
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    assertEquals(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80, browser.srtpProfile(), "GCM switched off");
    assertEquals("AES128_CM_HMAC_SHA1_80", f.sessionStatus("c3").getString("srtpProfile"));

    for (int i = 0; i < 20; i++) {
      browser.sendRtp(0, MediaRelayVerticleTest.payload(i));
      Thread.sleep(20);
    }
    assertEquals(20, f.pbxReceive(20).size());
    // SRTCP at the PBX: only the SDES keys open it.
    org.webphone.gateway.media.rtp.PacketBuffer buf = new org.webphone.gateway.media.rtp.PacketBuffer();
    DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
    RtcpView sr = Eventually.await(Duration.ofSeconds(6), "an SR for the 20 packets at the PBX as SRTCP", () -> {
      pbxRtcp.receive(p); // a socket timeout is "not yet"
      srSeenAt = System.nanoTime();
      buf.load(p.getData(), 0, p.getLength());
      if (pbxSide.unprotectRtcp(buf) != org.jitsi.srtp.SrtpErrorStatus.OK) {
        throw new Eventually.Hopeless("SRTCP from the gateway that the SDES keys do not open");
      }
      return RtcpView.parse(java.util.Arrays.copyOf(buf.getBuffer(), buf.getLength()));
    }, v -> v.sr && v.packets == 20);
    assertEquals(20 * 160, sr.octets);

    // A forged (unprotected) RR is dropped and counted; the real SRTCP one gives an RTT.
    byte[] rr = RtcpView.receiverReport(PBX_SSRC, sr.senderSsrc, sr, System.nanoTime() - srSeenAt, false);
    pbxRtcp.send(new DatagramPacket(rr, rr.length, InetAddress.getLoopbackAddress(), rtpPort + 1));
    buf.load(rr, 0, rr.length);
    assertEquals(org.jitsi.srtp.SrtpErrorStatus.OK, pbxSide.protectRtcp(buf));
    pbxRtcp.send(new DatagramPacket(buf.getBuffer(), buf.getLength(), InetAddress.getLoopbackAddress(), rtpPort + 1));
    JsonObject q = awaitQuality("c3", "pbx", j -> j.containsKey("rttMs"));
    assertTrue(q.getDouble("rttMs") < 200, q.encode());
    assertEquals(1, f.counter("c3", "rtcpBad"), "the unprotected RR");
    // RTCP from another port of the PBX's host is not the PBX's RTCP: dropped as a wrong source.
    try (DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
      stranger.send(new DatagramPacket(buf.getBuffer(), buf.getLength(), InetAddress.getLoopbackAddress(),
          rtpPort + 1));
    }
    assertEquals(1, Eventually.await(Duration.ofSeconds(1), "the stranger's RTCP counted as a wrong source",
        () -> f.counter("c3", "pbxWrongSource"), n -> n != 0));

    // The browser leg's SRTCP (AES-CM) decrypts too.
    awaitBrowserRtcp(browser, v -> !v.blocks.isEmpty() && v.blocks.get(0).ssrc() == browser.ssrc, 4);
    assertEquals(0, browser.rtcpFailed.get());
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "c3"));
    f.awaitEvent("closed", 5);
    f.assertNothingLeaks();
  }

  private long srSeenAt;


  /** Reads the PBX's RTCP socket until a compound packet from the gateway's odd port matches; bounded. */
  private RtcpView awaitPbxRtcp(int rtpPort, Predicate<RtcpView> want, int seconds) throws Exception {
    DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
    long[] at = new long[1];
    Described v = Eventually.await(Duration.ofSeconds(seconds), "matching RTCP at the PBX", () -> {
      pbxRtcp.receive(p); // a socket timeout is "not yet"
      at[0] = System.nanoTime();
      if (p.getPort() != rtpPort + 1) {
        throw new Eventually.Hopeless("RTCP from port " + p.getPort() + ", not the gateway's RTCP port");
      }
      return new Described(RtcpView.parse(java.util.Arrays.copyOf(p.getData(), p.getLength())));
    }, d -> want.test(d.view()));
    srSeenAt = at[0];
    return v.view();
  }

  /** An RTCP view that prints as {@link #describe}, for the failure message of a wait. */
  private record Described(RtcpView view) {
    @Override
    public String toString() {
      return describe(view);
    }
  }

  private RtcpView awaitBrowserRtcp(SyntheticBrowser b, Predicate<RtcpView> want, int seconds)
      throws Exception {
    long[] at = new long[1];
    Described v = Eventually.await(Duration.ofSeconds(seconds), "matching SRTCP at the browser", () -> {
      byte[] p = b.rtcpReceived.poll();
      if (p == null) {
        return null;
      }
      // Both queues are filled in step (the time first), so this is the arrival of p.
      at[0] = b.rtcpReceivedAt.poll();
      return new Described(RtcpView.parse(p));
    }, d -> d != null && want.test(d.view()));
    srSeenAt = at[0];
    return v.view();
  }

  private JsonObject awaitQuality(String callId, String leg, Predicate<JsonObject> want) throws Exception {
    return Eventually.await(Duration.ofSeconds(3), "the quality of the " + leg + " leg to match",
        () -> f.sessionStatus(callId).getJsonObject("quality").getJsonObject(leg), want);
  }

  private static String describe(RtcpView v) {
    return v == null ? "none" : "types " + v.types + " packets " + v.packets + " blocks " + v.blocks + " bye " + v.bye;
  }
}
