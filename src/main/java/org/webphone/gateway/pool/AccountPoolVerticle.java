package org.webphone.gateway.pool;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.LifecycleEvent;
import com.hazelcast.spi.properties.ClusterProperty;
import com.hazelcast.spi.properties.HazelcastProperties;
import com.hazelcast.splitbrainprotection.SplitBrainProtectionException;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ClusterFormat;
import org.webphone.gateway.common.ConfirmedLeases;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.config.AccountList;
import org.webphone.gateway.config.GatewayConfig;

/**
 * The account pool of the node; the pool itself is cluster-wide. Contract: docs/event-bus.md ("Account
 * pool"); semantics and failure recovery: docs/pool.md.
 *
 * <p>Every command becomes one atomic {@link PoolOp} on the shared {@link PoolState} (a Hazelcast entry
 * when clustered, see {@link HazelcastPoolStore}; a local object when standalone). Leases of a node that
 * leaves the cluster are freed on the membership event; leases of a node that stops heart-beating (hung,
 * cut off, or an event nobody handled) are freed after {@code pool.leaseTtlSec}.
 *
 * <p>The leases of this node that the last successful heartbeat confirmed are published node-locally on
 * {@link Addresses#POOL_LEASES_CONFIRMED}, so that the SIP verticle needs no validate round trip for them
 * while the confirmation holds (docs/pool.md, "Fencing without a round trip").
 */
public final class AccountPoolVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(AccountPoolVerticle.class);
  /** pool.changed is coalesced: at thousands of leases per second one event per change would flood the bus. */
  static final long CHANGE_COALESCE_MS = 50;
  private static final DeliveryOptions NODE_LOCAL = new DeliveryOptions().setLocalOnly(true);

  private PoolStore store;
  private PoolMetrics metrics;
  private String nodeId;
  private boolean waitingLine;
  private int maxWaiting;
  private long ttlMs;
  private long requestTimeoutMs;
  private long heartbeatTimer = -1;
  private long changeTimer = -1;
  private PoolState.Counts lastCounts;
  private HazelcastInstance hz;
  private UUID membershipRegistration;
  private UUID lifecycleRegistration;
  private WaitingLine line;
  private NamedLines named;
  private final LocalLeases localLeases = new LocalLeases(new LocalLeases.Changes() {
    @Override
    public void confirmed(String accountId, long token) {
      publishConfirmed(new JsonObject().put(ConfirmedLeases.LEASES, new JsonObject().put(accountId, token)));
    }

    @Override
    public void unconfirmed(String accountId, long token) {
      publishConfirmed(new JsonObject().put(ConfirmedLeases.RELEASED, new JsonObject().put(accountId, token)));
    }
  });
  /** How long a successful heartbeat confirms this node's leases, from the moment it was started. */
  private long confirmNanos;
  /** Whether {@link #confirmedUntil} holds: withdrawn on cluster changes and at stop, set by a heartbeat. */
  private boolean confirmedValid;
  private long confirmedUntil;
  /** Counts cluster changes, so that a heartbeat started before one does not confirm anything. */
  private int clusterEpoch;
  private boolean stopping;
  /** Set while the pool refuses this member for want of a quorum (split brain), so that it is told once. */
  private boolean withoutQuorum;
  /** System.nanoTime, or a test's clock shared with the SIP verticle's {@link ConfirmedLeases}. */
  private final java.util.function.LongSupplier nanoClock;

  public AccountPoolVerticle() {
    this(System::nanoTime);
  }

  public AccountPoolVerticle(java.util.function.LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  @Override
  public Future<?> start() {
    GatewayConfig cfg = GatewayConfig.from(config());
    nodeId = config().getString("nodeId", "local");
    waitingLine = cfg.getBoolean("pool.waitingLine");
    maxWaiting = cfg.getInt("pool.maxWaiting");
    ttlMs = cfg.getLong("pool.leaseTtlSec") * 1000;
    requestTimeoutMs = cfg.getLong("limits.requestTimeoutMs");
    metrics = new PoolMetrics(nodeId);
    ArrayList<PoolState.Cred> wanted = new ArrayList<>();
    for (AccountList.Account a : AccountList.fromConfig(cfg)) {
      wanted.add(cred(a));
    }
    LinkedHashMap<String, PoolState.Cred> agents = new LinkedHashMap<>();
    AccountList.agentsFromConfig(cfg).forEach((agent, a) -> agents.put(agent, cred(a)));
    Future<PoolStore> storeReady;
    if (vertx.isClustered() && ((VertxInternal) vertx).clusterManager() instanceof HazelcastClusterManager cm) {
      hz = cm.getHazelcastInstance();
      // Hazelcast removes a silent member (and the others free its leases) after this; a plain read of config.
      long noHeartbeatMs = new HazelcastProperties(hz.getConfig()).getMillis(ClusterProperty.MAX_NO_HEARTBEAT_SECONDS);
      confirmNanos = TimeUnit.MILLISECONDS.toNanos(Math.min(ttlMs, noHeartbeatMs) / 2);
      storeReady = vertx.executeBlocking(() -> (PoolStore) new HazelcastPoolStore(hz, context));
    } else {
      if (vertx.isClustered()) {
        LOG.warn("node {}: the cluster manager is not Hazelcast; this node keeps its own pool", nodeId);
      }
      storeReady = Future.succeededFuture(new LocalPoolStore());
      confirmNanos = TimeUnit.MILLISECONDS.toNanos(ttlMs / 2);
    }
    return storeReady.compose(s -> {
      store = s;
      line = new WaitingLine(vertx, store, requestTimeoutMs, localLeases, this::noteChange);
      named = new NamedLines(vertx, store, nodeId, requestTimeoutMs, localLeases, metrics);
      return store.run(new PoolOp.ReconcileNamed(wanted, agents, now()));
    }).compose(r -> {
      LOG.info("pool ready on node {} (member {}): {} accounts configured, added {}, removed {}, retiring {}; "
              + "cluster pool total={} free={} leased={} waiting={}", nodeId, store.member(), wanted.size(),
          r.added(), r.removed(), r.retiring(), r.counts().total(), r.counts().free(), r.counts().leased(),
          r.counts().waiting());
      r.handed().forEach(line::deliver);
      noteChange(r.counts());
      return registerConsumers();
    }).compose(x -> {
      // Also standalone: the heartbeat is what confirms leases for the SIP verticle. Often enough that the
      // confirmation (half of the TTL or less) is renewed well before it runs out.
      long periodMs = Math.max(1000, Math.min(ttlMs / 3, TimeUnit.NANOSECONDS.toMillis(confirmNanos) / 2));
      heartbeatTimer = vertx.setPeriodic(periodMs, t -> heartbeat());
      heartbeat();
      if (hz != null) {
        return vertx.executeBlocking(() -> {
          UUID lifecycle = hz.getLifecycleService().addLifecycleListener(e -> {
            // Both: a heartbeat started before MERGED may still have run on the copy the merge discards.
            if (e.getState() == LifecycleEvent.LifecycleState.MERGING
                || e.getState() == LifecycleEvent.LifecycleState.MERGED) {
              context.runOnContext(v -> clusterChanged("split-brain merge (" + e.getState() + ")"));
            }
          });
          UUID membership = hz.getCluster().addMembershipListener(new MembershipListener() {
            // Hazelcast's event thread: only hand the facts to our context.
            @Override
            public void memberAdded(MembershipEvent e) {
              context.runOnContext(v -> clusterChanged("member " + e.getMember().getUuid() + " joined"));
            }

            @Override
            public void memberRemoved(MembershipEvent e) {
              String member = e.getMember().getUuid().toString();
              context.runOnContext(v -> {
                clusterChanged("member " + member + " left");
                if (!store.quorumPresent()) {
                  quorumLost("member " + member + " left and this node sees fewer members than the pool's quorum");
                }
                dropMember(member, "left the cluster");
              });
            }
          });
          return new UUID[] {membership, lifecycle};
        }).onSuccess(ids -> {
          membershipRegistration = ids[0];
          lifecycleRegistration = ids[1];
        }).mapEmpty();
      }
      return Future.succeededFuture();
    });
  }

  @Override
  public Future<?> stop() {
    stopping = true;
    vertx.cancelTimer(heartbeatTimer);
    vertx.cancelTimer(changeTimer);
    metrics.close();
    withdrawConfirmation();
    if (hz == null || store == null) {
      return Future.succeededFuture();
    }
    UUID reg = membershipRegistration;
    UUID lifecycle = lifecycleRegistration;
    // Leases still held here (signalling normally returned them while draining) go back now, not after the TTL.
    return store.run(new PoolOp.DropMember(store.member(), now()))
        .onSuccess(r -> {
          if (r.freed() + r.unqueued() > 0) {
            LOG.info("pool stopping on node {}: gave back {} leases, removed {} waiters", nodeId, r.freed(),
                r.unqueued());
          }
          r.handed().forEach(line::deliver);
          vertx.eventBus().publish(Addresses.POOL_CHANGED, PoolJson.counts(r.counts()));
        })
        .eventually(() -> vertx.executeBlocking(() -> (reg == null || hz.getCluster().removeMembershipListener(reg))
            & (lifecycle == null || hz.getLifecycleService().removeLifecycleListener(lifecycle))))
        .recover(e -> {
          LOG.warn("pool stop on node {}: {}", nodeId, e.toString());
          return Future.succeededFuture();
        });
  }

  /** Completes when every consumer is registered, also in the cluster's subscription table. */
  private Future<?> registerConsumers() {
    var bus = vertx.eventBus();
    return Future.all(List.of(
        bus.<JsonObject>localConsumer(Addresses.POOL_LEASE, this::onLease).completion(),
        bus.<JsonObject>localConsumer(Addresses.POOL_RELEASE, this::onRelease).completion(),
        bus.<JsonObject>localConsumer(Addresses.POOL_VALIDATE, this::onValidate).completion(),
        bus.<JsonObject>localConsumer(Addresses.POOL_STATUS, this::onStatus).completion(),
        bus.<JsonObject>localConsumer(Addresses.POOL_CANCEL_WAIT, this::onCancelWait).completion(),
        bus.<JsonObject>consumer(Addresses.poolNode(store.member()), this::onNodeMessage).completion(),
        bus.<JsonObject>consumer(Addresses.POOL_CHANGED, m -> line.refreshPositions()).completion()));
  }

  // ---------------------------------------------------------------- commands

  private void onLease(Message<JsonObject> m) {
    String sessionId = text(m, Fields.SESSION_ID);
    if (sessionId == null) {
      return;
    }
    if (body(m).getValue(Fields.AGENT) != null) {
      String agent = text(m, Fields.AGENT);
      if (agent != null) {
        named.lease(m, sessionId, agent);
      }
      return;
    }
    Object node = body(m).getValue(Fields.NODE_ID, nodeId);
    Object waitField = body(m).getValue(Fields.WAIT, false);
    if (!(node instanceof String n) || n.isBlank()) {
      m.fail(ErrorCode.BAD_FIELD.code(), "nodeId must be a non-empty string");
      return;
    }
    if (!(waitField instanceof Boolean)) {
      m.fail(ErrorCode.BAD_FIELD.code(), "wait must be true or false");
      return;
    }
    boolean wait = waitingLine && (Boolean) waitField;
    run(new PoolOp.Lease(sessionId, n, store.member(), wait, maxWaiting, now())).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "lease", ar.cause());
        return;
      }
      PoolState.LeaseResult r = ar.result();
      if (r.grant() != null) {
        LOG.debug("line={} leased account {} token {}", sessionId, r.grant().lease().accountId(),
            r.grant().lease().token());
        metrics.granted();
        localLeases.granted(r.grant().lease().accountId(), r.grant().lease().token(), sessionId);
        m.reply(PoolJson.grant(r.grant()));
      } else if (r.position() > 0) {
        LOG.info("line={} waits for an account at position {}", sessionId, r.position());
        line.queued(sessionId, r.position());
        metrics.queued();
        m.reply(new JsonObject().put(Fields.QUEUED, true).put(Fields.POSITION, r.position()));
      } else {
        LOG.info("line={} refused: no free account ({} leased, {} waiting)", sessionId, r.counts().leased(),
            r.counts().waiting());
        metrics.refused();
        m.fail(ErrorCode.NO_ACCOUNT.code(), ErrorCode.NO_ACCOUNT.text());
        return; // nothing changed: a storm of refusals publishes nothing
      }
      noteChange(r.counts());
    });
  }

  /** Cluster-wide messages to this node's pool: a waiter's lease, or a takeover of a named line held here. */
  private void onNodeMessage(Message<JsonObject> m) {
    String why = ClusterFormat.unreadable(m.body(), "pool message to node " + nodeId);
    if (why != null) {
      // A node of a newer major format: its lease or takeover is not guessed at (docs/pool.md, "Mixed versions").
      ClusterFormat.refused(ClusterFormat.Channel.BUS, why);
      m.fail(ErrorCode.BAD_FIELD.code(), why);
      return;
    }
    if (SessionEvent.of(m.body()) == SessionEvent.TAKEN_OVER) {
      named.takeOverLocal(m);
    } else {
      line.deliverLocal(m.body());
    }
  }

  private static PoolState.Cred cred(AccountList.Account a) {
    return new PoolState.Cred(a.username(), a.password(), a.authUser(), a.displayName());
  }

  private void onRelease(Message<JsonObject> m) {
    if (!body(m).containsKey(Fields.ACCOUNT_ID) && body(m).containsKey(Fields.SESSION_ID)) {
      releaseSession(m);
      return;
    }
    String accountId = text(m, Fields.ACCOUNT_ID);
    Long token = accountId == null ? null : token(m);
    if (token == null) {
      return;
    }
    localLeases.releasing(accountId, token);
    run(new PoolOp.Release(accountId, token, now())).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "release", ar.cause());
        return;
      }
      PoolState.ReleaseResult r = ar.result();
      switch (r.status()) {
        case RELEASED -> {
          LOG.debug("account {} token {} released", accountId, token);
          m.reply(new JsonObject().put(Fields.RELEASED, true));
          if (r.handedTo() != null) {
            line.deliver(r.handedTo());
          }
          noteChange(r.counts());
        }
        case STALE -> {
          metrics.stale();
          m.fail(ErrorCode.STALE_TOKEN.code(), "account " + accountId + ": token " + token + " is no longer current");
        }
        default -> m.fail(ErrorCode.NOT_FOUND.code(), "no account " + accountId + " in the pool");
      }
    });
  }

  /** {sessionId} without accountId: whatever the session has (a lease it never heard of, or a place in line). */
  private void releaseSession(Message<JsonObject> m) {
    String sessionId = text(m, Fields.SESSION_ID);
    if (sessionId == null) {
      return;
    }
    localLeases.releasingSession(sessionId);
    line.left(sessionId);
    run(new PoolOp.ReleaseSession(sessionId, now())).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "release", ar.cause());
      } else if (ar.result().status() == PoolState.ReleaseStatus.RELEASED) {
        LOG.info("line={} gave back what it held", sessionId);
        m.reply(new JsonObject().put(Fields.RELEASED, true));
        if (ar.result().handedTo() != null) {
          line.deliver(ar.result().handedTo());
        }
        noteChange(ar.result().counts());
      } else {
        m.fail(ErrorCode.NOT_FOUND.code(), "session " + sessionId + " holds no lease and does not wait");
      }
    });
  }

  private void onValidate(Message<JsonObject> m) {
    String accountId = text(m, Fields.ACCOUNT_ID);
    Long token = accountId == null ? null : token(m);
    if (token == null) {
      return;
    }
    run(new PoolOp.Validate(accountId, token)).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "validate", ar.cause());
      } else {
        m.reply(new JsonObject().put(Fields.CURRENT, ar.result()));
      }
    });
  }

  private void onStatus(Message<JsonObject> m) {
    if (Boolean.FALSE.equals(body(m).getValue(Fields.LEASES))) {
      // Pollers (metrics, health) need the counts only: no list of every lease across the cluster.
      store.run(new PoolOp.CountsOnly()).onComplete(ar -> {
        if (ar.failed()) {
          fail(m, "status", ar.cause());
        } else {
          m.reply(PoolJson.counts(ar.result()).put(Fields.NODE_ID, nodeId));
        }
      });
      return;
    }
    store.run(new PoolOp.Status()).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "status", ar.cause());
        return;
      }
      PoolState.Status s = ar.result();
      JsonArray leases = new JsonArray();
      s.leases().forEach(l -> leases.add(new JsonObject().put(Fields.ACCOUNT_ID, l.accountId())
          .put(Fields.TOKEN, l.token()).put(Fields.NODE_ID, l.nodeId()).put(Fields.SESSION_ID, l.sessionId())
          .put(Fields.SINCE, l.since())));
      JsonArray queue = new JsonArray();
      s.waiters().forEach(w -> queue.add(new JsonObject().put(Fields.SESSION_ID, w.sessionId())
          .put(Fields.NODE_ID, w.nodeId()).put(Fields.SINCE, w.since())));
      m.reply(PoolJson.counts(s.counts()).put(Fields.LEASES, leases).put(Fields.WAITING_LINE, queue)
          .put(Fields.NODE_ID, nodeId).put(Fields.LAST_TOKEN, s.lastToken()));
    });
  }

  private void onCancelWait(Message<JsonObject> m) {
    String sessionId = text(m, Fields.SESSION_ID);
    if (sessionId == null) {
      return;
    }
    line.left(sessionId);
    store.run(new PoolOp.CancelWait(sessionId, now())).onComplete(ar -> {
      if (ar.failed()) {
        fail(m, "cancel-wait", ar.cause());
        return;
      }
      m.reply(new JsonObject().put(Fields.REMOVED, ar.result() != null));
      if (ar.result() != null) {
        LOG.info("line={} left the waiting line", sessionId);
        noteChange(ar.result());
      }
    });
  }

  // ---------------------------------------------------------------- failures of nodes

  private void heartbeat() {
    // Taken before the operation's wall clock: the heartbeat the cluster records is not older than this.
    long started = nanoClock.getAsLong();
    int epoch = clusterEpoch;
    store.run(new PoolOp.Heartbeat(store.member(), ttlMs, now())).onComplete(ar -> {
      if (ar.failed()) {
        // No new confirmation: the last one runs out by itself.
        LOG.warn("pool heartbeat of node {} failed: {}", nodeId, ar.cause().toString());
        if (noQuorum(ar.cause())) {
          quorumLost("its pool heartbeat was refused for want of a quorum");
        }
        return;
      }
      if (withoutQuorum) {
        withoutQuorum = false;
        LOG.warn("node {}: the pool's quorum is back; leasing again", nodeId);
      }
      PoolState.DropResult d = ar.result().dropped();
      if (d.freed() + d.unqueued() > 0) {
        LOG.warn("pool: leases of silent nodes expired after {} ms: freed {}, removed {} waiters", ttlMs,
            d.freed(), d.unqueued());
        d.handed().forEach(line::deliver);
        noteChange(d.counts());
      }
      List<LocalLeases.Held> revoked = localLeases.revoked(ar.result().mine(), ar.result().lastToken());
      if (epoch == clusterEpoch && !stopping) {
        long until = started + confirmNanos;
        // Heartbeats may overlap and answer out of order: never move the bound back.
        confirmedUntil = confirmedValid && confirmedUntil - until > 0 ? confirmedUntil : until;
        confirmedValid = true;
      }
      // The new set reaches the SIP verticle before any session hears "revoked".
      publishConfirmedSet();
      tellRevoked(revoked, "the cluster took the lease away");
    });
  }

  /**
   * This member is cut off from the cluster's majority (split brain): the pool refuses it, and the other side
   * frees its leases once it drops this member, so they may be leased (and registered) there soon. Every lease
   * held here is revoked at once: the sessions end and their lines un-REGISTER this node's Contact, instead of
   * keeping accounts the other side is giving away. Idempotent.
   */
  private void quorumLost(String why) {
    clusterEpoch++;
    confirmedValid = false;
    List<LocalLeases.Held> all = localLeases.revoked(Map.of(), Long.MAX_VALUE);
    if (!withoutQuorum || !all.isEmpty()) {
      LOG.warn("node {} lost the pool's quorum ({}): its {} lease(s) revoked, leases refused until the cluster "
          + "is whole again", nodeId, why, all.size());
    }
    withoutQuorum = true;
    publishConfirmedSet();
    tellRevoked(all, "this node lost the cluster's quorum");
  }

  private void tellRevoked(List<LocalLeases.Held> revoked, String why) {
    for (LocalLeases.Held h : revoked) {
      // This node was silent past the TTL, dropped or cut off from the cluster: the account may be someone else's.
      LOG.warn("line={} lost account {} token {}: {}", h.sessionId(), h.accountId(), h.token(), why);
      vertx.eventBus().send(Addresses.session(h.sessionId()), SessionEvent.REVOKED.json()
          .put(Fields.SESSION_ID, h.sessionId()).put(Fields.ACCOUNT_ID, h.accountId())
          .put(Fields.TOKEN, h.token()));
    }
  }

  /** Whether Hazelcast refused an operation because this member lacks the pool map's quorum. */
  static boolean noQuorum(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SplitBrainProtectionException) {
        return true;
      }
    }
    return false;
  }

  private void dropMember(String member, String why) {
    store.run(new PoolOp.DropMember(member, now())).onComplete(ar -> {
      if (ar.failed()) {
        // The heartbeat expiry frees them later; the TTL is the bound either way.
        LOG.warn("pool: freeing the leases of member {} failed: {}", member, ar.cause().toString());
      } else if (ar.result().freed() + ar.result().unqueued() > 0) {
        LOG.warn("pool: member {} {}: freed {} leases, removed {} waiters", member, why, ar.result().freed(),
            ar.result().unqueued());
        ar.result().handed().forEach(line::deliver);
        noteChange(ar.result().counts());
      }
    });
  }

  /**
   * The cluster changed under this node (a member joined or left, or this member merges after a split): the
   * last heartbeat no longer vouches for anything until the next one, started after the change, succeeds.
   */
  private void clusterChanged(String why) {
    clusterEpoch++;
    if (confirmedValid) {
      LOG.info("node {}: {}; lease confirmations withdrawn until the next heartbeat", nodeId, why);
      withdrawConfirmation();
    }
  }

  private void withdrawConfirmation() {
    confirmedValid = false;
    publishConfirmedSet();
  }

  /** The whole confirmed set, with the bound if it holds (docs/event-bus.md, pool.leases.confirmed). */
  private void publishConfirmedSet() {
    JsonObject leases = new JsonObject();
    localLeases.confirmed().forEach(leases::put);
    publishConfirmed(new JsonObject().put(ConfirmedLeases.FULL, true).put(ConfirmedLeases.LEASES, leases));
  }

  private void publishConfirmed(JsonObject m) {
    if (confirmedValid && !stopping) {
      m.put(ConfirmedLeases.UNTIL_NANOS, confirmedUntil);
    }
    vertx.eventBus().publish(Addresses.POOL_LEASES_CONFIRMED, m, NODE_LOCAL);
  }

  private void noteChange(PoolState.Counts counts) {
    lastCounts = counts;
    if (changeTimer == -1) {
      changeTimer = vertx.setTimer(CHANGE_COALESCE_MS, t -> {
        changeTimer = -1;
        vertx.eventBus().publish(Addresses.POOL_CHANGED, PoolJson.counts(lastCounts));
      });
    }
  }

  // ---------------------------------------------------------------- helpers

  private <R extends java.io.Serializable> Future<R> run(PoolOp<R> op) {
    long t0 = System.nanoTime();
    return store.run(op).onComplete(ar -> metrics.op(t0));
  }

  private static JsonObject body(Message<JsonObject> m) {
    return m.body() == null ? new JsonObject() : m.body();
  }

  /** The non-empty string field {@code name}, or null after failing the message. */
  private static String text(Message<JsonObject> m, String name) {
    Object v = body(m).getValue(name);
    if (v == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), name + " is missing");
      return null;
    }
    if (!(v instanceof String s) || s.isBlank()) {
      m.fail(ErrorCode.BAD_FIELD.code(), name + " must be a non-empty string");
      return null;
    }
    return s;
  }

  private static Long token(Message<JsonObject> m) {
    Object v = body(m).getValue(Fields.TOKEN);
    if (v == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "token is missing");
      return null;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      m.fail(ErrorCode.BAD_FIELD.code(), "token must be a whole number");
      return null;
    }
    return n.longValue();
  }

  private void fail(Message<JsonObject> m, String what, Throwable e) {
    if (noQuorum(e)) {
      // Expected while cut off (docs/pool.md, "A node cut off"): a clear refusal, no stack trace per request.
      LOG.warn("pool {} refused on node {}: no quorum", what, nodeId);
      m.fail(ErrorCode.NO_QUORUM.code(), "pool " + what + " refused: " + ErrorCode.NO_QUORUM.text());
      return;
    }
    LOG.error("pool {} failed on node {}", what, nodeId, e);
    m.fail(ErrorCode.INTERNAL.code(), "pool " + what + " failed: " + e.getMessage());
  }

  private static long now() {
    return System.currentTimeMillis();
  }
}
