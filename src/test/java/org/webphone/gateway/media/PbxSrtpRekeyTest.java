package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.webphone.gateway.media.MediaRelayVerticleTest.payload;
import static org.webphone.gateway.media.MediaRelayVerticleTest.rtp;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.Arrays;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.jitsi.srtp.SrtpErrorStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * Re-keying toward an SDES-SRTP PBX, through the relay's bus API as the SIP verticle drives it on a re-INVITE.
 * The PBX's media is played by jitsi-srtp ({@link SrtpKeys}) in the test: no Debian peer re-keys on demand
 * (baresip changes keys only when its own call restarts; SIPp plays RTP unencrypted only), so this is the
 * one place the PBX side is our own SRTP code, with the keys from the SDP the relay wrote.
 */
@ExtendWith(VertxExtension.class)
class PbxSrtpRekeyTest {
  private static final String CALL = "rk1";
  private MediaFixture f;
  private SyntheticBrowser browser;
  private int rtpPort;
  private int pbxSeq;

  @AfterEach
  void tearDown() throws Exception {
    if (f != null) {
      f.close();
    }
  }

  @Test
  void aNewPbxKeyGetsNewReceiveContextsWhileOurKeyStaysAndANewSuiteGetsNewKeysBothWays(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("pbxSrtp", true).put("pbxSrtpOverPlainSip", true));
    browser = f.own(new SyntheticBrowser());
    f.listen("s1");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", CALL).put("sessionId", "s1").put("browserOffer", browser.offer()));
    Sdp offer = Sdp.parse(created.getString("pbxSdp"));
    rtpPort = offer.audio().port;
    // The offer carries both suites, _80 first; the PBX picks tag 2, the 32-bit one.
    assertEquals(2, offer.audio().attrs("crypto").size(), offer.toString());
    byte[] gatewayKey32 = key(offer.audio().attrs("crypto").get(1), "2 AES_CM_128_HMAC_SHA1_32 ");
    byte[] pbxKey1 = randomKey();
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", CALL)
        .put("sdp", savp(1, "2 AES_CM_128_HMAC_SHA1_32", pbxKey1)));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    assertEquals("AES_CM_128_HMAC_SHA1_32", f.sessionStatus(CALL).getString("pbxSrtpSuite"));

    SrtpKeys pbx = SrtpKeys.sdes(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_32, pbxKey1, gatewayKey32, null);
    assertBothWays(pbx, pbx, 176, 5);

    // Re-INVITE with a new PBX key, same suite: our answer keeps tag and key, and the PBX's receive context
    // (still the first one) goes on authenticating what we send.
    byte[] pbxKey2 = randomKey();
    String answer = f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", CALL)
        .put("sdp", savp(2, "2 AES_CM_128_HMAC_SHA1_32", pbxKey2))).getString("sdp");
    assertArrayEquals(gatewayKey32, key(Sdp.parse(answer).audio().attr("crypto"), "2 AES_CM_128_HMAC_SHA1_32 "));
    byte[] oldKeyPacket = protect(pbx, pbxSeq++);
    SrtpKeys pbxSendsRekeyed = SrtpKeys.sdes(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_32, pbxKey2, gatewayKey32, null);
    assertEquals(2, keySets(), "the replaced keys live until the new ones carried a packet");
    assertBothWays(pbx, pbxSendsRekeyed, 176, 5);
    assertEquals(1, keySets(), "the replaced keys were closed once the PBX's new key carried a packet");
    f.pbxSend(oldKeyPacket, rtpPort);
    assertNull(browser.received.poll(300, TimeUnit.MILLISECONDS), "a packet under the PBX's old key was relayed");
    assertEquals(1, f.counter(CALL, "pbxAuthFailed"));

    // Re-INVITE moving to the 80-bit suite with tag 1: we answer it with a new key of ours.
    byte[] pbxKey3 = randomKey();
    answer = f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", CALL)
        .put("sdp", savp(3, "1 AES_CM_128_HMAC_SHA1_80", pbxKey3))).getString("sdp");
    byte[] gatewayKey80 = key(Sdp.parse(answer).audio().attr("crypto"), "1 AES_CM_128_HMAC_SHA1_80 ");
    assertFalse(Arrays.equals(gatewayKey32, gatewayKey80), "a new suite gets a new key of ours");
    assertEquals("AES_CM_128_HMAC_SHA1_80", f.sessionStatus(CALL).getString("pbxSrtpSuite"));
    SrtpKeys pbx80 = SrtpKeys.sdes(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80, pbxKey3, gatewayKey80, null);
    assertEquals(2, keySets());
    assertBothWays(pbx80, pbx80, 182, 5);
    assertEquals(1, keySets(), "both ways' old contexts closed after the new suite's first packet");

    // A re-offer naming only a suite we do not speak is refused and changes nothing.
    assertEquals(306, f.failure(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", CALL)
        .put("sdp", savp(4, "1 AES_256_CM_HMAC_SHA1_80", randomKey()))));
    assertEquals("AES_CM_128_HMAC_SHA1_80", f.sessionStatus(CALL).getString("pbxSrtpSuite"));
    f.closeAndAssertNothingLeaks(CALL);
  }

  /**
   * {@code n} packets each way: the PBX decrypts with {@code pbxRx} what the browser sent, and the browser gets
   * what the PBX sent with {@code pbxTx}.
   */
  private void assertBothWays(SrtpKeys pbxRx, SrtpKeys pbxTx, int wireLength, int n) throws Exception {
    browser.received.clear();
    for (int i = 0; i < n; i++) {
      byte[] sent = browser.sendRtp(0, payload(i));
      byte[] wire = f.pbxReceive();
      assertNotNull(wire, "packet " + i + " to the PBX");
      assertEquals(wireLength, wire.length, "RTP + the suite's tag");
      PacketBuffer buf = new PacketBuffer();
      buf.load(wire, 0, wire.length);
      assertEquals(SrtpErrorStatus.OK, pbxRx.unprotect(buf), "the PBX authenticates packet " + i);
      assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(buf.getBuffer(), 12, 172));

      f.pbxSend(protect(pbxTx, pbxSeq++), rtpPort);
      byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(back, "the PBX's SRTP packet " + i + " reached the browser");
      assertArrayEquals(payload(100 + (pbxSeq - 1) % 100), Arrays.copyOfRange(back, 12, 172));
    }
  }

  /** media.status's count of the SDES key sets the call's PBX leg holds. */
  private int keySets() throws Exception {
    return f.sessionStatus(CALL).getInteger("pbxSrtpKeySets");
  }

  private static byte[] protect(SrtpKeys pbx, int seq) throws Exception {
    PacketBuffer buf = new PacketBuffer();
    buf.load(rtp(0, seq, seq * 160L, 42, payload(100 + seq % 100)), 0, 172);
    assertEquals(SrtpErrorStatus.OK, pbx.protect(buf));
    return Arrays.copyOf(buf.getBuffer(), buf.getLength());
  }

  private String savp(int version, String tagAndSuite, byte[] key) {
    return f.pbxSdp(version, "0 101", "sendrecv").replace("RTP/AVP", "RTP/SAVP")
        + "a=crypto:" + tagAndSuite + " inline:" + Base64.getEncoder().encodeToString(key) + "\r\n";
  }

  private static byte[] key(String crypto, String prefix) {
    assertNotNull(crypto);
    org.junit.jupiter.api.Assertions.assertTrue(crypto.startsWith(prefix + "inline:"), crypto);
    return Base64.getDecoder().decode(crypto.substring(prefix.length() + 7));
  }

  private static byte[] randomKey() {
    byte[] k = new byte[30];
    ThreadLocalRandom.current().nextBytes(k);
    return k;
  }
}
