package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The node as an operator runs it: its own JVM, configured by environment variables, stopped by SIGTERM. */
class NodeProcessTest {
  private NodeProcess node;

  @AfterEach
  void killNode() {
    if (node != null) {
      node.close();
    }
  }

  private void assertConfigError(Map<String, String> env, String expectedLine) throws Exception {
    node = NodeProcess.start("node-config-error", env);
    int code = node.awaitExit(Duration.ofSeconds(30));
    List<String> lines = node.logText().lines().toList();
    assertEquals(2, code, "exit code; output:\n" + node.tail());
    assertEquals(List.of(expectedLine), lines, "exactly one line naming the key");
  }

  @Test
  void aBadEnvironmentValueStopsTheNodeWithExitCode2AndOneLineNamingTheKey() throws Exception {
    assertConfigError(Map.of("WEBPHONE_HTTP_PORT", "eighty"),
        "configuration error: http.port: must be a whole number, got \"eighty\" (from WEBPHONE_HTTP_PORT)");
    assertConfigError(Map.of("WEBPHONE_SIP_TRANSPORT", "sctp"),
        "configuration error: sip.transport: must be one of [tcp, tls, udp], got \"sctp\"");
  }

  @Test
  void sigtermOnAnIdleNodeStopsItWithinTheBoundAndFreesEveryPort() throws Exception {
    NodeFixtures.NodePorts ports = NodeFixtures.NodePorts.allocate();
    Map<String, String> env = ports.env("sigterm");
    int graceSec = 3;
    env.put("WEBPHONE_SHUTDOWN_GRACE_SEC", Integer.toString(graceSec));
    node = NodeProcess.start("node-sigterm", env);
    node.awaitReady(Duration.ofSeconds(60));
    HttpResponse<String> health = NodeProcess.get(ports.admin(), "/health");
    assertEquals(200, health.statusCode(), health.body());
    assertEquals("sigterm", new JsonObject(health.body()).getString("nodeId"));

    long t0 = System.nanoTime();
    node.terminate();
    int code = node.awaitExit(Duration.ofSeconds(graceSec + 10));
    long ms = (System.nanoTime() - t0) / 1_000_000;

    // SIGTERM drains (docs/deploy.md): an idle node has nothing to wait for, stops and exits 0 by itself.
    assertEquals(0, code, "exit code after a drain on SIGTERM; output:\n" + node.tail());
    assertTrue(ms < (graceSec + 2) * 1000L, "stopped in " + ms + " ms, bound " + graceSec + " s + 2 s margin");
    String log = node.logText();
    assertTrue(log.contains("node sigterm draining"), node.tail());
    assertTrue(log.contains("node sigterm stopped"), "no clean stop (a step failed or overran):\n" + node.tail());
    assertFalse(log.contains("stopped with problems"), node.tail());
    assertTrue(node.process().descendants().findAny().isEmpty(), "child processes left behind");
    NodeFixtures.assertPortsFree(ports.all());
  }
}
