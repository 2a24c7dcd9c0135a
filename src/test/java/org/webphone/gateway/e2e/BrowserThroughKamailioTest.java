package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * The call centre as deployed: Kamailio is the PBX (digest auth, record-route), the gateway's pool lines
 * 1000-1001 register on it, an agent runs baresip as 2000 (its microphone plays 1000 Hz), extension 700
 * is a SIPp UAS echoing RTP. The visitor is headless Chromium on the phone page (microphone: 440 Hz).
 * Audio counts only where it was measured arriving: the browser's analyser and getStats, baresip's recording.
 */
class BrowserThroughKamailioTest {
  private static final Duration SETUP = Duration.ofSeconds(20);

  private static Path dir;
  private static Kamailio pbx;
  private static Sipp echo;
  private static Baresip agent;
  private static TestNode node;
  private static Path visitorTone;
  private Browser browser;

  @BeforeAll
  static void startTheCallCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "e2e-kamailio-").toAbsolutePath();
    echo = Sipp.uas("uas-answer.xml", "-rtp_echo");
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "1001", "secret-1001", "2000", "agent-2000"),
        Map.of("700", echo.port()));
    agent = Baresip.start(dir.resolve("agent"), "2000", "agent-2000", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 1000, 120, 8000)); // 8 kHz: baresip's aufile plays it without resampling
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1001)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("700").add("2000")))
        .put("session", new JsonObject().put("resumeGraceSec", 2)));
    visitorTone = Browser.tone(dir, 440, 30);
  }

  @AfterAll
  static void stopTheCallCentre() throws Exception {
    try {
      if (node != null) {
        node.close();
      }
    } finally {
      for (AutoCloseable c : new AutoCloseable[] {agent, pbx, echo}) {
        if (c != null) {
          c.close();
        }
      }
    }
  }

  @BeforeEach
  void openThePhone() throws Exception {
    browser = Browser.start(visitorTone);
    browser.open(node.url());
    browser.awaitStatus("Ready", SETUP);
    browser.recordStatusHistory();
  }

  @AfterEach
  void closeThePhone() throws Exception {
    if (browser != null) {
      browser.close();
    }
    node.awaitIdle(0);
  }

  @Test
  void aVisitorCallsTheSippEchoThroughKamailioAndHearsTheToneComeBack() throws Exception {
    browser.dialWithKeypad("700");
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    System.out.println("SIPp echo through Kamailio, audio in the browser: " + audio);
    assertTrue(audio.packets() > 100, "inbound packets: " + audio);
    assertTrue(audio.energy() > 0.005, "audio energy: " + audio);
    assertTrue(Math.abs(audio.peakHz() - 440) < 25, "echoed 440 Hz: " + audio);

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    assertEquals(List.of("Ready", "Calling", "In call", "Call ended", "Ready"),
        browser.statusHistory().stream().filter(s -> !s.equals("Ringing")).toList());
    // SIPp's scenario ends with the BYE it received and its 200: exit code 0 means every step matched.
    echo.awaitSuccess(Duration.ofSeconds(10));
    echo.close();
    echo = Sipp.uas("uas-answer.xml", "-rtp_echo");
    node.awaitIdle(1);
  }

  @Test
  void aVisitorAndABaresipAgentHearEachOther() throws Exception {
    browser.dialWithKeypad("2000");
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    System.out.println("baresip agent, audio in the browser: " + audio);
    assertTrue(audio.packets() > 100, "inbound packets: " + audio);
    assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the agent's 1000 Hz: " + audio);

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    Path received = awaitAgentRecording();
    double[] stat = Baresip.soxStat(received);
    System.out.println("baresip agent received: rms=" + stat[0] + " freq=" + stat[1] + " (" + received + ")");
    assertTrue(stat[0] > 0.05, "the agent heard sound, rms " + stat[0]);
    assertTrue(Math.abs(stat[1] - 440) < 40, "the agent heard the visitor's 440 Hz, got " + stat[1]);
    node.awaitIdle(1);
  }

  @Test
  void theAgentCallsTheVisitorBackAndHangsUp() throws Exception {
    String line = leasedAccount();
    agent.command("dial", "sip:" + line + "@127.0.0.1:" + pbx.port());
    browser.awaitStatus("Incoming call from...", SETUP);
    assertTrue(browser.status().contains("2000"), "caller shown: " + browser.status());
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    Browser.RemoteAudio audio = browser.remoteAudio(2000);
    assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the agent's 1000 Hz: " + audio);

    agent.command("hangup", null);
    browser.awaitStatus("Call ended", Duration.ofSeconds(10));
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    node.awaitIdle(1);
  }

  @Test
  void closingTheTabMidCallHangsUpTheAgentAndReturnsTheLine() throws Exception {
    browser.dialWithKeypad("2000");
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    long before = terminations();
    browser.close();
    browser = null;
    // After the resume grace (2 s here) the gateway ends the call: the agent sees the BYE.
    try {
      Eventually.until(Duration.ofSeconds(15), "baresip to see the call end", () -> terminations() > before);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\n" + agent.process().tail(), e);
    }
    node.awaitIdle(0);
  }

  private static long terminations() {
    return agent.process().logText().lines().filter(l -> l.contains("terminated")).count();
  }

  private static Path awaitAgentRecording() throws Exception {
    try {
      return Eventually.await(Duration.ofSeconds(10), "baresip's recording of the call, its WAV header finished",
          agent::finishedRecording);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\n" + agent.process().tail(), e);
    }
  }

  private static String leasedAccount() throws Exception {
    JsonObject status = Eventually.result(5, "pool.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.POOL_STATUS, new JsonObject())).body();
    JsonArray leases = status.getJsonArray("leases");
    assertEquals(1, leases.size(), status.encode());
    return leases.getJsonObject(0).getString("accountId");
  }
}
