package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
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
    f.listen("sa");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "ca").put("sessionId", "sa").put("browserOffer", browser.offer()));
    String first = created.getString("browserAnswer");
    int rtpPort = Sdp.parse(created.getString("pbxSdp")).audio().port;
    f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "ca").put("sdp", f.pbxSdp(1, "0 101", "sendrecv")));
    browser.connect(first);
    f.awaitEvent("connected", 5);
    relaysBothWays(browser, rtpPort, 1);

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

  private static String attr(String sdp, String name) {
    Sdp parsed = Sdp.parse(sdp);
    return parsed.attr(parsed.audio(), name);
  }
}
