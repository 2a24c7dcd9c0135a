package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * Golden files for the SDP the media relay writes and reads ({@link MediaSdp}, driven through the deployed
 * {@link MediaRelayVerticle} on the event bus exactly as the signalling and SIP verticles drive it, so the codec,
 * telephone-event, direction, version and SDES choices made around {@code MediaSdp} are covered too). Inputs and
 * expected outputs live in {@code src/test/resources/sdp/}; each file's first line says where it came from
 * (browser offers captured from Debian's Chromium 156 and firefox-esr 153, PBX descriptions hand-written after
 * the named public examples of Asterisk's chan_pjsip and FreeSWITCH's mod_sofia). A PBX answer makes no SDP, so
 * its expected file ({@code *.taken.txt}) lists what the relay took from it.
 *
 * <p>{@code MediaSdp} itself is a pure translator (static functions of their arguments), but the values it is
 * given per call are random: so the inputs are the captured files unchanged, and in the relay's output only these
 * fields are replaced by a placeholder before the exact, line-by-line comparison: the {@code o=} session id
 * ({@code <session-id>}; the version stays, it must count), the ports the relay bound ({@code <webrtc-port>} and
 * {@code <rtp-port>}, only where the value is that port), {@code a=ice-ufrag}/{@code a=ice-pwd}
 * ({@code <ice-ufrag>}, {@code <ice-pwd>}, after checking their RFC 8445 lengths), the DTLS fingerprint
 * ({@code <fingerprint>}, after checking it is the relay's own from {@code media.status}), the SSRC of
 * {@code a=ssrc} ({@code <ssrc>}) and the relay's SDES key ({@code <sdes-key>}, after checking it is 30 bytes,
 * RFC 4568 for AES_CM_128_HMAC_SHA1_80). The announced address is configured (203.0.113.10) and stays. Every line
 * the relay writes must end in CRLF.
 *
 * <p>To change the expected files deliberately (a change meant to alter the SDP), run
 * {@code bin/test -Dtest=MediaSdpGoldenTest -Dgolden.update=true}: mismatching files are rewritten (first line
 * kept) and their diff printed; review them with {@code git diff} before committing. Without the property a
 * mismatch fails and prints a line diff (- expected, + actual).
 */
@ExtendWith(VertxExtension.class)
class MediaSdpGoldenTest {
  private static final String ANNOUNCED = "203.0.113.10";
  private static final String CALL = "golden";
  private static final String SESSION = "golden-session";
  private static final String CHROMIUM = "chromium-156-offer.sdp";
  private static final String FIREFOX = "firefox-esr-153-offer.sdp";
  private static final String FREESWITCH = "freeswitch-srtp-offer.sdp";
  private final GoldenFiles golden = new GoldenFiles("sdp");
  private Vertx vertx;
  private MediaFixture relay;
  private String fingerprint;
  private int rtpPort;

  @BeforeEach
  void vertx(Vertx vertx) {
    this.vertx = vertx;
  }

  @AfterEach
  void closeCall() throws Exception {
    if (relay != null) {
      relay.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", CALL));
      relay.close();
    }
  }

  // ------------------------------------------------------------------ browser offer -> PBX offer, browser answer

  @Test
  void aChromiumOfferBecomesAPlainRtpOfferToThePbxWithPcmuAndTelephoneEvent() throws Exception {
    check("chromium-156-offer.to-pbx-offer.sdp", create(false, CHROMIUM, null).getString("pbxSdp"));
  }

  @Test
  void aChromiumOfferIsAnsweredWithTheRelaysIceAndDtlsAndOneG711Codec() throws Exception {
    check("chromium-156-offer.to-browser-answer.sdp", browserAnswerTo(CHROMIUM, null));
  }

  @Test
  void aFirefoxOfferBecomesAPlainRtpOfferToThePbxWithPcmuAndTelephoneEvent() throws Exception {
    check("firefox-esr-153-offer.to-pbx-offer.sdp", create(false, FIREFOX, null).getString("pbxSdp"));
  }

  @Test
  void aFirefoxOfferIsAnsweredWithTheRelaysIceAndDtlsAndOneG711Codec() throws Exception {
    check("firefox-esr-153-offer.to-browser-answer.sdp", browserAnswerTo(FIREFOX, null));
  }

  @Test
  void withPbxSrtpAChromiumOfferBecomesAnSdesOfferToThePbx() throws Exception {
    check("chromium-156-offer.to-pbx-offer-sdes.sdp", create(true, CHROMIUM, null).getString("pbxSdp"));
  }

  // ------------------------------------------------------------------ PBX answers

  @Test
  void anAsteriskAnswerTellsTheRelayWhereToSendAndWhichTelephoneEventToUse() throws Exception {
    checkTaken(false, "asterisk-answer.sdp", "asterisk-answer.taken.txt");
  }

  @Test
  void aFreeSwitchSdesAnswerGivesTheRelayTheKeyForTheTagItOffered() throws Exception {
    checkTaken(true, "freeswitch-srtp-answer.sdp", "freeswitch-srtp-answer.taken.txt");
  }

  // ------------------------------------------------------------------ PBX offer (incoming call)

  @Test
  void anIncomingFreeSwitchSrtpOfferIsAnsweredWithSdesInItsFirstCommonCodec() throws Exception {
    check("freeswitch-srtp-offer.to-pbx-answer.sdp", create(false, CHROMIUM, FREESWITCH).getString("pbxSdp"));
  }

  @Test
  void anIncomingFreeSwitchOfferGivesTheBrowserAnAnswerInThePbxsCodec() throws Exception {
    check("freeswitch-srtp-offer.to-browser-answer.sdp", browserAnswerTo(CHROMIUM, FREESWITCH));
  }

  // ------------------------------------------------------------------ wideband pass-through (Opus, G.722)

  @Test
  void anAsteriskOpusAnswerMovesTheCallToOpusAndAsksTheBrowserToReOffer() throws Exception {
    checkTaken(false, "asterisk-opus-answer.sdp", "asterisk-opus-answer.taken.txt");
    JsonObject renegotiate = relay.awaitEvent("renegotiate", 5);
    assertEquals("opus/48000/2", renegotiate.getString("codec"), renegotiate.encode());
  }

  @Test
  void theBrowsersReOfferAfterAnOpusAnswerIsAnsweredWithOpusOnlyOnTheSameIceAndDtls() throws Exception {
    String first = browserAnswerTo(CHROMIUM, null);
    pbxSdp("asterisk-opus-answer.sdp");
    relay.awaitEvent("renegotiate", 5);
    // The page's new offer on the same PeerConnection: the same ICE credentials and fingerprint.
    String again = relay.request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", CALL)
        .put("browserOffer", golden.input(CHROMIUM))).getString("browserAnswer");
    assertEquals(Sdp.parse(first).audio().attr("ice-ufrag"), Sdp.parse(again).audio().attr("ice-ufrag"),
        "the browser leg (its ICE agent) is kept");
    assertFalse(relay.sessionStatus(CALL).getBoolean("codecPending"), "the browser leg is on Opus now");
    check("asterisk-opus-answer.to-browser-reanswer.sdp", again);
  }

  @Test
  void anOpusAnswerWithOddFmtpKeepsOpusAndPassesOnlyTheValidParameters() throws Exception {
    checkTaken(false, "pbx-opus-odd-fmtp-answer.sdp", "pbx-opus-odd-fmtp-answer.taken.txt");
    relay.awaitEvent("renegotiate", 5);
    String again = relay.request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", CALL)
        .put("browserOffer", golden.input(CHROMIUM))).getString("browserAnswer");
    check("pbx-opus-odd-fmtp-answer.to-browser-reanswer.sdp", again);
  }

  @Test
  void anIncomingFreeSwitchOpusOfferIsAnsweredWithOpusAtItsOwnPayloadType() throws Exception {
    check("freeswitch-opus-offer.to-pbx-answer.sdp", create(false, CHROMIUM, "freeswitch-opus-offer.sdp")
        .getString("pbxSdp"));
  }

  @Test
  void anIncomingFreeSwitchOpusOfferGivesTheBrowserAnOpusAnswerAtTheBrowsersPayloadType() throws Exception {
    check("freeswitch-opus-offer.to-browser-answer.sdp", browserAnswerTo(CHROMIUM, "freeswitch-opus-offer.sdp"));
    assertEquals("opus/48000/2", relay.sessionStatus(CALL).getString("codec"));
  }

  // ------------------------------------------------------------------ hold and unhold

  @Test
  void holdingTheCallReOffersThePbxSendonlyWithTheNextVersion() throws Exception {
    check("local-hold-sendonly.to-pbx-reoffer.sdp", answeredByAsterisk().direction("sendonly"));
  }

  @Test
  void holdingTheCallWithoutListeningReOffersThePbxInactive() throws Exception {
    check("local-hold-inactive.to-pbx-reoffer.sdp", answeredByAsterisk().direction("inactive"));
  }

  @Test
  void takingTheCallOffHoldReOffersThePbxSendrecvWithTheVersionAfterTheHold() throws Exception {
    answeredByAsterisk().direction("sendonly");
    check("local-unhold.to-pbx-reoffer.sdp", direction("sendrecv"));
  }

  @Test
  void anAsteriskHoldReOfferIsAnsweredRecvonly() throws Exception {
    check("asterisk-hold-reoffer.to-pbx-answer.sdp", answeredByAsterisk().pbxReOffer("asterisk-hold-reoffer.sdp"));
  }

  @Test
  void anAsteriskUnholdReOfferIsAnsweredSendrecv() throws Exception {
    answeredByAsterisk().pbxReOffer("asterisk-hold-reoffer.sdp");
    check("asterisk-unhold-reoffer.to-pbx-answer.sdp", pbxReOffer("asterisk-unhold-reoffer.sdp"));
  }

  @Test
  void aFreeSwitchInactiveReOfferIsAnsweredInactiveWithTheCallsSdesTagAndKey() throws Exception {
    String first = create(false, CHROMIUM, FREESWITCH).getString("pbxSdp");
    String again = pbxReOffer("freeswitch-inactive-reoffer.sdp");
    assertEquals(sdesKey(first), sdesKey(again), "the relay's SDES key stays for the call");
    check("freeswitch-inactive-reoffer.to-pbx-answer.sdp", again);
  }

  // ------------------------------------------------------------------ browser re-offer

  @Test
  void aBrowserReOfferAfterAResumeGetsAFreshAnswerOnTheSameCall() throws Exception {
    answeredByAsterisk();
    browserAnswer();
    JsonObject reply = relay.request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", CALL)
        .put("browserOffer", golden.input("chromium-156-reoffer.sdp")));
    check("chromium-156-reoffer.to-browser-answer.sdp", reply.getString("browserAnswer"));
  }

  // ------------------------------------------------------------------ steps

  /**
   * Deploys the relay and creates the call as signalling does ({@code answerLater}); {@code pbxOffer} null is
   * an outgoing call.
   */
  private JsonObject create(boolean pbxSrtp, String browserOffer, String pbxOffer) throws Exception {
    relay = new MediaFixture(vertx, new JsonObject().put("announcedAddress", ANNOUNCED).put("pbxSrtp", pbxSrtp)
        .put("pbxSrtpOverPlainSip", true));
    fingerprint = relay.status().getString("fingerprint");
    relay.listen(SESSION);
    JsonObject body = new JsonObject().put("callId", CALL).put("sessionId", SESSION)
        .put("browserOffer", golden.input(browserOffer)).put("answerLater", true);
    if (pbxOffer != null) {
      body.put("pbxOffer", golden.input(pbxOffer));
    }
    JsonObject created = relay.request(Addresses.MEDIA_CREATE, body);
    rtpPort = relay.sessionStatus(CALL).getInteger("rtpPort");
    return created;
  }

  /** An outgoing call from Chromium that Asterisk answered; returns this test for the next step. */
  private MediaSdpGoldenTest answeredByAsterisk() throws Exception {
    create(false, CHROMIUM, null);
    pbxSdp("asterisk-answer.sdp");
    return this;
  }

  /** The browser answer to a new call, which the relay sends as the session's {@code answer} media event. */
  private String browserAnswerTo(String browserOffer, String pbxOffer) throws Exception {
    create(false, browserOffer, pbxOffer);
    return browserAnswer();
  }

  private String browserAnswer() throws InterruptedException {
    return relay.awaitEvent("answer", 10).getString("sdp");
  }

  /** The relay's answer to a PBX re-offer. */
  private String pbxReOffer(String file) throws Exception {
    return pbxSdp(file).getString("sdp");
  }

  private JsonObject pbxSdp(String file) throws Exception {
    return relay.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", CALL).put("sdp", golden.input(file)));
  }

  private String direction(String direction) throws Exception {
    return relay.request(Addresses.MEDIA_DIRECTION, new JsonObject().put("callId", CALL).put("direction", direction))
        .getString("sdp");
  }

  /** What the relay takes from a PBX answer: the parsed description, then the session's state once applied. */
  private void checkTaken(boolean pbxSrtp, String answerFile, String expected) throws Exception {
    create(pbxSrtp, CHROMIUM, null);
    browserAnswer(); // the browser leg is answered (on G.711) before the PBX answers, as on a real call
    String answer = golden.input(answerFile);
    MediaSdp.PbxMedia pbx = MediaSdp.parsePbx(answer);
    JsonObject reply = pbxSdp(answerFile);
    assertFalse(reply.containsKey("sdp"), "an answer gets no SDP back: " + reply);
    JsonObject s = relay.sessionStatus(CALL);
    String taken = String.join("\n",
        "parsed by MediaSdp.parsePbx:",
        "rtp=" + address(pbx.rtp()),
        "rtcp=" + address(pbx.rtcp()),
        "direction=" + pbx.direction(),
        "g711=" + pbx.g711(),
        "telephone-event=" + pbx.telephoneEvent(),
        "formats=" + pbx.formats().stream().map(f -> f.pt() + " " + f.rtpmap() + (f.fmtp() == null ? "" : " " + f.fmtp()))
            .toList(),
        "srtp=" + (pbx.savp() ? "crypto " + pbx.crypto()
            : "none"),
        "relay session after media.session.pbx-sdp:",
        "pbxAddress=" + s.getString("pbxAddress"),
        "codec=" + s.getString("codec"),
        "codecPending=" + s.getBoolean("codecPending"),
        "hold=" + s.getBoolean("hold"),
        "pbxSrtp=" + s.getBoolean("pbxSrtp"));
    golden.assertMatches(expected, taken, "Expected: what the relay took from " + answerFile + " in"
        + " MediaSdpGoldenTest (written with -Dgolden.update=true, then reviewed by hand).");
  }

  private static String sdesKey(String sdp) {
    return Sdp.parse(sdp).audio().attr("crypto").split(" ")[2];
  }

  private static String address(java.net.InetSocketAddress a) {
    return a == null ? "none" : a.getAddress().getHostAddress() + ":" + a.getPort();
  }

  private void check(String expected, String sdp) {
    golden.assertMatches(expected, normalise(sdp), "Expected: the SDP the relay wrote in MediaSdpGoldenTest"
        + " (written with -Dgolden.update=true, then reviewed by hand; per-call values normalised as its Javadoc"
        + " says).");
  }

  // ------------------------------------------------------------------ normalising the per-call values

  private String normalise(String sdp) {
    assertTrue(sdp.endsWith("\r\n") && !sdp.replace("\r\n", "").contains("\n"), "every line ends in CRLF: " + sdp);
    List<String> out = new ArrayList<>();
    for (String line : sdp.split("\r\n")) {
      out.add(normaliseLine(line));
    }
    return String.join("\n", out);
  }

  private String normaliseLine(String line) {
    String[] f = line.split(" ");
    if (line.startsWith("o=")) {
      assertTrue(f[1].matches("[0-9]+"), line);
      f[1] = "<session-id>";
    } else if (line.startsWith("m=")) {
      f[1] = port(f[1]);
    } else if (line.startsWith("a=candidate:")) {
      f[5] = port(f[5]);
    } else if (line.startsWith("a=ice-ufrag:")) {
      assertTrue(line.length() - "a=ice-ufrag:".length() >= 4, "ufrag of at least 4 characters: " + line);
      return "a=ice-ufrag:<ice-ufrag>";
    } else if (line.startsWith("a=ice-pwd:")) {
      assertTrue(line.length() - "a=ice-pwd:".length() >= 22, "ice-pwd of at least 22 characters: " + line);
      return "a=ice-pwd:<ice-pwd>";
    } else if (line.startsWith("a=fingerprint:sha-256 ")) {
      assertEquals(fingerprint, f[1], "the relay's own fingerprint");
      f[1] = "<fingerprint>";
    } else if (line.startsWith("a=ssrc:")) {
      assertTrue(f[0].matches("a=ssrc:[0-9]+"), line);
      f[0] = "a=ssrc:<ssrc>";
    } else if (line.startsWith("a=crypto:")) {
      byte[] key = Base64.getDecoder().decode(f[2].substring("inline:".length()));
      assertEquals(SrtpKeys.SDES_KEY_LENGTH, key.length, "SDES key and salt length: " + line);
      f[2] = "inline:<sdes-key>";
    }
    return String.join(" ", f);
  }

  /** A port the relay bound becomes its placeholder; any other value (0, a wrong port) stays and shows. */
  private String port(String value) {
    if (value.equals(Integer.toString(relay.webrtcPort))) {
      return "<webrtc-port>";
    }
    return value.equals(Integer.toString(rtpPort)) ? "<rtp-port>" : value;
  }
}
