package org.webphone.gateway;

import com.hazelcast.config.MapConfig;
import com.hazelcast.config.SplitBrainProtectionConfig;
import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds a clustered node's start until its Hazelcast cluster has as many members as the split-brain protection of
 * the pool's map asks for (deploy/cluster.xml: 2). Without it a node that happens to start first (or alone after a
 * full stop) fails to set its pool up (the quorum refuses the first operation) and exits. The wait is bounded by
 * the node's start timeout (Main: 120 s; systemd then starts it again).
 *
 * <p>Runs on the caller's event loop: the member list is Hazelcast's local view, read without blocking, polled by a
 * Vert.x timer that is cancelled when the quorum is there.
 */
final class ClusterQuorum {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterQuorum.class);
  /** The map name whose configuration the pool's map copies (pool/HazelcastPoolStore.TEMPLATE). */
  static final String POOL_TEMPLATE = "webphone.pool.state";
  private static final long POLL_MS = 200;

  private ClusterQuorum() {
  }

  /** Succeeds at once when not clustered or when the pool's map has no split-brain protection. */
  static Future<Void> awaitPoolQuorum(Vertx vertx, HazelcastClusterManager clusterManager, String nodeId) {
    if (clusterManager == null) {
      return Future.succeededFuture();
    }
    HazelcastInstance hz = clusterManager.getHazelcastInstance();
    int needed = minimumSize(hz);
    if (hz.getCluster().getMembers().size() >= needed) {
      return Future.succeededFuture();
    }
    LOG.info("node {}: waiting for {} cluster members (the pool's split-brain protection) before the pool starts; "
        + "{} now", nodeId, needed, hz.getCluster().getMembers().size());
    Promise<Void> p = Promise.promise();
    vertx.setPeriodic(POLL_MS, id -> {
      int size = hz.getCluster().getMembers().size();
      if (size >= needed) {
        vertx.cancelTimer(id);
        LOG.info("node {}: {} cluster members, the pool's quorum is there", nodeId, size);
        p.tryComplete();
      }
    });
    return p.future();
  }

  /** The minimum cluster size of the pool map's split-brain protection; 1 when there is none. */
  static int minimumSize(HazelcastInstance hz) {
    MapConfig map = hz.getConfig().findMapConfig(POOL_TEMPLATE);
    String name = map.getSplitBrainProtectionName();
    if (name == null) {
      return 1;
    }
    SplitBrainProtectionConfig sbp = hz.getConfig().getSplitBrainProtectionConfig(name);
    return sbp != null && sbp.isEnabled() ? Math.max(1, sbp.getMinimumClusterSize()) : 1;
  }
}
