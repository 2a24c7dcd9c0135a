package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.WindowType;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.TestNode;

/**
 * Agents on named lines, with real peers: Kamailio (digest auth) is the PBX, the gateway's anonymous pool is 1000
 * and agent "alice" owns extension 2001, a customer runs baresip as 3000, the agent's phone is headless Chromium
 * on the phone page with alice's token. One browser and one set of peers for the class; each test opens a fresh
 * agent page and ends with no session, no lease (named or not), no call and no agent on the board.
 */
class AgentLinesTest {
  private static final String SECRET = "agent-test-secret";
  private static final Duration SETUP = Duration.ofSeconds(20);
  private static final Duration WRAP_UP = Duration.ofSeconds(2);

  private static Path dir;
  private static Kamailio pbx;
  private static Baresip customer;
  private static TestNode node;
  private static Browser browser;
  private static Vertx client;
  private static WebSocketClient ws;
  private static int tokens;
  /** Every SIP message the gateway sent or received (logger sip.wire at TRACE, read when the stack starts). */
  private static final ListAppender<ILoggingEvent> WIRE = new ListAppender<>();
  private final List<JsonObject> boardEvents = new CopyOnWriteArrayList<>();
  private MessageConsumer<JsonObject> board;

  @BeforeAll
  static void startTheContactCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "agents-").toAbsolutePath();
    Logger wire = (Logger) LoggerFactory.getLogger("sip.wire");
    wire.setLevel(Level.TRACE);
    wire.setAdditive(false); // counted here, not printed
    WIRE.start();
    wire.addAppender(WIRE);
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "2001", "alice-2001", "3000", "customer-3000"));
    customer = Baresip.start(dir.resolve("customer"), "3000", "customer-3000", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 1000, 60, 8000));
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject()
            .put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
                .put("passwordTemplate", "secret-{user}"))
            .put("agents", new JsonArray().add(new JsonObject().put("id", "alice").put("username", "2001")
                .put("password", "alice-2001").put("displayName", "Alice"))))
        .put("auth", new JsonObject().put("tokenSecret", SECRET))
        .put("availability", new JsonObject().put("wrapUpSec", WRAP_UP.toSeconds()))
        .put("session", new JsonObject().put("resumeGraceSec", 1)));
    browser = Browser.start(Browser.tone(dir, 440, 60));
    client = Vertx.vertx();
    ws = client.createWebSocketClient();
  }

  @AfterAll
  static void stopTheContactCentre() throws Exception {
    Logger wire = (Logger) LoggerFactory.getLogger("sip.wire");
    wire.detachAppender(WIRE);
    wire.setLevel(null);
    wire.setAdditive(true);
    try {
      if (browser != null) {
        browser.close();
      }
      if (client != null) {
        Harness.await(client.close());
      }
      if (node != null) {
        node.close();
      }
    } finally {
      for (AutoCloseable c : new AutoCloseable[] {customer, pbx}) {
        if (c != null) {
          c.close();
        }
      }
    }
  }

  @BeforeEach
  void openTheAgentsPhone() throws Exception {
    board = node.node().vertx().eventBus().<JsonObject>consumer(Addresses.AGENT_AVAILABILITY,
        m -> boardEvents.add(m.body()));
    Harness.await(board.completion());
    signIn("alice");
    browser.awaitStatus("Ready", SETUP);
  }

  @AfterEach
  void closeThePhone() throws Exception {
    // The phone's own way out (its element leaves the page): a page without WebRTC may go to Chromium's
    // back-forward cache on navigation with its WebSocket still open.
    browser.js("document.querySelectorAll('web-phone').forEach((e) => e.remove());");
    browser.open("about:blank");
    Eventually.until(Duration.ofSeconds(20), "no session, no lease and no agent left", () -> {
      JsonObject pool = poolStatus();
      String metrics = Http.get(node.adminUrl() + "metrics").body();
      return pool.getJsonArray("leases").isEmpty() && signalling().getInteger("sessions") == 0
          && metrics.lines().filter(l -> l.startsWith("webphone_agent_sessions{"))
              .allMatch(l -> l.endsWith(" 0.0"));
    });
    node.awaitIdle(0);
    Harness.await(board.unregister());
  }

  @Test
  void anAgentsTokenGivesItsExtensionAndThePbxRoutesACallToItToThatBrowser() throws Exception {
    JsonObject lease = theOnlyLease();
    assertEquals("2001", lease.getString("accountId"), "alice's fixed extension: " + lease);
    for (String control : List.of("Available", "Busy", "Wrap-up")) {
      assertEquals(control.equals("Available") ? "true" : "false",
          browser.control(control).getAttribute("aria-pressed"), control + " is shown, Available is pressed");
    }

    customer.command("dial", "sip:2001@127.0.0.1:" + pbx.port());
    browser.awaitStatus("Incoming call from...", SETUP);
    assertTrue(browser.status().contains("3000"), "the customer is shown: " + browser.status());
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    Browser.RemoteAudio audio = browser.remoteAudio(2000);
    assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the customer's 1000 Hz reaches the agent: " + audio);
    customer.command("hangup", null);
    browser.awaitStatus("Call ended", Duration.ofSeconds(10));
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    assertEquals(lease.getLong("token"), theOnlyLease().getLong("token"), "the line stays alice's");
  }

  @Test
  void busyAnswers486AndNothingRingsThenWrapUpEndsByItself() throws Exception {
    browser.recordStatusHistory();
    browser.click("Busy");
    browser.awaitStatus("Busy (do not disturb)", Duration.ofSeconds(5));
    assertEquals("true", browser.control("Busy").getAttribute("aria-pressed"));
    Eventually.until(Duration.ofSeconds(5), "the Busy gauge", () -> metric("Busy") == 1 && metric("Available") == 0);

    long before = customerLines();
    customer.command("dial", "sip:2001@127.0.0.1:" + pbx.port());
    Eventually.until(SETUP, "the customer to hear 486 Busy Here", () -> customerLog(before).contains("486"));
    assertFalse(browser.statusHistory().stream().anyMatch(s -> s.startsWith("Incoming call")),
        "nothing rang: " + browser.statusHistory());
    assertEquals("Busy (do not disturb)", browser.status());

    browser.click("Wrap-up");
    long clicked = System.nanoTime();
    browser.awaitStatus("Wrap-up", Duration.ofSeconds(5));
    browser.awaitStatus("Ready", WRAP_UP.plusSeconds(8));
    long tookMs = (System.nanoTime() - clicked) / 1_000_000;
    assertTrue(tookMs >= WRAP_UP.toMillis() - 300, "wrap-up lasted its " + WRAP_UP + ": " + tookMs + " ms");
    assertEquals("true", browser.control("Available").getAttribute("aria-pressed"));

    Eventually.until(Duration.ofSeconds(5), "the dashboard events", () -> boardEvents.size() >= 3);
    assertEquals(List.of("Busy", "WrapUp", "Available"), boardEvents.stream().map(e -> e.getString("state")).toList());
    assertEquals("alice", boardEvents.get(0).getString("agent"));
    assertTrue(boardEvents.get(1).getLong("untilMs") > 0, "wrap-up says when it ends: " + boardEvents.get(1));
    assertEquals("wrap-up ended", boardEvents.get(2).getString("reason"));

    // Available again: the same customer's call rings.
    customer.command("dial", "sip:2001@127.0.0.1:" + pbx.port());
    browser.awaitStatus("Incoming call from...", SETUP);
    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
  }

  @Test
  void aSecondTabOfTheSameAgentTakesTheLineOverAndTheFirstIsToldWith4003() throws Exception {
    String firstWindow = browser.driver().getWindowHandle();
    browser.js("window.__closeCode = null; window.webphone.client.addEventListener('disconnected',"
        + " (e) => { window.__closeCode = e.detail.code; });");
    long oldToken = theOnlyLease().getLong("token");
    String oldSession = theOnlyLease().getString("sessionId");

    browser.driver().switchTo().newWindow(WindowType.TAB);
    try {
      signIn("alice");
      browser.awaitStatus("Ready", SETUP);
      JsonObject lease = theOnlyLease();
      assertEquals("2001", lease.getString("accountId"));
      assertTrue(lease.getLong("token") > oldToken, "a new, larger fencing token: " + lease);
      assertFalse(oldSession.equals(lease.getString("sessionId")), "the new session holds it");

      browser.driver().switchTo().window(firstWindow);
      browser.awaitStatus("Disconnected", Duration.ofSeconds(5));
      assertEquals(4003L, browser.js("return window.__closeCode"));
      assertEquals("This agent signed in again in another window.",
          browser.driver().findElement(org.openqa.selenium.By.cssSelector(".wp-detail")).getText());

      // The PBX routes the extension to the tab that took it over.
      browser.driver().switchTo().window(otherWindow(firstWindow));
      customer.command("dial", "sip:2001@127.0.0.1:" + pbx.port());
      browser.awaitStatus("Incoming call from...", SETUP);
      browser.click("Hang up");
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
    } finally {
      closeOtherTab(firstWindow);
    }
  }

  @Test
  void aTakeoverDuringACallMovesTheCallToTheNewTabLikeAResumeWithNoByeAndNoReInvite() throws Exception {
    String firstWindow = browser.driver().getWindowHandle();
    browser.js("window.__closeCode = null; window.webphone.client.addEventListener('disconnected',"
        + " (e) => { window.__closeCode = e.detail.code; });");
    JsonObject lease = theOnlyLease();
    customer.command("dial", "sip:2001@127.0.0.1:" + pbx.port());
    browser.awaitStatus("Incoming call from...", SETUP);
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    long invites = wire("INVITE sip:");
    long byes = wire("BYE sip:");

    browser.driver().switchTo().newWindow(WindowType.TAB);
    try {
      signIn("alice");
      browser.awaitStatus("In call", SETUP);
      Browser.RemoteAudio audio = browser.remoteAudio(2000);
      assertTrue(audio.packets() > 50 && Math.abs(audio.peakHz() - 1000) < 30,
          "the customer's 1000 Hz reaches the new tab: " + audio);
      JsonObject after = theOnlyLease();
      assertEquals(lease.getString("sessionId"), after.getString("sessionId"), "the same session keeps the line");
      assertEquals(lease.getLong("token"), after.getLong("token"), "the lease was not touched: " + after);
      assertEquals(invites, wire("INVITE sip:"), "no re-INVITE (nor a new call) on the PBX side");
      assertEquals(byes, wire("BYE sip:"), "no BYE on the PBX side");

      browser.driver().switchTo().window(firstWindow);
      browser.awaitStatus("Disconnected", Duration.ofSeconds(5));
      assertEquals(4003L, browser.js("return window.__closeCode"));

      browser.driver().switchTo().window(otherWindow(firstWindow));
      customer.command("hangup", null);
      browser.awaitStatus("Call ended", Duration.ofSeconds(10));
      // The last second and a half of what the customer heard came from the new tab only (the old tab's leg is gone).
      Path heard = Eventually.await(SETUP, "the customer's finished recording", customer::finishedRecording);
      Path tail = dir.resolve("takeover-tail.wav");
      Process trim = new ProcessBuilder("sox", heard.toString(), tail.toString(), "trim", "-1.5")
          .redirectErrorStream(true).start();
      String trimOut = new String(trim.getInputStream().readAllBytes());
      assertEquals(0, trim.waitFor(), "sox trim: " + trimOut);
      double[] stat = Baresip.soxStat(tail);
      assertTrue(stat[0] > 0.01 && Math.abs(stat[1] - 440) < 40,
          "the new tab's 440 Hz reaches the customer after the takeover (RMS, Hz): " + stat[0] + ", " + stat[1]);
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
    } finally {
      closeOtherTab(firstWindow);
    }
  }

  @Test
  void badInputGetsClearErrorsAndLosesNothing() throws Exception {
    // An agent's session: a state name that is not one.
    JsonObject refused = refusal("SetAvailability", new JsonObject().put("state", "Lunch"));
    assertEquals(103, refused.getInteger("code"), refused.encode());
    JsonObject busy = refusal("SetAvailability", new JsonObject().put("state", "Busy"));
    assertEquals("Ack", busy.getString("event"), "the agent's session goes on: " + busy.encode());
    Eventually.until(Duration.ofSeconds(5), "the Busy gauge", () -> metric("Busy") == 1);
    assertEquals("Ack", refusal("SetAvailability", new JsonObject().put("state", "Available")).getString("event"));
    Eventually.until(Duration.ofSeconds(5), "the Available gauge", () -> metric("Available") == 1);

    // An identity with no named line.
    Harness.Client mallory = Harness.connect(ws, port(), "token=" + token("mallory", "j-mallory"), null);
    JsonObject noLine = mallory.await("Error");
    assertEquals(307, noLine.getInteger("code"), noLine.encode());
    assertTrue(noLine.getString("message").contains("mallory"), noLine.encode());
    mallory.awaitClosed();

    // An anonymous visitor (a token without sub) gets the anonymous pool and no availability.
    String visitorToken = token(null, "j-visitor");
    Harness.Client visitor = Harness.connect(ws, port(), "token=" + visitorToken, null);
    visitor.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    assertEquals(List.of("1000", "2001"), poolStatus().getJsonArray("leases").stream()
        .map(l -> ((JsonObject) l).getString("accountId")).sorted().toList());
    JsonObject notAgent = visitor.request(Harness.method("SetAvailability").put("state", "Busy"));
    assertEquals(308, notAgent.getInteger("code"), notAgent.encode());
    assertEquals("Pong", visitor.request(Harness.method("Ping")).getString("event"), "the visitor's session goes on");

    // The same token (the same jti) once more: refused, nothing leased.
    Harness.Client replay = Harness.connect(ws, port(), "token=" + visitorToken, null);
    JsonObject reused = replay.await("Error");
    assertEquals(201, reused.getInteger("code"), reused.encode());
    assertTrue(reused.getString("message").contains("already used"), reused.encode());
    replay.awaitClosed();
    assertEquals(2, poolStatus().getJsonArray("leases").size(), "the replay leased nothing");
    visitor.ws.close();
    visitor.awaitClosed();
  }

  // ------------------------------------------------------------------ helpers

  /** Replaces the page's phone by one with a fresh token of {@code agent} (a new jti each time). */
  private static void signIn(String agent) {
    browser.open(node.url());
    browser.js("""
        document.querySelectorAll('web-phone').forEach((e) => e.remove());
        sessionStorage.clear();
        const p = document.createElement('web-phone');
        p.setAttribute('token', arguments[0]);
        document.querySelector('main').appendChild(p);
        """, token(agent, "j-" + agent + "-" + ++tokens));
  }

  private static String token(String sub, String jti) {
    return AuthToken.issue(SECRET, System.currentTimeMillis() / 1000, sub, jti + "-" + System.nanoTime());
  }

  /** Closes the tab that is not {@code first} (if any) and goes back to {@code first}. */
  private static void closeOtherTab(String first) {
    String other = otherWindow(first);
    if (other != null) {
      browser.driver().switchTo().window(other);
      browser.driver().close();
    }
    browser.driver().switchTo().window(first);
  }

  private static String otherWindow(String first) {
    return browser.driver().getWindowHandles().stream().filter(h -> !h.equals(first)).findFirst().orElse(null);
  }

  /** The Ack or Error frame the page's client gets for {@code method} with {@code fields}. */
  private static JsonObject refusal(String method, JsonObject fields) {
    Object r = browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        window.webphone.client.request(arguments[0], JSON.parse(arguments[1]))
          .then((a) => done(JSON.stringify(a)), (e) => done(JSON.stringify(e)));
        """, method, fields.encode());
    return new JsonObject((String) r);
  }

  private static int port() {
    return node.config().getInt("http.port");
  }

  private static JsonObject poolStatus() throws Exception {
    return Harness.await(node.node().vertx().eventBus().<JsonObject>request(Addresses.POOL_STATUS, new JsonObject()))
        .body();
  }

  private static JsonObject signalling() throws Exception {
    return Harness.await(node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIGNALLING_STATUS, new JsonObject())).body();
  }

  private static JsonObject theOnlyLease() throws Exception {
    JsonArray leases = poolStatus().getJsonArray("leases");
    assertEquals(1, leases.size(), leases.encode());
    return leases.getJsonObject(0);
  }

  /** The node's {@code webphone_agent_sessions{state}} gauge. */
  private static double metric(String state) throws Exception {
    return Http.get(node.adminUrl() + "metrics").body().lines()
        .filter(l -> l.startsWith("webphone_agent_sessions{") && l.contains("state=\"" + state + "\""))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(-1);
  }

  /** How many SIP messages the gateway sent or received so far whose first line starts with {@code startLine}. */
  private static long wire(String startLine) {
    return List.copyOf(WIRE.list).stream().filter(e -> e.getFormattedMessage().contains("\n" + startLine)).count();
  }

  private static long customerLines() {
    return customer.process().logText().lines().count();
  }

  private static String customerLog(long skip) {
    return String.join("\n", customer.process().logText().lines().skip(skip).toList());
  }
}
