package org.webphone.gateway.signalling;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The node's agents on /metrics: {@code webphone_agent_sessions{state="Available"|"Busy"|"WrapUp"}} (agent
 * sessions of this node in each availability) and {@code webphone_agent_takeovers_total} (sessions closed
 * because another session of the same agent took the line over). The counts are also readable without a
 * registry (tests). Event loop of the signalling verticle only; {@link #close} removes the meters.
 */
final class AgentBoard {
  private final Map<Availability.State, int[]> counts = new EnumMap<>(Availability.State.class);
  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private Counter takeovers;

  AgentBoard(String registryName) {
    for (Availability.State s : Availability.State.values()) {
      counts.put(s, new int[1]);
    }
    registry = registryName == null ? null : BackendRegistries.getNow(registryName);
    if (registry != null) {
      for (Availability.State s : Availability.State.values()) {
        int[] n = counts.get(s);
        meters.add(Gauge.builder("webphone.agent.sessions", n, a -> a[0]).tag("state", s.name())
            .description("agent sessions of this node by availability").register(registry));
      }
      takeovers = Counter.builder("webphone.agent.takeovers")
          .description("agent sessions closed because the same agent's new session took the line over")
          .register(registry);
      meters.add(takeovers);
    }
  }

  void moved(Availability.State from, Availability.State to) {
    if (from != null) {
      counts.get(from)[0]--;
    }
    if (to != null) {
      counts.get(to)[0]++;
    }
  }

  int count(Availability.State s) {
    return counts.get(s)[0];
  }

  void takenOver() {
    if (takeovers != null) {
      takeovers.increment();
    }
  }

  void close() {
    if (registry != null) {
      meters.forEach(registry::remove);
    }
  }
}
