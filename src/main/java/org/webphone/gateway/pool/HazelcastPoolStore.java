package org.webphone.gateway.pool;

import com.hazelcast.config.InMemoryFormat;
import com.hazelcast.config.InvalidConfigurationException;
import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.ReadOnly;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import com.hazelcast.splitbrainprotection.SplitBrainProtection;
import io.vertx.core.Context;
import io.vertx.core.Future;
import java.io.Serializable;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Clustered node: the state is the single entry {@link #KEY} of the Hazelcast map {@link #MAP}; each op is
 * an entry processor. Hazelcast runs the processors of one key one after another on the partition thread
 * of the key's owner, so every op is atomic cluster-wide, and replays it on the backup copy (the map
 * takes cluster.xml's {@code webphone.pool.*} settings: one backup), so a crashed owner loses nothing.
 *
 * <p>Only the async API is used ({@code submitToKey}): the event loop never waits on the network; results
 * come back on the verticle's context.
 */
final class HazelcastPoolStore implements PoolStore {
  private static final Logger LOG = LoggerFactory.getLogger(HazelcastPoolStore.class);
  /**
   * Not matched by cluster.xml's {@code webphone.pool.*}: Hazelcast lets a static wildcard win over a
   * dynamic config, and this map needs its own (see {@link #objectFormat}). Its other settings are copied
   * from {@link #TEMPLATE}.
   */
  static final String MAP = "webphone.pool-state";
  static final String TEMPLATE = "webphone.pool.state";
  static final String KEY = "pool";

  private final IMap<String, PoolState> map;
  private final Context context;
  private final String member;
  /** The pool map's split-brain protection (cluster.xml), or null when it has none. */
  private final SplitBrainProtection quorum;

  /** Blocking (adds the map's config cluster-wide, creates the map proxy): call from a worker thread. */
  HazelcastPoolStore(HazelcastInstance hz, Context context) {
    objectFormat(hz);
    this.map = hz.getMap(MAP);
    this.context = context;
    // Kept for the node's life: a split-brain merge gives the member a new UUID, but its leases, heartbeats and
    // waiters stay filed under this one (docs/pool.md, "A node cut off").
    this.member = hz.getCluster().getLocalMember().getUuid().toString();
    String sbp = hz.getConfig().findMapConfig(MAP).getSplitBrainProtectionName();
    this.quorum = sbp == null ? null : hz.getSplitBrainProtectionService().getSplitBrainProtection(sbp);
  }

  /**
   * Keeps the state as a live object on its owner (and backup) instead of bytes: otherwise every op
   * deserializes and re-serializes the whole pool (measured with 1000 accounts: 2.6–5.1 ms per op
   * as bytes, 0.5–0.9 ms as an object; bench/RESULTS.md). Backup count and everything else come from cluster.xml ({@code webphone.pool.*}).
   */
  private static void objectFormat(HazelcastInstance hz) {
    MapConfig wanted = new MapConfig(hz.getConfig().findMapConfig(TEMPLATE)).setName(MAP)
        .setInMemoryFormat(InMemoryFormat.OBJECT);
    try {
      hz.getConfig().addMapConfig(wanted);
    } catch (InvalidConfigurationException e) {
      // cluster.xml (or another node of an older version) configured this map itself: use that.
      LOG.warn("pool map {} keeps its configured format: {}", MAP, e.getMessage());
    }
  }

  @Override
  public <R extends Serializable> Future<R> run(PoolOp<R> op) {
    EntryProcessor<String, PoolState, R> p = op.readOnly() ? new Reader<>(op) : new Writer<>(op);
    try {
      return Future.fromCompletionStage(map.submitToKey(KEY, p), context);
    } catch (RuntimeException e) {
      // Thrown at once, not through the stage, e.g. when this member's Hazelcast is no longer running.
      return Future.failedFuture(e);
    }
  }

  @Override
  public String member() {
    return member;
  }

  /** Hazelcast's own judgement, the one that refuses the map's operations: a volatile read, no network. */
  @Override
  public boolean quorumPresent() {
    return quorum == null || quorum.hasMinimumSize();
  }

  /** Changes the state; Hazelcast ships the same instance (with the same {@code now}) to the backup. */
  static final class Writer<R extends Serializable> implements EntryProcessor<String, PoolState, R> {
    private static final long serialVersionUID = 1L;
    private final PoolOp<R> op;

    Writer(PoolOp<R> op) {
      this.op = op;
    }

    @Override
    public R process(Map.Entry<String, PoolState> entry) {
      PoolState s = entry.getValue();
      if (s == null) {
        s = new PoolState(op.now());
      }
      R r = op.apply(s);
      entry.setValue(s);
      return r;
    }
  }

  static final class Reader<R extends Serializable> implements EntryProcessor<String, PoolState, R>, ReadOnly {
    private static final long serialVersionUID = 1L;
    private final PoolOp<R> op;

    Reader(PoolOp<R> op) {
      this.op = op;
    }

    @Override
    public R process(Map.Entry<String, PoolState> entry) {
      PoolState s = entry.getValue();
      return op.apply(s == null ? new PoolState(0) : s);
    }

    @Override
    public EntryProcessor<String, PoolState, R> getBackupProcessor() {
      return null;
    }
  }
}
