package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.shareddata.AsyncMap;

/**
 * The token ids ({@code jti}) already used, cluster-wide: an agent's token opens one session, once. The ids
 * live in the shared async map {@value #MAP} (a Hazelcast map when clustered, the node's own memory when
 * standalone), each for {@code auth.tokenMaxAgeSec} plus the allowed clock skew: after that the token itself
 * is refused as expired, so the id need not be kept.
 *
 * <p>Used from the signalling event loop; the map calls are asynchronous (Hazelcast's own threads), their
 * results come back on the caller's context.
 */
final class TokenIds {
  static final String MAP = "webphone.token-ids";

  private final Vertx vertx;
  private final long ttlMs;
  private Future<AsyncMap<String, Long>> map;

  TokenIds(Vertx vertx, long tokenMaxAgeSec) {
    this.vertx = vertx;
    this.ttlMs = (tokenMaxAgeSec + AuthToken.SKEW_SEC) * 1000;
  }

  /** True when {@code jti} had not been used (it is used now), false when it had. */
  Future<Boolean> useOnce(String jti, String sessionId) {
    if (map == null) {
      map = vertx.sharedData().getAsyncMap(MAP);
      map.onFailure(e -> map = null); // the next session tries again
    }
    return map.compose(m -> m.putIfAbsent(jti, System.currentTimeMillis(), ttlMs)).map(prev -> prev == null);
  }

  /**
   * {@code jti} may open one session more: its session moved off a draining node (close 4002), and the page has
   * no other token to connect again with elsewhere. Completes (never fails) once the map has forgotten it.
   */
  Future<Void> release(String jti) {
    Future<AsyncMap<String, Long>> m = map == null ? vertx.sharedData().getAsyncMap(MAP) : map;
    return m.compose(x -> x.remove(jti)).<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }
}
