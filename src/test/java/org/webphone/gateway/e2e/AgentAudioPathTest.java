package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * An agent's persistent audio path and auto-answer with real peers: Kamailio is the PBX (digest auth), the
 * gateway's one line 1000 registers on it, the agent is headless Chromium on the phone page (microphone: 440 Hz),
 * a customer is SIPp (account 2000, plays a 1000 Hz PCMU tone from the answer on), extension 700 is a SIPp UAS
 * that answers at once and plays the same tone; for two calls on the path, baresip callers 2001 (600 Hz) and 2002
 * (1500 Hz) record what they receive, so each can tell when the agent's 440 Hz reached it. The page's {@code <web-phone>} element is replaced to change the
 * session's options (a new session each time), so one browser serves every check.
 */
class AgentAudioPathTest {
  private static final Duration SETUP = Duration.ofSeconds(20);
  private static final String CALL_INFO = "Call-Info: <sip:127.0.0.1>;answer-after=0";

  private static Path dir;
  private static Kamailio pbx;
  private static Sipp callee;
  private static TestNode node;
  private static Browser browser;

  @BeforeAll
  static void startTheContactCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "e2e-agent-path-").toAbsolutePath();
    // SIPp's rtp_stream reads the file relative to its working directory (target/peers/sipp-<port>-*/).
    Path peers = Files.createDirectories(Path.of("target", "peers").toAbsolutePath());
    PeerProcess.requireBinary("sox");
    Process sox = new ProcessBuilder("sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law",
        peers.resolve("customer-tone.wav").toString(), "synth", "20", "sine", "1000", "vol", "0.5").inheritIO().start();
    assertEquals(0, sox.waitFor(), "sox made the customer's tone");
    // Its whole run, not one call, is bounded by -timeout: the class runs its calls over a few minutes at most.
    callee = Sipp.uas("uas-answer-tone.xml", "-m", "3", "-timeout", "300");
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "2000", "cust-2000", "2001", "cust-2001", "2002", "cust-2002"),
        Map.of("700", callee.port()));
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("700").add("2002")))
        .put("session", new JsonObject().put("resumeGraceSec", 1).put("autoAnswerDelayMs", 30000)));
    browser = Browser.start(Browser.tone(dir, 440, 60));
    browser.open(node.url());
    browser.awaitStatus("Ready", SETUP);
  }

  @AfterAll
  static void stopTheContactCentre() throws Exception {
    try {
      if (browser != null) {
        browser.close();
      }
      if (node != null) {
        node.close();
      }
    } finally {
      for (AutoCloseable c : new AutoCloseable[] {pbx, callee}) {
        if (c != null) {
          c.close();
        }
      }
    }
  }

  @Test
  void callsOnThePersistentPathNeedNoHandshakeAndHearTheFirstHundredMillisecondsUnlikeAFreshLeg() throws Exception {
    // Without the path: a fresh ICE + DTLS leg per call, started with the call.
    usePhone(Map.of());
    FirstAudio fresh = measuredCall();
    long handshakesBefore = counter("dtlsConnected");
    long attachedBefore = counter("pathAttached");

    usePhone(Map.of("persistent-audio", ""));
    awaitPathConnected();
    assertEquals("Microphone idle", browser.js("return window.webphone.v.meter.getAttribute('aria-label')"),
        "between calls the page shows the microphone as idle");
    assertEquals(false, browser.js("return window.webphone.path.stream.getAudioTracks()[0].enabled"));
    long pathHandshakes = counter("dtlsConnected") - handshakesBefore;
    assertEquals(1, pathHandshakes, "opening the path is one DTLS handshake");

    List<FirstAudio> onPath = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      long toPbxBefore = counter("toPbx");
      onPath.add(measuredCall());
      assertTrue(counter("toPbx") - toPbxBefore > 50, "the agent's microphone reached the PBX on call " + (i + 1));
      assertEquals("Microphone idle", browser.js("return window.webphone.v.meter.getAttribute('aria-label')"));
    }
    assertEquals(1 + handshakesBefore, counter("dtlsConnected"), "two calls on the path: no new DTLS handshake");
    assertEquals(2, counter("pathAttached") - attachedBefore);
    JsonObject media = mediaStatus();
    assertEquals(1, media.getInteger("audioPaths"));
    assertEquals(1, media.getInteger("agents"), "only the path's ICE agent is left: " + media.encode());

    System.out.println("first audio after the answer: fresh leg " + fresh + "; audio path " + onPath);
    for (FirstAudio a : onPath) {
      // Every packet the PBX sent from its first on reached the browser: a few may arrive between the hang-up and
      // the close of the call's PBX leg, none may be dropped waiting for a handshake as on the fresh leg.
      assertTrue(a.pbxIn() - a.toBrowser() <= 3, "the call's audio from its first packet on the path: " + a);
      assertTrue(a.firstMs() < 1000, "audio at once after the answer on the path: " + a);
    }

    usePhone(Map.of());
    Eventually.until(Duration.ofSeconds(10), "the path freed with its session",
        () -> mediaStatus().getInteger("audioPaths") == 0 && mediaStatus().getInteger("agents") == 0);
  }

  @Test
  void anInviteAskingForAutoAnswerIsAnsweredAtOnceOnlyOnASessionThatOptedInAndOnlyFromThePbx() throws Exception {
    usePhone(Map.of("persistent-audio", "")); // a path, but no auto-answer
    awaitPathConnected();
    browser.recordStatusHistory();
    try (Sipp customer = customer("uac-customer-rings.xml", CALL_INFO, "0 8")) {
      browser.awaitStatus("Incoming call from...", SETUP);
      customer.awaitSuccess(Duration.ofSeconds(30)); // it rang, was not answered, and was cancelled (487)
    }
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    assertFalse(browser.statusHistory().contains("In call"), "rang normally: " + browser.statusHistory());
    assertEquals(0L, tones(), "no auto-answer tone");

    // Opted in; the session's own delay (30 s here) is not what answers: the INVITE's answer-after=0 is.
    usePhone(Map.of("persistent-audio", "", "auto-answer", ""));
    awaitPathConnected();
    long handshakes = counter("dtlsConnected");
    try (Sipp customer = customer("uac-customer-answered.xml", CALL_INFO, "0 8")) {
      browser.awaitStatus("In call", Duration.ofSeconds(10));
      Browser.RemoteAudio audio = browser.remoteAudio(1000, "window.webphone.path && window.webphone.path.pc");
      assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the customer's 1000 Hz on the path: " + audio);
      customer.awaitSuccess(Duration.ofSeconds(30)); // answered, then it hung up
    }
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    assertEquals(1L, tones(), "the page played the auto-answer tone once");
    assertEquals(handshakes, counter("dtlsConnected"), "the auto-answered call rode the path");

    // The same INVITE straight from an address outside the PBX's allowed sources: dropped, nothing rings.
    long dropped = droppedStrangers();
    browser.recordStatusHistory();
    try (Sipp stranger = Sipp.uac("uac-stranger.xml", "127.0.0.1:" + node.config().getInt("sip.port"),
        "-i", "127.0.0.2", "-s", "1000", "-key", "auto_answer_header", CALL_INFO)) {
      stranger.awaitSuccess(Duration.ofSeconds(15));
    }
    Eventually.until(Duration.ofSeconds(5), "the stranger's INVITE counted as dropped", () -> droppedStrangers() > dropped);
    assertEquals(List.of(), browser.statusHistory().stream().filter(x -> !x.equals("Ready")).toList(), "nothing rang");
    assertEquals("Ready", browser.status());
    assertEquals(1L, tones());
  }

  @Test
  void anOfferWithoutThePathsCodecIsRefusedAndTheSessionGoesOn() throws Exception {
    // A session without a path: a Call without sdp is refused (102), and so is a path offer lacking PCMU (306).
    usePhone(Map.of());
    Map<?, ?> refused = (Map<?, ?>) browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        const c = window.webphone.client;
        const code = (p) => p.then(() => 0, (e) => e.code);
        (async () => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('audio');
          const offer = (await pc.createOffer()).sdp;
          pc.close();
          const noPcmu = offer.split('\\r\\n')
            .map((l) => (l.startsWith('m=audio ') ? l.split(' ').filter((p, i) => i < 3 || p !== '0').join(' ') : l))
            .filter((l) => !/^a=(rtpmap|fmtp|rtcp-fb):0 /.test(l)).join('\\r\\n');
          done({ callWithoutSdp: await code(c.request('Call', { number: '700' })),
                 pathWithoutPcmu: await code(c.request('AudioPath', { sdp: noPcmu })),
                 ping: await code(c.request('Ping')) });
        })().catch((e) => done({ error: String(e) }));
        """);
    assertEquals(Map.of("callWithoutSdp", 102L, "pathWithoutPcmu", 306L, "ping", 0L), refused);
    assertEquals(0, mediaStatus().getInteger("audioPaths"));

    // A call offered to the path without its codec (PCMA only): 488, the path stays for the next call.
    usePhone(Map.of("persistent-audio", "", "auto-answer", "0"));
    awaitPathConnected();
    try (Sipp customer = customer("uac-customer-488.xml", "X-Test: no auto-answer header", "8")) {
      customer.awaitSuccess(Duration.ofSeconds(30));
    }
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    assertEquals(1, mediaStatus().getInteger("audioPaths"));
    node.awaitIdle(1);
  }

  @Test
  void callWaitingOnThePersistentPathSwitchesAudioToTheAcceptedCallAndBackOnSwapWithoutANewHandshake() throws Exception {
    Bed bed = pathReady();
    try (Baresip first = caller("2001", 600); Baresip second = caller("2002", 1500)) {
      Heard one = answeredOnPath(first);

      // Call waiting: Accept holds the first caller and the path carries the second, with no new handshake.
      second.command("dial", "sip:1000@127.0.0.1:" + pbx.port());
      browser.awaitStatus("Call waiting from 2002", SETUP);
      browser.click("Call");
      browser.awaitStatus("In call", SETUP);
      Heard two = heardOnPath(1500, "after Accept the browser hears the second caller: ", first, second,
          false, false, true, true);

      browser.click("Swap");
      Eventually.until(Duration.ofSeconds(10), "Swap acked", () -> "In call".equals(browser.status()));
      Heard back = heardOnPath(600, "after Swap the browser hears the first caller again: ", first, second,
          true, false, false, false);
      System.out.println("call waiting on the path: first " + one + "; accepted " + two + "; swapped " + back);

      // Hanging up the active (first) call: the path carries the remaining one, held until Unhold.
      browser.click("Hang up");
      browser.awaitStatus("On hold", SETUP);
      Heard remaining = heard(null, second);
      remaining.agentReached(false, false, true, false);
      System.out.println("the remaining (held) call on the path: " + remaining);
      browser.click("Hang up");
      browser.awaitStatus("Ready", SETUP);
    }
    bed.assertOnePathIdleAndNothingLeaked();
  }

  @Test
  void aConsultOnThePersistentPathReachesTheConsulteeWithTheCustomerHeldAndCancelTransferGoesBack() throws Exception {
    Bed bed = pathReady();
    try (Baresip customer = caller("2001", 600); Baresip consultee = caller("2002", 1500)) {
      Heard talking = answeredOnPath(customer);

      browser.js("document.querySelector(\"input[aria-label='Transfer to']\").value = '2002'");
      browser.click("Consult");
      Eventually.until(SETUP, "the consultee (baresip answers at once) to record", () -> consultee.receivedWav().isPresent());
      browser.awaitStatus("In call", SETUP);
      Heard consulting = heardOnPath(1500, "the consultee on the path: ", customer, consultee, false, false, true, true);

      browser.click("Cancel transfer");
      Eventually.until(SETUP, "the consult call ended", () -> mediaStatus().getInteger("sessions") == 1);
      browser.awaitStatus("In call", SETUP);
      Heard after = heardOnPath(600, "Cancel transfer: the customer on the path again: ", customer, null,
          true, false, false, false);
      System.out.println("consult on the path: customer " + talking + "; consult " + consulting + "; cancelled " + after);

      browser.click("Hang up");
      browser.awaitStatus("Ready", SETUP);
    }
    bed.assertOnePathIdleAndNothingLeaked();
  }

  /** A new agent session with its path connected (the page's first call forgotten), and the bed's figures then. */
  private Bed pathReady() throws Exception {
    usePhone(Map.of("persistent-audio", ""));
    awaitPathConnected();
    browser.js("window.__firstCall = null");
    return new Bed();
  }

  /** Caller 2001 (600 Hz) calls the agent, who answers on the path: the two hear each other. */
  private static Heard answeredOnPath(Baresip caller) throws Exception {
    caller.command("dial", "sip:1000@127.0.0.1:" + pbx.port());
    browser.awaitStatus("Incoming call from 2001", SETUP);
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    return heardOnPath(600, "the first caller on the path: ", caller, null, true, true, false, false);
  }

  /** The path's transport and the relay's resources when a test's calls start, checked again after they ended. */
  private final class Bed {
    final long handshakes;
    final int pathDtlsSessions;
    final int rtpPorts;

    Bed() throws Exception {
      JsonObject m = mediaStatus();
      handshakes = m.getJsonObject("counters").getLong("dtlsConnected");
      pathDtlsSessions = m.getInteger("dtlsSessions");
      rtpPorts = m.getInteger("rtpPorts");
      assertEquals(1, m.getInteger("agents"), "the path's one ICE agent: " + m.encode());
    }

    void assertOnePathIdleAndNothingLeaked() throws Exception {
      node.awaitIdle(1); // the line, no call at SIP, no media session
      JsonObject m = mediaStatus();
      assertEquals(handshakes, m.getJsonObject("counters").getLong("dtlsConnected"), "no new DTLS handshake: " + m.encode());
      assertEquals(1, m.getInteger("agents"), "one ICE agent (the path's) the whole time: " + m.encode());
      assertEquals(1, m.getInteger("audioPaths"));
      assertEquals(pathDtlsSessions, m.getInteger("dtlsSessions"));
      assertEquals(rtpPorts, m.getInteger("rtpPorts"), "the calls' RTP ports freed");
      assertEquals(Map.of("transports", 1L, "state", "connected"), browser.driver().executeAsyncScript("""
          const done = arguments[arguments.length - 1];
          const pc = window.webphone.path.pc;
          pc.getStats().then((r) => {
            let n = 0;
            r.forEach((s) => { if (s.type === 'transport') n++; });
            done({ transports: n, state: pc.connectionState });
          }, (e) => done(String(e)));
          """), "the page's path: one transport (one ICE and DTLS) for both calls, still up");
      assertEquals("Microphone idle", browser.js("return window.webphone.v.meter.getAttribute('aria-label')"));
    }
  }

  /** A baresip caller registered as {@code user} whose microphone is a {@code hz} tone. */
  private static Baresip caller(String user, int hz) throws Exception {
    return Baresip.start(dir.resolve("caller-" + user + "-" + System.nanoTime()), user, "cust-" + user,
        "127.0.0.1:" + pbx.port(), Browser.tone(dir, hz, 120, 8000));
  }

  /**
   * {@link #heard}, checked: the browser hears {@code hz} ({@code what}), and the agent reached caller 1 / 2 as said
   * ({@link Heard#agentReached}).
   */
  private static Heard heardOnPath(int hz, String what, Baresip a, Baresip b, boolean one, boolean recorded1,
                                   boolean two, boolean recorded2) throws Exception {
    Heard h = heard(a, b);
    assertEquals(hz, h.browserHz(), 30, what + h);
    h.agentReached(one, recorded1, two, recorded2);
    return h;
  }

  /**
   * What the browser hears on the path (its strongest frequency) while, for each caller (null: none), the gateway
   * counts the RTP it relays toward that call's PBX leg and the caller records what it receives. baresip 1.0 stops
   * its recording at its first re-INVITE (the hold), so a caller's 440 Hz is measured where it still records.
   */
  private static Heard heard(Baresip a, Baresip b) throws Exception {
    Thread.sleep(700); // the switch: the browser's jitter buffer and the callers' recordings settle
    String[] calls = {callOf(a == null ? null : "1"), callOf(b == null ? null : "2")};
    long[] from = {recorded(a), recorded(b)};
    long[] sent = {toPbx(calls[0]), toPbx(calls[1])};
    Browser.RemoteAudio audio = browser.remoteAudio(1500, "window.webphone.path && window.webphone.path.pc");
    long[] sentAfter = {toPbx(calls[0]), toPbx(calls[1])};
    Thread.sleep(300);
    return new Heard(audio.peakHz(), tone440(a, from[0]), tone440(b, from[1]), relayed(sent[0], sentAfter[0]),
        relayed(sent[1], sentAfter[1]));
  }

  private static long relayed(long before, long after) {
    return before < 0 || after < 0 ? -1 : after - before;
  }

  /**
   * {@code browserHz}: the browser's strongest frequency; {@code at1}, {@code at2}: the amplitude of the agent's
   * 440 Hz in what caller 1 / 2 recorded meanwhile (NaN: not recording); {@code toPbx1}, {@code toPbx2}: packets the
   * gateway relayed toward each call's PBX leg meanwhile (-1: no such call).
   */
  record Heard(double browserHz, double at1, double at2, long toPbx1, long toPbx2) {
    /** Whether the agent's audio reached caller 1 / 2; {@code recorded*}: the caller must have recorded it. */
    void agentReached(boolean one, boolean recorded1, boolean two, boolean recorded2) {
      check("the first caller", at1, toPbx1, one, recorded1);
      check("the second caller", at2, toPbx2, two, recorded2);
    }

    private void check(String who, double amplitude, long packets, boolean expected, boolean recorded) {
      if (packets < 0) {
        return; // that caller has no call now
      }
      if (expected) {
        assertTrue(packets > 40, who + ": the agent's audio relayed to it: " + this);
        if (recorded || !Double.isNaN(amplitude)) {
          assertTrue(amplitude > 300, who + " hears the agent's 440 Hz: " + this);
        }
      } else {
        assertEquals(0, packets, who + " is held: nothing relayed to it: " + this);
        if (!Double.isNaN(amplitude)) {
          assertTrue(amplitude < 100, who + " is held and hears nothing of the agent: " + this);
        }
      }
    }

    @Override
    public String toString() {
      return String.format("browser hears %.0f Hz; caller 1: 440 Hz amplitude %.0f, %d packets; caller 2: %.0f, %d packets",
          browserHz, at1, toPbx1, at2, toPbx2);
    }
  }

  /** The page's call {@code which} ("1": the first call of the test, "2": the second), or null. */
  private static String callOf(String which) {
    if (which == null) {
      return null;
    }
    Object id = browser.js("""
        const w = window.webphone;
        const calls = [w.call, w.secondCall && w.secondCall.other && w.secondCall.other.call].filter((c) => c && c.id);
        if (!window.__firstCall && calls.length) window.__firstCall = calls[0].id;
        const one = calls.find((c) => c.id === window.__firstCall);
        const two = calls.find((c) => c.id !== window.__firstCall);
        return arguments[0] === '1' ? (one ? one.id : null) : (two ? two.id : null);
        """, which);
    return (String) id;
  }

  /** Packets the gateway relayed toward the PBX leg of {@code callId} (-1: no such call). */
  private static long toPbx(String callId) throws Exception {
    if (callId == null) {
      return -1;
    }
    JsonObject session = Eventually.result(5, "media.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject().put("callId", callId))).body().getJsonObject("session");
    return session == null ? -1 : session.getJsonObject("counters").getLong("toPbx");
  }

  /** The size of what {@code b} recorded of its call so far (-1 without a caller or a recording). */
  private static long recorded(Baresip b) throws Exception {
    java.util.Optional<Path> wav = b == null ? java.util.Optional.empty() : b.receivedWav();
    return wav.isPresent() ? Files.size(wav.get()) : -1;
  }

  /**
   * The amplitude (16-bit units) of 440 Hz in what {@code b} recorded after {@code from} bytes (Goertzel over
   * 8 kHz 16-bit mono); NaN when it recorded nothing more, or has no recording.
   */
  private static double tone440(Baresip b, long from) throws Exception {
    if (from < 0) {
      return Double.NaN;
    }
    byte[] all = Files.readAllBytes(b.receivedWav().orElseThrow());
    int start = (int) (from + (from & 1));
    int n = (all.length - start) / 2;
    if (n < 800) {
      return Double.NaN; // it records nothing now (after its first re-INVITE)
    }
    double k = 2 * Math.cos(2 * Math.PI * 440 / 8000.0);
    double s1 = 0;
    double s2 = 0;
    for (int i = 0; i < n; i++) {
      short x = (short) ((all[start + 2 * i] & 0xFF) | (all[start + 2 * i + 1] << 8));
      double s0 = x + k * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    double power = s1 * s1 + s2 * s2 - k * s1 * s2;
    return 2 * Math.sqrt(Math.max(0, power)) / n;
  }

  /** Dials 700 and measures, in the browser, when the first audio arrives after the answer; hangs up after 1 s. */
  private FirstAudio measuredCall() throws Exception {
    Object armed = browser.driver().executeAsyncScript(ARM_FIRST_AUDIO);
    assertEquals("armed", armed);
    JsonObject before = mediaStatus().getJsonObject("counters");
    browser.js("window.webphone.v.number.value = ''"); // the last call's number stays in the box
    browser.dialWithKeypad("700");
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    Map<?, ?> m = Eventually.await(Duration.ofSeconds(10), "the first-audio measurement",
        () -> (Map<?, ?>) browser.js("return window.__firstAudio"), r -> Boolean.TRUE.equals(r.get("done")));
    boolean onPath = Boolean.TRUE.equals(browser.js("return !!(window.webphone.call && window.webphone.call.onPath)"));
    Browser.RemoteAudio audio = browser.remoteAudio(1000,
        onPath ? "window.webphone.path && window.webphone.path.pc" : "window.webphone && window.webphone.pc");
    assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the callee's 1000 Hz: " + audio);
    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    Eventually.until(Duration.ofSeconds(10), "the call's media closed", () -> mediaStatus().getInteger("sessions") == 0);
    assertNotNull(m.get("first"), "no audio arrived within 8 s of the answer: " + m);
    JsonObject after = mediaStatus().getJsonObject("counters");
    return new FirstAudio(onPath, ((Number) m.get("first")).doubleValue() - ((Number) m.get("t0")).doubleValue(),
        ((Number) m.get("at100")).longValue(), ((Number) m.get("at1000")).longValue(),
        after.getLong("pbxIn") - before.getLong("pbxIn"), after.getLong("toBrowser") - before.getLong("toBrowser"));
  }

  /**
   * When the first audio came, relative to the browser hearing InCall (negative: before), packets by 100 ms and 1 s
   * at the browser; and at the gateway, the call's RTP from the PBX and the part of it relayed to the browser.
   */
  record FirstAudio(boolean onPath, double firstMs, long packetsIn100Ms, long packetsIn1s, long pbxIn, long toBrowser) {
    @Override
    public String toString() {
      return String.format("%s: first packet %+.0f ms, %d packets by 100 ms, %d by 1 s; gateway relayed %d of %d",
          onPath ? "path" : "fresh", firstMs, packetsIn100Ms, packetsIn1s, toBrowser, pbxIn);
    }
  }

  /**
   * Arms window.__firstAudio for the next call: t0 is when the page hears InCall (the answer), first when getStats
   * first counts a packet of the call (polled every 2 ms, up to 8 s), at100/at1000 the packets by t0 + 100 ms / 1 s. The path's
   * peer connection counts from its total before the call (it receives nothing between calls).
   */
  private static final String ARM_FIRST_AUDIO = """
      const ready = arguments[arguments.length - 1];
      const w = window.webphone;
      const m = { t0: null, first: null, at100: null, at1000: null, done: false };
      window.__firstAudio = m;
      const now = () => performance.timeOrigin + performance.now();
      const onState = (e) => { if (e.detail.state === 'InCall' && m.t0 === null) m.t0 = now(); };
      w.client.addEventListener('OnCallStateChanged', onState);
      const packets = async (pc) => {
        let n = 0;
        (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n = s.packetsReceived || 0; });
        return n;
      };
      const pathPc = w.path && w.path.pc;
      (async () => {
        const base = pathPc ? await packets(pathPc) : 0;
        ready('armed');
        const until = Date.now() + 20000;
        while (!m.done && Date.now() < until) {
          const pc = w.call && w.call.onPath ? pathPc : (w.call ? w.pc : null);
          if (pc) {
            const n = (await packets(pc)) - (pc === pathPc ? base : 0);
            const t = now();
            if (n > 0 && m.first === null) m.first = t;
            if (m.t0 !== null && m.at100 === null && t >= m.t0 + 100) m.at100 = n;
            if (m.t0 !== null && m.at1000 === null && t >= m.t0 + 1000) m.at1000 = n;
            if (m.t0 !== null && ((m.first !== null && m.at1000 !== null) || t >= m.t0 + 8000)) m.done = true;
          }
          await new Promise(r => setTimeout(r, 2));
        }
        w.client.removeEventListener('OnCallStateChanged', onState);
        m.done = true;
      })();
      """;

  // ------------------------------------------------------------------ helpers

  /** Replaces the page's phone by a new {@code <web-phone>} with these attributes (a new session) and waits for Ready. */
  private static void usePhone(Map<String, String> attributes) throws Exception {
    browser.js("document.querySelector('web-phone').remove()");
    node.awaitIdle(0);
    browser.js("""
        const e = document.createElement('web-phone');
        for (const [k, v] of Object.entries(arguments[0])) e.setAttribute(k, v);
        document.querySelector('main').append(e);
        """, attributes);
    browser.awaitStatus("Ready", SETUP);
  }

  private static void awaitPathConnected() throws Exception {
    Eventually.until(SETUP, "the audio path connected", () -> Boolean.TRUE.equals(browser.js(
        "return !!(window.webphone.path && window.webphone.path.id && window.webphone.path.pc.connectionState === 'connected')")));
    Eventually.until(Duration.ofSeconds(5), "the gateway's path leg connected", () -> counter("dtlsConnected") > 0);
  }

  /** A customer (account 2000) calling the agent's line 1000 through Kamailio, with this header and these codecs. */
  private static Sipp customer(String scenario, String header, String codecs) throws Exception {
    return Sipp.uac(scenario, "127.0.0.1:" + pbx.port(), "-s", "1000", "-key", "codecs", codecs,
        "-key", "auto_answer_header", header);
  }

  private static long tones() {
    Object n = browser.js("return window.webphoneAutoAnswerTones || 0");
    return ((Number) n).longValue();
  }

  private static long droppedStrangers() throws Exception {
    return Eventually.result(5, "sip.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIP_STATUS, new JsonObject())).body().getJsonObject("dropped").getLong("stranger");
  }

  private static JsonObject mediaStatus() throws Exception {
    return node.mediaStatus();
  }

  private static long counter(String name) throws Exception {
    return mediaStatus().getJsonObject("counters").getLong(name);
  }
}
