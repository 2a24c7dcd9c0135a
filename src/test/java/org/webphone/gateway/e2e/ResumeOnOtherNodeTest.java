package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.webphone.gateway.node.ForwardingBench;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Haproxy;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.Sipp;

/**
 * Resume on another node, with real parts on several hosts of a {@link NetnsBed}: two gateway nodes as their own
 * JVMs ({@code a} 10.251.0.1, {@code b} 10.251.0.2) clustered over Hazelcast with a TCP-IP members list of the
 * two addresses, Kamailio and a SIPp echo UAS (extension 700) as the PBX ({@code pbx} 10.251.0.3), HAProxy in
 * front of the nodes, round robin without stickiness, {@code /health} checks ({@code lb} 10.251.0.4), and headless
 * Chromium ({@code browser} 10.251.0.5) on the page through HAProxy. The call is made through a; the page reloads
 * while HAProxy drains a, so its new WebSocket lands on b, which forwards the session to a.
 */
class ResumeOnOtherNodeTest {
  private static final String A = NetnsBed.SUBNET + "1";
  private static final String B = NetnsBed.SUBNET + "2";
  private static final String PBX = NetnsBed.SUBNET + "3";
  private static final String LB = NetnsBed.SUBNET + "4";
  private static final int HTTP = 8080;
  private static final int ADMIN = 9090;
  private static final int SIP_PBX = 5060;
  private static final String PAGE = "http://" + LB + ":" + HTTP;
  private static final Duration SETUP = Duration.ofSeconds(30);

  private static Path dir;
  private static NetnsBed bed;
  private static final List<AutoCloseable> peers = new ArrayList<>();
  private static Sipp echo;
  private static Haproxy lb;
  private static Browser browser;
  private static NetnsBed.Host hostA;
  private static NetnsBed.Host hostB;
  private static GatewayJvm nodeA;
  private static GatewayJvm nodeB;

  @BeforeAll
  static void startTheTopology() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "resume-other-node-").toAbsolutePath();
    bed = NetnsBed.create();
    hostA = bed.host("a", 1);
    hostB = bed.host("b", 2);
    NetnsBed.Host pbxHost = bed.host("pbx", 3);
    NetnsBed.Host lbHost = bed.host("lb", 4);
    NetnsBed.Host browserHost = bed.host("browser", 5);
    // SIPp quits after its -timeout: the nodes may take minutes to start on a loaded machine (the later one wins).
    echo = Sipp.uasIn(pbxHost, PBX, "uas-answer.xml", "-rtp_echo", "-timeout", "900");
    peers.add(echo);
    peers.add(Kamailio.startIn(pbxHost, Map.of("1000", "secret-1000", "1001", "secret-1001"),
        Map.of("700", PBX + ":" + echo.port()), PBX, SIP_PBX));
    String cluster = "webphone-e2e-" + java.util.UUID.randomUUID();
    nodeA = GatewayJvm.start(hostA, node("a", A, ForwardingBench.clusterXml(dir, "a", cluster, 5701, List.of())));
    peers.add(nodeA);
    nodeB = GatewayJvm.start(hostB, node("b", B, ForwardingBench.clusterXml(dir, "b", cluster, 5701, List.of())));
    peers.add(nodeB);
    // Both JVMs start at once; on a loaded 2-core machine that took over 3 minutes.
    nodeA.awaitReady(Duration.ofSeconds(400));
    nodeB.awaitReady(Duration.ofSeconds(400));
    lb = Haproxy.start(lbHost, haproxyConfig(), dir.resolve("haproxy"));
    peers.add(lb);
    Eventually.until(Duration.ofSeconds(30), "HAProxy to see both nodes up",
        () -> "UP".equals(lb.serverStatus("gateways", "a")) && "UP".equals(lb.serverStatus("gateways", "b")));
    browser = bed.browser(browserHost, Browser.tone(dir, 440, 300), PAGE);
    peers.add(browser);
  }

  @AfterAll
  static void stopTheTopology() {
    for (int i = peers.size() - 1; i >= 0; i--) {
      try {
        peers.get(i).close();
      } catch (Exception e) {
        System.err.println("closing " + peers.get(i) + ": " + e);
      }
    }
    if (bed != null) {
      bed.close();
    }
  }

  /** A node on its host's address: the cluster's members are the two hosts, the page's origin is HAProxy's. */
  private static JsonObject node(String id, String ip, Path clusterXml) throws Exception {
    String xml = Files.readString(clusterXml)
        .replace("<member>127.0.0.1</member>", "")
        .replace("<tcp-ip enabled=\"true\">", "<tcp-ip enabled=\"true\"><member>" + A + ":5701</member><member>" + B
            + ":5701</member>")
        .replace("<interface>127.0.0.1</interface>", "<interface>" + ip + "</interface>");
    Files.writeString(clusterXml, xml);
    return new JsonObject()
        .put("node", new JsonObject().put("id", id))
        .put("cluster", new JsonObject().put("enabled", true).put("config", clusterXml.toString()).put("host", ip))
        .put("http", new JsonObject().put("host", ip).put("port", HTTP).put("adminPort", ADMIN)
            .put("publicOrigin", PAGE))
        .put("pbx", new JsonObject().put("host", PBX).put("port", SIP_PBX))
        .put("sip", new JsonObject().put("bindAddress", ip).put("port", 5070))
        .put("media", new JsonObject().put("bindAddress", ip).put("webrtcPort", 10000))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1001)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("700")))
        .put("session", new JsonObject().put("resumeGraceSec", 10))
        .put("limits", new JsonObject().put("accountsPerIp", 10));
  }

  private static String haproxyConfig() {
    return String.join("\n", "global", "    maxconn 200", "defaults", "    mode http", "    timeout connect 5s",
        "    timeout client 60s", "    timeout server 60s", "    timeout tunnel 1h", "frontend web",
        "    bind " + LB + ":" + HTTP, "    default_backend gateways", "backend gateways", "    balance roundrobin",
        "    option httpchk GET /health", "    server a " + A + ":" + HTTP + " check inter 1s",
        "    server b " + B + ":" + HTTP + " check inter 1s", "");
  }

  /** A node's full /health from its admin port (loopback inside its host). */
  private static final Map<String, Integer> ADMIN_FORWARDS = new java.util.HashMap<>();

  private static JsonObject health(NetnsBed.Host host) throws Exception {
    int port = ADMIN_FORWARDS.computeIfAbsent(host.name(), n -> {
      try {
        return bed.forward(host, "127.0.0.1", ADMIN);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    return new JsonObject(Http.get("http://127.0.0.1:" + port + "/health").body());
  }

  @Test
  void aCallThroughNodeAGoesOnAfterAReloadLandsOnNodeBAndHangsUpThroughB() throws Exception {
    lb.setServerState("gateways", "b", "drain"); // the page and its first socket: a
    browser.open(PAGE + "/");
    browser.awaitStatus("Ready", SETUP);
    browser.dialWithKeypad("700");
    browser.click("Call");
    browser.awaitStatus("In call", SETUP);
    String sessionId = String.valueOf(browser.js("return window.webphone.client.sessionId"));
    assertEquals(1, health(hostA).getInteger("sessions"), "a serves the session");
    assertEquals(0, health(hostB).getInteger("sessions"));
    Browser.RemoteAudio before = browser.remoteAudio(2000);
    assertTrue(Math.abs(before.peakHz() - 440) < 25, "the echoed tone through a: " + before);

    lb.setServerState("gateways", "b", "ready");
    lb.setServerState("gateways", "a", "drain"); // the reload and its socket: b
    long bSessions = Long.parseLong(lb.stat("gateways", "b", "stot"));
    browser.driver().navigate().refresh();
    browser.awaitStatus("In call", SETUP);
    assertEquals(sessionId, String.valueOf(browser.js("return window.webphone.client.sessionId")), "resumed");
    assertTrue(Long.parseLong(lb.stat("gateways", "b", "stot")) > bSessions, "HAProxy sent the reload to b");
    nodeB.awaitLog(l -> l.contains("line=" + sessionId + " resumed here over WebSocket") && l.contains("forwarded to its node a"),
        Duration.ofSeconds(10));
    Browser.RemoteAudio after = Eventually.await(Duration.ofSeconds(15), "the echoed tone after the reload",
        () -> browser.remoteAudio(1000), x -> Math.abs(x.peakHz() - 440) < 25);
    assertTrue(after.packets() > 20 && after.energy() > 0.005, "audio both ways through a after the reload: " + after);
    assertEquals(0, echo.traceCount("BYE sip:"), "SIPp saw no BYE:\n" + echo.diagnostics());
    assertEquals(1, echo.traceCount("INVITE sip:"), "SIPp saw one INVITE:\n" + echo.diagnostics());
    assertEquals(1, health(hostA).getInteger("calls"), "the call is still a's");

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(15));
    echo.awaitSuccess(Duration.ofSeconds(15)); // its BYE and 200: the scenario's last steps
    browser.close();
    peers.remove(browser);
    Eventually.await(Duration.ofSeconds(30), "nothing left on a (session, lease, call, media)", () -> health(hostA),
        h -> h.getInteger("sessions") == 0 && h.getJsonObject("pool").getInteger("leased") == 0
            && h.getJsonObject("sip").getInteger("calls") == 0 && h.getJsonObject("media").getInteger("sessions") == 0);
    Eventually.await(Duration.ofSeconds(30), "nothing left on b (sessions, forwarded sockets)", () -> health(hostB),
        h -> h.getInteger("sessions") == 0 && h.getInteger("forwards") == 0
            && h.getJsonObject("media").getInteger("sessions") == 0);
  }
}
