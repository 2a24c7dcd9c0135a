package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.shareddata.AsyncMap;

/**
 * The token ids ({@code jti}) already used, cluster-wide: an agent's token opens one session, once. The ids
 * live in the shared async map {@value #MAP} (a Hazelcast map when clustered, the node's own memory when
 * standalone), each for {@code auth.tokenMaxAgeSec} plus the allowed clock skew: after that the token itself
 * is refused as expired, so the id need not be kept. An id whose session moved ({@link #release}) is kept as a mark
 * instead: it lets the page's token open the one session that follows the move, even past the token's age.
 *
 * <p>Used from the signalling event loop; the map calls are asynchronous (Hazelcast's own threads), their
 * results come back on the caller's context.
 */
final class TokenIds {
  static final String MAP = "webphone.token-ids";

  private final Vertx vertx;
  private final long ttlMs;
  private Future<AsyncMap<String, Long>> map;
  /** The value of an id whose session moved: it may open one session more ({@link #release}). */
  private static final Long MOVED = -1L;

  TokenIds(Vertx vertx, long tokenMaxAgeSec) {
    this.vertx = vertx;
    this.ttlMs = (tokenMaxAgeSec + AuthToken.SKEW_SEC) * 1000;
  }

  /**
   * True when {@code jti} may open a session now (it had not been used, or its session moved and left it
   * {@link #release}d); it is used from now on. False when it had been used.
   */
  Future<Boolean> useOnce(String jti, String sessionId) {
    return map().compose(m -> m.putIfAbsent(jti, System.currentTimeMillis(), ttlMs)
        .compose(prev -> prev == null ? Future.succeededFuture(true)
            : MOVED.equals(prev) ? useMoved(m, jti) : Future.succeededFuture(false)));
  }

  /**
   * For a token past {@code auth.tokenMaxAgeSec} (its signature and {@code exp} fine): true only when its session
   * moved ({@link #release}) and this is the one session that follows it; it is used from now on.
   */
  Future<Boolean> useMovedOnly(String jti) {
    return map().compose(m -> useMoved(m, jti));
  }

  private Future<Boolean> useMoved(AsyncMap<String, Long> m, String jti) {
    // Hazelcast's async map has no replace with a TTL: take the mark away (atomic), then mark it used.
    return m.removeIfPresent(jti, MOVED).compose(took -> !took ? Future.succeededFuture(false)
        : m.put(jti, System.currentTimeMillis(), ttlMs).map(true));
  }

  /**
   * {@code jti} may open one session more, whatever the token's age: its session moved (off a draining node, close
   * 4002), and the page has no other token to connect again with elsewhere. Kept {@code auth.tokenMaxAgeSec} + 60 s
   * like any id. Completes (never fails) once the map holds the mark.
   */
  Future<Void> release(String jti) {
    return map().compose(m -> m.put(jti, MOVED, ttlMs)).recover(e -> Future.succeededFuture());
  }

  private Future<AsyncMap<String, Long>> map() {
    if (map == null) {
      map = vertx.sharedData().getAsyncMap(MAP);
      map.onFailure(e -> map = null); // the next session tries again
    }
    return map;
  }
}
