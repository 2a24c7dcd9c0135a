package org.webphone.gateway.pool;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The leases this node handed to its own sessions, so that a heartbeat can tell which of them the cluster
 * took away meanwhile (this node was silent longer than the TTL, or was cut off and dropped). Touched only
 * on the pool verticle's context.
 */
final class LocalLeases {
  record Held(String accountId, long token, String sessionId) {
  }

  /**
   * By account and token, not by account alone: after this node was fenced, the same account may be
   * leased again here to another session while the old holder has not been told yet.
   */
  private final Map<String, Held> held = new HashMap<>();

  private static String key(String accountId, long token) {
    return accountId + "#" + token;
  }

  void granted(String accountId, long token, String sessionId) {
    held.put(key(accountId, token), new Held(accountId, token, sessionId));
  }

  /** Forgets the lease when its release is asked for, before the answer: it is being given back anyway. */
  void releasing(String accountId, long token) {
    held.remove(key(accountId, token));
  }

  void releasingSession(String sessionId) {
    held.values().removeIf(h -> h.sessionId().equals(sessionId));
  }

  /**
   * The leases held here that the cluster no longer has for this node, as of the heartbeat that saw
   * {@code mine} and issued tokens up to {@code lastToken}; later leases are not judged. They are forgotten.
   */
  List<Held> revoked(Map<String, Long> mine, long lastToken) {
    List<Held> out = new ArrayList<>();
    for (Held h : List.copyOf(held.values())) {
      if (h.token() <= lastToken && !Long.valueOf(h.token()).equals(mine.get(h.accountId()))) {
        out.add(h);
        held.remove(key(h.accountId(), h.token()));
      }
    }
    return out;
  }

  int size() {
    return held.size();
  }
}
