package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.PeerProcess;

/**
 * A caller on Firefox (Debian's firefox-esr, headless, fake microphone) calls the demo PBX's echo extension.
 * No geckodriver: the page drives itself. A copy of the phone's webroot adds {@code firefox-echo.html}, which
 * dials 600 as soon as the phone is ready, waits for the audio path, reads its RTCPeerConnection's getStats and
 * POSTs them to a small HTTP listener the test starts beside the gateway; the test reads the listener's output.
 *
 * <p>Two hosts of a {@link NetnsBed}: the gateway (its own JVM) and Firefox, which gathers nothing in a
 * namespace with loopback only or without a default route, so its host has both. Firefox hides its host
 * address behind an mDNS {@code .local} name that nothing resolves here: the gateway ignores that candidate
 * and ICE connects on the peer-reflexive candidate Firefox's own checks reveal.
 */
class FirefoxEchoCallTest {
  private static final String FIREFOX = "/usr/bin/firefox-esr";
  private static final int HTTP = 8080;
  private static final int REPORTS = 8099;

  @TempDir
  Path tmp;

  private NetnsBed bed;
  private GatewayJvm gateway;
  private PeerProcess listener;
  private PeerProcess firefox;
  private NetnsBed.Host gwHost;

  @BeforeEach
  void start() throws Exception {
    PeerProcess.requireBinary(FIREFOX);
    PeerProcess.requireBinary("python3");
    bed = NetnsBed.create();
    NetnsBed.Host gw = bed.host("gw", 1);
    gwHost = gw;
    NetnsBed.Host ff = bed.host("ff", 2);
    ff.run("ip", "route", "add", "default", "dev", "eth0");
    Path webroot = copyOfWebroot(gw.address());
    gateway = GatewayJvm.start(gw, new JsonObject()
        .put("http", new JsonObject().put("host", gw.address()).put("port", HTTP).put("webroot", webroot.toString())
            .put("publicOrigin", "http://" + gw.address() + ":" + HTTP))
        .put("media", new JsonObject().put("bindAddress", gw.address()))
        .put("session", new JsonObject().put("resumeGraceSec", 1)));
    listener = gw.start("reports", List.of("python3", "-u", "-c", """
        import http.server as h
        class H(h.BaseHTTPRequestHandler):
            def do_POST(s):
                n = int(s.headers['content-length']); print('REPORT ' + s.rfile.read(n).decode(), flush=True)
                s.send_response(204); s.send_header('Access-Control-Allow-Origin', '*'); s.end_headers()
            def log_message(s, *a): pass
        h.HTTPServer(('%s', %d), H).serve_forever()
        """.formatted(gw.address(), REPORTS)));
    gateway.awaitReady(Duration.ofSeconds(90));

    Path profile = Files.createDirectories(tmp.resolve("profile"));
    Files.writeString(profile.resolve("user.js"), String.join("\n",
        "user_pref(\"media.navigator.streams.fake\", true);",
        "user_pref(\"media.navigator.permission.disabled\", true);",
        // http://10.251.0.1 is not a secure context: allow it the microphone (an operator serves HTTPS).
        "user_pref(\"dom.securecontext.allowlist\", \"" + gw.address() + "\");",
        "user_pref(\"media.devices.insecure.enabled\", true);",
        "user_pref(\"media.getusermedia.insecure.enabled\", true);",
        "user_pref(\"browser.shell.checkDefaultBrowser\", false);",
        "user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);",
        "user_pref(\"app.update.enabled\", false);", ""));
    firefox = ff.start("firefox", List.of(FIREFOX, "-headless", "-no-remote", "-profile", profile.toString(),
        "http://" + gw.address() + ":" + HTTP + "/firefox-echo.html"));
  }

  /** The project's webroot plus the self-driving page, which reports to the listener at {@code host}. */
  private Path copyOfWebroot(String host) throws Exception {
    Path base = Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
    Path src = base.resolve("webroot");
    Path dst = tmp.resolve("webroot");
    try (Stream<Path> files = Files.walk(src)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        Path to = dst.resolve(src.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(to);
        } else {
          Files.copy(p, to);
        }
      }
    }
    Files.writeString(dst.resolve("firefox-echo.html"), """
        <!doctype html><html><head><meta charset="utf-8"><title>Firefox echo</title>
        <script type="module" src="/js/web-phone.js"></script></head>
        <body><web-phone></web-phone><script type="module">
        const post = (body) => fetch('http://REPORTS/', {method: 'POST', mode: 'no-cors', body: JSON.stringify(body)});
        const until = async (what, ok, ms) => {
          const end = Date.now() + ms;
          while (!ok()) {
            if (Date.now() > end) throw new Error('timed out waiting for ' + what);
            await new Promise(r => setTimeout(r, 100));
          }
        };
        const detail = () => document.querySelector('web-phone .wp-detail').textContent;
        (async () => {
          await until('the phone', () => window.webphone && window.webphone.ready, 30000);
          const phone = window.webphone;
          const acks = [];
          const request = phone.client.request.bind(phone.client);
          phone.client.request = (m, f) => {
            const p = request(m, f);
            if (m === 'Candidate') p.then((a) => acks.push({c: f.candidate, added: a.added, reason: a.reason}),
              (e) => acks.push({c: f.candidate, error: e.message}));
            return p;
          };
          phone.dial('600');
          await until('a peer connection', () => phone.pc, 10000);
          const pc = phone.pc;
          const sent = [];
          pc.addEventListener('icecandidate', (e) => sent.push(e.candidate ? e.candidate.candidate : null));
          await until('the answer', () => pc.remoteDescription, 20000);
          const whileConnecting = detail();
          await until('audio connected', () => pc.connectionState === 'connected', 20000);
          const inbound = async () => {
            let n = 0;
            (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n = s.packetsReceived || 0; });
            return n;
          };
          for (const end = Date.now() + 20000; (await inbound()) < 150 && Date.now() < end;) {
            await new Promise(r => setTimeout(r, 200));
          }
          const r = {status: document.querySelector('web-phone [role=status]').textContent, whileConnecting,
            afterConnected: detail(), candidateAcks: acks, gathered: sent, callId: phone.call && phone.call.id};
          (await pc.getStats()).forEach(s => {
            if (s.type === 'inbound-rtp' && s.kind === 'audio') {
              r.packetsReceived = s.packetsReceived; r.audioLevel = s.audioLevel; r.totalAudioEnergy = s.totalAudioEnergy;
            }
            if (s.type === 'outbound-rtp' && s.kind === 'audio') r.packetsSent = s.packetsSent;
          });
          await post(r);
          phone.hangUp();
        })().catch((e) => post({error: String(e), status: document.querySelector('web-phone [role=status]').textContent,
          detail: detail()}));
        </script></body></html>
        """.replace("REPORTS", host + ":" + REPORTS));
    return dst;
  }

  @AfterEach
  void stop() {
    try (NetnsBed b = bed; PeerProcess g = gateway; PeerProcess l = listener; PeerProcess f = firefox) {
      bed = null;
    }
  }

  @Test
  void aFirefoxCallerDialsTheEchoAndHearsTheToneOfItsFakeMicrophoneBack() throws Exception {
    listener.awaitLog(l -> l.startsWith("REPORT "), Duration.ofSeconds(90));
    String line = listener.logText().lines().filter(l -> l.startsWith("REPORT ")).findFirst().orElseThrow();
    JsonObject r = new JsonObject(line.substring("REPORT ".length()));
    System.out.println("Firefox echo call: " + r.encode());
    assertNull(r.getString("error"), "the page's own script failed: " + r.encode());
    assertEquals("In call", r.getString("status"), r.encode());
    assertTrue(r.getLong("packetsReceived", 0L) > 100, "RTP packets Firefox received from the echo: " + r.encode());
    assertTrue(r.getDouble("totalAudioEnergy", 0.0) > 0 && r.getDouble("audioLevel", 0.0) > 0,
        "the energy and level of what came back: " + r.encode());
    assertTrue(r.getLong("packetsSent", 0L) > 100, "packets Firefox sent: " + r.encode());
    assertEquals("Connecting audio…", r.getString("whileConnecting"), "the detail line before the audio was up");
    assertEquals("", r.getString("afterConnected"), "the detail line once the audio flowed");
    // Firefox trickled its mDNS host candidate; nothing resolves it here, so the gateway acked it unused.
    assertTrue(r.getJsonArray("candidateAcks").stream().map(JsonObject.class::cast).anyMatch(a ->
        a.getString("c", "").contains(".local") && a.getString("c").contains(" UDP ")
            && Boolean.FALSE.equals(a.getBoolean("added")) && a.getString("reason", "").contains("does not resolve")),
        "the gateway's answer to Firefox's mDNS candidate: " + r.getJsonArray("candidateAcks"));

    int admin = bed.forward(gwHost, "127.0.0.1", HTTP + 1);
    JsonObject health = Eventually.await(Duration.ofSeconds(10), "the gateway's full health",
        () -> new JsonObject(Http.get("http://127.0.0.1:" + admin + "/health").body()), h -> h.containsKey("media"));
    JsonObject counters = health.getJsonObject("media").getJsonObject("counters");
    System.out.println("gateway media counters after the Firefox call: " + counters.encode());
    assertTrue(counters.getLong("browserIn") > 100, "SRTP packets from Firefox at the gateway: " + counters);
    assertTrue(counters.getLong("toBrowser") > 100, "packets from the echo to Firefox: " + counters);
    assertEquals(0L, counters.getLong("browserAuthFailed"), counters.encode());
  }
}
