package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.hazelcast.config.Config;
import com.hazelcast.config.SplitBrainProtectionConfig;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Ports;

/**
 * The pool under a split-brain protection of minimum size 2 (as deploy/cluster.xml's), with two in-JVM nodes: when
 * one leaves, the other is below the quorum, so it revokes the leases it handed out (its sessions are told) and
 * refuses pool commands with 309 NO_QUORUM. The multi-host proof with a real network cut is e2e/NodeCutOffIT.
 */
class PoolQuorumTest {
  private final String cluster = "pool-quorum-" + UUID.randomUUID().toString().substring(0, 8);
  private final List<Vertx> nodes = new ArrayList<>();

  private static Config withQuorum(Config c) {
    c.addSplitBrainProtectionConfig(new SplitBrainProtectionConfig("test-pool-quorum", true, 2));
    c.getMapConfig("webphone.pool.*").setSplitBrainProtectionName("test-pool-quorum");
    return c;
  }

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void aNodeLeftBelowTheQuorumRevokesItsLeasesAndRefusesPoolCommandsWithNoQuorum() throws Exception {
    List<Integer> ports = List.of(Ports.free(), Ports.free());
    List<Future<Vertx>> starting = new ArrayList<>();
    for (int p : ports) {
      starting.add(TestCluster.start(withQuorum(TestCluster.hazelcast(cluster, p, ports, 10))));
    }
    for (Future<Vertx> f : starting) {
      nodes.add(f.await(90, TimeUnit.SECONDS));
    }
    for (int i = 0; i < nodes.size(); i++) {
      nodes.get(i).deployVerticle(new AccountPoolVerticle(), new DeploymentOptions()
          .setConfig(PoolClient.config("q" + i, PoolClient.range("q", 1, 3)))).await(60, TimeUnit.SECONDS);
    }
    Vertx survivor = nodes.get(0);
    PoolClient pool = new PoolClient(survivor);
    LinkedBlockingQueue<JsonObject> told = new LinkedBlockingQueue<>();
    survivor.eventBus().<JsonObject>localConsumer(Addresses.session("s-1"), m -> told.add(m.body()))
        .completion().await(10, TimeUnit.SECONDS);
    JsonObject lease = pool.lease("s-1");

    nodes.remove(1).close().await(60, TimeUnit.SECONDS); // the other member leaves: one of two is below the quorum

    JsonObject revoked = told.poll(Duration.ofSeconds(30).toMillis(), TimeUnit.MILLISECONDS);
    assertEquals("revoked", revoked == null ? null : revoked.getString("event"), "the session was told: " + revoked);
    assertEquals(lease.getString("accountId"), revoked.getString("accountId"));
    assertEquals(lease.getLong("token"), revoked.getLong("token"));
    JsonObject ask = new JsonObject().put("sessionId", "s-2").put("nodeId", "test");
    assertEquals(ErrorCode.NO_QUORUM.code(), pool.failureCode(Addresses.POOL_LEASE, ask));
    assertEquals(ErrorCode.NO_QUORUM.code(), pool.failureCode(Addresses.POOL_STATUS, new JsonObject()));
  }

  @AfterEach
  void stop() throws Exception {
    for (Vertx vx : nodes) {
      vx.close().await(60, TimeUnit.SECONDS);
    }
  }
}
