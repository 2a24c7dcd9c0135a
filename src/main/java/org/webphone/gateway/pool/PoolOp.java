package org.webphone.gateway.pool;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;

/**
 * One change (or read) of the {@link PoolState}, shipped to wherever the state lives. Ops carry their own
 * time ({@code now}, the sender's clock) so that Hazelcast's replay on the backup copy gives the same result.
 */
interface PoolOp<R extends Serializable> extends Serializable {
  R apply(PoolState state);

  /** The sender's clock; also the token seed if this op creates the state. 0 for read-only ops. */
  long now();

  default boolean readOnly() {
    return false;
  }

  record Lease(String sessionId, String nodeId, String member, boolean mayWait, int maxWaiting, long now)
      implements PoolOp<PoolState.LeaseResult> {
    @Override
    public PoolState.LeaseResult apply(PoolState s) {
      return s.lease(sessionId, nodeId, member, mayWait, maxWaiting, now);
    }
  }

  record Release(String accountId, long token, long now) implements PoolOp<PoolState.ReleaseResult> {
    @Override
    public PoolState.ReleaseResult apply(PoolState s) {
      return s.release(accountId, token, now);
    }
  }

  record Validate(String accountId, long token) implements PoolOp<Boolean> {
    @Override
    public Boolean apply(PoolState s) {
      return s.isCurrent(accountId, token);
    }

    @Override
    public long now() {
      return 0;
    }

    @Override
    public boolean readOnly() {
      return true;
    }
  }

  record ReleaseSession(String sessionId, long now) implements PoolOp<PoolState.ReleaseResult> {
    @Override
    public PoolState.ReleaseResult apply(PoolState s) {
      return s.releaseSession(sessionId, now);
    }
  }

  record CancelWait(String sessionId, long now) implements PoolOp<PoolState.Counts> {
    /** The counts after the change, or null when the session was not waiting. */
    @Override
    public PoolState.Counts apply(PoolState s) {
      return s.cancelWait(sessionId) ? s.counts() : null;
    }
  }

  record Positions(String member) implements PoolOp<LinkedHashMap<String, Integer>> {
    @Override
    public LinkedHashMap<String, Integer> apply(PoolState s) {
      return new LinkedHashMap<>(s.positionsOf(member));
    }

    @Override
    public long now() {
      return 0;
    }

    @Override
    public boolean readOnly() {
      return true;
    }
  }

  record Heartbeat(String member, long ttlMs, long now) implements PoolOp<PoolState.HeartbeatResult> {
    @Override
    public PoolState.HeartbeatResult apply(PoolState s) {
      return s.heartbeat(member, now, ttlMs);
    }
  }

  record DropMember(String member, long now) implements PoolOp<PoolState.DropResult> {
    @Override
    public PoolState.DropResult apply(PoolState s) {
      return s.dropMember(member, now);
    }
  }

  record Reconcile(ArrayList<PoolState.Cred> wanted, long now) implements PoolOp<PoolState.ReconcileResult> {
    @Override
    public PoolState.ReconcileResult apply(PoolState s) {
      return s.reconcile(wanted, now);
    }
  }

  /** A reconciliation that also sets the named lines (agent identity → account). */
  record ReconcileNamed(ArrayList<PoolState.Cred> wanted, LinkedHashMap<String, PoolState.Cred> named, long now)
      implements PoolOp<PoolState.ReconcileResult> {
    @Override
    public PoolState.ReconcileResult apply(PoolState s) {
      return s.reconcile(wanted, named, now);
    }
  }

  record LeaseNamed(String sessionId, String agent, String nodeId, String member, long now)
      implements PoolOp<PoolState.NamedResult> {
    @Override
    public PoolState.NamedResult apply(PoolState s) {
      return s.leaseNamed(sessionId, agent, nodeId, member, now);
    }
  }

  record CountsOnly() implements PoolOp<PoolState.Counts> {
    @Override
    public PoolState.Counts apply(PoolState s) {
      return s.counts();
    }

    @Override
    public long now() {
      return 0;
    }

    @Override
    public boolean readOnly() {
      return true;
    }
  }

  record Status() implements PoolOp<PoolState.Status> {
    @Override
    public PoolState.Status apply(PoolState s) {
      return s.status();
    }

    @Override
    public long now() {
      return 0;
    }

    @Override
    public boolean readOnly() {
      return true;
    }
  }
}
