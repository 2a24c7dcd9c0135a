package org.webphone.gateway.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The SIP side's copy of the pool's confirmations: exact lease, in time, full sets and deltas. */
class ConfirmedLeasesTest {
  private static final long MINUTE = 60_000_000_000L;

  @Test
  void onlyTheExactLeaseIsConfirmedAndOnlyBeforeUntil() {
    ConfirmedLeases c = new ConfirmedLeases();
    assertFalse(c.confirms("a", 1), "nothing before the first publication");
    long until = System.nanoTime() + MINUTE;
    c.apply(full(until).put(ConfirmedLeases.LEASES, new JsonObject().put("a", 1L).put("b", 2L)));
    assertTrue(c.confirms("a", 1));
    assertFalse(c.confirms("a", 2), "another token of the same account");
    assertFalse(c.confirms("x", 1), "another account");
    c.apply(new JsonObject().put(ConfirmedLeases.LEASES, new JsonObject().put("c", 3L)).put(ConfirmedLeases.UNTIL_NANOS, until));
    c.apply(new JsonObject().put(ConfirmedLeases.RELEASED, new JsonObject().put("b", 2L)).put(ConfirmedLeases.UNTIL_NANOS, until));
    c.apply(new JsonObject().put(ConfirmedLeases.RELEASED, new JsonObject().put("a", 9L)).put(ConfirmedLeases.UNTIL_NANOS, until));
    assertTrue(c.confirms("c", 3), "a delta adds");
    assertFalse(c.confirms("b", 2), "a delta removes");
    assertTrue(c.confirms("a", 1), "removing another token of the account leaves this one");
    c.apply(full(System.nanoTime() - 1).put(ConfirmedLeases.LEASES, new JsonObject().put("a", 1L)));
    assertFalse(c.confirms("a", 1), "a confirmation past its bound is never used");
    assertFalse(c.confirms("c", 3), "a full set replaces the copy");
    c.apply(new JsonObject().put(ConfirmedLeases.FULL, true).put(ConfirmedLeases.LEASES, new JsonObject().put("a", 1L)));
    assertFalse(c.confirms("a", 1), "without untilNanos nothing is confirmed (withdrawn)");
    c.apply(full(System.nanoTime() + MINUTE));
    assertEquals(0, c.size(), "an empty full set empties the copy");
  }

  @Test
  void aConfirmationHoldsUntilTheNodesClockReachesItsBoundEvenAcrossTheClocksWrapAround() {
    // System.nanoTime may be any long, and wrap: the bound is compared by difference, as the JDK advises.
    AtomicLong now = new AtomicLong(Long.MAX_VALUE - 1_000_000_000L);
    ConfirmedLeases c = new ConfirmedLeases(now::get);
    c.apply(full(now.get() + 1_500_000_000L).put(ConfirmedLeases.LEASES, new JsonObject().put("a", 1L)));
    assertTrue(c.confirms("a", 1));
    now.addAndGet(1_499_999_999L);
    assertTrue(c.confirms("a", 1), "one nanosecond before the bound, past the wrap-around");
    now.incrementAndGet();
    assertFalse(c.confirms("a", 1), "at the bound the confirmation has run out");
  }

  private static JsonObject full(long until) {
    return new JsonObject().put(ConfirmedLeases.FULL, true).put(ConfirmedLeases.UNTIL_NANOS, until);
  }
}
