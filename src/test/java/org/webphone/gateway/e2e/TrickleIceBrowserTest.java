package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestNode;

/**
 * Trickle ICE over the real WebSocket with headless Chromium: the node's {@code ice.servers}, which the page
 * gets in OnSession and uses, name a TURN server that never answers (a UDP socket of the test that swallows Chromium's allocation requests), so ICE
 * gathering stays unfinished for seconds; the page still sends {@code Call} at once, trickles its candidates
 * with {@code Candidate}, and the echo call gets its tone back. Malformed candidates get a clear error and the
 * call goes on; the phone says "Connecting audio…" until the audio path is up, and "No audio path: your
 * network blocks the call" when ICE fails.
 */
class TrickleIceBrowserTest {
  private static final String NO_AUDIO_PATH = "No audio path: your network blocks the call";

  @TempDir
  Path tmp;

  private TestNode node;
  private Browser browser;
  private DatagramSocket deadTurn;

  @BeforeEach
  void start() throws Exception {
    deadTurn = new DatagramSocket(Ports.free(), InetAddress.getLoopbackAddress());
    node = TestNode.start(new JsonObject().put("session", new JsonObject().put("resumeGraceSec", 1))
        .put("ice", new JsonObject()
            .put("servers", new io.vertx.core.json.JsonArray().add("turn:127.0.0.1:" + deadTurn.getLocalPort() + "?transport=udp"))
            .put("turnSecret", "trickle-test-secret-0123456789")));
    browser = Browser.start(Browser.tone(tmp, 440, 30));
  }

  @AfterEach
  void stop() throws Exception {
    try (TestNode n = node; Browser b = browser; DatagramSocket t = deadTurn) {
      browser = null;
    }
  }

  @Test
  void theCallLeavesBeforeGatheringEndsCandidatesTrickleBadOnesAreRefusedAndTheEchoComesBack() throws Exception {
    browser.open(node.url());
    browser.awaitStatus("Ready", Duration.ofSeconds(30));
    browser.js("""
        window.sent = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
          const f = JSON.parse(data);
          const pc = window.webphone.pc;
          window.sent.push({method: f.method, candidate: f.candidate, gathering: pc ? pc.iceGatheringState : null});
          return send.call(this, data);
        };
        window.acks = [];
        // The answer is applied once a trickled UDP candidate was acknowledged (at most 4 s later): Chromium
        // nominates a pair only after the answer, so the gateway's agent cannot be done before that candidate
        // reached it. Without this, a UDP candidate gathered late on loopback could reach the node after ICE had
        // completed on the pairs of the offer, and was rightly refused ("ICE of this leg is already done").
        let udpAcked;
        const firstUdpAck = new Promise((r) => { udpAcked = r; });
        const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
        RTCPeerConnection.prototype.setRemoteDescription = function (...args) {
          return Promise.race([firstUdpAck, new Promise((r) => setTimeout(r, 4000))])
            .then(() => setRemote.apply(this, args));
        };
        const client = window.webphone.client;
        const request = client.request.bind(client);
        client.request = (m, f) => {
          const p = request(m, f);
          if (m === 'Candidate') p.then((a) => {
            window.acks.push({c: f.candidate, added: a.added, reason: a.reason});
            if (String(f.candidate).includes(' udp ')) udpAcked();
          }, (e) => window.acks.push({c: f.candidate, code: e.code}));
          return p;
        };
        window.details = [];
        const d = document.querySelector('web-phone .wp-detail');
        new MutationObserver(() => window.details.push(d.textContent)).observe(d, {childList: true, characterData: true, subtree: true});
        """);

    browser.dialWithKeypad("600");
    browser.click("Call");
    browser.awaitStatus("In call", Duration.ofSeconds(30));
    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    System.out.println("trickled echo call: " + audio);
    audio.assertEchoOf(440);

    List<Map<String, Object>> sent = frames("window.sent");
    Map<String, Object> call = sent.stream().filter(f -> "Call".equals(f.get("method"))).findFirst().orElseThrow();
    // Before the trickle, the page held Call until gathering completed (or 4 s passed).
    assertNotEquals("complete", call.get("gathering"), "Call left before ICE gathering completed: " + sent);
    int firstCandidate = indexOf(sent, "Candidate");
    assertTrue(firstCandidate != Integer.MAX_VALUE && firstCandidate > sent.indexOf(call),
        "candidates follow the Call: " + sent);
    int end = sent.stream().map(f -> f.get("candidate")).toList().indexOf("end-of-candidates");
    assertTrue(end > sent.indexOf(call), "the end of gathering came after the Call: " + sent);
    DatagramPacket p = new DatagramPacket(new byte[1500], 1500);
    deadTurn.setSoTimeout(10_000);
    deadTurn.receive(p); // Chromium did ask the TURN server (and keeps asking): it was in the page's configuration
    List<Map<String, Object>> acks = frames("window.acks");
    assertTrue(acks.stream().anyMatch(a -> Boolean.TRUE.equals(a.get("added"))
            && String.valueOf(a.get("c")).contains(" udp ")),
        "a trickled UDP candidate went to the gateway's ICE agent: " + acks);

    String callId = String.valueOf(browser.js("return window.webphone.call.id"));
    assertEquals(103L, refusal(callId, "candidate:junk"), "not a candidate line");
    assertEquals(103L, refusal(callId, "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host \u0007"),
        "a control character");
    Map<String, Object> mdns = ack(callId,
        "candidate:1 1 udp 2122260223 0b0f3c2a-1111-4222-8333-444455556666.local 5000 typ host");
    assertEquals(false, mdns.get("added"), "an mDNS name that does not resolve is ignored: " + mdns);
    assertTrue(String.valueOf(mdns.get("reason")).contains("does not resolve"), mdns.toString());
    Browser.RemoteAudio after = browser.remoteAudio(1000);
    assertTrue(after.packets() > audio.packets(), "the audio goes on after the bad candidates: " + after);

    List<Object> details = strings("window.details");
    int connecting = details.indexOf("Connecting audio…");
    assertTrue(connecting >= 0 && details.subList(connecting, details.size()).contains(""),
        "the detail line said \"Connecting audio…\" until the audio path was up: " + details);

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(15));
    // ICE failing: a stand-in connection whose state the page watches as it watches the real one.
    @SuppressWarnings("unchecked")
    List<Object> notes = (List<Object>) browser.js("""
        const phone = window.webphone;
        const detail = () => document.querySelector('web-phone .wp-detail').textContent;
        const pc = new EventTarget();
        pc.connectionState = 'checking';
        pc.close = () => {};
        phone.pc = pc;
        phone.watchAudio(pc);
        const seen = [detail()];
        pc.connectionState = 'failed';
        pc.dispatchEvent(new Event('connectionstatechange'));
        seen.push(detail());
        phone.finishCall('Call ended', 'media failed');
        seen.push(detail());
        return seen;
        """);
    assertEquals(List.of("Connecting audio…", NO_AUDIO_PATH, NO_AUDIO_PATH), notes,
        "the detail line while connecting, when ICE failed, and once the call ended for it");
    node.awaitIdle(1);
  }

  private static int indexOf(List<Map<String, Object>> frames, String method) {
    for (int i = 0; i < frames.size(); i++) {
      if (method.equals(frames.get(i).get("method"))) {
        return i;
      }
    }
    return Integer.MAX_VALUE;
  }

  @SuppressWarnings("unchecked")
  private List<Map<String, Object>> frames(String expr) {
    return (List<Map<String, Object>>) browser.js("return " + expr);
  }

  @SuppressWarnings("unchecked")
  private List<Object> strings(String expr) {
    return (List<Object>) browser.js("return " + expr);
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> ack(String callId, String candidate) {
    return (Map<String, Object>) browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        window.webphone.client.request('Candidate', {callId: arguments[0], candidate: arguments[1]})
          .then((a) => done(a), (e) => done(e));
        """, callId, candidate);
  }

  private long refusal(String callId, String candidate) {
    Map<String, Object> e = ack(callId, candidate);
    assertEquals("Error", e.get("event"), "refused: " + e);
    return ((Number) e.get("code")).longValue();
  }
}
