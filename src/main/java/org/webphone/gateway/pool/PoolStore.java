package org.webphone.gateway.pool;

import io.vertx.core.Future;
import java.io.Serializable;

/** Where the {@link PoolState} lives: in this JVM (standalone) or in a Hazelcast map (clustered). */
interface PoolStore {
  /** Runs {@code op} atomically against the state; the future completes on the caller's context. */
  <R extends Serializable> Future<R> run(PoolOp<R> op);

  /** This node's identity in the pool (the Hazelcast member UUID, or "local"). */
  String member();

  /**
   * False while this member sees fewer members than the split-brain protection of the pool's map asks for: every
   * operation is refused then (docs/pool.md, "A node cut off"). Standalone: always true.
   */
  default boolean quorumPresent() {
    return true;
  }

  /** Frees what the store registered (listeners); the state itself stays for the other nodes. */
  default void close() {
  }
}
