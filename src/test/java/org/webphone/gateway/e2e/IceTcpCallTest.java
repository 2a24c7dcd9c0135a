package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.NetnsBed;

/**
 * ICE-TCP with a real browser behind a firewall (nftables in the browser's host) that drops every UDP datagram to
 * the gateway while TCP is open: a headless Chromium calls the demo PBX's echo extension, and its own 440 Hz tone
 * must come back (browser → gateway → PBX → gateway → browser, through DTLS-SRTP on the TCP connection).
 * Chromium's getStats must say the selected candidate pair is TCP on both ends; the gateway's media.status shows
 * the connection while in call and none, no ice4j thread for it, after.
 *
 * <p>The second case is the one that kept ICE-TCP off by default: UDP is blocked until the call connected over
 * ICE-TCP and then let through, so Chromium (the controlling agent) nominates the TCP pair first and then moves
 * to the higher-priority UDP pair, while ice4j keeps the first nominated pair as its selected one. The gateway
 * must follow the browser: its UDP media accepted (no "wrong source" drops), the tone echoed both ways.
 *
 * <p>One bed, node and browser for both cases (CI time); each case sets its own firewall.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IceTcpCallTest {
  private static final String GW = NetnsBed.SUBNET + "1";
  private static final int HTTP = 8080;
  private static final int ADMIN = 8081;
  private static final int WEBRTC = 10000;
  private static final String PAGE = "http://" + GW + ":" + HTTP;
  private static final String DROP_UDP_TO_GATEWAY = """
      table inet firewall {
        chain out {
          type filter hook output priority 0; policy accept;
          ip daddr %s meta l4proto udp drop
        }
      }
      """.formatted(GW);

  @TempDir
  static Path tmp;
  private NetnsBed bed;
  private NetnsBed.Host browserHost;
  private GatewayJvm node;
  private Browser b;
  private String health;

  @BeforeAll
  void startBedNodeAndBrowser() throws Exception {
    bed = NetnsBed.create();
    NetnsBed.Host gwHost = bed.host("gw", 1);
    browserHost = bed.host("browser", 2);
    node = GatewayJvm.start(gwHost, nodeConfig());
    node.awaitReady(Duration.ofSeconds(120));
    health = "http://127.0.0.1:" + bed.forward(gwHost, "127.0.0.1", ADMIN) + "/health";
    b = bed.browser(browserHost, Browser.tone(tmp, 440, 120), PAGE);
  }

  @AfterAll
  void stopAll() throws Exception {
    try (NetnsBed closeBed = bed; GatewayJvm closeNode = node; Browser closeBrowser = b) {
      // closed in reverse order: browser, node, bed
    }
  }

  @Test
  void aBrowserWhoseUdpIsBlockedGetsTwoWayAudioOverIceTcp() throws Exception {
    browserHost.run("nft", "flush", "ruleset");
    browserHost.nft(DROP_UDP_TO_GATEWAY);
    call();

    Map<String, Object> pair = selectedPair(b);
    assertEquals("tcp", pair.get("localProtocol"), "the browser's side of the selected pair: " + pair);
    assertEquals("tcp", pair.get("remoteProtocol"), "the gateway's side of the selected pair: " + pair);
    assertEquals(GW, pair.get("remoteAddress"), "the selected pair leads to the gateway: " + pair);
    assertEquals(WEBRTC, ((Number) pair.get("remotePort")).intValue(), "the gateway's ICE-TCP port: " + pair);

    Browser.RemoteAudio audio = b.remoteAudio(3000);
    System.out.println("ICE-TCP echo call audio in the browser: " + audio + ", pair " + pair);
    audio.assertEchoOf(440);
    assertTrue(b.packetsSent() > 100, "the browser sent audio");

    JsonObject media = get(health).getJsonObject("media");
    assertEquals(1, media.getInteger("iceTcpConnections"), "one ICE-TCP connection in call: " + media);
    // Our reader, plus ice4j's one Connector thread for the connection.
    assertEquals(2, media.getInteger("iceTcpThreads"), "threads of the ICE-TCP port in call: " + media);
    JsonObject counters = media.getJsonObject("counters");
    assertTrue(counters.getLong("toBrowser") > 100, "the gateway sent to the browser over TCP: " + counters);
    assertEquals(0L, counters.getLong("sendFailed"), "no send on the TCP pair failed: " + counters);
    hangUpAndAwaitFreed();
  }

  @Test
  void aBrowserThatMovesFromTheIceTcpPairToUdpMidCallIsFollowedBothWays() throws Exception {
    browserHost.run("nft", "flush", "ruleset");
    browserHost.nft(DROP_UDP_TO_GATEWAY);
    JsonObject before = counters();
    call();
    Map<String, Object> first = selectedPair(b);
    assertEquals("tcp", first.get("localProtocol"), "UDP blocked: the browser nominated the TCP pair first: " + first);

    // UDP flows from now on: Chromium's checks on its higher-priority UDP pairs succeed and it moves its media there.
    browserHost.run("nft", "flush", "ruleset");
    Eventually.until(Duration.ofSeconds(20), "the browser moved to a UDP pair",
        () -> "udp".equals(selectedPair(b).get("localProtocol")));
    Map<String, Object> moved = selectedPair(b);
    assertEquals(GW, moved.get("remoteAddress"), "the UDP pair leads to the gateway: " + moved);

    Browser.RemoteAudio audio = b.remoteAudio(3000);
    Map<String, Object> after = selectedPair(b);
    JsonObject counters = counters();
    System.out.println("ICE-TCP then UDP: audio " + audio + ", pairs " + first + " then " + after + ", " + counters);
    long wrong = counters.getLong("browserWrongSource", 0L) - before.getLong("browserWrongSource", 0L);
    assertTrue(wrong <= 5, "the browser's UDP media is not dropped as coming from a wrong source: " + counters);
    assertEquals(before.getLong("iceRestarts", 0L), counters.getLong("iceRestarts", 0L),
        "the move needed no ICE restart (the browser never lost its media path): " + counters);
    audio.assertEchoOf(440);
    assertEquals("udp", after.get("localProtocol"), "the browser stayed on UDP: " + after);
    long received = ((Number) after.get("bytesReceived")).longValue() - ((Number) moved.get("bytesReceived")).longValue();
    assertTrue(received > 3000, "the gateway sends to the browser on the UDP pair the browser moved to: " + moved
        + " then " + after);
    hangUpAndAwaitFreed();
  }

  private void call() throws InterruptedException {
    b.open(PAGE + "/");
    b.awaitStatus("Ready", Duration.ofSeconds(30));
    b.dialWithKeypad("600");
    b.click("Call");
    b.awaitStatus("In call", Duration.ofSeconds(20));
    Eventually.until(Duration.ofSeconds(20), "the peer connection connected",
        () -> "connected".equals(b.js("return window.webphone.pc ? window.webphone.pc.connectionState : ''")));
  }

  private void hangUpAndAwaitFreed() throws InterruptedException {
    b.click("Hang up");
    b.awaitStatus("Ready", Duration.ofSeconds(10));
    Eventually.until(Duration.ofSeconds(15), "the call's media and its ICE-TCP connection are freed", () -> {
      JsonObject m = get(health).getJsonObject("media");
      return m.getInteger("sessions") == 0 && m.getInteger("agents") == 0
          && m.getInteger("iceTcpConnections") == 0 && m.getInteger("iceTcpThreads") == 1;
    });
  }

  private JsonObject counters() throws Exception {
    return get(health).getJsonObject("media").getJsonObject("counters");
  }

  /** getStats' selected candidate pair (the transport's, else the nominated succeeded one) and its two candidates. */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> selectedPair(Browser b) {
    Object r = b.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        window.webphone.pc.getStats().then(st => {
          let id = null;
          st.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) id = s.selectedCandidatePairId; });
          if (!id) st.forEach(s => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') id = s.id; });
          const p = id && st.get(id);
          if (!p) { done({error: 'no selected pair'}); return; }
          const l = st.get(p.localCandidateId), r = st.get(p.remoteCandidateId);
          done({localProtocol: l.protocol, localType: l.candidateType, tcpType: l.tcpType || '',
                remoteProtocol: r.protocol, remoteType: r.candidateType, remoteAddress: r.address || r.ip,
                remotePort: r.port, bytesReceived: p.bytesReceived || 0});
        }).catch(e => done({error: String(e)}));
        """);
    Map<String, Object> m = (Map<String, Object>) r;
    if (m == null || m.containsKey("error")) {
      throw new AssertionError("no selected candidate pair in getStats: " + m);
    }
    return m;
  }

  private static JsonObject get(String url) {
    try {
      return new JsonObject(Http.get(url).body());
    } catch (Exception e) {
      throw new IllegalStateException("GET " + url + ": " + e, e);
    }
  }

  private static JsonObject nodeConfig() {
    JsonObject range = new JsonObject().put("prefix", "").put("from", 1000).put("to", 1003)
        .put("passwordTemplate", "secret-{user}");
    return new JsonObject()
        .put("http", new JsonObject().put("host", GW).put("port", HTTP).put("adminPort", ADMIN)
            .put("publicOrigin", PAGE))
        .put("sip", new JsonObject().put("bindAddress", GW).put("port", 5070))
        .put("demo", new JsonObject().put("bindAddress", GW).put("port", 5090))
        .put("media", new JsonObject().put("bindAddress", GW).put("webrtcPort", WEBRTC).put("iceTcpPort", WEBRTC))
        .put("pool", new JsonObject().put("range", range))
        .put("session", new JsonObject().put("resumeGraceSec", 2))
        .put("shutdown", new JsonObject().put("graceSec", 5));
  }
}
