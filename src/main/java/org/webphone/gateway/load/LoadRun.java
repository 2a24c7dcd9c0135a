package org.webphone.gateway.load;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One load run as a verticle, so that every client, timer and counter lives on one context and needs no
 * lock: open the sessions ({@code openConcurrency} at a time), then (call mode) place calls at
 * {@code rate} on idle clients until {@code calls} were attempted, or (answer mode) answer what comes;
 * end at the count or at {@code durationSec}, hang up what is still up (counted as cut), close every
 * session. {@link #result()} completes with the summary. Undeploying it frees its consumers and timers.
 */
public final class LoadRun extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(LoadRun.class);
  private static final long TICK_MS = 10;
  private static final long REQUEST_TIMEOUT_MS = 10_000;
  private static final long CUT_WAIT_MS = 5_000;

  /** The summary: the JSON form and the table, both of the same numbers. */
  public record Report(JsonObject json, String table) {
  }

  private final LoadOptions options;
  private final PrintStream out;
  private final Promise<Report> result = Promise.promise();
  private final Promise<Void> allRegistered = Promise.promise();
  private final List<VirtualClient> clients = new ArrayList<>();
  private final Deque<VirtualClient> toOpen = new ArrayDeque<>();
  private final Deque<VirtualClient> idle = new ArrayDeque<>();
  private LoadStats stats;
  private LoadMedia media;
  private int opening;
  private int launched;
  private long callStartNanos;
  private long ticker = -1;
  private long progress = -1;
  private long deadline = -1;
  private boolean finishing;
  private boolean noMoreCalls;
  private GatewayLatency latency;
  private Future<JsonObject> latencyBase = Future.succeededFuture();
  private long warmupTimer = -1;

  public LoadRun(LoadOptions options, PrintStream out) {
    this.options = options;
    this.out = out;
  }

  /** Completes with the summary once the run ended and every session is closed. */
  public Future<Report> result() {
    return result.future();
  }

  /** Completes when every client is registered or failed; an answer-mode run is then ready for calls. */
  public Future<Void> allRegistered() {
    return allRegistered.future();
  }

  LoadOptions options() {
    return options;
  }

  LoadStats stats() {
    return stats;
  }

  /** The run's audio side with {@code --media}, else null. */
  LoadMedia media() {
    return media;
  }

  boolean acceptingIncoming() {
    return !finishing && stats.attempted < options.calls();
  }

  @Override
  public Future<?> start() {
    stats = new LoadStats(options.calls(), options.clients());
    String run = "load." + UUID.randomUUID().toString().substring(0, 8);
    out.printf("load run %s: %d clients, mode %s, %d calls to %s at %.1f/s%s, hold %d ms, bound %d s%n", run,
        options.clients(), options.mode(), options.calls(), options.number(), options.rate(),
        options.rampSec() > 0 ? " (ramp " + options.rampSec() + " s)" : "", options.holdMs(), options.durationSec());
    if (options.media()) {
      media = new LoadMedia(context);
      stats.media = true;
      stats.live = media::live;
      out.printf("with media: PCMU 20 ms from a synthetic WebRTC browser per call, no audio back within %d ms fails%n",
          options.mediaTimeoutMs());
    }
    for (int i = 0; i < options.clients(); i++) {
      VirtualClient c = new VirtualClient(this, vertx, run + "." + i + ".events", REQUEST_TIMEOUT_MS);
      clients.add(c);
      toOpen.add(c);
    }
    deadline = vertx.setTimer(options.durationSec() * 1000, t -> finish("the time bound (" + options.durationSec() + " s)"));
    progress = vertx.setPeriodic(options.progressSec() * 1000, t -> out.println(stats.progressLine()));
    openMore();
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    for (long t : new long[] {ticker, progress, deadline, warmupTimer}) {
      if (t >= 0) {
        vertx.cancelTimer(t);
      }
    }
    return Future.join(clients.stream().map(VirtualClient::close).toList())
        .eventually(() -> media != null ? media.close() : Future.succeededFuture());
  }

  // ------------------------------------------------------------------ registration

  private void openMore() {
    while (!finishing && opening < options.openConcurrency() && !toOpen.isEmpty()) {
      opening++;
      toOpen.poll().open();
    }
  }

  void clientReady(VirtualClient c, double ms) {
    opening--;
    stats.registerPending--;
    stats.registered++;
    stats.registerMs.add(ms);
    idle.add(c);
    openMore();
    registrationProgress();
  }

  void clientFailed(VirtualClient c, String reason) {
    opening--;
    stats.registerPending--;
    stats.registerFail(reason);
    LOG.debug("line={} registration failed: {}", c.sessionId(), reason);
    openMore();
    registrationProgress();
  }

  /** A client whose session the gateway closed (its node drained) has a new one, likely on another node. */
  void clientBack(VirtualClient c) {
    stats.reopened++;
    if (!finishing && !idle.contains(c)) {
      idle.add(c);
    }
    checkDone();
  }

  /**
   * Places no new call from now on; the run ends once the calls in progress ended by themselves (not cut).
   * Any thread.
   */
  public void stopCalling() {
    context.runOnContext(x -> {
      noMoreCalls = true;
      checkDone();
    });
  }

  /** The run's counts so far, in the summary's JSON form. Any thread. */
  public Future<JsonObject> counts() {
    Promise<JsonObject> p = Promise.promise();
    context.runOnContext(x -> p.complete(stats.toJson(options)));
    return p.future();
  }

  boolean finishingRun() {
    return finishing;
  }

  /** The gateway closed a session that was registered: it can take no more calls. */
  void clientGone(VirtualClient c) {
    idle.remove(c);
    checkDone();
  }

  private void registrationProgress() {
    if (stats.registerPending > 0 || allRegistered.future().isComplete()) {
      return;
    }
    stats.allRegisteredMs = Math.round(stats.elapsedSec() * 1000);
    out.printf("registered %d of %d clients in %d ms%s%n", stats.registered, stats.clients, stats.allRegisteredMs,
        stats.registerFailed.isEmpty() ? "" : ", failed " + stats.registerFailed);
    allRegistered.complete();
    stats.callsFromNanos = System.nanoTime();
    if (options.warmupSec() > 0) {
      stats.warmupUntilNanos = stats.callsFromNanos + options.warmupSec() * 1_000_000_000L;
    }
    if (stats.registered == 0) {
      finish("no client registered");
    } else if (options.mode().equals("call")) {
      // The nodes' timers count since they started: read them now and again when the warm-up ends.
      latency = new GatewayLatency(vertx, options.target().equals("in-process"));
      latencyBase = latency.read();
      if (options.warmupSec() > 0) {
        warmupTimer = vertx.setTimer(options.warmupSec() * 1000L, t -> latencyBase = latency.read());
      }
      callStartNanos = System.nanoTime();
      ticker = vertx.setPeriodic(TICK_MS, t -> launchDue());
    } else {
      out.println("ready for incoming calls");
    }
    checkDone();
  }

  // ------------------------------------------------------------------ calls

  private void launchDue() {
    if (finishing || noMoreCalls) {
      return;
    }
    double elapsed = (System.nanoTime() - callStartNanos) / 1e9;
    long due = Math.min(options.calls(), (long) Math.floor(callsDueBy(elapsed)) + 1) - launched;
    // A due call with no idle client waits for one: the offered rate is capped by clients / (hold + setup).
    while (due > 0 && !idle.isEmpty()) {
      VirtualClient c = idle.poll();
      if (c.phase() != VirtualClient.Phase.READY) {
        continue; // its session was closed since (it moves to another node): it comes back by clientBack
      }
      due--;
      launched++;
      c.call(options.number());
    }
    checkDone();
  }

  /**
   * Calls due {@code t} seconds into the calling phase: {@code rate * t}, or with a ramp of R seconds the
   * integral of a rate rising linearly from 0 ({@code rate * t^2 / 2R} up to R, then {@code rate * (t - R/2)}).
   */
  double callsDueBy(double t) {
    double ramp = options.rampSec();
    if (ramp <= 0 || t >= ramp) {
      return options.rate() * (t - ramp / 2);
    }
    return options.rate() * t * t / (2 * ramp);
  }

  void callStarted() {
    stats.attempted++;
    stats.active++;
  }

  /** A call attempt refused because its node drains: not counted; a client back will place it again. */
  void callNotPlaced() {
    stats.attempted--;
    stats.active--;
    stats.movedBeforeCall++;
    launched--;
  }

  void callEnded(VirtualClient c, boolean completed, boolean cut, String reason) {
    stats.active--;
    if (cut) {
      stats.cut++; // hung up because the run ended, whatever state it was in
    } else if (completed) {
      stats.completed++;
    } else {
      stats.fail(reason);
    }
    if (c.phase() == VirtualClient.Phase.READY && !finishing) {
      idle.add(c);
    }
    checkDone();
  }

  private void checkDone() {
    if (finishing || !allRegistered.future().isComplete()) {
      return;
    }
    boolean allDone = stats.attempted >= options.calls() && stats.active == 0;
    boolean nobodyLeft = stats.active == 0 && clients.stream()
        .noneMatch(c -> c.phase() == VirtualClient.Phase.READY || c.comingBack());
    if (allDone) {
      finish("all " + options.calls() + " calls done");
    } else if (noMoreCalls && stats.active == 0) {
      finish("no more calls asked for");
    } else if (nobodyLeft) {
      finish("no client left");
    }
  }

  // ------------------------------------------------------------------ the end

  private void finish(String why) {
    if (finishing) {
      return;
    }
    finishing = true;
    vertx.cancelTimer(ticker);
    vertx.cancelTimer(deadline);
    vertx.cancelTimer(progress);
    vertx.cancelTimer(warmupTimer);
    out.println("ending: " + why);
    for (VirtualClient c : clients) {
      c.cut();
    }
    long waitUntil = System.nanoTime() + CUT_WAIT_MS * 1_000_000;
    awaitNoActive(waitUntil).compose(x -> linger()).onComplete(x -> {
      // Counted as cut whatever happens to them: the run's counts must add up.
      stats.cut += stats.active;
      stats.active = 0;
      Future.join(clients.stream().map(VirtualClient::close).toList())
          .eventually(() -> media != null ? media.close() : Future.succeededFuture())
          .compose(y -> gatewayAdded()).onComplete(y -> {
        out.println(stats.progressLine());
        result.complete(new Report(stats.toJson(options), stats.table(options)));
      });
    });
  }

  /** The latency the gateway added to this run's measured calls into the summary; never fails the run. */
  private Future<Void> gatewayAdded() {
    if (latency == null) {
      return Future.succeededFuture();
    }
    Future<JsonObject> base = latencyBase;
    return latency.read().compose(end -> base.map(b -> GatewayLatency.between(b, end)))
        .onSuccess(j -> stats.gatewayAdded = j)
        .onFailure(e -> LOG.warn("gateway-added latency not read: {}", e.toString()))
        .<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }

  private Future<Void> linger() {
    if (options.lingerMs() <= 0) {
      return Future.succeededFuture();
    }
    out.printf("lines stay registered for %d ms%n", options.lingerMs());
    Promise<Void> p = Promise.promise();
    vertx.setTimer(options.lingerMs(), t -> p.complete());
    return p.future();
  }

  private Future<Void> awaitNoActive(long untilNanos) {
    if (stats.active == 0 || System.nanoTime() > untilNanos) {
      return Future.succeededFuture();
    }
    Promise<Void> p = Promise.promise();
    vertx.setTimer(50, t -> awaitNoActive(untilNanos).onComplete(p));
    return p.future();
  }
}
