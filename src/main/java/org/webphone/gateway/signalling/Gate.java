package org.webphone.gateway.signalling;

import io.vertx.core.MultiMap;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.config.AccountList;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * The node's door: origin allow-list, optional access token, sessions per client IP, sockets waiting for
 * their Hello per client IP, the address's share of the pool and call attempts per client IP. Per-session
 * limits live in the session. Used on the signalling event loop only.
 */
final class Gate {
  private final OriginPolicy origins;
  private final String tokenSecret;
  private final long tokenMaxAgeSec;
  private final int maxSessionsPerIp;
  private final int callsPerMinutePerIp;
  private final PerAddress sessionsPerIp = new PerAddress();
  private final Map<String, RateWindow> callsPerIp = new HashMap<>();
  private final int accountsPerIp;
  private final PerAddress sharesPerIp = new PerAddress();
  private final PerAddress helloPendingPerIp = new PerAddress();

  Gate(GatewayConfig cfg) {
    origins = new OriginPolicy(cfg);
    tokenSecret = cfg.getString("auth.tokenSecret");
    tokenMaxAgeSec = cfg.getLong("auth.tokenMaxAgeSec");
    maxSessionsPerIp = cfg.getInt("limits.maxSessionsPerIp");
    callsPerMinutePerIp = cfg.getInt("limits.callsPerMinutePerIp");
    int configured = cfg.getInt("limits.accountsPerIp");
    // 0: max(2, 10 % of the pool), so one address can never hold the pool and a household still gets two.
    accountsPerIp = configured > 0 ? configured : Math.max(2, AccountList.fromConfig(cfg).size() / 10);
  }

  /**
   * Checks the upgrade request's Origin against {@link OriginPolicy} (never against Host). A request without
   * Origin is not from a browser page and is let through: the origin check protects against other web
   * sites, the token against everything else.
   */
  void checkOrigin(MultiMap headers) {
    String origin = headers.get("Origin");
    if (origin != null && !origins.allowsWebSocket(origin)) {
      throw new ProtocolException(ErrorCode.ORIGIN_REFUSED, "origin " + abbreviate(origin) + " is not allowed");
    }
  }

  OriginPolicy origins() {
    return origins;
  }

  /** Throws TOKEN_REFUSED unless no token is required or {@code token} is acceptable; returns why for the log. */
  void checkToken(String token) {
    if (tokenSecret.isEmpty()) {
      return;
    }
    String why = AuthToken.refusal(token, tokenSecret, tokenMaxAgeSec, System.currentTimeMillis() / 1000);
    if (why != null) {
      throw new ProtocolException(ErrorCode.TOKEN_REFUSED, "access token refused: " + why);
    }
  }

  /**
   * A secret is configured and {@code token} is refused only because it is older than {@code auth.tokenMaxAgeSec}:
   * it may still take back its session ({@code resume}) or follow a session of its that moved ({@link TokenIds}).
   */
  boolean tokenOnlyTooOld(String token) {
    return !tokenSecret.isEmpty() && token != null
        && AuthToken.onlyTooOld(token, tokenSecret, tokenMaxAgeSec, System.currentTimeMillis() / 1000);
  }

  /** True when a secret is configured and {@code token} is acceptable (such sessions are not bound by the share). */
  boolean tokenValid(String token) {
    return !tokenSecret.isEmpty() && token != null
        && AuthToken.refusal(token, tokenSecret, tokenMaxAgeSec, System.currentTimeMillis() / 1000) == null;
  }

  /**
   * Takes one of {@code ip}'s {@code limits.accountsPerIp} places at the pool (held from the lease request to the
   * session's end, waiting line included); false when they are all taken. Bus clients ({@code ip} null) and
   * holders of a valid access token are not counted: behind a carrier-grade NAT many visitors share one address,
   * and the token is what tells them apart.
   */
  boolean takeShare(String ip) {
    return sharesPerIp.take(ip, accountsPerIp);
  }

  void returnShare(String ip) {
    sharesPerIp.give(ip);
  }

  int accountsPerIp() {
    return accountsPerIp;
  }

  /** Counts a socket of {@code ip} that has not sent its Hello yet, or throws SESSION_LIMIT. */
  void awaitHello(String ip) {
    if (!helloPendingPerIp.take(ip, maxSessionsPerIp)) {
      throw new ProtocolException(ErrorCode.SESSION_LIMIT,
          "too many sockets without Hello from this address (" + helloPendingPerIp.of(ip) + ")");
    }
  }

  void helloDone(String ip) {
    helloPendingPerIp.give(ip);
  }

  /** Counts a new session of {@code ip} (null: a trusted bus client, not counted) or throws SESSION_LIMIT. */
  void admit(String ip) {
    if (ip == null) {
      return;
    }
    if (!sessionsPerIp.take(ip, maxSessionsPerIp)) {
      throw new ProtocolException(ErrorCode.SESSION_LIMIT,
          "too many sessions from this address (" + sessionsPerIp.of(ip) + ")");
    }
  }

  void leave(String ip) {
    if (ip != null) {
      sessionsPerIp.give(ip);
    }
  }

  /** False when {@code ip} made {@code limits.callsPerMinutePerIp} call attempts in the last minute. */
  boolean callAllowed(String ip, long nowMs) {
    if (ip == null) {
      return true;
    }
    return callsPerIp.computeIfAbsent(ip, k -> new RateWindow(callsPerMinutePerIp, 60_000)).tryAcquire(nowMs);
  }

  /** Forgets idle per-IP windows so memory stays bounded by the active addresses. */
  void sweep(long nowMs) {
    for (Iterator<RateWindow> it = callsPerIp.values().iterator(); it.hasNext(); ) {
      if (it.next().isIdle(nowMs)) {
        it.remove();
      }
    }
  }

  int sessionsOf(String ip) {
    return sessionsPerIp.of(ip);
  }

  /** How many of something each address holds; an address holding none has no entry, so memory follows use. */
  private static final class PerAddress {
    private final Map<String, Integer> counts = new HashMap<>();

    /** Takes one for {@code ip} unless it already holds {@code limit}. */
    boolean take(String ip, int limit) {
      int n = of(ip);
      if (n >= limit) {
        return false;
      }
      counts.put(ip, n + 1);
      return true;
    }

    void give(String ip) {
      counts.computeIfPresent(ip, (k, n) -> n <= 1 ? null : n - 1);
    }

    int of(String ip) {
      return counts.getOrDefault(ip, 0);
    }
  }

  private static String abbreviate(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }
}
