package org.webphone.gateway.media.rtp;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.List;

/**
 * Call quality on /metrics, one sample per leg per call recorded when the call's media ends: loss of the
 * stream the gateway received on that leg, its interarrival jitter, and the round-trip time from the peer's
 * reports ({@code webphone_media_call_loss_percent}, {@code ..._jitter_ms}, {@code ..._rtt_ms}, tagged
 * {@code node} and {@code leg=browser|pbx}). A call-centre operator reads the distribution (p50/p95 with
 * the histogram) and which leg degrades. A no-op when the node has no metrics registry (tests).
 */
public final class RtcpMetrics {
  private static final double[] SLO_PERCENT = {0.1, 0.5, 1, 2, 5, 10};
  private static final double[] SLO_MS = {5, 10, 20, 50, 100, 200, 400};

  private final MeterRegistry registry;
  private final List<Meter> meters = new ArrayList<>();
  private final DistributionSummary[] loss = new DistributionSummary[2];
  private final DistributionSummary[] jitter = new DistributionSummary[2];
  private final DistributionSummary[] rtt = new DistributionSummary[2];

  /** @param registryName the node's registry (GatewayNode names it after the node id) */
  public RtcpMetrics(String registryName) {
    this.registry = registryName == null ? null : BackendRegistries.getNow(registryName);
    if (registry == null) {
      return;
    }
    String[] legs = {"browser", "pbx"};
    for (int i = 0; i < 2; i++) {
      loss[i] = add(summary("webphone.media.call.loss.percent", "packets lost per call on the stream received "
          + "on this leg, percent", legs[i], registryName, SLO_PERCENT));
      jitter[i] = add(summary("webphone.media.call.jitter.ms", "interarrival jitter per call of the stream "
          + "received on this leg (RFC 3550), ms", legs[i], registryName, SLO_MS));
      rtt[i] = add(summary("webphone.media.call.rtt.ms", "mean round-trip time per call from RTCP reports, ms",
          legs[i], registryName, SLO_MS));
    }
  }

  private DistributionSummary summary(String name, String description, String leg, String node, double[] slo) {
    return DistributionSummary.builder(name).description(description).tag("node", node).tag("leg", leg)
        .serviceLevelObjectives(slo).register(registry);
  }

  private <M extends Meter> M add(M m) {
    meters.add(m);
    return m;
  }

  /** Records one ended call's leg; figures it never had (no media, no RTT) are left out. */
  public void record(RtcpLeg leg) {
    if (registry == null) {
      return;
    }
    int i = "browser".equals(leg.name()) ? 0 : 1;
    if (leg.stats().expected() > 0) {
      loss[i].record(leg.lossPercent());
      jitter[i].record(leg.jitterMs());
    }
    double r = leg.meanRttMs();
    if (r >= 0) {
      rtt[i].record(r);
    }
  }

  public void close() {
    if (registry != null) {
      meters.forEach(registry::remove);
    }
    meters.clear();
  }
}
