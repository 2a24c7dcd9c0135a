package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.jitsi.srtp.SrtpErrorStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.media.SdesCrypto.Line;
import org.webphone.gateway.media.SdesCrypto.Suite;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.SrtpKeys;
import org.webphone.gateway.testing.TestCa;

/**
 * The SDES rules of RFC 4568 as the relay applies them: a table of crypto lines that must each be refused
 * with the reason a PBX administrator can act on; what is chosen from an offer; what an answer may be; the
 * start-up refusal of SDES over plain SIP; and the sending context that runs on across a re-key.
 */
class SdesCryptoTest {
  private static final String KEY = Base64.getEncoder().encodeToString(new byte[30]);
  private static final List<Line> OFFERED = List.of(new Line(1, Suite.AES_CM_128_HMAC_SHA1_80, new byte[30]),
      new Line(2, Suite.AES_CM_128_HMAC_SHA1_32, new byte[30]));

  @Test
  void eachUnusableAnswerIsRefusedWithItsReason() {
    Map<List<String>, String> bad = Map.of(
        List.of("3 AES_CM_128_HMAC_SHA1_80 inline:" + KEY), "PBX answer: crypto tag 3 was not offered",
        List.of("1 AES_CM_128_HMAC_SHA1_80 inline:" + Base64.getEncoder().encodeToString(new byte[29])),
        "PBX answer: crypto tag 1: key||salt is 29 bytes, AES_CM_128_HMAC_SHA1_80 needs 30",
        List.of("1 AES_256_CM_HMAC_SHA1_80 inline:" + KEY), "PBX answer: crypto tag 1: unknown crypto suite AES_256_CM_HMAC_SHA1_80 (we speak AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32)",
        List.of("1 AES_CM_128_HMAC_SHA1_32 inline:" + KEY),
        "PBX answer: crypto tag 1 is AES_CM_128_HMAC_SHA1_32 but we offered AES_CM_128_HMAC_SHA1_80 with that tag",
        List.of("1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY + "|2^20|1:4"), "PBX answer: crypto tag 1: MKI 1:4 is not supported",
        List.of("1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY + " UNENCRYPTED_SRTP"),
        "PBX answer: crypto tag 1: session parameter UNENCRYPTED_SRTP is not supported",
        List.of("1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY, "2 AES_CM_128_HMAC_SHA1_32 inline:" + KEY),
        "PBX answer: 2 a=crypto lines, expected one",
        List.of(), "PBX answer: RTP/SAVP without a=crypto",
        List.of("x AES_CM_128_HMAC_SHA1_80 inline:" + KEY), "PBX answer: crypto tag x is not a number",
        List.of("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64"), "PBX answer: crypto tag 1: key||salt is not base64");
    bad.forEach((lines, why) -> assertEquals(why,
        assertThrows(IllegalArgumentException.class, () -> SdesCrypto.checkAnswer(lines, OFFERED), why).getMessage()));
  }

  @Test
  void anAnswerPicksOneOfTheOfferedTagsAndALifetimeIsAccepted() {
    Line l = SdesCrypto.checkAnswer(List.of("2 AES_CM_128_HMAC_SHA1_32 inline:" + KEY + "|2^31"), OFFERED);
    assertEquals(2, l.tag());
    assertEquals(Suite.AES_CM_128_HMAC_SHA1_32, l.suite());
    assertArrayEquals(new byte[30], l.key());
    assertEquals("2 AES_CM_128_HMAC_SHA1_32 inline:" + KEY, l.attribute());
  }

  @Test
  void fromAnOfferTheFirstUsableLineIsTakenAndNoUsableLineSaysWhyEachFailed() {
    Line l = SdesCrypto.chooseFromOffer(List.of("1 AEAD_AES_256_GCM inline:" + KEY, "2 AES_CM_128_HMAC_SHA1_32 inline:abc",
        "3 AES_CM_128_HMAC_SHA1_32 inline:" + KEY, "4 AES_CM_128_HMAC_SHA1_80 inline:" + KEY));
    assertEquals(3, l.tag());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SdesCrypto.chooseFromOffer(List.of("1 F8_128_HMAC_SHA1_80 inline:" + KEY)));
    assertEquals("PBX offer: no usable a=crypto (crypto tag 1: unknown crypto suite F8_128_HMAC_SHA1_80"
        + " (we speak AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32))", e.getMessage());
  }

  @Test
  void sdesOverPlainSipIsRefusedAtStartUnlessExplicitlyAllowedAndTheSuitesAreChecked(@TempDir Path dir) throws Exception {
    JsonObject udp = new JsonObject().put("pbx", new JsonObject().put("host", "127.0.0.1"))
        .put("media", new JsonObject().put("pbxSrtp", true));
    ConfigException e = assertThrows(ConfigException.class, () -> GatewayConfig.of(udp));
    assertEquals(true, e.getMessage().contains("media.pbxSrtp") && e.getMessage().contains("clear text"), e.getMessage());
    JsonObject tcp = udp.copy();
    tcp.getJsonObject("pbx").put("transport", "tcp");
    assertThrows(ConfigException.class, () -> GatewayConfig.of(tcp));
    JsonObject allowed = udp.copy();
    allowed.getJsonObject("media").put("pbxSrtpOverPlainSip", true);
    GatewayConfig.of(allowed);
    JsonObject tls = udp.copy();
    tls.getJsonObject("pbx").put("transport", "tls");
    TestCa.Issued gw = TestCa.create(dir).issue("gateway", "127.0.0.1");
    tls.put("sip", new JsonObject().put("tlsPort", 5061).put("tlsCert", gw.chain().toString())
        .put("tlsKey", gw.key().toString()));
    GatewayConfig.of(tls);
    JsonObject badSuite = allowed.copy();
    badSuite.getJsonObject("media").put("pbxSrtpSuites", new JsonArray().add("AES_CM_128_HMAC_SHA1_80").add("NULL"));
    assertEquals(true, assertThrows(ConfigException.class, () -> GatewayConfig.of(badSuite)).getMessage()
        .contains("media.pbxSrtpSuites"));
    JsonObject none = allowed.copy();
    none.getJsonObject("media").put("pbxSrtpSuites", new JsonArray());
    assertThrows(ConfigException.class, () -> GatewayConfig.of(none));
  }

  @Test
  void aReKeyOfThePeerKeepsOurSendingContextSoTheRolloverCounterRunsOnAcrossASequenceWrap() throws Exception {
    byte[] ours = new byte[30];
    byte[] theirs = new byte[30];
    byte[] theirsNext = new byte[30];
    ours[0] = 1;
    theirs[0] = 2;
    theirsNext[0] = 3;
    SrtpKeys.Profile p = SrtpKeys.Profile.AES128_CM_HMAC_SHA1_32;
    SrtpKeys sender = SrtpKeys.sdes(p, ours, theirs, null);
    SrtpKeys peer = SrtpKeys.sdes(p, theirs, ours, null); // receives ours all along, one context
    for (int seq = 65530; seq <= 65535; seq++) {
      assertEquals(SrtpErrorStatus.OK, peer.unprotect(packet(sender, seq)));
    }
    // The peer changes its key: our sending half moves on, so packet 0 is sent with ROC 1 as the peer expects.
    SrtpKeys rekeyed = SrtpKeys.sdes(p, ours, theirsNext, sender);
    sender.close(); // must not close the sending half it handed on
    for (int seq = 0; seq < 5; seq++) {
      PacketBuffer b = packet(rekeyed, seq);
      assertEquals(176, b.getLength(), "a 4-byte tag");
      assertEquals(SrtpErrorStatus.OK, peer.unprotect(b), "packet " + seq + " after the wrap");
    }
    // A fresh context (what re-keying both ways would do) would restart at ROC 0: the peer refuses that.
    SrtpKeys fresh = SrtpKeys.sdes(p, ours, theirsNext, null);
    assertEquals(SrtpErrorStatus.AUTH_FAIL, peer.unprotect(packet(fresh, 5)));
  }

  private static PacketBuffer packet(SrtpKeys k, int seq) throws Exception {
    byte[] p = new byte[172];
    p[0] = (byte) 0x80;
    Rtp.setSeq(p, 0, seq);
    Rtp.setTimestamp(p, 0, seq * 160L);
    Rtp.setSsrc(p, 0, 77);
    PacketBuffer b = new PacketBuffer();
    b.load(p, 0, p.length);
    assertEquals(SrtpErrorStatus.OK, k.protect(b));
    return b;
  }
}
