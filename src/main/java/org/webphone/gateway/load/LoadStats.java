package org.webphone.gateway.load;

import io.vertx.core.json.JsonObject;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The counts of one run. Touched only on the run's event-loop context, so plain fields. Invariants the
 * summary states: {@code attempted = completed + failed + cut + active} and
 * {@code clients = registered + registerFailed + registerPending}.
 */
final class LoadStats {
  private final long startNanos = System.nanoTime();
  /** When the first call could start (after registration): calls per second are counted from here. */
  long callsFromNanos = -1;
  /** Calls started before this (System.nanoTime) keep their latencies out of the percentiles. */
  long warmupUntilNanos = -1;
  private int completedAtLastLine;
  private long lastLineNanos = System.nanoTime();

  int clients;
  int registered;
  int registerPending;
  final Map<String, Integer> registerFailed = new TreeMap<>();
  final Samples registerMs;
  long allRegisteredMs = -1;

  int attempted;
  int completed;
  int cut;
  int active;
  final Map<String, Integer> failed = new TreeMap<>();
  final Samples setupMs;
  final Samples ackMs;
  /** The set-up latency the nodes added to the measured calls ({@link GatewayLatency#between}); null if unread. */
  JsonObject gatewayAdded;

  LoadStats(int expectedCalls, int clients) {
    this.clients = clients;
    this.registerPending = clients;
    this.registerMs = new Samples(clients);
    this.setupMs = new Samples(expectedCalls);
    this.ackMs = new Samples(expectedCalls);
  }

  double elapsedSec() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  /** Completed calls per second of the calling phase (registration time excluded). */
  double callsPerSecond() {
    double t = callsFromNanos < 0 ? 0 : (System.nanoTime() - callsFromNanos) / 1e9;
    return t > 0 ? completed / t : 0;
  }

  int failedTotal() {
    return failed.values().stream().mapToInt(Integer::intValue).sum();
  }

  int registerFailedTotal() {
    return registerFailed.values().stream().mapToInt(Integer::intValue).sum();
  }

  void fail(String reason) {
    failed.merge(reason, 1, Integer::sum);
  }

  void registerFail(String reason) {
    registerFailed.merge(reason, 1, Integer::sum);
  }

  boolean countsAddUp() {
    return attempted == completed + failedTotal() + cut + active
        && clients == registered + registerFailedTotal() + registerPending;
  }

  /** True when a call started at {@code startNanos} counts for the latency percentiles. */
  boolean measured(long startNanos) {
    return warmupUntilNanos < 0 || startNanos >= warmupUntilNanos;
  }

  String progressLine() {
    double t = elapsedSec();
    long now = System.nanoTime();
    double window = (now - lastLineNanos) / 1e9;
    double recent = window > 0 ? (completed - completedAtLastLine) / window : 0;
    completedAtLastLine = completed;
    lastLineNanos = now;
    return String.format(Locale.ROOT,
        "t=%6.1fs registered=%d/%d attempted=%d active=%d completed=%d failed=%d%s cps=%.1f (now %.1f) setup p50=%s p95=%s p99=%s",
        t, registered, clients, attempted, active, completed, failedTotal(), failed.isEmpty() ? "" : " " + failed,
        callsPerSecond(), recent, ms(setupMs.percentile(50)), ms(setupMs.percentile(95)), ms(setupMs.percentile(99)));
  }

  JsonObject toJson(LoadOptions o) {
    double t = elapsedSec();
    JsonObject failedJson = new JsonObject();
    failed.forEach(failedJson::put);
    JsonObject regFailedJson = new JsonObject();
    registerFailed.forEach(regFailedJson::put);
    return new JsonObject()
        .put("mode", o.mode()).put("number", o.number()).put("rate", o.rate()).put("holdMs", o.holdMs())
        .put("durationSec", round(t))
        .put("clients", clients).put("registered", registered).put("registerFailed", regFailedJson)
        .put("registerPending", registerPending)
        .put("allRegisteredMs", allRegisteredMs < 0 ? null : allRegisteredMs)
        .put("registerMs", registerMs.toJson())
        .put("attempted", attempted).put("completed", completed).put("failed", failedTotal())
        .put("failedByReason", failedJson).put("cut", cut).put("active", active)
        .put("callsPerSecond", round(callsPerSecond()))
        .put("setupMs", setupMs.toJson()).put("ackMs", ackMs.toJson())
        .put("gatewayAddedMs", gatewayAdded)
        .put("countsAddUp", countsAddUp());
  }

  String table(LoadOptions o) {
    StringBuilder sb = new StringBuilder();
    row(sb, "mode", o.mode() + " " + o.number() + " at " + o.rate() + "/s, hold " + o.holdMs() + " ms");
    row(sb, "duration", String.format(Locale.ROOT, "%.1f s", elapsedSec()));
    row(sb, "clients", Integer.toString(clients));
    row(sb, "registered", registered + (allRegisteredMs >= 0 ? " (all in " + allRegisteredMs + " ms)" : ""));
    row(sb, "register failed", registerFailedTotal() + (registerFailed.isEmpty() ? "" : " " + registerFailed));
    row(sb, "register p50/p95/p99", triple(registerMs));
    row(sb, "calls attempted", Integer.toString(attempted));
    row(sb, "calls completed", Integer.toString(completed));
    row(sb, "calls failed", failedTotal() + (failed.isEmpty() ? "" : " " + failed));
    row(sb, "calls cut by the bound", Integer.toString(cut));
    row(sb, "calls still active", Integer.toString(active));
    row(sb, "calls per second", String.format(Locale.ROOT, "%.1f (after registration)", callsPerSecond()));
    row(sb, "setup p50/p95/p99", triple(setupMs));
    row(sb, "ack p50/p95/p99", triple(ackMs));
    if (gatewayAdded != null) {
      row(sb, "gateway-added setup latency p50/p99 (Call→INVITE, 200→InCall)", GatewayLatency.row(gatewayAdded));
    }
    row(sb, "counts add up", countsAddUp() ? "yes" : "NO");
    return sb.toString();
  }

  private static void row(StringBuilder sb, String name, String value) {
    sb.append(String.format(Locale.ROOT, "%-24s %s%n", name, value));
  }

  private static String triple(Samples s) {
    return ms(s.percentile(50)) + " / " + ms(s.percentile(95)) + " / " + ms(s.percentile(99)) + "  (n=" + s.count() + ")";
  }

  private static String ms(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1fms", v);
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }

  /** Latencies in milliseconds; grows as needed, sorted only when a percentile is asked for. */
  static final class Samples {
    private double[] values;
    private int n;

    Samples(int expected) {
      values = new double[Math.max(16, Math.min(expected, 1_000_000))];
    }

    void add(double ms) {
      if (n == values.length) {
        values = Arrays.copyOf(values, n * 2);
      }
      values[n++] = ms;
    }

    int count() {
      return n;
    }

    /** Nearest-rank percentile, NaN without samples. */
    double percentile(double p) {
      if (n == 0) {
        return Double.NaN;
      }
      double[] sorted = Arrays.copyOf(values, n);
      Arrays.sort(sorted);
      int rank = (int) Math.ceil(p / 100.0 * n);
      return sorted[Math.max(0, Math.min(n - 1, rank - 1))];
    }

    JsonObject toJson() {
      JsonObject j = new JsonObject().put("count", n);
      if (n > 0) {
        j.put("p50", round(percentile(50))).put("p95", round(percentile(95))).put("p99", round(percentile(99)))
            .put("max", round(percentile(100)));
      }
      return j;
    }
  }
}
