package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Eventually;

/** The whole node in this JVM: every verticle deployed and undeployed, health, drain, metrics, no leaks. */
class GatewayNodeTest {
  /**
   * JVM-wide pools and the test's own HTTP client: started once, shared, not the node's to stop.
   * "Cleaner-N" are libraries' static java.lang.ref.Cleaner threads: measured constant over three node
   * start/stop cycles in one JVM, so started once per JVM, not per node.
   */
  private static final Pattern SHARED_THREADS = Pattern.compile(
      "^(ForkJoinPool|CompletableFutureDelayScheduler|process reaper|Common-Cleaner|Cleaner-|HttpClient-|surefire"
          + "|Attach Listener).*");

  private GatewayNode node;

  private GatewayNode startNode(NodeFixtures.NodePorts ports) throws Exception {
    JsonObject overrides = new JsonObject()
        .put("node", new JsonObject().put("id", "t-" + ports.http()))
        .put("http", new JsonObject().put("port", ports.http()).put("adminPort", ports.admin()))
        .put("sip", new JsonObject().put("port", ports.sip()))
        .put("demo", new JsonObject().put("port", ports.demo()))
        .put("media", new JsonObject().put("webrtcPort", ports.webrtc()).put("iceTcpPort", ports.webrtc()).put("rtpPortMin", ports.rtpMin())
            .put("rtpPortMax", ports.rtpMin() + 1))
        .put("shutdown", new JsonObject().put("graceSec", 5));
    node = new GatewayNode(GatewayConfig.of(overrides));
    await(node.start(), 60);
    return node;
  }

  private static <T> T await(Future<T> f, int seconds) throws Exception {
    return Eventually.result(seconds, "the node's answer or completion", f);
  }

  @AfterEach
  void stopNode() throws Exception {
    if (node != null) {
      node.stop().toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(30, TimeUnit.SECONDS);
    }
  }

  private static Set<Thread> ourThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !SHARED_THREADS.matcher(t.getName()).matches()).collect(Collectors.toSet());
  }

  @Test
  void everyVerticleDeploysAndUndeploysCleanlyLeavingNoPortOrThread() throws Exception {
    Set<Thread> before = ourThreads();
    NodeFixtures.NodePorts ports = NodeFixtures.NodePorts.allocate();
    startNode(ports);
    // ops, pool, media, demo PBX, sip, signalling (verticles may add children of their own)
    assertTrue(node.vertx().deploymentIDs().size() >= 6, "deployments: " + node.vertx().deploymentIDs());

    long t0 = System.nanoTime();
    await(node.stop(), 30); // fails when any undeploy failed or overran the bound
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(ms < 5000 + 1000, "stop took " + ms + " ms, bound 5 s");
    node = null;

    NodeFixtures.assertPortsFree(ports.all());
    // Threads end shortly after Vert.x reports closed. A known one: JAIN-SIP 1.3.0-91's EventScanner stays
    // blocked in take() after SipStack.stop() (forceStop only sets a flag), one "EventScannerThread" per stack;
    // the SIP verticle must wake or interrupt it.
    Eventually.await(Duration.ofSeconds(5), "no thread left behind", () -> ourThreads().stream()
        .filter(t -> !before.contains(t)).map(Thread::getName).sorted().toList(), List::isEmpty);
  }

  @Test
  void healthAnswers200WithTheNodesFieldsThen503WhileDraining() throws Exception {
    NodeFixtures.NodePorts ports = NodeFixtures.NodePorts.allocate();
    startNode(ports);

    HttpResponse<String> ok = NodeProcess.get(ports.admin(), "/health");
    assertEquals(200, ok.statusCode(), ok.body());
    JsonObject h = new JsonObject(ok.body());
    assertEquals("t-" + ports.http(), h.getString("nodeId"));
    assertEquals("ready", h.getString("state"));
    assertEquals("demo", h.getString("mode"));
    assertEquals(false, h.getJsonObject("cluster").getBoolean("enabled"));
    assertEquals(10, h.getJsonObject("pool").getInteger("total"));
    assertEquals(10, h.getJsonObject("pool").getInteger("free") + h.getJsonObject("pool").getInteger("leased"));
    assertEquals(0, h.getInteger("sessions"));
    assertEquals(0, h.getInteger("calls"));
    assertNotNull(h.getJsonObject("sip"));
    assertEquals(true, h.getJsonObject("sip").getJsonObject("pbx").getBoolean("preferred"), "the registrars");
    assertNotNull(h.getJsonObject("media"));
    assertEquals("HTTP/1.1 200 OK", statusLineOfAnH2cUpgradeRequest(ports.http()),
        "an h2c upgrade is ignored (no 101 Switching Protocols): no tunnelling past a reverse proxy");

    HttpResponse<String> publicOk = NodeProcess.get(ports.http(), "/health");
    assertEquals(200, publicOk.statusCode(), publicOk.body());
    assertEquals(new JsonObject().put("state", "ready"), new JsonObject(publicOk.body()), "the public port: state only");

    node.beginDrain();
    for (int port : new int[] {ports.http(), ports.admin()}) {
      HttpResponse<String> draining = NodeProcess.get(port, "/health");
      assertEquals(503, draining.statusCode(), draining.body());
      assertEquals("draining", new JsonObject(draining.body()).getString("state"));
    }
  }

  @Test
  void theNodeAnswersOnItsOwnBusAddressAndMetricsCarryTheNodeGauges() throws Exception {
    NodeFixtures.NodePorts ports = NodeFixtures.NodePorts.allocate();
    startNode(ports);
    JsonObject me = await(node.vertx().eventBus().<JsonObject>request(Addresses.node(node.nodeId()), new JsonObject()), 5)
        .body();
    assertEquals(node.nodeId(), me.getString("nodeId"));
    assertEquals("ready", me.getString("state"));
    assertEquals(1, me.getInteger("members"));

    String line = "webphone_node_sessions{node=\"" + node.nodeId() + "\"} 0.0";
    // The gauges are refreshed by a periodic poll, not at scrape time.
    String metrics = Eventually.await(Duration.ofSeconds(10), line + " in /metrics", () -> webphoneMetrics(ports),
        m -> m.contains(line));
    assertTrue(metrics.contains("webphone_node_ready{node=\"" + node.nodeId() + "\"} 1.0"));
    assertTrue(metrics.contains("webphone_node_sip_lines{node=\"" + node.nodeId() + "\"} 0.0"));
    assertTrue(metrics.contains("webphone_sip_pbx_failovers_total{node=\"" + node.nodeId() + "\"} 0.0"), metrics);
    assertTrue(metrics.contains("webphone_sip_pbx_preferred{node=\"" + node.nodeId() + "\"} 1.0"), metrics);
  }

  /** The node's own lines of /metrics (those starting with "webphone"). */
  private static String webphoneMetrics(NodeFixtures.NodePorts ports) throws Exception {
    HttpResponse<String> r = NodeProcess.get(ports.admin(), "/metrics");
    assertEquals(200, r.statusCode());
    return r.body().lines().filter(l -> l.startsWith("webphone")).collect(Collectors.joining("\n"));
  }

  /**
   * Every session has addresses of its own ({@code session.<id>}, its commands and events, the caller's events
   * address): the node's metrics must keep no meter per address (Vert.x's event-bus address label stays off),
   * or /metrics and the registry would grow with every visitor for as long as the node runs.
   */
  @Test
  void sessionsComingAndGoingLeaveNoMeterBehindInMetrics() throws Exception {
    NodeFixtures.NodePorts ports = NodeFixtures.NodePorts.allocate();
    startNode(ports);
    List<String> seen = new ArrayList<>();
    List<Long> busMeters = new ArrayList<>();
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < 12; i++) {
        String events = "test.client." + round + "." + i + ".events";
        MessageConsumer<JsonObject> c = node.vertx().eventBus().consumer(events, m -> { });
        await(c.completion(), 5);
        JsonObject opened = await(node.vertx().eventBus().<JsonObject>request(Addresses.SIGNALLING_OPEN,
            new JsonObject().put("events", events)), 10).body();
        String sessionId = opened.getString("sessionId");
        seen.add(sessionId);
        seen.add(events);
        await(node.vertx().eventBus().request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId", sessionId)),
            10);
        await(c.unregister(), 5);
      }
      HttpResponse<String> r = NodeProcess.get(ports.admin(), "/metrics");
      assertEquals(200, r.statusCode());
      List<String> naming = r.body().lines().filter(l -> seen.stream().anyMatch(l::contains)).toList();
      assertEquals(List.of(), naming, "meters naming a session's or a client's own address");
      busMeters.add(r.body().lines().filter(l -> l.startsWith("vertx_eventbus")).count());
    }
    assertEquals(busMeters.get(0), busMeters.get(1), "event-bus meters after 12 and after 24 sessions");
  }

  /** The status line a plain-HTTP request asking to switch to HTTP/2 (RFC 7540 3.2) gets back. */
  private static String statusLineOfAnH2cUpgradeRequest(int port) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(5000);
      socket.getOutputStream().write(("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
          + "\r\n").getBytes(StandardCharsets.US_ASCII));
      return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII))
          .readLine();
    }
  }
}
