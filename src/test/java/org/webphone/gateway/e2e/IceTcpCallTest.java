package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.NetnsBed;

/**
 * ICE-TCP with a real browser behind a firewall that drops every UDP datagram to the gateway (nftables in the
 * browser's host) while TCP is open: a headless Chromium calls the demo PBX's echo extension, and its own 440 Hz
 * tone must come back over ICE-TCP (browser → gateway → PBX → gateway → browser, through DTLS-SRTP on the
 * TCP connection). Chromium's getStats must say the selected candidate pair is TCP on both ends; the gateway's
 * media.status shows the connection while in call and none, no ice4j thread for it, after.
 */
class IceTcpCallTest {
  private static final String GW = NetnsBed.SUBNET + "1";
  private static final int HTTP = 8080;
  private static final int ADMIN = 8081;
  private static final int WEBRTC = 10000;

  @TempDir
  Path tmp;

  @Test
  void aBrowserWhoseUdpIsBlockedGetsTwoWayAudioOverIceTcp() throws Exception {
    try (NetnsBed bed = NetnsBed.create()) {
      NetnsBed.Host gwHost = bed.host("gw", 1);
      NetnsBed.Host browserHost = bed.host("browser", 2);
      browserHost.nft("""
          table inet firewall {
            chain out {
              type filter hook output priority 0; policy accept;
              ip daddr %s meta l4proto udp drop
            }
          }
          """.formatted(GW));
      try (GatewayJvm node = GatewayJvm.start(gwHost, nodeConfig())) {
        node.awaitReady(Duration.ofSeconds(120));
        String health = "http://127.0.0.1:" + bed.forward(gwHost, "127.0.0.1", ADMIN) + "/health";
        String page = "http://" + GW + ":" + HTTP;
        try (Browser b = bed.browser(browserHost, Browser.tone(tmp, 440, 60), page)) {
          b.open(page + "/");
          b.awaitStatus("Ready", Duration.ofSeconds(30));
          b.dialWithKeypad("600");
          b.click("Call");
          b.awaitStatus("In call", Duration.ofSeconds(20));
          Eventually.until(Duration.ofSeconds(20), "the peer connection connected",
              () -> "connected".equals(b.js("return window.webphone.pc ? window.webphone.pc.connectionState : ''")));

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

          b.click("Hang up");
          b.awaitStatus("Ready", Duration.ofSeconds(10));
          Eventually.until(Duration.ofSeconds(15), "the call's media and its ICE-TCP connection are freed", () -> {
            JsonObject m = get(health).getJsonObject("media");
            return m.getInteger("sessions") == 0 && m.getInteger("agents") == 0
                && m.getInteger("iceTcpConnections") == 0 && m.getInteger("iceTcpThreads") == 1;
          });
        }
      }
    }
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
                remotePort: r.port});
        }).catch(e => done({error: String(e)}));
        """);
    Map<String, Object> m = (Map<String, Object>) r;
    if (m == null || m.containsKey("error")) {
      throw new AssertionError("no selected candidate pair in getStats: " + m);
    }
    return m;
  }

  private static JsonObject get(String url) throws Exception {
    return new JsonObject(Http.get(url).body());
  }

  private static JsonObject nodeConfig() {
    JsonObject range = new JsonObject().put("prefix", "").put("from", 1000).put("to", 1003)
        .put("passwordTemplate", "secret-{user}");
    return new JsonObject()
        .put("http", new JsonObject().put("host", GW).put("port", HTTP).put("adminPort", ADMIN)
            .put("publicOrigin", "http://" + GW + ":" + HTTP))
        .put("sip", new JsonObject().put("bindAddress", GW).put("port", 5070))
        .put("demo", new JsonObject().put("bindAddress", GW).put("port", 5090))
        .put("media", new JsonObject().put("bindAddress", GW).put("webrtcPort", WEBRTC).put("iceTcpPort", WEBRTC))
        .put("pool", new JsonObject().put("range", range))
        .put("session", new JsonObject().put("resumeGraceSec", 2))
        .put("shutdown", new JsonObject().put("graceSec", 5));
  }
}
