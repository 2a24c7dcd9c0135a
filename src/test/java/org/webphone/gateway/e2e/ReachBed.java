package org.webphone.gateway.e2e;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.openqa.selenium.WindowType;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.TestCa;

/**
 * The reach topology of issue 18 in a {@link NetnsBed}: a gateway host (its own JVM, demo PBX with the echo
 * extension 600), a TURN host (coturn, started here with {@code use-auth-secret} and the peer restrictions of
 * docs/turn.md, a {@link TestCa} certificate for its IP on 443) and a browser host (headless Chromium whose NSS db
 * trusts the test CA). {@link #use(Route)} loads the browser host's firewall for one path, as a corporate
 * network would: the page's port to the gateway is always open, the rest only as the path says. Used by
 * {@link BrowserThroughTurnTest} and {@link ReachBench}; everything it started is stopped by {@link #close}
 * (processes by PID, then the namespaces). Test thread only.
 */
final class ReachBed implements AutoCloseable {
  static final String GW = NetnsBed.SUBNET + "1";
  static final String TURN = NetnsBed.SUBNET + "3";
  static final int HTTP = 8080;
  static final int WEBRTC = 10000;
  static final int TURN_PORT = 3478;
  static final int TURNS_PORT = 443;
  static final String PAGE = "http://" + GW + ":" + HTTP;
  static final List<String> ICE_SERVERS = List.of("turn:" + TURN + ":" + TURN_PORT + "?transport=udp",
      "turn:" + TURN + ":" + TURN_PORT + "?transport=tcp", "turns:" + TURN + ":" + TURNS_PORT + "?transport=tcp");

  /** How the browser reaches the gateway's media: what its firewall lets through besides the page. */
  enum Route {
    /** No firewall: host candidates over UDP. */
    UDP_DIRECT("host", "udp", ""),
    /** Only TCP to the gateway open (UDP and the TURN server blocked): ICE-TCP (RFC 6544) or nothing. */
    ICE_TCP("host", "tcp", "ip daddr @gw meta l4proto tcp accept\n"),
    TURN_UDP("relay", "udp", "ip daddr @turn udp dport " + TURN_PORT + " accept\n"),
    TURN_TCP("relay", "tcp", "ip daddr @turn tcp dport " + TURN_PORT + " accept\n"),
    TURN_TLS("relay", "tls", "ip daddr @turn tcp dport " + TURNS_PORT + " accept\n");

    /** The browser's local candidate type and protocol on the selected pair (relayProtocol for a relay). */
    final String candidateType;
    final String protocol;
    private final String allowed;

    Route(String candidateType, String protocol, String allowed) {
      this.candidateType = candidateType;
      this.protocol = protocol;
      this.allowed = allowed;
    }

    /**
     * The browser host's ruleset: page and WebSocket open, this route's traffic open, the rest to both hosts
     * dropped silently ({@code reject} false) or refused at once (TCP reset, ICMP port unreachable). Either way
     * Chromium keeps gathering on a blocked TURN server until the page's limit (4 s, seen in both modes).
     */
    String ruleset(boolean reject) {
      String blocked = reject ? "meta l4proto tcp reject with tcp reset\n    ip daddr { " + GW + ", " + TURN
          + " } reject\n" : "drop\n";
      if (this == UDP_DIRECT) {
        return "flush ruleset\n";
      }
      return "flush ruleset\ntable inet reach {\n"
          + "  set gw { type ipv4_addr; elements = { " + GW + " } }\n"
          + "  set turn { type ipv4_addr; elements = { " + TURN + " } }\n"
          + "  chain out {\n    type filter hook output priority 0; policy accept;\n"
          + "    ip daddr @gw tcp dport " + HTTP + " accept\n"
          + "    " + allowed
          + "    ip daddr { " + GW + ", " + TURN + " } " + blocked + "  }\n"
          // Inbound too: the gateway's connectivity checks to the browser's host candidates must not get a
          // reply through, or ICE would find the direct path the firewall is there to block.
          + "  chain in {\n    type filter hook input priority 0; policy accept;\n"
          + "    ct state established accept\n"
          + "    ip saddr @gw drop\n    ip saddr @turn drop\n  }\n}\n";
    }
  }

  final NetnsBed bed;
  final NetnsBed.Host browserHost;
  /** The TURN server's shared secret: the gateway's ice.turnSecret, coturn's static-auth-secret. */
  final String secret;
  final PeerProcess coturn;
  final GatewayJvm node;
  final Browser browser;

  private ReachBed(NetnsBed bed, NetnsBed.Host browserHost, String secret, PeerProcess coturn, GatewayJvm node,
      Browser browser) {
    this.bed = bed;
    this.browserHost = browserHost;
    this.secret = secret;
    this.coturn = coturn;
    this.node = node;
    this.browser = browser;
  }

  /** Builds the three hosts and starts coturn, the gateway node and the browser (microphone: a 440 Hz tone). */
  static ReachBed start(Path tmp, JsonObject extraNodeConfig) throws Exception {
    PeerProcess.requireBinary("turnserver");
    PeerProcess.requireBinary("certutil");
    NetnsBed bed = NetnsBed.create();
    List<AutoCloseable> toClose = new ArrayList<>();
    try {
      NetnsBed.Host gwHost = bed.host("gw", 1);
      NetnsBed.Host browserHost = bed.host("browser", 2);
      NetnsBed.Host turnHost = bed.host("turn", 3);
      TestCa ca = TestCa.create(Files.createDirectories(tmp.resolve("ca")));
      TestCa.Issued cert = ca.issue("turn", TURN);
      String secret = "turn-secret-" + Randoms.uuid();
      PeerProcess coturn = turnHost.start("coturn", coturnCommand(tmp, cert, secret));
      toClose.add(coturn);
      coturn.awaitLog(l -> l.contains("Total General servers"), Duration.ofSeconds(20));
      // coturn 4.6 logs no line once its listeners are open: ready when its TLS port takes a connection.
      Eventually.until(Duration.ofSeconds(20), "coturn to accept on " + TURN + ":" + TURNS_PORT,
          () -> accepts(turnHost, TURNS_PORT));
      JsonObject cfg = nodeConfig(secret).mergeIn(extraNodeConfig, true);
      GatewayJvm node = GatewayJvm.start(gwHost, cfg);
      toClose.add(node);
      Path home = trustingHome(tmp, ca);
      node.awaitReady(Duration.ofSeconds(120));
      Browser browser = bed.browser(browserHost, Browser.tone(tmp, 440, 300), PAGE, home);
      toClose.add(browser);
      return new ReachBed(bed, browserHost, secret, coturn, node, browser);
    } catch (Exception | Error e) {
      for (int i = toClose.size() - 1; i >= 0; i--) {
        closeQuietly(toClose.get(i));
      }
      bed.close();
      throw e;
    }
  }

  /**
   * coturn as docs/turn.md configures it (REST API secret, realm, UDP/TCP 3478, TLS 443, peers restricted to the
   * gateway's media address, no multicast peers), with its state files in {@code tmp}, logging to stdout.
   */
  private static List<String> coturnCommand(Path tmp, TestCa.Issued cert, String secret) {
    return List.of("turnserver", "-n", "--log-file=stdout", "--simple-log", "--no-cli", "--no-dtls",
        "--listening-ip=" + TURN, "--relay-ip=" + TURN, "--listening-port=" + TURN_PORT,
        "--tls-listening-port=" + TURNS_PORT, "--cert=" + cert.chain(), "--pkey=" + cert.key(),
        "--use-auth-secret", "--static-auth-secret=" + secret, "--realm=webphone.test",
        "--min-port=49152", "--max-port=49407", "--no-multicast-peers", "--no-tcp-relay", "--fingerprint",
        "--denied-peer-ip=10.0.0.0-10.255.255.255", "--denied-peer-ip=172.16.0.0-172.31.255.255",
        "--denied-peer-ip=192.168.0.0-192.168.255.255", "--allowed-peer-ip=" + GW,
        "--pidfile=" + tmp.resolve("turnserver.pid"), "--userdb=" + tmp.resolve("turndb"));
  }

  private static boolean accepts(NetnsBed.Host host, int port) throws InterruptedException {
    try {
      host.run("timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/" + TURN + "/" + port);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** A HOME whose NSS db ({@code .pki/nssdb}, what Chromium on Linux reads) trusts the test CA for TLS servers. */
  static Path trustingHome(Path tmp, TestCa ca)
      throws IOException, InterruptedException {
    Path home = tmp.resolve("home");
    Path db = Files.createDirectories(home.resolve(".pki/nssdb"));
    run(List.of("certutil", "-d", "sql:" + db, "-N", "--empty-password"));
    run(List.of("certutil", "-d", "sql:" + db, "-A", "-t", "C,,", "-n", "webphone-test-ca", "-i",
        ca.caPem().toString()));
    return home;
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out);
    }
  }

  private static JsonObject nodeConfig(String secret) {
    return new JsonObject()
        .put("http", new JsonObject().put("host", GW).put("port", HTTP).put("publicOrigin", PAGE))
        .put("sip", new JsonObject().put("bindAddress", GW).put("port", 5070))
        .put("demo", new JsonObject().put("bindAddress", GW).put("port", 5090))
        .put("media", new JsonObject().put("bindAddress", GW).put("webrtcPort", WEBRTC))
        .put("ice", new JsonObject().put("servers", new JsonArray(ICE_SERVERS)).put("turnSecret", secret))
        // A closed tab keeps its session (and line) only this long.
        .put("session", new JsonObject().put("resumeGraceSec", 2))
        // Every tab comes from the one browser address.
        .put("limits", new JsonObject().put("accountsPerIp", 10));
  }

  /** Loads the browser host's firewall for {@code route}; {@code reject}: see {@link Route#ruleset}. */
  void use(Route route, boolean reject) throws IOException, InterruptedException {
    browserHost.nft(route.ruleset(reject));
  }

  /** What one echo call measured, times from the click on Call. */
  record Call(long firstAudioMs, long connectedMs, Browser.RemoteAudio audio, long packetsSent, Map<String, Object> pair) {
    /** As BrowserEchoCallTest: the 440 Hz tone came back, and the browser sent audio. */
    boolean twoWay() {
      return audio.packets() > 100 && audio.energy() > 0.005 && Math.abs(audio.peakHz() - 440) < 25
          && packetsSent > 100;
    }

    /**
     * The selected pair's local candidate is of the path's type, over its protocol (relayProtocol for a relay);
     * for ICE-TCP, the pair's remote candidate is the gateway's {@code tcp} passive host candidate, whatever the
     * local type: Chromium's getStats shows the local side of its active TCP connection as {@code prflx}.
     */
    boolean took(Route route) {
      if (route == Route.ICE_TCP) {
        return "tcp".equals(pair.get("remoteProtocol")) && "host".equals(pair.get("remoteType"))
            && GW.equals(pair.get("remoteAddress")) && "tcp".equals(pair.get("localProtocol"));
      }
      return route.candidateType.equals(pair.get("localType")) && route.protocol.equals(
          "relay".equals(pair.get("localType")) ? pair.get("relayProtocol") : pair.get("localProtocol"));
    }
  }

  /**
   * An echo call to 600 from a page in a new tab (closed afterwards: a closed tab ends its session), with the
   * time from the click on Call to the first audio packet received and to the peer connection connected, then
   * {@code listenMs} of the echoed tone and the selected candidate pair.
   */
  Call echoCall(long listenMs) {
    String home = browser.driver().getWindowHandle();
    browser.driver().switchTo().newWindow(WindowType.TAB);
    try {
      browser.open(PAGE + "/");
      browser.awaitStatus("Ready", Duration.ofSeconds(30));
      browser.dialWithKeypad("600");
      Map<String, Object> t = timedCall();
      Browser.RemoteAudio audio = listenMs > 0 ? browser.remoteAudio(listenMs) : null;
      long sent = listenMs > 0 ? browser.packetsSent() : 0;
      Map<String, Object> pair = selectedPair();
      browser.click("Hang up");
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
      return new Call(((Number) t.get("firstAudioMs")).longValue(), ((Number) t.get("connectedMs")).longValue(),
          audio, sent, pair);
    } finally {
      browser.driver().close();
      browser.driver().switchTo().window(home);
    }
  }

  /** Clicks Call from the page itself and polls getStats every 10 ms: no WebDriver round trip in the figures. */
  @SuppressWarnings("unchecked")
  private Map<String, Object> timedCall() {
    Object r = browser.driver().executeAsyncScript("""
        const [button, done] = [arguments[0], arguments[arguments.length - 1]];
        const t0 = performance.now();
        let connectedMs = -1;
        let answer = '';
        button.click();
        const poll = async () => {
          const pc = window.webphone && window.webphone.pc;
          if (pc) {
            if (pc.remoteDescription) answer = pc.remoteDescription.sdp;
            if (connectedMs < 0 && pc.connectionState === 'connected') connectedMs = performance.now() - t0;
            let n = 0;
            (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n = s.packetsReceived || 0; });
            if (n > 0) {
              done({firstAudioMs: Math.round(performance.now() - t0), connectedMs: Math.round(connectedMs)});
              return;
            }
          }
          if (performance.now() - t0 > 15000) {
            done({error: 'no audio within 15 s; status ' + document.querySelector('[role=status]').textContent
                + ', connection ' + (pc ? pc.connectionState : 'no pc (the call ended)') + ', the answer of the gateway had '
                + (/a=candidate:\\S+ \\d+ tcp /i.test(answer) ? 'a' : 'no') + ' TCP candidate'});
            return;
          }
          setTimeout(poll, 10);
        };
        poll();
        """, browser.control("Call"));
    Map<String, Object> m = (Map<String, Object>) Objects.requireNonNull(r);
    if (m.containsKey("error")) {
      throw new AssertionError("the echo call: " + m.get("error") + "; browser log: " + browser.consoleLog());
    }
    return m;
  }

  /** The selected candidate pair of the page's peer connection, from getStats: both candidates' type and protocol. */
  @SuppressWarnings("unchecked")
  Map<String, Object> selectedPair() {
    Object r = browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        window.webphone.pc.getStats().then(st => {
          let id = null;
          st.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) id = s.selectedCandidatePairId; });
          const p = id && st.get(id);
          const l = p && st.get(p.localCandidateId);
          const r = p && st.get(p.remoteCandidateId);
          // The TURN username the peer connection is configured with, and the session's newest (OnSession or
          // OnIceServers): the same when the page applied the newest list.
          const user = (list) => ((list || []).find(x => x.username) || {}).username || '';
          done(!l || !r ? {error: 'no selected candidate pair'} : {localType: l.candidateType, localProtocol: l.protocol,
            relayProtocol: l.relayProtocol || '', localAddress: l.address, remoteType: r.candidateType,
            remoteAddress: r.address, remotePort: r.port, remoteProtocol: r.protocol,
            pcTurnUser: user(window.webphone.pc.getConfiguration().iceServers),
            sessionTurnUser: user(window.webphone.client.iceServers)});
        }, e => done({error: String(e)}));
        """);
    return (Map<String, Object>) Objects.requireNonNull(r);
  }

  /**
   * The candidate types {@code iceServers} gather in the page (a peer connection of its own, closed after): e.g.
   * {@code host/udp}, {@code relay/udp}; ends when gathering completes or after 8 s.
   */
  @SuppressWarnings("unchecked")
  List<String> gatheredCandidates(JsonArray iceServers) {
    Object r = browser.driver().executeAsyncScript("""
        const [servers, done] = [JSON.parse(arguments[0]), arguments[arguments.length - 1]];
        const pc = new RTCPeerConnection({iceServers: servers});
        const seen = [];
        let finished = false;
        const finish = () => { if (!finished) { finished = true; pc.close(); done(seen); } };
        pc.onicecandidate = e => {
          if (!e.candidate) { finish(); return; }
          seen.push(e.candidate.type + '/' + (e.candidate.relayProtocol || e.candidate.protocol));
        };
        pc.addTransceiver('audio');
        pc.createOffer().then(o => pc.setLocalDescription(o)).catch(e => { seen.push('error: ' + e); finish(); });
        setTimeout(finish, 8000);
        """, iceServers.encode());
    return (List<String>) Objects.requireNonNull(r);
  }

  /** The iceServers the page's session got (OnSession or the newest OnIceServers). */
  JsonArray pageIceServers() {
    Object r = browser.js("return JSON.stringify(window.webphone.client.iceServers)");
    return new JsonArray(String.valueOf(r));
  }

  @Override
  public void close() {
    closeQuietly(browser);
    closeQuietly(node);
    closeQuietly(coturn);
    bed.close();
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      System.err.println("reach bed: closing " + c + ": " + e);
    }
  }
}
