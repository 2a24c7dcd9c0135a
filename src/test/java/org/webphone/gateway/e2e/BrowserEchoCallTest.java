package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.TestNode;

/**
 * The newcomer's first call: the node with its embedded demo PBX, the phone page in a real headless
 * Chromium whose microphone plays a 440 Hz tone, a call to the echo extension 600. The tone must come
 * back to the browser through ICE/DTLS-SRTP → RTP → echo → RTP → SRTP.
 */
class BrowserEchoCallTest {
  @TempDir
  Path tmp;

  private TestNode node;
  private Browser browser;

  @BeforeEach
  void start() throws Exception {
    // A short resume grace: a closed tab keeps its session (and lease) only that long.
    node = TestNode.start(new JsonObject().put("session", new JsonObject().put("resumeGraceSec", 2)));
    browser = Browser.start(Browser.tone(tmp, 440, 30));
  }

  @AfterEach
  void stop() throws Exception {
    try {
      if (browser != null) {
        browser.close();
      }
    } finally {
      if (node != null) {
        node.close();
      }
    }
  }

  /**
   * A call held past Chromium's ICE consent timeout (it checks its pair every few seconds and stops sending after
   * 30 s without an answer, RFC 7675): the node freed the leg's ice4j agent once ICE completed and answers those
   * checks itself, and checks Chromium's consent in turn; 40 s into the call the tone still comes back, and the
   * page's connection is still "connected".
   */
  @Test
  void aCallHeldPastTheConsentTimeoutKeepsItsAudio() throws Exception {
    browser.open(node.url());
    browser.awaitStatus("Ready", Duration.ofSeconds(30));
    browser.dialWithKeypad("600");
    browser.click("Call");
    browser.awaitStatus("In call", Duration.ofSeconds(20));
    long inCall = System.nanoTime();
    Eventually.await(Duration.ofSeconds(10), "the browser leg answering its own STUN", node::mediaStatus,
        s -> s.getInteger("iceAnswering") == 1);

    Thread.sleep(Math.max(0, 37_000 - java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - inCall)));
    Browser.RemoteAudio at37 = browser.remoteAudio(200);
    Browser.RemoteAudio at40 = browser.remoteAudio(3000);
    System.out.println("echo audio 37 s into the call: " + at37 + "; 3 s later: " + at40);
    assertTrue(at40.packets() - at37.packets() > 100, "packets in the 3 s after 37 s: " + at37 + " -> " + at40);
    assertTrue(at40.energy() - at37.energy() > 0.005, "audio energy in the 3 s after 37 s: " + at37 + " -> " + at40);
    assertTrue(Math.abs(at40.peakHz() - 440) < 25, "the echoed tone after 37 s: " + at40);
    assertEquals("connected", browser.js("return window.webphone.pc.connectionState"), "the page's connection");
    assertEquals("In call", browser.status());
    JsonObject media = node.mediaStatus();
    assertEquals(1, media.getInteger("iceAnswering"), "still answering: " + media);
    assertEquals(0, media.getLong("stunDropped"), "every check and consent answer of Chromium taken: " + media);

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    node.awaitIdle(1);
    assertEquals(0, node.mediaStatus().getInteger("iceAnswering"), "the leg no longer answers STUN");
  }

  @Test
  void aVisitorDialsTheEchoExtensionAndHearsTheirOwnToneBack() throws Exception {
    browser.open(node.url());
    browser.awaitStatus("Ready", Duration.ofSeconds(30));
    browser.recordStatusHistory();

    browser.dialWithKeypad("600");
    assertEquals("600", browser.dialBox());
    browser.click("Call");
    browser.awaitStatus("In call", Duration.ofSeconds(20));

    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    System.out.println("echo call audio in the browser: " + audio);
    assertTrue(audio.packets() > 100, "inbound RTP packets in the browser: " + audio);
    // totalAudioEnergy, not the instantaneous audioLevel: one getStats sample can fall in a quiet moment.
    assertTrue(audio.energy() > 0.005, "audio energy of what came back: " + audio);
    assertTrue(Math.abs(audio.peakHz() - 440) < 25, "the echoed tone's frequency: " + audio);
    assertTrue(browser.packetsSent() > 100, "the browser sent audio");
    browser.screenshot(Path.of("target", "screenshots", "in-call.png"));

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    List<String> history = browser.statusHistory();
    assertEquals(List.of("Ready", "Calling", "In call", "Call ended", "Ready"), dedupe(history), "status line history");

    node.awaitIdle(1);

    browser.close();
    browser = null;
    node.awaitIdle(0); // the lease came back when the tab closed (after the resume grace)
  }

  /** The status line may pass through "Ringing" on its way; the history asserted is the rest. */
  private static List<String> dedupe(List<String> h) {
    return h.stream().filter(s -> !s.equals("Ringing")).toList();
  }
}
