package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.core.eventbus.ReplyException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.media.client.SyntheticBrowser;

/**
 * {@code media.session.browser-offer} on a running call, against the synthetic browser (real ICE, DTLS and
 * SRTP over loopback): the three cases decided by comparing the new offer with the current leg (same ICE
 * credentials and fingerprint; new credentials, same fingerprint; new fingerprint) and the offers refused
 * while the call goes on.
 */
@ExtendWith(VertxExtension.class)
class BrowserOfferOnRunningCallTest {
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
  void aReofferWithTheSameIceCredentialsAndFingerprintKeepsTheAgentAndTheDtlsAssociation() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    Started call = startCall("ca", "sa", browser);
    String first = call.answer();
    int rtpPort = call.rtpPort();

    // The same offer without telephone-event: an SDP change only, no ICE restart.
    String reoffer = browser.offer().replace(" 13 126\r\n", " 13\r\n").replace("a=rtpmap:126 telephone-event/8000\r\n", "");
    String second = f.request(Addresses.MEDIA_BROWSER_OFFER,
        new JsonObject().put("callId", "ca").put("browserOffer", reoffer)).getString("browserAnswer");

    assertEquals(attr(first, "ice-ufrag"), attr(second, "ice-ufrag"), "our ICE ufrag stays");
    assertEquals(attr(first, "ice-pwd"), attr(second, "ice-pwd"), "our ICE password stays");
    assertEquals(attr(first, "fingerprint"), attr(second, "fingerprint"), "our fingerprint stays");
    assertEquals(Sdp.parse(first).audio().attrs("candidate"), Sdp.parse(second).audio().attrs("candidate"));
    assertTrue(second.contains("UDP/TLS/RTP/SAVPF 0\r\n"), "the change is applied: no telephone-event\n" + second);
    assertFalse(second.contains("telephone-event"), second);
    JsonObject status = f.status();
    assertEquals(1, status.getInteger("agents"), "no new ICE agent: " + status);
    assertEquals(1, status.getInteger("dtlsSessions"), "no new DTLS association: " + status);
    // The browser never ran a second handshake: its first keys still work both ways.
    relaysBothWays(browser, rtpPort, 2);
    assertEquals(2, f.counter("ca", "browserIn"));

    f.closeAndAssertNothingLeaks("ca");
  }

  @Test
  void anIceRestartMovesTheRunningDtlsAssociationOntoTheNewAgentAndAStaleUfragGetsNoAnswer() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    Started call = startCall("cb", "sb", browser);
    String first = call.answer();
    int rtpPort = call.rtpPort();
    String oldGatewayUfrag = browser.remoteUfrag();
    String oldGatewayPwd = browser.remotePassword();
    String oldUfrag = browser.ufrag();

    String second = f.request(Addresses.MEDIA_BROWSER_OFFER,
        new JsonObject().put("callId", "cb").put("browserOffer", browser.restartIce())).getString("browserAnswer");
    assertFalse(attr(first, "ice-ufrag").equals(attr(second, "ice-ufrag")), "a new agent, a new ufrag");
    assertFalse(attr(first, "ice-pwd").equals(attr(second, "ice-pwd")), "and a new password");
    assertEquals(attr(first, "fingerprint"), attr(second, "fingerprint"), "the same DTLS server");
    assertEquals("passive", attr(second, "setup"));
    assertEquals(2, f.status().getInteger("agents"), "the restart's agent beside the running one");
    // Until the browser's checks reach the new agent, the old pair carries the audio.
    relaysBothWays(browser, rtpPort, 2);

    browser.connectIce(second);
    f.awaitStatus("agents", 1);
    assertEquals(1, f.counter("cb", "iceRestarts"));
    relaysBothWays(browser, rtpPort, 3);
    JsonObject status = f.status();
    assertEquals(1, status.getInteger("dtlsSessions"), "the same DTLS association: " + status);
    assertEquals(1, f.counter("cb", "dtlsConnected"), "no second handshake");
    assertEquals(0, f.counter("cb", "browserAuthFailed"), "the SRTP contexts went on");

    long unknownBefore = status.getLong("stunUnknownUfrag");
    int responses = browser.stunResponses.get();
    browser.sendCheck(oldGatewayUfrag, oldUfrag, oldGatewayPwd);
    Eventually.await(Duration.ofSeconds(3), "the stale check counted", f::status,
        s -> s.getLong("stunUnknownUfrag") == unknownBefore + 1);
    browser.sendCheck();
    Eventually.await(Duration.ofSeconds(3), "the current check answered", browser.stunResponses::get,
        n -> n > responses);
    assertEquals(responses + 1, browser.stunResponses.get(), "the stale check got no answer, the current one did");
    relaysBothWays(browser, rtpPort, 4);

    f.closeAndAssertNothingLeaks("cb");
  }

  @Test
  void anOfferWithANewFingerprintIsANewDtlsAssociationOnTheSameCall() throws Exception {
    SyntheticBrowser before = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("cc", "sc", before);
    relaysBothWays(before, rtpPort, 1);

    SyntheticBrowser after = f.own(new SyntheticBrowser());
    String answer = f.request(Addresses.MEDIA_BROWSER_OFFER,
        new JsonObject().put("callId", "cc").put("browserOffer", after.offer())).getString("browserAnswer");
    after.connect(answer);
    f.awaitStatus("agents", 1);
    Eventually.await(Duration.ofSeconds(3), "the second handshake counted", () -> f.counter("cc", "dtlsConnected"),
        n -> n == 2);
    relaysBothWays(after, rtpPort, 2);
    assertEquals(1, f.status().getInteger("dtlsSessions"), "the first association ended with its leg");

    f.closeAndAssertNothingLeaks("cc");
  }

  @Test
  void anOfferWithAnInvalidSetupRoleOrWithoutTheCallsCodecIsRefusedAndTheCallGoesOn() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    int rtpPort = f.startCall("cd", "sd", browser);
    String restart = browser.restartIce();
    String passive = restart.replace("a=setup:actpass", "a=setup:passive");
    String pcmaOnly = restart.replace("SAVPF 111 0 8 13 126", "SAVPF 8 126");
    String opusOnly = restart.replace("SAVPF 111 0 8 13 126", "SAVPF 111");
    for (String bad : new String[] {passive, pcmaOnly, opusOnly}) {
      ReplyException refused = failureOf(Addresses.MEDIA_BROWSER_OFFER,
          new JsonObject().put("callId", "cd").put("browserOffer", bad));
      assertEquals(ErrorCode.BAD_SDP.code(), refused.failureCode(), refused.getMessage());
      assertEquals(1, f.status().getInteger("agents"), "nothing built for a refused offer");
    }
    assertTrue(failureOf(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", "cd").put("browserOffer", passive))
        .getMessage().contains("a=setup:passive"));
    assertTrue(failureOf(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", "cd").put("browserOffer", pcmaOnly))
        .getMessage().contains("codec"));
    relaysBothWays(browser, rtpPort, 1);
    assertEquals(0, f.counter("cd", "iceRestarts"));

    f.closeAndAssertNothingLeaks("cd");
  }

  private record Started(String answer, int rtpPort) {
  }

  /** A connected outgoing call (as {@link MediaFixture#startCall}) with audio checked once both ways. */
  private Started startCall(String callId, String sessionId, SyntheticBrowser browser) throws Exception {
    f.listen(sessionId);
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", callId).put("sessionId", sessionId).put("browserOffer", browser.offer()));
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", callId).put("sdp", f.pbxSdp(1, "0 101", "sendrecv")));
    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 5);
    Started call = new Started(created.getString("browserAnswer"), Sdp.parse(created.getString("pbxSdp")).audio().port);
    relaysBothWays(browser, call.rtpPort(), 1);
    return call;
  }

  /** One packet browser → PBX and one PBX → browser, checked byte for byte. */
  private void relaysBothWays(SyntheticBrowser browser, int rtpPort, int seed) throws Exception {
    byte[] sent = browser.sendRtp(0, MediaRelayVerticleTest.payload(seed));
    byte[] atPbx = f.pbxReceive();
    assertNotNull(atPbx, "the browser's packet did not reach the PBX");
    assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(atPbx, 12, 172));
    byte[] fromPbx = MediaRelayVerticleTest.rtp(0, 9000 + seed, 160L * seed, 0x0BADF00D,
        MediaRelayVerticleTest.payload(100 + seed));
    f.pbxSend(fromPbx, rtpPort);
    byte[] atBrowser = browser.received.poll(3, TimeUnit.SECONDS);
    assertNotNull(atBrowser, "the PBX's packet did not reach the browser");
    assertArrayEquals(Arrays.copyOfRange(fromPbx, 12, 172), Arrays.copyOfRange(atBrowser, 12, 172));
  }

  /** The refusal of a request that must be refused (code and message). */
  private ReplyException failureOf(String address, JsonObject body) throws Exception {
    try {
      JsonObject answer = f.request(address, body);
      throw new AssertionError(address + " should have been refused but answered " + answer);
    } catch (ReplyException e) {
      return e;
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        return re;
      }
      throw e;
    }
  }

  private static String attr(String sdp, String name) {
    Sdp parsed = Sdp.parse(sdp);
    return parsed.attr(parsed.audio(), name);
  }
}
