package org.webphone.gateway.pool;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The pool on /metrics: the cluster-wide counts as this node last heard them ({@code pool.changed}), and
 * this node's own lease outcomes and op latency. A no-op when the node has no metrics registry (tests).
 */
final class PoolMetrics {
  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private final AtomicReference<PoolState.Counts> counts = new AtomicReference<>(new PoolState.Counts(0, 0, 0, 0));
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
    gauge("webphone.pool.total", "accounts in the cluster's pool", c -> c.total());
    gauge("webphone.pool.free", "free accounts in the cluster's pool", c -> c.free());
    gauge("webphone.pool.leased", "leased accounts in the cluster's pool", c -> c.leased());
    gauge("webphone.pool.waiting", "sessions in the cluster's waiting line", c -> c.waiting());
    granted = add(Counter.builder("webphone.pool.leases").tag("outcome", "granted").register(registry));
    refused = add(Counter.builder("webphone.pool.leases").tag("outcome", "refused").register(registry));
    queued = add(Counter.builder("webphone.pool.leases").tag("outcome", "queued").register(registry));
    stale = add(Counter.builder("webphone.pool.stale").description("stale-token releases refused")
        .register(registry));
    ops = add(Timer.builder("webphone.pool.op").description("time of one pool operation against the store")
        .register(registry));
  }

  private void gauge(String name, String help, java.util.function.ToIntFunction<PoolState.Counts> f) {
    add(Gauge.builder(name, counts, r -> f.applyAsInt(r.get())).description(help).register(registry));
  }

  private <M extends Meter> M add(M m) {
    meters.add(m);
    return m;
  }

  void counts(PoolState.Counts c) {
    counts.set(c);
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
