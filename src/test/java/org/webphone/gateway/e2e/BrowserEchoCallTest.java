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
