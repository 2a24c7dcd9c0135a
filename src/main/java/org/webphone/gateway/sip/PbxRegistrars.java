package org.webphone.gateway.sip;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which registrar the lines use now, and when to change it. The targets come from {@link PbxResolver} in
 * order; the first is the preferred one (the primary, or its best SRV record). The current target changes:
 * <ul>
 *   <li>on failover: {@code pbx.failoverAfter} OPTIONS keep-alives in a row unanswered, or a REGISTER that
 *       got no answer, move the lines to the next target (after the last, the first again);</li>
 *   <li>on failback: while not on the preferred target it is probed too, and after {@code pbx.failbackAfter}
 *       answers in a row the lines go back to it;</li>
 *   <li>on re-resolution: when the current target is no longer among the addresses DNS gives, the lines go
 *       to the first of the new ones (a DNS failure or an empty answer keeps the last good list).</li>
 * </ul>
 * A report about a target that is no longer current (the other lines' REGISTER timeouts after the first
 * one moved them) changes nothing, so one outage makes one failover.
 *
 * <p>Thread: the SIP verticle's event loop only, except {@link #failovers()}/{@link #onPreferred()}, read by
 * the metrics scrape. Owns nothing that needs freeing; what a move means for the lines is the listener's.
 */
final class PbxRegistrars {
  private static final Logger LOG = LoggerFactory.getLogger(PbxRegistrars.class);

  /** Told on the event loop when the lines must move, and when the set of addresses changes. */
  interface Listener {
    void moved(PbxTarget from, PbxTarget to, String why);

    void targetsChanged(List<PbxTarget> targets);
  }

  private final int failoverAfter;
  private final int failbackAfter;
  private final Listener listener;
  private List<PbxTarget> targets;
  private volatile int current;
  private int misses;
  private int preferredAnswers;
  private final AtomicLong failovers = new AtomicLong();
  private final AtomicLong failbacks = new AtomicLong();

  /** {@code targets}: the first resolution, not empty. */
  PbxRegistrars(List<PbxTarget> targets, int failoverAfter, int failbackAfter, Listener listener) {
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("no PBX target");
    }
    this.targets = List.copyOf(targets);
    this.failoverAfter = failoverAfter;
    this.failbackAfter = failbackAfter;
    this.listener = listener;
  }

  PbxTarget current() {
    return targets.get(current);
  }

  PbxTarget preferred() {
    return targets.get(0);
  }

  boolean onPreferred() {
    return current == 0;
  }

  List<PbxTarget> targets() {
    return targets;
  }

  long failovers() {
    return failovers.get();
  }

  /** The outcome of one OPTIONS keep-alive toward {@code t}: answered (any final response but 503) or not. */
  void keepAlive(PbxTarget t, boolean answered) {
    if (t.equals(current())) {
      if (answered) {
        misses = 0;
        return;
      }
      misses++;
      LOG.warn("PBX {} did not answer OPTIONS ({} of {} before failover)", t, misses, failoverAfter);
      if (misses >= failoverAfter) {
        failover(misses + " OPTIONS unanswered");
      }
    } else if (current != 0 && t.equals(preferred())) {
      preferredAnswers = answered ? preferredAnswers + 1 : 0;
      if (preferredAnswers >= failbackAfter) {
        failbacks.incrementAndGet();
        move(0, "failback: " + preferredAnswers + " OPTIONS answered");
      }
    }
  }

  /** A REGISTER sent to {@code t} got no answer in time. True when the lines were moved for it. */
  boolean registerUnanswered(PbxTarget t) {
    if (!t.equals(current())) {
      return false;
    }
    return failover("REGISTER unanswered");
  }

  private boolean failover(String why) {
    if (targets.size() < 2) {
      misses = 0;
      return false;
    }
    failovers.incrementAndGet();
    move((current + 1) % targets.size(), "failover: " + why);
    return true;
  }

  private void move(int to, String why) {
    PbxTarget from = current();
    current = to;
    misses = 0;
    preferredAnswers = 0;
    LOG.warn("PBX registrar {} -> {} ({})", from, current(), why);
    listener.moved(from, current(), why);
  }

  /** A fresh resolution. Empty: DNS failed, the last good list stays. */
  void resolved(List<PbxTarget> fresh) {
    if (fresh.isEmpty()) {
      LOG.warn("PBX re-resolution found no address; keeping {}", targets);
      return;
    }
    if (fresh.equals(targets)) {
      return;
    }
    PbxTarget now = current();
    targets = List.copyOf(fresh);
    LOG.info("PBX registrars are now {}", targets);
    listener.targetsChanged(targets);
    int still = targets.indexOf(now);
    if (still >= 0) {
      current = still;
      return;
    }
    current = 0;
    misses = 0;
    preferredAnswers = 0;
    LOG.warn("PBX registrar {} is no longer in DNS; lines move to {}", now, current());
    listener.moved(now, current(), "re-resolution");
  }

  /**
   * {@code webphone_sip_pbx_failovers_total{node}} and {@code webphone_sip_pbx_preferred{node}} (1 while the
   * lines use the preferred registrar); the caller removes them.
   */
  List<Meter> register(MeterRegistry registry, String nodeId) {
    return List.of(
        FunctionCounter.builder("webphone.sip.pbx.failovers", this, PbxRegistrars::failovers)
            .description("moves of the lines to another registrar because the current one stopped answering")
            .tag("node", nodeId).register(registry),
        Gauge.builder("webphone.sip.pbx.preferred", this, r -> r.onPreferred() ? 1 : 0)
            .description("1 while the lines use the preferred registrar (pbx.host), 0 after a failover")
            .tag("node", nodeId).register(registry));
  }

  /** {@code {current, preferred, targets, failovers, failbacks}} for sip.status (and so the full /health). */
  JsonObject status() {
    JsonArray all = new JsonArray();
    targets.forEach(t -> all.add(t.hostPort()));
    return new JsonObject().put("current", current().hostPort()).put("preferred", onPreferred())
        .put("targets", all).put("failovers", failovers.get()).put("failbacks", failbacks.get());
  }
}
