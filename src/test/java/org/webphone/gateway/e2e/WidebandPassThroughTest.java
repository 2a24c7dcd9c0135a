package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * Wideband audio passed through without transcoding, with a real Chromium (fake microphone playing 440 Hz)
 * and SIPp echoes as the far end: through Kamailio to SIPp answering Opus (710), G.722 (720) and Opus with odd
 * fmtp (730), the browser leg starts on G.711, the page re-offers on the same PeerConnection when asked, and its
 * own tone comes back in the PBX's codec (the browser's getStats names it); an incoming SIPp call offering Opus
 * is answered on Opus. PCMU-only far ends are the other e2e tests' (BrowserCallOutcomesTest, 700).
 */
class WidebandPassThroughTest {
  private static final Duration SETUP = Duration.ofSeconds(20);
  private static final Map<String, String> FAR_ENDS = new LinkedHashMap<>(Map.of(
      "710", "uas-answer-opus.xml", "720", "uas-answer-g722.xml", "730", "uas-answer-opus-odd.xml"));

  private static Kamailio pbx;
  private static final Map<String, Sipp> sipps = new LinkedHashMap<>();
  private static TestNode node;
  private static Browser browser;

  @BeforeAll
  static void start() throws Exception {
    Path dir = Files.createTempDirectory(Path.of("target"), "e2e-wideband-").toAbsolutePath();
    Map<String, Integer> routes = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : FAR_ENDS.entrySet()) {
      // SIPp's own -timeout (60 s) would end a far end before this class's last call: these live for the class.
      Sipp s = Sipp.uas(e.getValue(), "-rtp_echo", "-timeout", "300");
      sipps.put(e.getKey(), s);
      routes.put(e.getKey(), s.port());
    }
    pbx = Kamailio.start(Map.of("1000", "secret-1000"), routes);
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray(new ArrayList<>(FAR_ENDS.keySet())))));
    browser = Browser.start(Browser.tone(dir, 440, 60));
    browser.open(node.url());
    browser.awaitStatus("Ready", SETUP);
    // The page's client re-dispatches every server frame as a DOM event: keep the digits it reports.
    browser.js("window.__dtmf = []; window.webphone.client.addEventListener('OnDtmfReceived',"
        + " (e) => window.__dtmf.push(e.detail));");
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      if (browser != null) {
        browser.close();
      }
      if (node != null) {
        node.close();
      }
    } finally {
      if (pbx != null) {
        pbx.close();
      }
      sipps.values().forEach(Sipp::close);
    }
  }

  @BeforeEach
  void ready() {
    browser.awaitStatus("Ready", SETUP);
  }

  @AfterEach
  void idle() throws Exception {
    node.awaitIdle(1);
  }

  @Test
  void aPbxThatAnswersOpusGetsTheBrowsersOpusAndTheToneComesBackWithDtmfOnThe48kHzClock() throws Exception {
    call("710", "opus/48000/2", "audio/opus");
    // A digit from the page goes to the PBX as telephone-event/48000 and SIPp echoes it back: 100 ms of digit
    // is 4800 units each way (on an 8 kHz clock it would read as 600 ms, or 17 ms).
    browser.click("5");
    Object seen = Eventually.await(Duration.ofSeconds(10), "the echoed digit reported to the page",
        () -> browser.js("return window.__dtmf.length ? JSON.stringify(window.__dtmf[0]) : null;"));
    JsonObject dtmf = new JsonObject(String.valueOf(seen));
    assertEquals("5", dtmf.getString("digit"), dtmf.encode());
    assertEquals(100, dtmf.getInteger("durationMs"), "an RFC 4733 digit of 100 ms on Opus's clock: " + dtmf);
    hangUp("710");
  }

  @Test
  void aPbxThatAnswersG722GetsTheBrowsersG722AndTheToneComesBack() throws Exception {
    call("720", "G722/8000", "audio/G722");
    hangUp("720");
  }

  @Test
  void anOpusAnswerWithOddFmtpStillCarriesTheCall() throws Exception {
    call("730", "opus/48000/2", "audio/opus");
    hangUp("730");
  }

  @Test
  void anIncomingCallOfferingOpusIsAnsweredOnOpus() throws Exception {
    try (Sipp caller = Sipp.start("uac-opus-echo.xml", "127.0.0.1:" + node.config().getInt("sip.port"),
        List.of("-s", "1000", "-rtp_echo"))) {
      browser.awaitStatus("Incoming call from...", SETUP);
      browser.click("Call");
      browser.awaitStatus("In call", SETUP);
      assertCodec("opus/48000/2", "audio/opus");
      browser.remoteAudio(2000).assertEchoOf(440);
      browser.click("Hang up");
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
      caller.awaitSuccess(Duration.ofSeconds(10));
    }
  }

  /** Dials, waits for the call and for the codec switch, and checks the tone came back in that codec. */
  private static void call(String number, String codec, String mime) throws Exception {
    browser.dialWithKeypad(number);
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    assertCodec(codec, mime);
    Browser.RemoteAudio audio = browser.remoteAudio(2000);
    System.out.println(codec + " echo, audio in the browser: " + audio);
    audio.assertEchoOf(440);
  }

  /** The page shows the codec, the gateway's media.status says it, and Chromium sends and receives it. */
  private static void assertCodec(String codec, String mime) throws Exception {
    Eventually.await(Duration.ofSeconds(10), "the page to show " + codec,
        () -> String.valueOf(browser.js("return document.querySelector('[aria-label=Codec]').textContent;")),
        codec::equals);
    Eventually.await(Duration.ofSeconds(10), "Chromium's audio in " + mime + " both ways",
        browser::audioCodecs, (mime + " " + mime)::equalsIgnoreCase);
    String callId = String.valueOf(browser.js("return window.webphone.call.id;"));
    JsonObject status = Eventually.result(10, "media.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject().put("callId", callId))).body();
    assertEquals(codec, status.getJsonObject("session").getString("codec"), status.encode());
  }

  private static void hangUp(String number) throws Exception {
    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    browser.control("Number").clear();
    // The far end saw the whole call: INVITE answered, ACK, BYE answered; a fresh SIPp for the next call.
    Sipp s = sipps.get(number);
    s.awaitTrace("BYE", 1, Duration.ofSeconds(10));
  }
}
