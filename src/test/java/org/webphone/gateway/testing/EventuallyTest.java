package org.webphone.gateway.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The one way tests wait: it returns what it waited for, or says what did not happen and what it saw last. */
class EventuallyTest {
  @Test
  void aConditionThatComesTrueReturnsTheValueThatMadeItTrue() throws Exception {
    AtomicInteger polls = new AtomicInteger();
    assertEquals(3, Eventually.await(Duration.ofSeconds(5), "three polls", polls::incrementAndGet, n -> n == 3));
  }

  @Test
  void aWaitThatRunsOutSaysWhatWasAwaitedAndTheLastValueSeen() {
    AtomicInteger polls = new AtomicInteger();
    AssertionError e = assertThrows(AssertionError.class, () -> Eventually.await(Duration.ofMillis(50),
        "a negative count", () -> "count " + polls.incrementAndGet(), s -> false));
    assertTrue(e.getMessage().startsWith("waited 50 ms for a negative count; last seen: count "), e.getMessage());
    assertTrue(e.getMessage().endsWith("count " + polls.get()), e.getMessage());
  }

  @Test
  void aProbeThatThrowsIsRetriedAndItsLastFailureIsTheCause() {
    IllegalStateException boom = new IllegalStateException("not up yet");
    AssertionError e = assertThrows(AssertionError.class, () -> Eventually.until(Duration.ofMillis(30), "the peer",
        () -> {
          throw boom;
        }));
    assertSame(boom, e.getCause());
  }

  @Test
  void aHopelessProbeEndsTheWaitAtOnce() {
    long t0 = System.nanoTime();
    Eventually.Hopeless e = assertThrows(Eventually.Hopeless.class, () -> Eventually.until(Duration.ofSeconds(30),
        "a peer that exited", () -> {
          throw new Eventually.Hopeless("it exited with 1");
        }));
    assertEquals("it exited with 1", e.getMessage());
    assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos(), "did not wait for the deadline");
  }

  @Test
  void aFutureGivesItsResultItsOwnFailureOrAFailureNamingWhatItWaitedFor() throws Exception {
    assertEquals("ok", Eventually.result(1, "a reply", Future.succeededFuture("ok")));
    IllegalArgumentException refused = new IllegalArgumentException("refused");
    assertSame(refused, assertThrows(IllegalArgumentException.class,
        () -> Eventually.result(1, "a reply", Future.failedFuture(refused))));
    AssertionError e = assertThrows(AssertionError.class,
        () -> Eventually.result(Duration.ofMillis(30), "the pool's reply", Promise.promise().future()));
    assertEquals("waited 30 ms for the pool's reply; not completed", e.getMessage());
  }
}
