package org.webphone.gateway.signalling;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.webphone.gateway.common.ErrorCode;

/**
 * The gate on /metrics: {@code webphone_signalling_refused_total{code="NUMBER_REFUSED"}} per refusal
 * (frames and connections), {@code webphone_signalling_resumed_total},
 * {@code webphone_signalling_ws_closed_total{reason="not-reading"|"no-hello"}} and
 * {@code webphone_signalling_url_tokens_total} (deprecated tokens in the URL). Session and call counts come
 * from {@code signalling.status}, which also carries the WebSocket counts (tests read them there). Meters are
 * a no-op when the node has no metrics registry (tests). Event loop only.
 */
final class SignallingMetrics {
  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private final Map<ErrorCode, Counter> refused = new EnumMap<>(ErrorCode.class);
  private Counter resumed;
  private Counter notReadingMeter;
  private Counter noHelloMeter;
  private Counter urlTokensMeter;
  private long notReading;
  private long noHello;
  private long urlTokens;

  SignallingMetrics(String registryName) {
    registry = registryName == null ? null : BackendRegistries.getNow(registryName);
    if (registry != null) {
      resumed = Counter.builder("webphone.signalling.resumed").description("sessions taken back with a resume token")
          .register(registry);
      meters.add(resumed);
      notReadingMeter = closed("not-reading");
      noHelloMeter = closed("no-hello");
      urlTokensMeter = Counter.builder("webphone.signalling.url.tokens")
          .description("WebSockets that passed a token in the URL (deprecated: send Hello)").register(registry);
      meters.add(urlTokensMeter);
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
    count(resumed);
  }

  /** A WebSocket closed because its client did not read its frames (the write queue was full). */
  void notReading() {
    notReading++;
    count(notReadingMeter);
  }

  /** A WebSocket closed because no Hello came in time. */
  void noHello() {
    noHello++;
    count(noHelloMeter);
  }

  /** A WebSocket that passed its access or resume token in the URL. */
  void urlToken() {
    urlTokens++;
    count(urlTokensMeter);
  }

  JsonObject webSocketCounts() {
    return new JsonObject().put("closedNotReading", notReading).put("closedNoHello", noHello)
        .put("urlTokens", urlTokens);
  }

  private Counter closed(String reason) {
    Counter c = Counter.builder("webphone.signalling.ws.closed").tag("reason", reason)
        .description("WebSockets the gateway closed for their client's behaviour").register(registry);
    meters.add(c);
    return c;
  }

  private static void count(Counter c) {
    if (c != null) {
      c.increment();
    }
  }

  void close() {
    if (registry != null) {
      meters.forEach(registry::remove);
    }
  }
}
