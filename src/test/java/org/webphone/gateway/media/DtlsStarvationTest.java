package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.ClientIoLoop;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.dtls.DtlsHandshakePool;
import org.webphone.gateway.testing.Ports;

/**
 * DTLS handshakes cannot starve each other (issue 16, F4), with the attacker's exact behaviour: browser legs
 * that complete ICE and never send a ClientHello, a peer that sends one valid ClientHello and falls silent,
 * and one address opening more handshakes than its share; each time a normal browser at another address
 * must still connect in its normal time, and nothing (leg, timer, port, thread) may be left afterwards.
 * Default limits: 8 handshakes at once, 2 per address, 5 s to the first ClientHello, 5 s per handshake.
 */
@ExtendWith(VertxExtension.class)
class DtlsStarvationTest {
  /** 2 × {@code media.dtlsMaxHandshakes} (default 8, also the 8 threads of the old fixed pool). */
  private static final int SILENT = 2 * DtlsHandshakePool.DEFAULTS.maxHandshakes();
  /** A handshake over loopback takes 0.2–0.3 s; this allows for a busy shared 2-core machine. */
  private static final long NORMAL_CONNECT_MS = 3000;
  /** The default hello and handshake timeouts. */
  private static final long TIMEOUT_MS = 5000;
  /** What the 500 ms timeout checks, scheduling and a loaded machine may add to a timeout. */
  private static final long SLACK_MS = 2500;
  private static final String OURS = "^(media-|test-browser-rx).*";

  private Vertx vertx;
  private MediaFixture f;
  private ClientIoLoop loop;
  private final Map<String, List<Seen>> events = new ConcurrentHashMap<>();
  /** The relay's and the clients' threads before the node started. */
  private List<String> threadsBefore;

  private record Seen(long atNanos, JsonObject event) {
  }

  @BeforeEach
  void deploy(Vertx vertx) throws Exception {
    this.vertx = vertx;
    threadsBefore = MediaRelayThreadingTest.threads(OURS);
    int rtp = Ports.freeRange(2 * (SILENT + 4));
    f = new MediaFixture(vertx, new JsonObject().put("rtpPortMin", rtp).put("rtpPortMax", rtp + 2 * (SILENT + 4) - 1));
    loop = new ClientIoLoop("test-browser-rx");
  }

  @AfterEach
  void tearDown() throws Exception {
    if (f != null) {
      f.close();
    }
    loop.close();
  }

  @Test
  void silentLegsThatNeverSendAClientHelloHoldNoThreadAndANormalBrowserStillConnectsAtOnce() throws Exception {
    for (int i = 0; i < SILENT; i++) {
      SyntheticBrowser b = f.own(new SyntheticBrowser(loop));
      b.connectIce(create("silent" + i, b));
    }
    long iceDone = System.nanoTime();
    awaitStatus("dtlsSessions", SILENT, 10);

    SyntheticBrowser normal = f.own(new SyntheticBrowser(loop));
    long ms = connectNormally("normal", normal);
    assertTrue(ms < NORMAL_CONNECT_MS, "the normal browser took " + ms + " ms to connect behind " + SILENT
        + " silent legs");
    JsonObject s = f.status();
    assertEquals(0, s.getInteger("dtlsHandshakes"), "silent legs hold no handshake thread: " + s);
    assertEquals(SILENT, s.getInteger("dtlsHelloTimers") + s.getInteger("dtlsHelloTimeouts"),
        "each silent leg waits on a timer only (or has already been ended by it): " + s);

    for (int i = 0; i < SILENT; i++) {
      Seen failed = awaitEvent("silent" + i, "failed", iceDone, TIMEOUT_MS + SLACK_MS);
      assertTrue(failed.event().getString("reason").contains("no ClientHello within 5000 ms"), failed.event().encode());
    }
    s = awaitStatus("dtlsHelloTimers", 0, 5);
    assertEquals(SILENT, s.getLong("dtlsHelloTimeouts"), "legs ended by the hello timeout: " + s);
    assertTrue(s.getInteger("dtlsPoolThreads") <= DtlsHandshakePool.DEFAULTS.maxHandshakes() + 1, "DTLS threads: " + s);

    closeAll();
    f.close();
    f = null;
    for (String id : vertx.deploymentIDs()) {
      MediaFixture.await(vertx.undeploy(id));
    }
    loop.close();
    List<String> after = MediaRelayThreadingTest.threads(OURS);
    for (int i = 0; i < 60 && !after.equals(threadsBefore); i++) {
      Thread.sleep(100);
      after = MediaRelayThreadingTest.threads(OURS);
    }
    assertEquals(threadsBefore, after, "threads of the relay and the clients after the node stopped");
  }

  @Test
  void aPeerThatSendsOneClientHelloAndFallsSilentIsEndedWithinFiveSecondsAndFreesItsThread() throws Exception {
    SyntheticBrowser peer = f.own(new SyntheticBrowser(loop));
    peer.connectIce(create("halfopen", peer));
    awaitStatus("dtlsSessions", 1, 10);
    long hello = System.nanoTime();
    peer.sendClientHelloOnly();
    assertEquals(1, awaitInBctls(1).size(), "the handshake holds a thread");

    Seen failed = awaitEvent("halfopen", "failed", hello, TIMEOUT_MS + SLACK_MS);
    long after = TimeUnit.NANOSECONDS.toMillis(failed.atNanos() - hello);
    assertTrue(after >= TIMEOUT_MS - 500, "ended by the handshake timeout, not before: " + after + " ms");
    JsonObject s = awaitStatus("dtlsHandshakes", 0, 3);
    assertEquals(0, s.getInteger("dtlsWaiting"), s.encode());
    assertEquals(List.of(), awaitInBctls(0), "no thread left inside bctls");

    SyntheticBrowser normal = f.own(new SyntheticBrowser(loop));
    long ms = connectNormally("normal", normal);
    assertTrue(ms < NORMAL_CONNECT_MS, "the next browser took " + ms + " ms");
    closeAll();
  }

  @Test
  void aThirdHandshakeFromOneAddressWaitsWhileTwoFromItRunAndAnotherAddressIsUnaffected() throws Exception {
    InetAddress attacker = InetAddress.getByName("127.0.0.2");
    List<SyntheticBrowser> peers = new ArrayList<>();
    for (String id : List.of("a1", "a2", "a3")) {
      SyntheticBrowser b = f.own(new SyntheticBrowser(loop, attacker));
      b.connectIce(create(id, b));
      peers.add(b);
    }
    awaitStatus("dtlsSessions", 3, 10);
    long t0 = System.nanoTime();
    for (SyntheticBrowser b : peers) {
      b.sendClientHelloOnly();
    }
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
    while (!Integer.valueOf(1).equals(f.status().getInteger("dtlsWaiting")) && inBctls().size() < 3
        && System.nanoTime() < end) {
      Thread.sleep(50);
    }
    assertEquals(2, awaitInBctls(2).size(), "two handshakes from 127.0.0.2 hold a thread, the third none");
    JsonObject s = f.status();
    assertEquals(2, s.getInteger("dtlsHandshakes"), s.encode());
    assertEquals(1, s.getInteger("dtlsWaiting"), "the third from 127.0.0.2 waits: " + s);

    SyntheticBrowser normal = f.own(new SyntheticBrowser(loop));
    long ms = connectNormally("normal", normal);
    assertTrue(ms < NORMAL_CONNECT_MS, "a browser at 127.0.0.1 took " + ms + " ms while 127.0.0.2 used its share");
    s = f.status();
    assertEquals(2, s.getInteger("dtlsHandshakes"), s.encode());
    assertEquals(1, s.getInteger("dtlsWaiting"), s.encode());

    // Two end on their timeout; only then does the third start (which one waits depends on which ClientHello
    // the WebRTC port's readers hand over first), and it ends one timeout later.
    List<Long> endedMs = new ArrayList<>();
    for (String id : List.of("a1", "a2", "a3")) {
      endedMs.add(TimeUnit.NANOSECONDS.toMillis(awaitEvent(id, "failed", t0, 2 * TIMEOUT_MS + SLACK_MS).atNanos() - t0));
    }
    endedMs.sort(null);
    assertTrue(endedMs.get(1) <= TIMEOUT_MS + SLACK_MS, "two ended on their own timeout: " + endedMs);
    assertTrue(endedMs.get(2) >= 2 * TIMEOUT_MS - 1000, "the third started only after one of the first two ended: "
        + endedMs + " ms");
    awaitStatus("dtlsHandshakes", 0, 3);
    closeAll();
  }

  // ------------------------------------------------------------------ helpers

  /** Creates a call's media for {@code browser}'s offer and returns the gateway's answer. */
  private String create(String callId, SyntheticBrowser browser) throws Exception {
    String sessionId = "s-" + callId;
    events.put(callId, new CopyOnWriteArrayList<>());
    vertx.eventBus().<JsonObject>localConsumer(Addresses.session(sessionId),
        m -> events.get(callId).add(new Seen(System.nanoTime(), m.body())));
    return f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", callId).put("sessionId", sessionId)
        .put("browserOffer", browser.offer())).getString("browserAnswer");
  }

  /** A whole normal connect (offer, ICE, DTLS, the gateway's {@code connected}); returns its milliseconds. */
  private long connectNormally(String callId, SyntheticBrowser browser) throws Exception {
    long t0 = System.nanoTime();
    browser.connect(create(callId, browser));
    awaitEvent(callId, "connected", t0, NORMAL_CONNECT_MS + SLACK_MS);
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
  }

  /** Waits for the call's event of {@code state}, at most {@code withinMs} after {@code sinceNanos}. */
  private Seen awaitEvent(String callId, String state, long sinceNanos, long withinMs) throws InterruptedException {
    long end = sinceNanos + TimeUnit.MILLISECONDS.toNanos(withinMs);
    while (true) {
      for (Seen e : events.get(callId)) {
        if (state.equals(e.event().getString("state"))) {
          assertTrue(e.atNanos() <= end, callId + " " + state + " came " + TimeUnit.NANOSECONDS.toMillis(
              e.atNanos() - sinceNanos) + " ms after, later than " + withinMs + " ms");
          return e;
        }
      }
      if (System.nanoTime() > end) {
        throw new AssertionError("no " + state + " event for " + callId + " within " + withinMs + " ms: "
            + events.get(callId));
      }
      Thread.sleep(20);
    }
  }

  /** Waits (bounded) until {@code media.status} field {@code key} equals {@code value}; returns that status. */
  private JsonObject awaitStatus(String key, int value, int seconds) throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    JsonObject s = f.status();
    while (!Integer.valueOf(value).equals(s.getInteger(key)) && System.nanoTime() < end) {
      Thread.sleep(50);
      s = f.status();
    }
    assertEquals(value, s.getInteger(key), key + " in " + s);
    return s;
  }

  /** Closes every call's media and checks that no leg, timer, port or handshake is left. */
  private void closeAll() throws Exception {
    for (String callId : events.keySet()) {
      f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", callId));
    }
    f.assertNothingLeaks();
    JsonObject s = f.status();
    assertEquals(0, s.getInteger("dtlsHandshakes"), s.encode());
    assertEquals(0, s.getInteger("dtlsWaiting"), s.encode());
    assertEquals(0, s.getInteger("dtlsHelloTimers"), s.encode());
  }

  /** The relay's threads inside bctls now. */
  private static List<String> inBctls() {
    return MediaRelayThreadingTest.threadsInside("org.bouncycastle.tls");
  }

  /** Waits (bounded) until {@code n} of the relay's threads are inside bctls; returns the last names seen. */
  private static List<String> awaitInBctls(int n) throws InterruptedException {
    List<String> in = inBctls();
    for (int i = 0; i < 60 && in.size() != n; i++) {
      Thread.sleep(50);
      in = inBctls();
    }
    return in;
  }
}
