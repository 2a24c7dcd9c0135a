package org.webphone.gateway.testing;

import io.vertx.core.Future;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * The one way tests wait: for a condition, or for a Vert.x future, each with a deadline and a sentence
 * saying what was awaited. A wait that runs out fails with that sentence and the last value seen, so a
 * failure says what did not happen instead of "timeout". Called from the test's own thread only: it sleeps
 * between polls, so never from an event loop.
 */
public final class Eventually {
  /**
   * Between two polls: a tenth of the time waited so far, within these bounds. A quick condition is seen
   * within 10 ms; a slow one costs at most a tenth more, and an expensive probe (an HTTP scrape, a browser's
   * getStats, a thread dump) does not busy the shared cores.
   */
  private static final long MIN_POLL_MS = 10;
  private static final long MAX_POLL_MS = 200;

  private Eventually() {
  }

  /** Something that yields a value to test; it may throw, which counts as "not yet" until the deadline. */
  @FunctionalInterface
  public interface Probe<T> {
    T get() throws Exception;
  }

  /** Thrown by a probe to stop waiting at once: what is awaited can no longer happen (say, the peer exited). */
  public static final class Hopeless extends AssertionError {
    public Hopeless(String message) {
      super(message);
    }
  }

  /**
   * Polls {@code probe} until {@code done} holds for its value and returns that value; fails after
   * {@code limit} with {@code what} and the last value (or exception) seen.
   */
  public static <T> T await(Duration limit, String what, Probe<T> probe, Predicate<? super T> done)
      throws InterruptedException {
    long start = System.nanoTime();
    long end = start + limit.toNanos();
    Object last = "nothing yet";
    while (true) {
      try {
        T v = probe.get();
        if (done.test(v)) {
          return v;
        }
        last = v == null ? last : v;
      } catch (AssertionError | Exception e) {
        if (e instanceof InterruptedException i) {
          throw i;
        }
        if (e instanceof Hopeless h) {
          throw h;
        }
        last = e;
      }
      if (System.nanoTime() - end >= 0) {
        throw new AssertionError("waited " + limit.toMillis() + " ms for " + what + "; last seen: " + last,
            last instanceof Throwable t ? t : null);
      }
      long waitedMs = (System.nanoTime() - start) / 1_000_000;
      Thread.sleep(Math.max(MIN_POLL_MS, Math.min(MAX_POLL_MS, waitedMs / 10)));
    }
  }

  /** Polls {@code probe} until it yields a non-null value, and returns it. */
  public static <T> T await(Duration limit, String what, Probe<T> probe) throws InterruptedException {
    return await(limit, what, probe, v -> v != null);
  }

  /** A condition to poll; it may throw, which counts as "not yet" until the deadline. */
  @FunctionalInterface
  public interface Condition {
    boolean holds() throws Exception;
  }

  /** Polls {@code condition} until it holds. */
  public static void until(Duration limit, String what, Condition condition) throws InterruptedException {
    await(limit, what, condition::holds, Boolean::booleanValue);
  }

  /**
   * The result of {@code f}, waiting at most {@code limit}. A failed future rethrows its cause (so a test
   * can assert on a {@code ReplyException}); one that does not complete fails with {@code what}.
   */
  public static <T> T result(Duration limit, String what, Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(limit.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception x ? x : e;
    } catch (TimeoutException e) {
      throw new AssertionError("waited " + limit.toMillis() + " ms for " + what + "; not completed", e);
    }
  }

  /** {@link #result(Duration, String, Future)} with seconds, the way most bounds are written. */
  public static <T> T result(int seconds, String what, Future<T> f) throws Exception {
    return result(Duration.ofSeconds(seconds), what, f);
  }
}
