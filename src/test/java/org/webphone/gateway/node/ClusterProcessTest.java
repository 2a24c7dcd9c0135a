package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;

/**
 * Two nodes started as separate processes with the README's cluster form (WEBPHONE_CLUSTER_ENABLED=true)
 * form one Hazelcast cluster over loopback, talk over the clustered event bus, and leave it on SIGTERM.
 * Each run uses its own copy of the top-level cluster.xml (own cluster name and ports) so that it never
 * joins the nodes of a test running at the same time on this machine.
 */
class ClusterProcessTest {
  private static final int GRACE_SEC = 5;

  @TempDir
  Path dir;

  private final List<NodeProcess> nodes = new ArrayList<>();
  private Vertx probe;

  @AfterEach
  void stopAll() throws Exception {
    if (probe != null) {
      Eventually.result(20, "the probe to leave the cluster", probe.close());
    }
    nodes.forEach(NodeProcess::close);
  }

  private Path clusterXml(String name, String clusterName, int port, List<Integer> members) throws IOException {
    return NodeFixtures.clusterXml(dir, name, clusterName, port, members);
  }

  /** The full /health on the node's admin port. */
  private static JsonObject health(int port) throws Exception {
    HttpResponse<String> r = NodeProcess.get(port, "/health");
    assertEquals(200, r.statusCode(), r.body());
    return new JsonObject(r.body());
  }

  /** Waits (bounded) until the node's /health lists {@code n} cluster members; returns that health. */
  private static JsonObject awaitMembers(int port, int n) throws Exception {
    // Membership changes arrive asynchronously.
    return Eventually.await(Duration.ofSeconds(20), n + " cluster members in /health", () -> health(port),
        h -> h.getJsonObject("cluster").getJsonArray("members").size() == n);
  }

  @Test
  void twoNodeProcessesFormOneClusterExchangeARequestAndLeaveItOnSigterm() throws Exception {
    String clusterName = "webphone-test-" + UUID.randomUUID();
    int hzA = Ports.free();
    int hzB = Ports.free();
    int hzProbe = Ports.free();
    List<Integer> members = List.of(hzA, hzB, hzProbe);
    NodeFixtures.NodePorts portsA = NodeFixtures.NodePorts.allocate();
    NodeFixtures.NodePorts portsB = NodeFixtures.NodePorts.allocate();
    for (String id : List.of("a", "b")) {
      NodeFixtures.NodePorts ports = id.equals("a") ? portsA : portsB;
      Map<String, String> env = ports.env(id);
      env.put("WEBPHONE_CLUSTER_ENABLED", "true");
      env.put("WEBPHONE_CLUSTER_CONFIG", clusterXml(id, clusterName, id.equals("a") ? hzA : hzB, members).toString());
      env.put("WEBPHONE_SHUTDOWN_GRACE_SEC", Integer.toString(GRACE_SEC));
      nodes.add(NodeProcess.start("node-cluster-" + id, env));
    }
    for (NodeProcess n : nodes) {
      n.awaitReady(Duration.ofSeconds(90));
    }

    JsonObject a = awaitMembers(portsA.admin(), 2);
    JsonObject b = awaitMembers(portsB.admin(), 2);
    JsonArray membersA = a.getJsonObject("cluster").getJsonArray("members");
    JsonArray membersB = b.getJsonObject("cluster").getJsonArray("members");
    String selfA = a.getJsonObject("cluster").getString("self");
    String selfB = b.getJsonObject("cluster").getString("self");
    assertTrue(membersA.contains(selfA) && membersA.contains(selfB), a.encodePrettily());
    assertEquals(membersA.getList().stream().sorted().toList(), membersB.getList().stream().sorted().toList());

    // The test joins the same cluster (as the load tool does) and asks node a to ask node b: a real
    // request/reply from one node process to the other over the clustered event bus.
    HazelcastClusterManager cm = new HazelcastClusterManager(
        new FileSystemXmlConfig(clusterXml("probe", clusterName, hzProbe, members).toFile()));
    VertxOptions opts = new VertxOptions();
    opts.getEventBusOptions().setHost("127.0.0.1");
    probe = Eventually.result(60, "the probe to join the cluster",
        Vertx.builder().with(opts).withClusterManager(cm).buildClustered());
    DeliveryOptions timeout = new DeliveryOptions().setSendTimeout(10_000);
    JsonObject viaA = Eventually.result(15, "node a's answer", probe.eventBus().<JsonObject>request(
        Addresses.node("a"), new JsonObject().put("peer", "b"), timeout)).body();
    assertEquals("a", viaA.getString("nodeId"));
    assertEquals("b", viaA.getJsonObject("peer").getString("nodeId"));
    assertEquals("ready", viaA.getJsonObject("peer").getString("state"));
    assertEquals(3, viaA.getInteger("members"));
    JsonObject viaB = Eventually.result(15, "node b's answer", probe.eventBus().<JsonObject>request(
        Addresses.node("b"), new JsonObject().put("peer", "a"), timeout)).body();
    assertEquals("a", viaB.getJsonObject("peer").getString("nodeId"));
    Eventually.result(20, "the probe to leave the cluster", probe.close());
    probe = null;
    awaitMembers(portsA.admin(), 2);

    // SIGTERM on b: with no session to drain it stops and leaves the cluster at once (a graceful leave,
    // not the 10 s failure detector), and exits 0 by itself.
    NodeProcess nodeB = nodes.get(1);
    long t0 = System.nanoTime();
    nodeB.terminate();
    assertEquals(0, nodeB.awaitExit(Duration.ofSeconds(GRACE_SEC + 10)), nodeB.tail());
    long msB = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(msB < (GRACE_SEC + 2) * 1000L, "b stopped in " + msB + " ms");
    assertTrue(nodeB.logText().contains("node b stopped"), nodeB.tail());
    JsonObject alone = awaitMembers(portsA.admin(), 1);
    assertEquals(selfA, alone.getJsonObject("cluster").getJsonArray("members").getString(0));

    NodeProcess nodeA = nodes.get(0);
    nodeA.terminate();
    assertEquals(0, nodeA.awaitExit(Duration.ofSeconds(GRACE_SEC + 10)), nodeA.tail());
    assertTrue(nodeA.logText().contains("node a stopped"), nodeA.tail());
    List<Integer> all = new ArrayList<>(portsA.all());
    all.addAll(portsB.all());
    all.addAll(List.of(hzA, hzB, hzProbe));
    NodeFixtures.assertPortsFree(all);
  }
}
