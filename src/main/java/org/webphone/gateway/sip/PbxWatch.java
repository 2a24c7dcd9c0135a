package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import javax.sip.ClientTransaction;
import javax.sip.address.Address;
import javax.sip.address.SipURI;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.GatewayConfig;

/**
 * Watches the registrars for {@link PbxRegistrars}: the OPTIONS keep-alive every {@code sip.optionsIntervalSec}
 * while any line is open (to the current target, and to the preferred one while the lines are elsewhere), and
 * the re-resolution of the configured hosts every {@code pbx.resolveIntervalSec} and after each failover.
 * An OPTIONS counts as unanswered when no final response (or a 503) came by the next one (within 5 s when
 * the interval is longer); its transaction is then ended, so a dead PBX never holds more than one per target. Over TCP and TLS an
 * OPTIONS is handed to the stack from a worker outside the ordered queue ({@link PbxTrunk#sendRequest}), since the
 * stack connects when it creates the transaction.
 *
 * <p>Thread: the SIP verticle's event loop; DNS runs in {@code executeBlocking}. Owns its two timers and its
 * pending OPTIONS transactions, freed by {@link #stop()}.
 */
final class PbxWatch {
  private static final Logger LOG = LoggerFactory.getLogger(PbxWatch.class);
  private static final long MAX_OPTIONS_WAIT_MS = 5_000;

  private final Vertx vertx;
  private final PbxTrunk trunk;
  private final PbxResolver resolver;
  private final List<PbxResolver.Entry> entries;
  private final BooleanSupplier anyLine;
  private final long optionsMs;
  private final long resolveMs;
  /** The OPTIONS in flight, at most one per target. */
  private final Map<PbxTarget, Probe> probes = new HashMap<>();
  private long optionsTimer = -1;
  private long resolveTimer = -1;
  private boolean resolving;

  PbxWatch(Vertx vertx, PbxTrunk trunk, PbxResolver resolver, List<PbxResolver.Entry> entries, GatewayConfig cfg,
      BooleanSupplier anyLine) {
    this.vertx = vertx;
    this.trunk = trunk;
    this.resolver = resolver;
    this.entries = entries;
    this.anyLine = anyLine;
    this.optionsMs = cfg.getInt("sip.optionsIntervalSec") * 1000L;
    this.resolveMs = cfg.getInt("pbx.resolveIntervalSec") * 1000L;
  }

  /**
   * The configured registrars in order: {@code pbx.host:pbx.port} (the demo PBX in demo mode), then
   * {@code pbx.secondaryHost:pbx.secondaryPort} (port 0: {@code pbx.port}) when set.
   */
  static List<PbxResolver.Entry> entries(GatewayConfig cfg) {
    List<PbxResolver.Entry> out = new ArrayList<>();
    out.add(new PbxResolver.Entry(cfg.pbxHost(), cfg.pbxPort(), "primary"));
    String second = cfg.getString("pbx.secondaryHost");
    if (!cfg.demoMode() && !second.isBlank()) {
      int port = cfg.getInt("pbx.secondaryPort");
      out.add(new PbxResolver.Entry(second, port == 0 ? cfg.pbxPort() : port, "secondary"));
    }
    return out;
  }

  void start() {
    if (optionsMs > 0) {
      optionsTimer = vertx.setPeriodic(optionsMs, t -> keepAlive());
    }
    if (resolveMs > 0) {
      resolveTimer = vertx.setPeriodic(resolveMs, t -> resolveNow("every pbx.resolveIntervalSec"));
    }
  }

  void stop() {
    for (long t : new long[] {optionsTimer, resolveTimer}) {
      if (t >= 0) {
        vertx.cancelTimer(t);
      }
    }
    probes.values().forEach(p -> terminate(p.tx));
    probes.clear();
  }

  /** Looks the configured hosts up again on a worker (once at a time) and hands the result to the registrars. */
  void resolveNow(String why) {
    if (resolving) {
      return;
    }
    resolving = true;
    LOG.debug("re-resolving the PBX ({})", why);
    vertx.executeBlocking(() -> resolver.resolve(entries), false).onComplete(ar -> {
      resolving = false;
      trunk.registrars.resolved(ar.succeeded() ? ar.result() : List.of());
    });
  }

  private void keepAlive() {
    if (!anyLine.getAsBoolean()) {
      return;
    }
    PbxRegistrars r = trunk.registrars;
    probe(r.current());
    if (!r.onPreferred()) {
      probe(r.preferred());
    }
  }

  /**
   * One OPTIONS to {@code t}. One still unanswered from the tick before is a miss (and is ended): a registrar
   * has one keep-alive interval to answer, at most {@value #MAX_OPTIONS_WAIT_MS} ms when the interval is longer.
   */
  private void probe(PbxTarget t) {
    Probe old = probes.get(t);
    if (old != null) {
      done(t, old, false);
    }
    try {
      SipURI uri = trunk.pbxUri(null);
      Address me = trunk.sip.addresses().createAddress(trunk.sip.addresses().createSipURI("gateway", trunk.announced));
      Request req = trunk.newRequest(t, Request.OPTIONS, uri, me, PbxTrunk.newTag(),
          trunk.sip.addresses().createAddress(uri), trunk.newCallId(), 1);
      Probe p = new Probe(optionsMs > MAX_OPTIONS_WAIT_MS ? vertx.setTimer(MAX_OPTIONS_WAIT_MS,
          x -> done(t, probes.get(t), false)) : -1);
      probes.put(t, p);
      trunk.sendRequest(req, null, TxHandler.of((resp, c) -> {
        if (resp.getStatusCode() >= 200) {
          done(t, p, resp.getStatusCode() != Response.SERVICE_UNAVAILABLE);
        }
      }, () -> done(t, p, false)), tx -> {
        if (probes.get(t) == p) {
          p.tx = tx;
        } else {
          terminate(tx); // given up while it was being sent
        }
      }, e -> done(t, p, false), false);
    } catch (Exception ex) {
      LOG.debug("OPTIONS keep-alive to {} not sent: {}", t, ex.toString());
      trunk.registrars.keepAlive(t, false);
    }
  }

  /** One probe's end, reported once: an unanswered one's transaction is ended rather than retransmitting for 32 s. */
  private void done(PbxTarget t, Probe p, boolean answered) {
    if (p == null || !probes.remove(t, p)) {
      return;
    }
    if (p.timer >= 0) {
      vertx.cancelTimer(p.timer);
    }
    if (!answered) {
      terminate(p.tx);
    }
    trunk.registrars.keepAlive(t, answered);
  }

  /** An OPTIONS in flight (its transaction once sent) and its timer (-1: none, the next tick decides). */
  private static final class Probe {
    final long timer;
    ClientTransaction tx;

    Probe(long timer) {
      this.timer = timer;
    }
  }

  private static void terminate(ClientTransaction tx) {
    if (tx == null) {
      return; // still being sent: its sent callback ends it
    }
    try {
      tx.terminate();
    } catch (Exception e) {
      LOG.debug("OPTIONS transaction not terminated: {}", e.toString());
    }
  }
}
