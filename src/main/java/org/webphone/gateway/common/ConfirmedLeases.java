package org.webphone.gateway.common;

import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import org.webphone.gateway.common.messages.Fields;

/**
 * A consumer's copy of the leases this node's pool has confirmed recently, kept from the node-local
 * publications on {@link Addresses#POOL_LEASES_CONFIRMED} (contract: docs/event-bus.md; why a confirmed lease
 * needs no {@code pool.account.validate} round trip until {@code untilNanos}: docs/pool.md, "Fencing without a
 * round trip"). Not thread-safe: touch it from one context only.
 *
 * <p>The pool publishes a full set ({@code full: true}) at every heartbeat and whenever it withdraws the
 * confirmation, and one small delta per grant ({@code leases}) or release ({@code released}) in between.
 * Every message carries the current {@code untilNanos} ({@link System#nanoTime()} of this node), or none when
 * nothing is confirmed now. A consumer that joins late starts from the deltas: everything in them is
 * confirmed as well, so a partial copy only costs round trips, never a wrong answer.
 */
public final class ConfirmedLeases {
  public static final String FULL = Fields.FULL;
  public static final String LEASES = Fields.LEASES;
  public static final String RELEASED = Fields.RELEASED;
  public static final String UNTIL_NANOS = Fields.UNTIL_NANOS;

  private final Map<String, Long> leases = new HashMap<>();
  /** System.nanoTime, or a test's clock shared with the pool so that it can pass a bound without sleeping. */
  private final LongSupplier nanoClock;
  private boolean confirmed;
  private long untilNanos;

  public ConfirmedLeases() {
    this(System::nanoTime);
  }

  public ConfirmedLeases(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  /** Applies one publication of the pool. */
  public void apply(JsonObject m) {
    if (m.getBoolean(FULL, false)) {
      leases.clear();
    }
    JsonObject added = m.getJsonObject(LEASES);
    if (added != null) {
      added.forEach(e -> leases.put(e.getKey(), ((Number) e.getValue()).longValue()));
    }
    JsonObject released = m.getJsonObject(RELEASED);
    if (released != null) {
      released.forEach(e -> leases.remove(e.getKey(), ((Number) e.getValue()).longValue()));
    }
    Object until = m.getValue(UNTIL_NANOS);
    confirmed = until instanceof Number;
    untilNanos = confirmed ? ((Number) until).longValue() : 0;
  }

  /** True when the pool confirmed exactly this lease and the confirmation has not run out. */
  public boolean confirms(String accountId, long token) {
    Long t = leases.get(accountId);
    return t != null && t == token && confirmed && nanoClock.getAsLong() - untilNanos < 0;
  }

  public int size() {
    return leases.size();
  }
}
