package org.webphone.gateway.signalling;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.webphone.gateway.common.ErrorCode;

/**
 * The gate on /metrics: {@code webphone_signalling_refused_total{code="NUMBER_REFUSED"}} per refusal
 * (frames and connections), {@code webphone_signalling_resumed_total}. Session and call counts come from
 * {@code signalling.status}. A no-op when the node has no metrics registry (tests). Event loop only.
 */
final class SignallingMetrics {
  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private final Map<ErrorCode, Counter> refused = new EnumMap<>(ErrorCode.class);
  private Counter resumed;

  SignallingMetrics(String registryName) {
    registry = registryName == null ? null : BackendRegistries.getNow(registryName);
    if (registry != null) {
      resumed = Counter.builder("webphone.signalling.resumed").description("sessions taken back with a resume token")
          .register(registry);
      meters.add(resumed);
    }
  }

  void refused(ErrorCode code) {
    if (registry == null) {
      return;
    }
    refused.computeIfAbsent(code, c -> {
      Counter counter = Counter.builder("webphone.signalling.refused").tag("code", c.name())
          .description("refused frames and connections, by error code").register(registry);
      meters.add(counter);
      return counter;
    }).increment();
  }

  void resumed() {
    if (resumed != null) {
      resumed.increment();
    }
  }

  void close() {
    if (registry != null) {
      meters.forEach(registry::remove);
    }
  }
}
