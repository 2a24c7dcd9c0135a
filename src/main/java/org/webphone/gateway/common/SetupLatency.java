package org.webphone.gateway.common;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.messages.Fields;

/**
 * The set-up latency the gateway itself adds to an outgoing call, in two phases of one Micrometer timer
 * ({@code webphone_call_setup_added_seconds{node, phase}} on /metrics, a histogram, with p50/p95/p99 as
 * {@code webphone_call_setup_added_percentile_seconds{node, phase, quantile}}):
 * <ul>
 *   <li>{@value #CALL_TO_INVITE}: the session took the client's {@code Call} → the SIP verticle handed
 *       the INVITE to the SIP stack (dial policy, media creation, lease check, INVITE built and sent);</li>
 *   <li>{@value #ANSWER_TO_INCALL}: the SIP verticle took the PBX's 200 OK → the session sent
 *       {@code OnInCall} (ACK, the PBX's SDP given to media, the event across the bus).</li>
 * </ul>
 * Both are {@link System#nanoTime()} differences taken in one JVM: the stamps travel in the optional bus
 * fields {@value #CALL_NANOS} ({@code sip.call.make}) and {@value #ANSWER_NANOS} ({@code callState}
 * InCall), and both addresses are node-local, so the two ends of a difference always share a clock.
 *
 * <p>The buckets are fixed (not Micrometer's percentile histogram) and fine below 5 ms, where the aim is, so
 * the load tool can take the percentiles of a run from the difference of two readings ({@link #snapshot}).
 */
public final class SetupLatency {
  public static final String METER = "webphone.call.setup.added";
  public static final String CALL_TO_INVITE = "call_to_invite";
  public static final String ANSWER_TO_INCALL = "answer_to_incall";
  public static final String[] PHASES = {CALL_TO_INVITE, ANSWER_TO_INCALL};
  /** {@code sip.call.make}: when the session took the client's Call (System.nanoTime of this node). */
  public static final String CALL_NANOS = Fields.CALL_NANOS;
  /** {@code callState} InCall of an outgoing call: when the SIP verticle took the 200 (System.nanoTime). */
  public static final String ANSWER_NANOS = Fields.ANSWER_NANOS;
  /** The fields of one phase in {@link #snapshot} (the reply of {@code gateway.node.<nodeId>} with setupLatency). */
  public static final String COUNT = "count";
  public static final String TOTAL_MS = "totalMs";
  public static final String MAX_MS = "maxMs";
  public static final String LE_MS = "leMs";
  public static final String COUNTS = "counts";

  private static final double[] QUANTILES = {0.5, 0.95, 0.99};
  /** Bucket bounds in milliseconds; the last one, 5 s, is past any sane set-up step. */
  static final double[] BUCKETS_MS = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5,
      6, 8, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000};
  /** A stamp older than this did not come from this call: recorded as nothing rather than as a lie. */
  private static final long MAX_NANOS = TimeUnit.MINUTES.toNanos(5);
  /**
   * The timers of each node between {@link #register} and {@link #forget}, so that {@link #record}, which runs on
   * the call's path (SIP and signalling event loops, twice per call), does not build a Timer.Builder with its 33
   * bucket Durations and look the meter up through the registry's filters every time (JFR showed it in the
   * event loops' samples of a 10 calls/s run).
   */
  private static final Map<String, Registered> REGISTERED = new ConcurrentHashMap<>();

  private record Registered(MeterRegistry registry, Map<String, Timer> timers) {
  }

  private SetupLatency() {
  }

  /** The timer of one phase in {@code registry}, registered on first use; the one definition of the meter. */
  public static Timer timer(MeterRegistry registry, String nodeId, String phase) {
    return Timer.builder(METER)
        .description("set-up latency the gateway adds to an outgoing call: Call to INVITE sent, 200 OK to InCall sent")
        .tag("node", nodeId).tag("phase", phase)
        .publishPercentiles(QUANTILES)
        .serviceLevelObjectives(Arrays.stream(BUCKETS_MS).mapToObj(ms -> Duration.ofNanos((long) (ms * 1e6)))
            .toArray(Duration[]::new))
        .register(registry);
  }

  /**
   * Records now minus {@code stampNanos} in the registry named {@code nodeId} (GatewayNode names it after
   * the node). Nothing without a registry (verticles deployed alone in tests) or without a plausible stamp.
   */
  public static void record(String nodeId, String phase, long stampNanos) {
    long d = System.nanoTime() - stampNanos;
    if (stampNanos == 0 || d < 0 || d > MAX_NANOS || nodeId == null) {
      return;
    }
    MeterRegistry registry = BackendRegistries.getNow(nodeId);
    if (registry == null) {
      return;
    }
    Registered r = REGISTERED.get(nodeId);
    Timer t = r != null && r.registry() == registry ? r.timers().get(phase) : null;
    (t != null ? t : timer(registry, nodeId, phase)).record(d, TimeUnit.NANOSECONDS);
  }

  /** The node stopped: its timers leave the cache of {@link #record} (the caller removes the meters themselves). */
  public static void forget(String nodeId) {
    REGISTERED.remove(nodeId);
  }

  /** The stamp in {@code body[field]}, 0 when absent or not a number (older senders). */
  public static long stamp(JsonObject body, String field) {
    return body.getValue(field) instanceof Number n ? n.longValue() : 0;
  }

  /**
   * Both phases as JSON, counts since the node started: {@code {call_to_invite: {count, totalMs, maxMs,
   * p50Ms, p95Ms, p99Ms, leMs: [...], counts: [...]}, answer_to_incall: {...}}}. {@code counts[i]} is the
   * number of calls at most {@code leMs[i]}; the percentiles and max are Micrometer's recent window.
   */
  public static JsonObject snapshot(MeterRegistry registry, String nodeId) {
    JsonObject all = new JsonObject();
    for (String phase : PHASES) {
      HistogramSnapshot s = timer(registry, nodeId, phase).takeSnapshot();
      JsonObject j = new JsonObject().put(COUNT, s.count()).put(TOTAL_MS, s.total(TimeUnit.MILLISECONDS))
          .put(MAX_MS, s.max(TimeUnit.MILLISECONDS));
      for (ValueAtPercentile v : s.percentileValues()) {
        j.put("p" + Math.round(v.percentile() * 100) + "Ms", v.value(TimeUnit.MILLISECONDS));
      }
      JsonArray le = new JsonArray();
      JsonArray counts = new JsonArray();
      for (CountAtBucket b : s.histogramCounts()) {
        le.add(b.bucket(TimeUnit.MILLISECONDS));
        counts.add(Math.round(b.count()));
      }
      all.put(phase, j.put(LE_MS, le).put(COUNTS, counts));
    }
    return all;
  }

  /**
   * Registers both timers and their percentiles as gauges {@code webphone_call_setup_added_percentile_seconds
   * {node, phase, quantile}} (Prometheus drops a timer's own percentiles once it has buckets); the caller
   * removes the returned meters and calls {@link #forget} when the node stops.
   */
  public static List<Meter> register(MeterRegistry registry, String nodeId) {
    List<Meter> meters = new ArrayList<>();
    Map<String, Timer> timers = new HashMap<>();
    for (String phase : PHASES) {
      Timer t = timer(registry, nodeId, phase);
      timers.put(phase, t);
      meters.add(t);
      for (double q : QUANTILES) {
        meters.add(Gauge.builder(METER + ".percentile", t, x -> percentile(x, q)).baseUnit("seconds")
            .description("recent percentile of " + METER).tag("node", nodeId).tag("phase", phase)
            .tag("quantile", Double.toString(q)).register(registry));
      }
    }
    REGISTERED.put(nodeId, new Registered(registry, Map.copyOf(timers)));
    return meters;
  }

  private static double percentile(Timer t, double q) {
    for (ValueAtPercentile v : t.takeSnapshot().percentileValues()) {
      if (v.percentile() == q) {
        return v.value(TimeUnit.SECONDS);
      }
    }
    return Double.NaN;
  }
}
