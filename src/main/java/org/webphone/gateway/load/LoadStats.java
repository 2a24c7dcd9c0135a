package org.webphone.gateway.load;

import io.vertx.core.json.JsonObject;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

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
  /** Calls in progress that the gateway side ended (BYE, session closed) before the tool hung up (call mode). */
  int endedByGateway;
  /** Call attempts refused because their node drains (not counted as attempted: placed again elsewhere). */
  int movedBeforeCall;
  /** Sessions the gateway closed (e.g. moved off a draining node) that the tool opened again. */
  int reopened;
  int active;
  final Map<String, Integer> failed = new TreeMap<>();
  final Samples setupMs;
  final Samples ackMs;
  /** The set-up latency the nodes added to the measured calls ({@link GatewayLatency#between}); null if unread. */
  JsonObject gatewayAdded;

  // --media: the audio of the completed calls (a call without audio back fails as "no_media")
  boolean media;
  /** The browsers that exist right now (for the progress line). */
  Supplier<LoadMedia.Live> live = () -> new LoadMedia.Live(0, 0, 0, 0);
  int mediaCalls;
  long mediaSent;
  long mediaReceived;
  long mediaMismatched;
  long mediaDuplicates;
  long mediaSendFailed;
  /** InCall → the first echoed packet back. */
  final Samples mediaSetupMs;
  /** The gateway's answer → ICE and DTLS done (the browser's side of the set-up). */
  final Samples mediaConnectMs;
  /** The first packet sent → its echo back (the first round trip, with every queue on the way cold). */
  final Samples firstEchoMs;
  /** Each call's loss in percent (sent but not echoed back). */
  final Samples callLossPct;

  LoadStats(int expectedCalls, int clients) {
    this.clients = clients;
    this.registerPending = clients;
    this.registerMs = new Samples(clients);
    this.setupMs = new Samples(expectedCalls);
    this.ackMs = new Samples(expectedCalls);
    this.mediaSetupMs = new Samples(expectedCalls);
    this.mediaConnectMs = new Samples(expectedCalls);
    this.firstEchoMs = new Samples(expectedCalls);
    this.callLossPct = new Samples(expectedCalls);
  }

  /** Adds a completed call's audio. */
  void mediaCall(MediaLeg leg) {
    long sent = leg.sent.get();
    long received = leg.received.get();
    mediaCalls++;
    mediaSent += sent;
    mediaReceived += received;
    mediaMismatched += leg.mismatched.get();
    mediaDuplicates += leg.duplicates.get();
    mediaSendFailed += leg.sendFailed.get();
    callLossPct.add(lossPct(sent, received));
    long first = leg.firstAudioNanos.get();
    if (first > 0 && leg.inCallNanos > 0) {
      mediaSetupMs.add(Math.max(0, first - leg.inCallNanos) / 1e6);
    }
    if (leg.connectedNanos > 0 && leg.answerNanos > 0) {
      mediaConnectMs.add((leg.connectedNanos - leg.answerNanos) / 1e6);
    }
    if (first > 0 && leg.firstSentNanos > 0) {
      firstEchoMs.add(Math.max(0, first - leg.firstSentNanos) / 1e6);
    }
  }

  static double lossPct(long sent, long received) {
    return sent <= 0 ? 0 : 100.0 * Math.max(0, sent - received) / sent;
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
        && clients == registered + registerFailedTotal() + registerPending
        && (!media || mediaCalls == completed);
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
        callsPerSecond(), recent, ms(setupMs.percentile(50)), ms(setupMs.percentile(95)), ms(setupMs.percentile(99)))
        + (media ? mediaProgress() : "");
  }

  /** Live calls' packets too (their last ones still in flight), so a long hold shows its audio as it goes. */
  private String mediaProgress() {
    LoadMedia.Live l = live.get();
    long sent = mediaSent + l.sent();
    long received = mediaReceived + l.received();
    return String.format(Locale.ROOT,
        " | media browsers=%d sending=%d sent=%d received=%d loss=%.2f%% no_media=%d audio p50=%s p99=%s",
        l.browsers(), l.sending(), sent, received, lossPct(sent, received), failed.getOrDefault("no_media", 0),
        ms(mediaSetupMs.percentile(50)), ms(mediaSetupMs.percentile(99)));
  }

  private JsonObject mediaJson() {
    return new JsonObject().put("calls", mediaCalls).put("sent", mediaSent).put("received", mediaReceived)
        .put("lossPct", round(lossPct(mediaSent, mediaReceived))).put("mismatched", mediaMismatched)
        .put("duplicates", mediaDuplicates).put("sendFailed", mediaSendFailed)
        .put("noMedia", failed.getOrDefault("no_media", 0))
        .put("setupMs", mediaSetupMs.toJson()).put("connectMs", mediaConnectMs.toJson())
        .put("firstEchoMs", firstEchoMs.toJson()).put("callLossPct", callLossPct.toJson());
  }

  JsonObject toJson(LoadOptions o) {
    double t = elapsedSec();
    JsonObject failedJson = new JsonObject();
    failed.forEach(failedJson::put);
    JsonObject regFailedJson = new JsonObject();
    registerFailed.forEach(regFailedJson::put);
    JsonObject j = new JsonObject()
        .put("mode", o.mode()).put("number", o.number()).put("rate", o.rate()).put("holdMs", o.holdMs())
        .put("durationSec", round(t))
        .put("clients", clients).put("registered", registered).put("registerFailed", regFailedJson)
        .put("registerPending", registerPending)
        .put("allRegisteredMs", allRegisteredMs < 0 ? null : allRegisteredMs)
        .put("registerMs", registerMs.toJson())
        .put("attempted", attempted).put("completed", completed).put("failed", failedTotal())
        .put("failedByReason", failedJson).put("cut", cut).put("active", active)
        .put("endedByGateway", endedByGateway).put("movedBeforeCall", movedBeforeCall).put("reopened", reopened)
        .put("callsPerSecond", round(callsPerSecond()))
        .put("setupMs", setupMs.toJson()).put("ackMs", ackMs.toJson())
        .put("gatewayAddedMs", gatewayAdded)
        .put("countsAddUp", countsAddUp());
    return media ? j.put("media", mediaJson()) : j;
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
    if (endedByGateway + movedBeforeCall + reopened > 0) {
      row(sb, "ended by the gateway", Integer.toString(endedByGateway));
      row(sb, "moved before the call", movedBeforeCall + " (placed again), sessions reopened " + reopened);
    }
    row(sb, "calls still active", Integer.toString(active));
    row(sb, "calls per second", String.format(Locale.ROOT, "%.1f (after registration)", callsPerSecond()));
    row(sb, "setup p50/p95/p99", triple(setupMs));
    row(sb, "ack p50/p95/p99", triple(ackMs));
    if (gatewayAdded != null) {
      row(sb, "gateway-added setup latency p50/p99 (Call→INVITE, 200→InCall)", GatewayLatency.row(gatewayAdded));
    }
    if (media) {
      row(sb, "media packets", String.format(Locale.ROOT, "sent %d, echoed back %d (%d completed calls)", mediaSent,
          mediaReceived, mediaCalls));
      row(sb, "media loss", String.format(Locale.ROOT, "%.3f %% (worst call %s %%, p95 %s %%)",
          lossPct(mediaSent, mediaReceived), pct(callLossPct.percentile(100)), pct(callLossPct.percentile(95))));
      row(sb, "media not echoed as sent", mediaMismatched + " altered/foreign, " + mediaDuplicates + " duplicates, "
          + mediaSendFailed + " send failures");
      row(sb, "calls without audio", Integer.toString(failed.getOrDefault("no_media", 0)));
      row(sb, "audio p50/p95/p99", triple(mediaSetupMs) + "  InCall -> first echo");
      row(sb, "  ICE+DTLS p50/p95/p99", triple(mediaConnectMs) + "  Answer -> DTLS done");
      row(sb, "  1st echo p50/p95/p99", triple(firstEchoMs) + "  first packet sent -> back");
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

  private static String pct(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v);
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
