package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;

/** The pool's own meters, in the node's registry as GatewayNode sets it up, and gone after undeploy. */
class PoolMetricsTest {
  @Test
  void leaseOutcomesStaleReleasesAndOpTimesAreCountedAndRemovedOnUndeploy() throws Exception {
    String node = "metrics-" + UUID.randomUUID().toString().substring(0, 8);
    Vertx vertx = Vertx.builder().with(new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions()
            .setEnabled(true).setRegistryName(node).setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true))))
        .withMetrics(new MicrometerMetricsFactory()).build();
    try {
      String dep = vertx.deployVerticle(new AccountPoolVerticle(), new DeploymentOptions()
          .setConfig(PoolClient.config(node, PoolClient.range("u", 1, 1)))).await(10, TimeUnit.SECONDS);
      PoolClient pool = new PoolClient(vertx);
      JsonObject first = pool.lease("s1");
      try {
        pool.lease("s2");
      } catch (ReplyException expected) {
        // Connection limit: counted as refused
      }
      pool.release(first);
      JsonObject second = pool.lease("s3");
      pool.failureCode(Addresses.POOL_RELEASE, new JsonObject().put("accountId", "u1")
          // stale: older than any lease of u1. Not second - 1: within one millisecond that is first's token,
          // and repeating the last release is idempotent by design.
          .put("token", first.getLong("token") - 1));
      pool.release(second);

      MeterRegistry r = BackendRegistries.getNow(node);
      assertEquals(2.0, r.get("webphone.pool.leases").tag("node", node).tag("outcome", "granted").counter().count());
      assertEquals(1.0, r.get("webphone.pool.leases").tag("outcome", "refused").counter().count());
      assertEquals(1.0, r.get("webphone.pool.stale").counter().count());
      assertTrue(r.get("webphone.pool.op").timer().count() >= 6, "every lease, release, validate is timed");

      vertx.undeploy(dep).await(10, TimeUnit.SECONDS);
      assertNull(r.find("webphone.pool.leases").counter(), "meters leave with the verticle");
      assertNull(r.find("webphone.pool.op").timer());
    } finally {
      vertx.close().await(10, TimeUnit.SECONDS);
    }
  }
}
