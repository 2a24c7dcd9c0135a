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
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;
import java.io.Serializable;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.ClusterFormat;

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
    EntryProcessor<String, PoolState, PoolReply> p = op.readOnly() ? new Reader<>(op) : new Writer<>(op);
    try {
      return Future.fromCompletionStage(map.submitToKey(KEY, p), context).map(HazelcastPoolStore::<R>value);
    } catch (RuntimeException e) {
      // Thrown at once, not through the stage, e.g. when this member's Hazelcast is no longer running.
      return Future.failedFuture(e);
    }
  }

  @SuppressWarnings("unchecked")
  private static <R> R value(PoolReply reply) {
    try {
      return (R) reply.value();
    } catch (IllegalStateException e) {
      ClusterFormat.refused(ClusterFormat.Channel.POOL, e.getMessage());
      throw e;
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

  /**
   * What both processors carry: the op in the pool's cluster format ({@link PoolCodec}) instead of a
   * Java-serialized object, so that a node of another release reads it or refuses it with a sentence, never with
   * a ClassNotFound or InvalidClass deep in Hazelcast. {@link #readData} never throws: an op this release cannot
   * read is refused when it runs, and the caller's future fails with that sentence.
   */
  abstract static class Processor<R extends Serializable> implements DataSerializable {
    private PoolOp<R> op;
    private String refusal;

    Processor() {
    }

    Processor(PoolOp<R> op) {
      this.op = op;
    }

    /**
     * The op this processor carries, and the state to run it on: {@code s}, or a fresh one when the entry is
     * empty (seeded with {@code now}); throws the sentence when either could not be read.
     */
    final PoolState usable(PoolState s, boolean seeded) {
      if (refusal != null) {
        throw new IllegalStateException(refusal);
      }
      if (s != null && s.refusal() != null) {
        ClusterFormat.refused(ClusterFormat.Channel.POOL, s.refusal());
        throw new IllegalStateException(s.refusal());
      }
      return s != null ? s : new PoolState(seeded ? op.now() : 0);
    }

    final PoolOp<R> op() {
      return op;
    }

    @Override
    public final void writeData(ObjectDataOutput out) throws IOException {
      out.writeByteArray(PoolCodec.bytes(PoolCodec.op(op)));
    }

    @Override
    @SuppressWarnings("unchecked")
    public final void readData(ObjectDataInput in) throws IOException {
      try {
        op = (PoolOp<R>) PoolCodec.op(PoolCodec.parse(in.readByteArray(), null));
      } catch (IllegalStateException e) {
        refusal = e.getMessage();
        ClusterFormat.refused(ClusterFormat.Channel.POOL, refusal);
      }
    }
  }

  /** Changes the state; Hazelcast ships the same op (with the same {@code now}) to the backup. */
  static final class Writer<R extends Serializable> extends Processor<R>
      implements EntryProcessor<String, PoolState, PoolReply> {
    /** For Hazelcast, which then calls {@link #readData}. */
    Writer() {
    }

    Writer(PoolOp<R> op) {
      super(op);
    }

    @Override
    public PoolReply process(Map.Entry<String, PoolState> entry) {
      PoolState s = usable(entry.getValue(), true);
      R r = op().apply(s);
      entry.setValue(s);
      return new PoolReply(r);
    }
  }

  static final class Reader<R extends Serializable> extends Processor<R>
      implements EntryProcessor<String, PoolState, PoolReply>, ReadOnly {
    /** For Hazelcast, which then calls {@link #readData}. */
    Reader() {
    }

    Reader(PoolOp<R> op) {
      super(op);
    }

    @Override
    public PoolReply process(Map.Entry<String, PoolState> entry) {
      return new PoolReply(op().apply(usable(entry.getValue(), false)));
    }

    @Override
    public EntryProcessor<String, PoolState, PoolReply> getBackupProcessor() {
      return null;
    }
  }
}
