package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.webphone.gateway.media.MediaRelayVerticleTest.payload;
import static org.webphone.gateway.media.MediaRelayVerticleTest.rtp;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.PbxSources;
import org.webphone.gateway.config.IpRanges;
import org.webphone.gateway.media.client.SyntheticBrowser;

/**
 * R12 of the hardening issue: with {@code media.learnPbxAddress} the PBX's media address is learned only from
 * a packet that may be the PBX's: from {@code pbx.allowedSources} (here the demo default, 127.0.0.1), from the
 * SDP's connection address, or from the SDP's port. A stranger spraying the call's RTP port before the PBX's
 * first packet is dropped and counted, and the PBX is still learned afterwards. The PBX's SDP names a
 * private address (10.9.8.7) as a NATed PBX's does.
 */
@ExtendWith(VertxExtension.class)
class PbxAddressLearningTest {
  private static final int SPRAY = 20;
  private MediaFixture f;

  @AfterEach
  void tearDown() throws Exception {
    if (f != null) {
      f.close();
    }
  }

  private static InetAddress loopback(int last) throws Exception {
    return InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) last});
  }

  /** A call whose PBX SDP says {@code c=IN IP4 <sdpAddress>} and the fixture's PBX port; its RTP port. */
  private int natCall(String callId, SyntheticBrowser browser, String sdpAddress) throws Exception {
    f.listen("s-" + callId);
    JsonObject created = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", callId)
        .put("sessionId", "s-" + callId).put("browserOffer", browser.offer()));
    String sdp = f.pbxSdp(1, "0 101", "sendrecv").replace("c=IN IP4 127.0.0.1", "c=IN IP4 " + sdpAddress);
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", callId).put("sdp", sdp));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    return Sdp.parse(created.getString("pbxSdp")).audio().port;
  }

  /** True when {@code from}'s packet was taken as the PBX's: relayed, and the browser's audio goes back to it. */
  private boolean learnedFrom(DatagramSocket from, int rtpPort, SyntheticBrowser browser, int seq) throws Exception {
    byte[] p = rtp(0, seq, seq * 160L, 42, payload(seq));
    from.send(new DatagramPacket(p, p.length, InetAddress.getLoopbackAddress(), rtpPort));
    if (browser.received.poll(2, TimeUnit.SECONDS) == null) {
      return false;
    }
    browser.sendRtp(0, payload(seq + 1));
    from.setSoTimeout(3000);
    try {
      from.receive(new DatagramPacket(new byte[2048], 2048));
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    }
  }

  @Test
  void aStrangerSprayingTheRtpPortBeforeThePbxIsNotLearnedAndThePbxStillIs(Vertx vertx, VertxTestContext tc)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("learnPbxAddress", true));
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = natCall("spray", browser, "10.9.8.7");
    try (DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(loopback(9), 0))) {
      for (int i = 0; i < SPRAY; i++) {
        byte[] p = rtp(0, 100 + i, 160L * i, 666, payload(i));
        stranger.send(new DatagramPacket(p, p.length, InetAddress.getLoopbackAddress(), rtpPort));
      }
      assertNull(browser.received.poll(500, TimeUnit.MILLISECONDS), "the stranger's RTP reached the browser");
      assertEquals(SPRAY, f.counter("spray", "pbxWrongSource"));
      // The PBX behind a NAT that changed its port: from its allowed address, on another port than the SDP's.
      try (DatagramSocket pbxBehindNat = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(),
          0))) {
        assertEquals(true, learnedFrom(pbxBehindNat, rtpPort, browser, 1), "the PBX was not learned");
      }
      byte[] late = rtp(0, 200, 0, 666, payload(9));
      stranger.send(new DatagramPacket(late, late.length, InetAddress.getLoopbackAddress(), rtpPort));
      assertNull(browser.received.poll(300, TimeUnit.MILLISECONDS), "the stranger's RTP reached the browser later");
      assertEquals(SPRAY + 1, f.counter("spray", "pbxWrongSource"));
    }
    f.closeAndAssertNothingLeaks("spray");
    tc.completeNow();
  }

  @Test
  void aFirstPacketFromTheSdpsPortOrAddressIsLearnedAndOneFromNeitherIsNot(Vertx vertx, VertxTestContext tc)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("learnPbxAddress", true));
    int sdpPort = f.pbx.getLocalPort();
    // source of the first packet, address in the PBX's SDP, learned?
    Object[][] table = {
        {loopback(9), 0, "10.9.8.7", false},
        {loopback(9), sdpPort, "10.9.8.7", true},
        {loopback(7), 0, "127.0.0.7", true},
        {loopback(8), 0, "127.0.0.7", false},
    };
    int row = 0;
    for (Object[] t : table) {
      row++;
      String callId = "row" + row;
      SyntheticBrowser browser = f.own(new SyntheticBrowser());
      int rtpPort = natCall(callId, browser, (String) t[2]);
      try (DatagramSocket from = new DatagramSocket(new InetSocketAddress((InetAddress) t[0], (Integer) t[1]))) {
        String what = "first packet from " + from.getLocalSocketAddress() + " with c=" + t[2];
        assertEquals(t[3], learnedFrom(from, rtpPort, browser, row * 10), what);
        assertEquals((Boolean) t[3] ? 0 : 1, f.counter(callId, "pbxWrongSource"), what);
      }
      f.closeAndAssertNothingLeaks(callId);
      f.events.clear();
    }
    tc.completeNow();
  }
  /**
   * The PBX's possible sources come from the SIP side ({@link PbxSources}: its resolved and re-resolved registrars),
   * not from the media verticle resolving pbx.host itself: once the SIP side has said, a first packet from its
   * address is learned, one from the configured host (here the demo's 127.0.0.1) no longer is, and a change the
   * SIP side publishes applies to the next call.
   */
  @Test
  void theSourcesTheSipSideResolvedDecideWhichFirstPacketMayBeThePbxs(Vertx vertx, VertxTestContext tc)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("learnPbxAddress", true));
    // source of the first packet, the sources the SIP side published before the call, learned?
    Object[][] table = {
        {loopback(6), "127.0.0.6", true},
        {loopback(1), "127.0.0.6", false},
        {loopback(11), "127.0.0.11", true},
        {loopback(6), "127.0.0.11", false},
    };
    int row = 0;
    for (Object[] t : table) {
      row++;
      PbxSources.publish(vertx, IpRanges.parse(java.util.List.of((String) t[1])));
      String callId = "sip-side" + row;
      SyntheticBrowser browser = f.own(new SyntheticBrowser());
      int rtpPort = natCall(callId, browser, "10.9.8.7");
      try (DatagramSocket from = new DatagramSocket(new InetSocketAddress((InetAddress) t[0], 0))) {
        String what = "first packet from " + from.getLocalSocketAddress() + " with the SIP side's sources " + t[1];
        assertEquals(t[2], learnedFrom(from, rtpPort, browser, row * 10), what);
      }
      f.closeAndAssertNothingLeaks(callId);
      f.events.clear();
    }
    tc.completeNow();
  }
}
