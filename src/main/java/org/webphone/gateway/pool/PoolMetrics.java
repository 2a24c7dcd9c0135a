package org.webphone.gateway.pool;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.ClusterFormat;

/**
 * This node's lease outcomes and pool-op latency on /metrics (tagged {@code node}). The pool's counts
 * (total, free, leased, waiting) are gauges of node.NodeOpsVerticle, which polls {@code pool.status}.
 * A no-op when the node has no metrics registry (tests).
 */
final class PoolMetrics {
  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private Counter granted;
  private Counter refused;
  private Counter queued;
  private Counter stale;
  private Timer ops;

  /** @param registryName the node's registry (GatewayNode names it after the node id) */
  PoolMetrics(String registryName) {
    this.registry = BackendRegistries.getNow(registryName);
    if (registry == null) {
      return;
    }
    granted = add(lease(registryName, "granted"));
    refused = add(lease(registryName, "refused"));
    queued = add(lease(registryName, "queued"));
    stale = add(Counter.builder("webphone.pool.stale").description("stale-token releases refused")
        .tag("node", registryName).register(registry));
    for (ClusterFormat.Channel c : ClusterFormat.Channel.values()) {
      // Per JVM (one node in production): docs/pool.md, "Mixed versions".
      add(FunctionCounter.builder("webphone.cluster.format.refused", c, ClusterFormat::refusedCount)
          .description("messages of another node refused: a newer major format, or malformed")
          .tag("node", registryName).tag("channel", c.label()).register(registry));
    }
    ops = add(Timer.builder("webphone.pool.op").description("time of one pool operation against the store")
        .tag("node", registryName).register(registry));
  }

  private Counter lease(String node, String outcome) {
    return Counter.builder("webphone.pool.leases").description("lease requests by outcome")
        .tag("node", node).tag("outcome", outcome).register(registry);
  }

  private <M extends Meter> M add(M m) {
    meters.add(m);
    return m;
  }

  void granted() {
    if (granted != null) {
      granted.increment();
    }
  }

  void refused() {
    if (refused != null) {
      refused.increment();
    }
  }

  void queued() {
    if (queued != null) {
      queued.increment();
    }
  }

  void stale() {
    if (stale != null) {
      stale.increment();
    }
  }

  void op(long startNanos) {
    if (ops != null) {
      ops.record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
    }
  }

  void close() {
    if (registry != null) {
      meters.forEach(registry::remove);
    }
    meters.clear();
  }
}
