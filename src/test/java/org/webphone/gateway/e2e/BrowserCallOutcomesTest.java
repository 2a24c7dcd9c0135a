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
import org.openqa.selenium.WindowType;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * What the visitor sees when the far end does not simply answer, through Kamailio to SIPp scenarios that
 * answer 486, 404, 480 and 603; the pool running out ("Connection limit"); and a page reload in the
 * middle of a call, which must not end the SIP call.
 */
class BrowserCallOutcomesTest {
  private static final Duration SETUP = Duration.ofSeconds(20);
  /** Number dialled → the SIPp scenario behind it. */
  private static final Map<String, String> FAR_ENDS = new LinkedHashMap<>(Map.of(
      "486", "uas-486.xml", "404", "uas-404.xml", "480", "uas-480.xml", "603", "uas-603.xml",
      "700", "uas-answer.xml"));

  private static Kamailio pbx;
  private static final Map<String, Sipp> sipps = new LinkedHashMap<>();
  private static TestNode node;
  private static Path tone;
  private final List<Browser> browsers = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    Path dir = Files.createTempDirectory(Path.of("target"), "e2e-outcomes-").toAbsolutePath();
    Map<String, Integer> routes = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : FAR_ENDS.entrySet()) {
      // SIPp quits after its -timeout (Sipp's 60 s): on a loaded machine this class's last test starts later than that.
      Sipp s = e.getKey().equals("700") ? Sipp.uas(e.getValue(), "-rtp_echo", "-timeout", "600")
          : Sipp.uas(e.getValue(), "-timeout", "600");
      sipps.put(e.getKey(), s);
      routes.put(e.getKey(), s.port());
    }
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "1001", "secret-1001"), routes);
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1001)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray(new ArrayList<>(FAR_ENDS.keySet()))))
        .put("session", new JsonObject().put("resumeGraceSec", 6)));
    tone = Browser.tone(dir, 440, 30);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
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
  void oneBrowser() throws Exception {
    browsers.add(Browser.start(tone));
  }

  @AfterEach
  void closeBrowsers() throws Exception {
    for (Browser b : browsers) {
      b.close();
    }
    browsers.clear();
    // A closed page keeps its session (and lease) for the resume grace; the next test starts with a full pool.
    node.awaitIdle(0);
  }

  @Test
  void theStatusLineSaysBusyNotFoundUnavailableAndRejected() throws Exception {
    Browser b = browsers.get(0);
    b.open(node.url());
    b.awaitStatus("Ready", SETUP);
    Map<String, String> expected = Map.of("486", "Busy", "404", "Not found", "480", "Unavailable", "603", "Rejected");
    for (String number : List.of("486", "404", "480", "603")) {
      b.dialWithKeypad(number);
      b.click("Call");
      b.awaitStatus(expected.get(number), SETUP);
      sipps.get(number).awaitSuccess(Duration.ofSeconds(10));
      b.awaitStatus("Ready", Duration.ofSeconds(15));
      clearDialBox(b);
    }
    node.awaitIdle(1);
  }

  @Test
  void aThirdVisitorGetsConnectionLimitWhenThePoolHasTwoLines() throws Exception {
    Browser b = browsers.get(0);
    b.open(node.url());
    b.awaitStatus("Ready", SETUP);
    List<String> tabs = new ArrayList<>(List.of(b.driver().getWindowHandle()));
    for (int i = 0; i < 2; i++) {
      b.driver().switchTo().newWindow(WindowType.TAB);
      b.open(node.url());
      tabs.add(b.driver().getWindowHandle());
    }
    b.driver().switchTo().window(tabs.get(1));
    b.awaitStatus("Ready", SETUP);
    b.driver().switchTo().window(tabs.get(2));
    b.awaitStatus("Connection limit", SETUP);
    JsonObject pool = node.health().getJsonObject("pool");
    assertEquals(2, pool.getInteger("leased"), pool.encode());
    assertEquals(0, pool.getInteger("free"), pool.encode());
  }

  @Test
  void aPageReloadMidCallKeepsTheSipCallAndTheAudio() throws Exception {
    Browser b = browsers.get(0);
    b.open(node.url());
    b.awaitStatus("Ready", SETUP);
    b.dialWithKeypad("700");
    b.click("Call");
    b.awaitStatus("In call", SETUP);
    Sipp echo = sipps.get("700");
    long byesBefore = echo.traceCount("BYE");

    b.driver().navigate().refresh();
    b.awaitStatus("In call", SETUP);
    Browser.RemoteAudio audio = b.remoteAudio(3000);
    System.out.println("after reload, audio in the browser: " + audio);
    assertTrue(audio.packets() > 50, "audio flows on the new browser leg: " + audio);
    assertTrue(Math.abs(audio.peakHz() - 440) < 25, "echoed 440 Hz: " + audio);
    assertEquals(byesBefore, echo.traceCount("BYE"), "the far end saw no BYE during the reload");
    assertTrue(echo.isAlive(), "the SIPp call is still up");

    b.click("Hang up");
    b.awaitStatus("Ready", Duration.ofSeconds(10));
    echo.awaitSuccess(Duration.ofSeconds(10));
  }

  private static void clearDialBox(Browser b) {
    b.control("Number").clear();
  }
}
