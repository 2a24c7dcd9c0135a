package org.webphone.gateway.pool;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The leases this node handed to its own sessions, so that a heartbeat can tell which of them the cluster
 * took away meanwhile (this node was silent longer than the TTL, or was cut off and dropped), and which of
 * them the last successful heartbeat confirmed (see docs/pool.md, "Fencing without a round trip"). Touched
 * only on the pool verticle's context.
 */
final class LocalLeases {
  record Held(String accountId, long token, String sessionId) {
  }

  /**
   * By account and token, not by account alone: after this node was fenced, the same account may be
   * leased again here to another session while the old holder has not been told yet.
   */
  private final Map<String, Held> held = new HashMap<>();

  /**
   * The confirmed set, account → token: held leases the last heartbeat listed as this member's, plus leases
   * granted after it. Whether the confirmation is still in force (its time bound) is the verticle's.
   */
  private final Map<String, Long> confirmed = new HashMap<>();
  /** What the last heartbeat judged: this member's leases up to token {@link #judgedUpTo}. None yet: nothing. */
  private Map<String, Long> judgedMine = Map.of();
  private long judgedUpTo = Long.MAX_VALUE;

  /** Told every change of the confirmed set except the recomputation by {@link #revoked}. */
  interface Changes {
    void confirmed(String accountId, long token);

    void unconfirmed(String accountId, long token);
  }

  private final Changes changes;

  LocalLeases() {
    this(new Changes() {
      @Override
      public void confirmed(String accountId, long token) {
      }

      @Override
      public void unconfirmed(String accountId, long token) {
      }
    });
  }

  LocalLeases(Changes changes) {
    this.changes = changes;
  }

  private static String key(String accountId, long token) {
    return accountId + "#" + token;
  }

  void granted(String accountId, long token, String sessionId) {
    held.put(key(accountId, token), new Held(accountId, token, sessionId));
    // A grant the last heartbeat already judged (its answer overtook this one) counts only if it was listed.
    if (token > judgedUpTo || Long.valueOf(token).equals(judgedMine.get(accountId))) {
      Long before = confirmed.get(accountId);
      if (before == null || before < token) {
        confirmed.put(accountId, token);
        changes.confirmed(accountId, token);
      }
    }
  }

  /** Forgets the lease when its release is asked for, before the answer: it is being given back anyway. */
  void releasing(String accountId, long token) {
    held.remove(key(accountId, token));
    if (confirmed.remove(accountId, token)) {
      changes.unconfirmed(accountId, token);
    }
  }

  void releasingSession(String sessionId) {
    for (Held h : List.copyOf(held.values())) {
      if (h.sessionId().equals(sessionId)) {
        releasing(h.accountId(), h.token());
      }
    }
  }

  /** The confirmed set (read-only view), account → token. */
  Map<String, Long> confirmed() {
    return Collections.unmodifiableMap(confirmed);
  }

  /**
   * The leases held here that the cluster no longer has for this node, as of the heartbeat that saw
   * {@code mine} and issued tokens up to {@code lastToken}; later leases are not judged. They are forgotten,
   * and the confirmed set becomes what is left: the listed leases and the later ones.
   */
  List<Held> revoked(Map<String, Long> mine, long lastToken) {
    List<Held> out = new ArrayList<>();
    confirmed.clear();
    for (Held h : List.copyOf(held.values())) {
      if (h.token() <= lastToken && !Long.valueOf(h.token()).equals(mine.get(h.accountId()))) {
        out.add(h);
        held.remove(key(h.accountId(), h.token()));
      } else {
        confirmed.merge(h.accountId(), h.token(), Math::max);
      }
    }
    judgedMine = mine;
    judgedUpTo = lastToken;
    return out;
  }

  int size() {
    return held.size();
  }
}
