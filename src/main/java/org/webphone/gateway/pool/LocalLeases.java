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

  private final Map<String, Held> byAccount = new HashMap<>();

  void granted(String accountId, long token, String sessionId) {
    byAccount.put(accountId, new Held(accountId, token, sessionId));
  }

  /** Forgets the lease when its release is asked for, before the answer: it is being given back anyway. */
  void releasing(String accountId, long token) {
    Held h = byAccount.get(accountId);
    if (h != null && h.token() == token) {
      byAccount.remove(accountId);
    }
  }

  void releasingSession(String sessionId) {
    byAccount.values().removeIf(h -> h.sessionId().equals(sessionId));
  }

  /**
   * The leases held here that the cluster no longer has for this node, as of the heartbeat that saw
   * {@code mine} and issued tokens up to {@code lastToken}; later leases are not judged. They are forgotten.
   */
  List<Held> revoked(Map<String, Long> mine, long lastToken) {
    List<Held> out = new ArrayList<>();
    for (Held h : List.copyOf(byAccount.values())) {
      if (h.token() <= lastToken && !Long.valueOf(h.token()).equals(mine.get(h.accountId()))) {
        out.add(h);
        byAccount.remove(h.accountId());
      }
    }
    return out;
  }

  int size() {
    return byAccount.size();
  }
}
