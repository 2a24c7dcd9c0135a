package org.webphone.gateway.pool;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ClusterFormat;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * This node's side of the named lines (docs/pool.md, "Named lines"): leases an agent's fixed account to its
 * session and, when another session of the same agent held it, takes it over. The lease itself is one atomic
 * {@link PoolOp.LeaseNamed} (the old lease ends, the new one gets a larger token, so the old holder is fenced at
 * once); then the old session is told ({@link SessionEvent#TAKEN_OVER}, on whichever node it lives) and the
 * new session's lease is answered only after the old one replied that its line has unregistered, or after half
 * the request timeout (an old node that is gone must not keep the agent off the line; fencing holds anyway).
 *
 * <p>Only the pool verticle's context calls this class; it owns no timers (the bus request's own timeout).
 */
final class NamedLines {
  private static final Logger LOG = LoggerFactory.getLogger(NamedLines.class);

  private final Vertx vertx;
  private final PoolStore store;
  private final String nodeId;
  private final long takeoverWaitMs;
  private final LocalLeases leases;
  private final PoolMetrics metrics;

  NamedLines(Vertx vertx, PoolStore store, String nodeId, long requestTimeoutMs, LocalLeases leases,
      PoolMetrics metrics) {
    this.vertx = vertx;
    this.store = store;
    this.nodeId = nodeId;
    this.takeoverWaitMs = requestTimeoutMs / 2;
    this.leases = leases;
    this.metrics = metrics;
  }

  /** {@code pool.account.lease {sessionId, agent}}: the agent's line, taken over if another session has it. */
  void lease(Message<JsonObject> m, String sessionId, String agent) {
    long t0 = System.nanoTime();
    store.run(new PoolOp.LeaseNamed(sessionId, agent, nodeId, store.member(), System.currentTimeMillis()))
        .onComplete(ar -> {
          metrics.op(t0);
          if (ar.failed()) {
            LOG.error("named lease failed on node {}", nodeId, ar.cause());
            m.fail(ErrorCode.INTERNAL.code(), "pool lease failed: " + ar.cause().getMessage());
            return;
          }
          PoolState.NamedResult r = ar.result();
          if (r.grant() == null) {
            LOG.info("line={} refused: no named line for agent {}", sessionId, agent);
            m.fail(ErrorCode.UNKNOWN_AGENT.code(), "no line for agent " + agent + " (pool.agents)");
            return;
          }
          PoolState.Lease l = r.grant().lease();
          metrics.granted();
          leases.granted(l.accountId(), l.token(), sessionId);
          LOG.info("line={} leased the named line {} of agent {} token {}", sessionId, l.accountId(), agent, l.token());
          PoolState.Lease prev = r.previous();
          if (prev == null) {
            m.reply(PoolJson.grant(r.grant()));
            return;
          }
          LOG.info("line={} takes agent {}'s line {} over from session {} on node {}", sessionId, agent,
              l.accountId(), prev.sessionId(), prev.nodeId());
          JsonObject ev = SessionEvent.TAKEN_OVER.json().put(Fields.SESSION_ID, prev.sessionId())
              .put(Fields.ACCOUNT_ID, prev.accountId()).put(Fields.TOKEN, prev.token()).put(Fields.AGENT, agent);
          Future<?> told = prev.member().equals(store.member()) ? tellLocal(ev)
              : vertx.eventBus().request(Addresses.poolNode(prev.member()), ClusterFormat.stamp(ev.copy()),
                  new DeliveryOptions().setSendTimeout(takeoverWaitMs));
          told.onComplete(x -> {
            if (x.failed()) {
              LOG.warn("line={} the old session {} of agent {} did not confirm its end: {}", sessionId,
                  prev.sessionId(), agent, x.cause().getMessage());
            }
            m.reply(PoolJson.grant(r.grant()));
          });
        });
  }

  /** The takeover of a lease held by a session of this node, sent by another node's pool. */
  void takeOverLocal(Message<JsonObject> m) {
    tellLocal(m.body()).onComplete(ar -> m.reply(new JsonObject().put(Fields.RELEASED, ar.succeeded())));
  }

  private Future<?> tellLocal(JsonObject ev) {
    leases.releasing(ev.getString(Fields.ACCOUNT_ID), ev.getLong(Fields.TOKEN));
    return vertx.eventBus().request(Addresses.session(ev.getString(Fields.SESSION_ID)), ev,
        new DeliveryOptions().setSendTimeout(takeoverWaitMs));
  }
}
