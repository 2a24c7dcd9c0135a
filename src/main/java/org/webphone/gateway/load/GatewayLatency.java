package org.webphone.gateway.load;

import static org.webphone.gateway.common.SetupLatency.COUNT;
import static org.webphone.gateway.common.SetupLatency.COUNTS;
import static org.webphone.gateway.common.SetupLatency.LE_MS;
import static org.webphone.gateway.common.SetupLatency.TOTAL_MS;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.NodeFacts;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.common.messages.Fields;

/**
 * The set-up latency the gateway itself adds ({@link SetupLatency}: Call → INVITE sent, 200 OK → InCall sent),
 * read from the nodes a run drives: in-process from the node's metrics registry, in a cluster from every
 * member's {@code gateway.node.<member id>} with {@code {setupLatency: true}}. The nodes' timers count since
 * they started, so a run reads them when its measured calls begin and at its end, and takes the percentiles
 * of the difference (linear inside a bucket; the buckets are 0.05–0.1 ms wide below 1 ms, 0.25–1 ms up to
 * 5 ms). Runs on the load run's context.
 */
final class GatewayLatency {
  private static final long ASK_TIMEOUT_MS = 5_000;

  private final Vertx vertx;
  private final boolean inProcess;

  GatewayLatency(Vertx vertx, boolean inProcess) {
    this.vertx = vertx;
    this.inProcess = inProcess;
  }

  /** Both phases summed over the nodes that answered, plus {@code nodes}: how many did. */
  Future<JsonObject> read() {
    if (inProcess) {
      String nodeId = NodeFacts.of(vertx).nodeId();
      var registry = nodeId == null ? null : BackendRegistries.getNow(nodeId);
      return Future.succeededFuture(registry == null ? new JsonObject().put("nodes", 0)
          : merge(List.of(SetupLatency.snapshot(registry, nodeId))));
    }
    var cm = ((VertxInternal) vertx).clusterManager();
    if (cm == null) {
      return Future.succeededFuture(new JsonObject().put("nodes", 0));
    }
    List<Future<JsonObject>> asks = new ArrayList<>();
    DeliveryOptions opts = new DeliveryOptions().setSendTimeout(ASK_TIMEOUT_MS);
    for (String member : cm.getNodes()) {
      if (member.equals(cm.getNodeId())) {
        continue;
      }
      // A member that is no gateway (another tool) has no consumer: its failure just leaves it out.
      asks.add(vertx.eventBus().<JsonObject>request(Addresses.node(member),
          new JsonObject().put(Fields.SETUP_LATENCY, true), opts)
          .map(m -> m.body().getJsonObject(Fields.SETUP_LATENCY)).otherwise((JsonObject) null));
    }
    return Future.join(asks).map(x -> merge(asks.stream().map(Future::result).filter(j -> j != null).toList()));
  }

  private static JsonObject merge(List<JsonObject> nodes) {
    JsonObject all = new JsonObject().put("nodes", nodes.size());
    for (String phase : SetupLatency.PHASES) {
      JsonObject sum = null;
      for (JsonObject n : nodes) {
        JsonObject p = n.getJsonObject(phase);
        if (p == null) {
          continue;
        }
        if (sum == null) {
          sum = new JsonObject().put(COUNT, 0L).put(TOTAL_MS, 0.0).put(LE_MS, p.getJsonArray(LE_MS))
              .put(COUNTS, plus(p.getJsonArray(COUNTS), p.getJsonArray(COUNTS), -1));
        }
        sum.put(COUNT, sum.getLong(COUNT) + p.getLong(COUNT))
            .put(TOTAL_MS, sum.getDouble(TOTAL_MS) + p.getDouble(TOTAL_MS))
            .put(COUNTS, plus(sum.getJsonArray(COUNTS), p.getJsonArray(COUNTS), 1));
      }
      if (sum != null) {
        all.put(phase, sum);
      }
    }
    return all;
  }

  /**
   * What {@code end} adds to {@code base} (both from {@link #read}), per phase: {@code count, meanMs, p50Ms,
   * p95Ms, p99Ms}; {@code nodes} as at the end. A phase with no call in between has only {@code count: 0}.
   */
  static JsonObject between(JsonObject base, JsonObject end) {
    JsonObject r = new JsonObject().put("nodes", end.getInteger("nodes", 0));
    for (String phase : SetupLatency.PHASES) {
      JsonObject e = end.getJsonObject(phase);
      JsonObject b = base == null ? null : base.getJsonObject(phase);
      if (e == null) {
        continue;
      }
      long count = e.getLong(COUNT) - (b == null ? 0 : b.getLong(COUNT));
      JsonObject p = new JsonObject().put(COUNT, count);
      if (count > 0) {
        double total = e.getDouble(TOTAL_MS) - (b == null ? 0 : b.getDouble(TOTAL_MS));
        JsonArray counts = b == null ? e.getJsonArray(COUNTS)
            : plus(e.getJsonArray(COUNTS), b.getJsonArray(COUNTS), -1);
        JsonArray le = e.getJsonArray(LE_MS);
        p.put("meanMs", round(total / count)).put("p50Ms", percentile(le, counts, count, 50))
            .put("p95Ms", percentile(le, counts, count, 95)).put("p99Ms", percentile(le, counts, count, 99));
      }
      r.put(phase, p);
    }
    return r;
  }

  /** The summary row: p50/p99 of both phases, e.g. "0.42ms/1.9ms, 0.31ms/1.2ms (n=…)". */
  static String row(JsonObject between) {
    if (between == null || between.getInteger("nodes", 0) == 0) {
      return "- (no node answered)";
    }
    StringBuilder sb = new StringBuilder();
    for (String phase : SetupLatency.PHASES) {
      JsonObject p = between.getJsonObject(phase, new JsonObject().put(COUNT, 0));
      if (sb.length() > 0) {
        sb.append(", ");
      }
      sb.append(p.getLong(COUNT) == 0 ? "-" : ms(p.getDouble("p50Ms")) + "/" + ms(p.getDouble("p99Ms")));
    }
    long n = between.getJsonObject(SetupLatency.CALL_TO_INVITE, new JsonObject().put(COUNT, 0)).getLong(COUNT);
    int nodes = between.getInteger("nodes");
    return sb + "  (n=" + n + ", " + nodes + " node" + (nodes == 1 ? "" : "s") + ")";
  }

  /**
   * Nearest-rank percentile from cumulative bucket counts, placed linearly inside its bucket; a rank past
   * the last bucket is reported as that bucket's bound (the true value is larger).
   */
  static double percentile(JsonArray leMs, JsonArray cumulative, long count, double pct) {
    long rank = Math.max(1, (long) Math.ceil(pct / 100.0 * count));
    double lower = 0;
    long below = 0;
    for (int i = 0; i < leMs.size(); i++) {
      long c = cumulative.getLong(i);
      double upper = leMs.getDouble(i);
      if (c >= rank) {
        long inBucket = c - below;
        double frac = inBucket <= 0 ? 1 : (double) (rank - below) / inBucket;
        return round(lower + frac * (upper - lower));
      }
      lower = upper;
      below = c;
    }
    return round(lower);
  }

  private static JsonArray plus(JsonArray a, JsonArray b, int sign) {
    JsonArray r = new JsonArray();
    for (int i = 0; i < a.size(); i++) {
      r.add(a.getLong(i) + sign * (i < b.size() ? b.getLong(i) : 0));
    }
    return r;
  }

  private static String ms(double v) {
    return String.format(Locale.ROOT, v < 10 ? "%.2fms" : "%.1fms", v);
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }
}
