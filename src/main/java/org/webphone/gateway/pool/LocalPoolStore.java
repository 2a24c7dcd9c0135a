package org.webphone.gateway.pool;

import io.vertx.core.Future;
import java.io.Serializable;

/**
 * Standalone node: the state is a plain object touched only from the pool verticle's event loop, so ops
 * need no locking and no copying.
 */
final class LocalPoolStore implements PoolStore {
  private PoolState state;

  @Override
  public <R extends Serializable> Future<R> run(PoolOp<R> op) {
    if (state == null) {
      state = new PoolState(op.now() == 0 ? System.currentTimeMillis() : op.now());
    }
    try {
      return Future.succeededFuture(op.apply(state));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  @Override
  public String member() {
    return "local";
  }
}
