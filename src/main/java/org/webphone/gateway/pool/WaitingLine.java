package org.webphone.gateway.pool;

import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ClusterFormat;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * This node's side of the cluster-wide waiting line: hands accounts granted to waiters to their sessions
 * ({@code {event:"lease"}}) and tells waiting sessions their new place ({@code {event:"queue"}}). The line
 * itself (who is first) is in the {@link PoolState}; only the pool verticle's context calls this class.
 */
final class WaitingLine {
  private static final Logger LOG = LoggerFactory.getLogger(WaitingLine.class);

  private final Vertx vertx;
  private final PoolStore store;
  private final long requestTimeoutMs;
  private final Consumer<PoolState.Counts> changed;
  private final LocalLeases leases;
  /** Sessions of this node in the line, with the last position they were told. */
  private final Map<String, Integer> local = new HashMap<>();
  private boolean refreshing;
  private boolean refreshAgain;

  WaitingLine(Vertx vertx, PoolStore store, long requestTimeoutMs, LocalLeases leases,
      Consumer<PoolState.Counts> changed) {
    this.vertx = vertx;
    this.leases = leases;
    this.store = store;
    this.requestTimeoutMs = requestTimeoutMs;
    this.changed = changed;
  }

  void queued(String sessionId, int position) {
    local.put(sessionId, position);
  }

  void left(String sessionId) {
    local.remove(sessionId);
  }

  /** Sends a lease made for a waiter to the node that holds the waiting session. */
  void deliver(PoolState.Grant g) {
    JsonObject ev = PoolJson.grant(g).put(Fields.EVENT, SessionEvent.LEASE.kind())
        .put(Fields.SESSION_ID, g.lease().sessionId());
    if (g.lease().member().equals(store.member())) {
      deliverLocal(ev);
    } else {
      // If that node is gone, the membership event or the TTL frees the account (the lease names its member).
      vertx.eventBus().send(Addresses.poolNode(g.lease().member()), ClusterFormat.stamp(ev));
    }
  }

  /**
   * Gives the lease to the session. If no session consumer is there any more, or it answers
   * {@code {accepted:false}}, the account goes back at once (to the next waiter, if any).
   */
  void deliverLocal(JsonObject ev) {
    String sessionId = ev.getString(Fields.SESSION_ID);
    String accountId = ev.getString(Fields.ACCOUNT_ID);
    long token = ev.getLong(Fields.TOKEN);
    local.remove(sessionId);
    leases.granted(accountId, token, sessionId);
    LOG.info("line={} waited and got account {} token {}", sessionId, accountId, token);
    vertx.eventBus().<Object>request(Addresses.session(sessionId), ev,
        new DeliveryOptions().setSendTimeout(requestTimeoutMs)).onComplete(ar -> {
          boolean gone = ar.failed() && ar.cause() instanceof ReplyException re
              && re.failureType() == ReplyFailure.NO_HANDLERS;
          boolean refused = ar.succeeded() && ar.result().body() instanceof JsonObject b
              && Boolean.FALSE.equals(b.getValue(Fields.ACCEPTED));
          if (gone || refused) {
            LOG.info("line={} {}; account {} goes back", sessionId, gone ? "is gone" : "refused the lease", accountId);
            leases.releasing(accountId, token);
            store.run(new PoolOp.Release(accountId, token, System.currentTimeMillis())).onSuccess(r -> {
              if (r.handedTo() != null) {
                deliver(r.handedTo());
              }
              changed.accept(r.counts());
            });
          }
        });
  }

  /** After the pool changed: one read of this node's places in line; sessions whose place moved are told. */
  void refreshPositions() {
    if (local.isEmpty()) {
      return;
    }
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    store.run(new PoolOp.Positions(store.member())).onComplete(ar -> {
      refreshing = false;
      if (ar.succeeded()) {
        for (Map.Entry<String, Integer> e : ar.result().entrySet()) {
          Integer before = local.get(e.getKey());
          if (before != null && !before.equals(e.getValue())) {
            local.put(e.getKey(), e.getValue());
            vertx.eventBus().send(Addresses.session(e.getKey()), SessionEvent.QUEUE.json()
                .put(Fields.SESSION_ID, e.getKey()).put(Fields.POSITION, e.getValue()));
          }
        }
        local.keySet().retainAll(ar.result().keySet());
      }
      if (refreshAgain) {
        refreshAgain = false;
        refreshPositions();
      }
    });
  }
}
