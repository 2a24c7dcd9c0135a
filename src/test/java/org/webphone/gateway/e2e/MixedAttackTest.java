package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.WindowType;
import org.webphone.gateway.node.IdleEndingExecutors;
import org.webphone.gateway.testing.AttackDriver;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.PeerProcess;

/**
 * The mixed attack run of issue 16, in a {@link NetnsBed}: a gateway node (its own JVM, demo PBX) on one
 * host, a real headless Chromium on a second, the {@link AttackDriver} on a third with 30 addresses, pinned
 * to one core. First a baseline: an echo call to 600 (time to connect, two-way audio), then the node's
 * threads, live heap after a full GC, and /health. Then every vector at once for
 * {@code -Dattack.durationSec} (20 s here; bench/attack-run.sh runs the 60 s), and during it the
 * same call must connect within 2x the baseline with two-way audio. After it every live count on /health
 * ({@link #LIVE}: sessions, calls, leases, lines, media sessions, ports, agents, DTLS; not the cumulative
 * counters) must come back to 0 within 45 s, the live heap to within +10 % and the threads to within +5 of
 * the baseline, waiting up to {@link IdleEndingExecutors#KEEP_ALIVE_SEC} + 10 s for idle pool threads to end
 * (Vert.x's blocking pools, ice4j's and the DTLS pool end theirs after that many idle seconds).
 *
 * <p>Every check is made and reported even when an earlier one failed: the failure message lists them all,
 * with the figures (also printed as {@code MIXED-ATTACK-FIGURES <json>} for bench/RESULTS.md).
 */
class MixedAttackTest {
  private static final int ATTACK_SEC = Integer.getInteger("attack.durationSec", 20);
  private static final String GW = NetnsBed.SUBNET + "1";
  private static final int HTTP = 8080;
  private static final int SIP = 5070;
  /** The admin listener (full /health), on the gateway host's loopback. */
  private static final int ADMIN = 8081;
  private static final int WEBRTC = 10000;
  /** Accounts 1000..1039: the 17 attacking legs and 4 flooders each take a line (after their Hello), the visitor one. */
  private static final int FIRST_USER = 1000;
  private static final int USERS = 40;

  @TempDir
  Path tmp;

  private final List<String> failures = new ArrayList<>();
  private final JsonObject figures = new JsonObject();

  @Test
  void aRealCallKeepsTwoWayAudioThroughEveryAttackAtOnceAndTheNodeReturnsToItsBaseline() throws Exception {
    try (NetnsBed bed = NetnsBed.create()) {
      NetnsBed.Host gwHost = bed.host("gw", 1);
      NetnsBed.Host browserHost = bed.host("browser", 2);
      NetnsBed.Host attacker = bed.host("attacker", IntStream.rangeClosed(20, 49).toArray());
      try (GatewayJvm node = GatewayJvm.start(gwHost, nodeConfig())) {
        node.awaitReady(Duration.ofSeconds(120));
        // The full /health, read from inside the gateway's host: the admin port listens on its loopback only.
        String health = "http://127.0.0.1:" + bed.forward(gwHost, "127.0.0.1", ADMIN) + "/health";
        String page = "http://" + GW + ":" + HTTP;
        try (Browser browser = bed.browser(browserHost, Browser.tone(tmp, 440, 120), page)) {
          run(node, browser, page + "/", health, attacker);
        }
      }
    } finally {
      // Also when a step threw: the figures so far are what bench/attack-run.sh prints.
      System.out.println("MIXED-ATTACK-FIGURES " + figures.encode());
    }
    if (!failures.isEmpty()) {
      fail(failures.size() + " check(s) failed:\n - " + String.join("\n - ", failures) + "\nfigures: "
          + figures.encodePrettily());
    }
  }

  private void run(GatewayJvm node, Browser browser, String page, String health, NetnsBed.Host attacker)
      throws Exception {
    figures.put("startedAt", Instant.now().toString()).put("attackSec", ATTACK_SEC).put("loadAverage", loadAverage());
    // The first call of a fresh JVM loads and compiles the whole call path (seconds on a busy machine): not
    // a baseline anyone would compare with.
    EchoCall warmUp = echoCall(browser, page);
    figures.put("warmUpCall", warmUp.toJson());
    check(warmUp.twoWay(), "warm-up call has two-way audio: " + warmUp);
    awaitNoneInUse(health, Duration.ofSeconds(30), "after the warm-up call");
    EchoCall base = echoCall(browser, page);
    figures.put("baselineCall", base.toJson());
    check(base.twoWay(), "baseline call has two-way audio: " + base);
    awaitNoneInUse(health, Duration.ofSeconds(30), "baseline");
    int baseThreads = node.threads();
    Map<String, Integer> baseNames = node.threadNames();
    long baseHeap = node.liveHeapBytes();
    figures.put("baseline", new JsonObject().put("threads", baseThreads).put("liveHeapBytes", baseHeap)
        .put("inUse", inUseOrError(health)));

    attack(node, browser, page, health, attacker, base);

    long recovery = System.nanoTime();
    awaitNoneInUse(health, Duration.ofSeconds(45), "after the attack");
    figures.put("recoverySec", (System.nanoTime() - recovery) / 1_000_000_000.0);
    // Idle pool threads end after IdleEndingExecutors.KEEP_ALIVE_SEC (Vert.x's blocking pools, ice4j's, DTLS).
    int threads = awaitThreads(node, baseThreads + 5, Duration.ofSeconds(IdleEndingExecutors.KEEP_ALIVE_SEC + 10));
    long heap = node.liveHeapBytes();
    JsonObject after = get(health);
    figures.put("after", new JsonObject().put("threads", threads).put("threadsAdded", added(baseNames,
        node.threadNames())).put("liveHeapBytes", heap).put("inUse", new JsonObject(new TreeMap<>(inUse(after))))
        .put("mediaCounters", after.getJsonObject("media", new JsonObject()).getJsonObject("counters")));
    check(threads <= baseThreads + 5, "threads after the attack within +5 of the baseline " + baseThreads + ": "
        + threads + " (added: " + figures.getJsonObject("after").getJsonObject("threadsAdded").encode() + ")");
    check(heap <= baseHeap * 1.10, "live heap after the attack within +10 % of the baseline " + baseHeap + " B: "
        + heap + " B");
  }

  /** Every vector at once; the visitor's call in the middle of it, which must connect before it ends. */
  private void attack(GatewayJvm node, Browser browser, String page, String health, NetnsBed.Host attacker,
      EchoCall base) throws Exception {
    AttackDriver.Plan plan = AttackDriver.Plan.defaults(GW, HTTP, SIP, WEBRTC, attacker.addresses(), ATTACK_SEC,
        FIRST_USER, USERS);
    try (PeerProcess driver = AttackDriver.start(attacker, plan, Runtime.getRuntime().availableProcessors() - 1)) {
      driver.awaitLog(l -> l.startsWith("attack plan:"), Duration.ofSeconds(60));
      long started = System.nanoTime();
      long ends = started + Duration.ofSeconds(ATTACK_SEC).toNanos();
      // Let the legs place their calls and the pools fill before the visitor dials.
      Thread.sleep(Math.min(6, ATTACK_SEC / 3) * 1000L);
      try {
        EchoCall during = echoCall(browser, page);
        figures.put("attackCall", during.toJson().put("dialledSecIntoAttack", (during.dialledAt() - started) / 1e9)
            .put("connectedSecIntoAttack", (during.connectedAt() - started) / 1e9));
        check(during.connectedAt() < ends, "the call during the attack connected while the attack ran ("
            + ATTACK_SEC + " s): " + (during.connectedAt() - started) / 1_000_000 + " ms after its start");
        check(during.twoWay(), "the call during the attack has two-way audio: " + during);
        check(during.connectMs() <= 2 * base.connectMs(), "the call during the attack connects within 2x the "
            + "baseline (" + base.connectMs() + " ms): " + during.connectMs() + " ms");
      } catch (AssertionError | RuntimeException e) {
        check(false, "the call during the attack (" + (System.nanoTime() - started) / 1_000_000 + " ms after its "
            + "start): " + firstLine(e));
      }
      figures.put("underAttack", new JsonObject().put("threads", node.threads()).put("inUse", inUseOrError(health))
          .put("loadAverage", loadAverage()).put("liveHeapBytes", node.liveHeapBytes())
          .put("secondsIntoAttack", (System.nanoTime() - started) / 1e9));
      figures.put("attack", AttackDriver.summary(driver, Duration.ofSeconds(ATTACK_SEC + 60L)));
    }
  }

  /** Thread name patterns with more threads now than at the baseline, and how many more. */
  private static JsonObject added(Map<String, Integer> before, Map<String, Integer> now) {
    JsonObject j = new JsonObject();
    now.forEach((k, v) -> {
      int d = v - before.getOrDefault(k, 0);
      if (d != 0) {
        j.put(k, d);
      }
    });
    return j;
  }

  private static String loadAverage() throws java.io.IOException {
    return java.nio.file.Files.readString(Path.of("/proc/loadavg")).trim();
  }

  /**
   * An echo call from a page in a new tab, closed afterwards (a closed tab ends its session; a page left for
   * another URL may stay alive in the back-forward cache, socket and all): the time from "Call" to DTLS
   * connected and "In call", and the audio both ways.
   */
  private static EchoCall echoCall(Browser b, String page) {
    String home = b.driver().getWindowHandle();
    b.driver().switchTo().newWindow(WindowType.TAB);
    try {
      return echoCallInThisTab(b, page);
    } finally {
      b.driver().close();
      b.driver().switchTo().window(home);
    }
  }

  private static EchoCall echoCallInThisTab(Browser b, String page) {
    b.open(page);
    b.awaitStatus("Ready", Duration.ofSeconds(30));
    b.dialWithKeypad("600");
    long t0 = System.nanoTime();
    b.click("Call");
    b.awaitStatus("In call", Duration.ofSeconds(20));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!"connected".equals(b.js("return window.webphone.pc ? window.webphone.pc.connectionState : ''"))) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the peer connection never connected: "
            + b.js("return window.webphone.pc ? window.webphone.pc.connectionState : 'no pc'"));
      }
      sleep(20);
    }
    long connectedAt = System.nanoTime();
    long connectMs = (connectedAt - t0) / 1_000_000;
    Browser.RemoteAudio audio = b.remoteAudio(3000);
    long sent = b.packetsSent();
    b.click("Hang up");
    b.awaitStatus("Ready", Duration.ofSeconds(10));
    return new EchoCall(connectMs, audio, sent, t0, connectedAt);
  }

  /** What one call measured; {@code dialledAt} and {@code connectedAt} are System.nanoTime() values. */
  private record EchoCall(long connectMs, Browser.RemoteAudio audio, long packetsSent, long dialledAt,
      long connectedAt) {
    /** As BrowserEchoCallTest: the 440 Hz tone came back, and the browser sent audio. */
    boolean twoWay() {
      return audio.packets() > 100 && audio.energy() > 0.005 && Math.abs(audio.peakHz() - 440) < 25
          && packetsSent > 100;
    }

    JsonObject toJson() {
      return new JsonObject().put("connectMs", connectMs).put("packetsReceived", audio.packets())
          .put("energy", audio.energy()).put("peakHz", audio.peakHz()).put("lost", audio.lost())
          .put("packetsSent", packetsSent);
    }
  }

  private void awaitNoneInUse(String health, Duration timeout, String when) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, Long> inUse = inUse(get(health));
    while (!inUse.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(500);
      inUse = inUse(get(health));
    }
    check(inUse.isEmpty(), "every in-use count on /health is 0 " + when + " (waited up to " + timeout.toSeconds()
        + " s): " + inUse);
  }

  /**
   * The live counts of /health, the ones that say something is held now, by part: the node's sessions and
   * calls; the pool's leased and waiting accounts; SIP lines, registered lines and calls; media sessions (and
   * ones being created), RTP ports, ICE agents, DTLS sessions, running and waiting handshakes, hello timers and
   * the DTLS pool's threads (idle ones end after 5 s), RTP registrations and RTCP tasks.
   */
  static final Map<String, List<String>> LIVE = Map.of(
      "", List.of("sessions", "calls"),
      "pool", List.of("leased", "waiting"),
      "sip", List.of("lines", "registered", "calls"),
      "media", List.of("sessions", "creating", "rtpPorts", "agents", "dtlsSessions", "dtlsThreads", "dtlsHandshakes",
          "dtlsWaiting", "dtlsHelloTimers", "dtlsPoolThreads", "rtpRegistrations", "rtcpTasks"));

  /**
   * The {@link #LIVE} counts on /health that are not 0, as {@code part.name}. Cumulative counters are not read:
   * they count what happened since the node started and never go back to 0 ({@code sip.dropped},
   * {@code media.dtlsHelloTimeouts}, {@code media.counters}; the WebSocket closes and refusals of
   * {@code /metrics}). A live count missing from /health fails: "every count is 0" must not be true of nothing
   * (e.g. the public /health, which has only the state, or a count renamed).
   */
  static Map<String, Long> inUse(JsonObject h) {
    Map<String, Long> m = new TreeMap<>();
    LIVE.forEach((part, names) -> {
      JsonObject o = part.isEmpty() ? h : h.getValue(part) instanceof JsonObject j ? j : null;
      for (String name : names) {
        if (o == null || !(o.getValue(name) instanceof Number n)) {
          throw new AssertionError("/health has no count " + (part.isEmpty() ? "" : part + ".") + name
              + ": read the full one (admin port or token): " + h);
        }
        if (n.longValue() != 0) {
          m.put((part.isEmpty() ? "" : part + ".") + name, n.longValue());
        }
      }
    });
    return m;
  }

  /** The in-use counts, or why they could not be read (a node under attack may not answer in time). */
  private static Object inUseOrError(String health) {
    try {
      return new JsonObject(new TreeMap<>(inUse(get(health))));
    } catch (Exception e) {
      return "unreadable: " + e;
    }
  }

  private static JsonObject get(String health) throws Exception {
    return new JsonObject(Http.get(health).body());
  }

  /** Threads may end a little after their work (idle pools): waits up to {@code timeout} for {@code bound}. */
  private static int awaitThreads(GatewayJvm node, int bound, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    int t = node.threads();
    while (t > bound && System.nanoTime() < deadline) {
      Thread.sleep(1000);
      t = node.threads();
    }
    return t;
  }

  private void check(boolean ok, String what) {
    System.out.println((ok ? "ok: " : "FAILED: ") + what);
    if (!ok) {
      failures.add(what);
    }
  }

  private static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    return e.getClass().getSimpleName() + ": " + (m.length() > 600 ? m.substring(0, 600) + "..." : m);
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  private static JsonObject nodeConfig() {
    JsonObject range = new JsonObject().put("prefix", "").put("from", FIRST_USER).put("to", FIRST_USER + USERS - 1)
        .put("passwordTemplate", "secret-{user}");
    return new JsonObject()
        .put("http", new JsonObject().put("host", GW).put("port", HTTP).put("adminPort", ADMIN)
            .put("publicOrigin", "http://" + GW + ":" + HTTP))
        .put("sip", new JsonObject().put("bindAddress", GW).put("port", SIP))
        .put("demo", new JsonObject().put("bindAddress", GW).put("port", 5090))
        .put("media", new JsonObject().put("bindAddress", GW).put("webrtcPort", WEBRTC).put("rtpPortMin", 20000)
            .put("rtpPortMax", 20999))
        .put("pool", new JsonObject().put("range", range))
        // A closed page keeps its session (and line) only this long: the counts return to 0 quickly.
        .put("session", new JsonObject().put("resumeGraceSec", 2))
        .put("shutdown", new JsonObject().put("graceSec", 5));
  }
}
