package org.webphone.gateway.media.rtp;

import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's one RTCP thread ({@code media-rtcp}): every leg of every call has a self-rescheduling task on
 * it, so a thousand calls cost one thread and a timer queue, not a timer per call. Building and protecting a
 * report takes microseconds; the task never blocks (UDP sends are non-blocking).
 */
public final class RtcpScheduler implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RtcpScheduler.class);

  private final ScheduledThreadPoolExecutor executor;
  private final AtomicInteger live = new AtomicInteger();

  public RtcpScheduler(String threadName) {
    executor = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, threadName);
      t.setDaemon(true);
      return t;
    });
    // Cancelled tasks leave the queue at once, so ended calls hold no memory until their time would come.
    executor.setRemoveOnCancelPolicy(true);
    executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
  }

  /** Starts reporting for {@code leg}; the returned handle stops it (idempotent). */
  public Handle start(RtcpLeg leg) {
    Handle h = new Handle(leg);
    live.incrementAndGet();
    h.schedule(0);
    return h;
  }

  /** Legs being reported on (for leak checks: 0 when no call has media). */
  public int liveTasks() {
    return live.get();
  }

  /** Timer entries queued (cancelled ones are removed at once). */
  public int queued() {
    return executor.getQueue().size();
  }

  /** Stops the thread; call from a worker. */
  @Override
  public void close() {
    executor.shutdownNow();
    try {
      executor.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One leg's place on the timer. */
  public final class Handle {
    private final RtcpLeg leg;
    private ScheduledFuture<?> next;
    private boolean stopped;

    private Handle(RtcpLeg leg) {
      this.leg = leg;
    }

    private synchronized void schedule(long delayNanos) {
      if (stopped || executor.isShutdown()) {
        return;
      }
      next = executor.schedule(this::run, delayNanos, TimeUnit.NANOSECONDS);
    }

    private void run() {
      long delay;
      try {
        delay = leg.tick(System.nanoTime());
      } catch (RuntimeException e) {
        LOG.warn("RTCP report of the {} leg failed: {}", leg.name(), e.toString(), e);
        delay = 1_000_000_000L;
      }
      if (delay >= 0) {
        schedule(delay);
      }
    }

    /** Takes the leg off the timer; the caller then sends its BYE. Idempotent. */
    public void stop() {
      ScheduledFuture<?> f;
      synchronized (this) {
        if (stopped) {
          return;
        }
        stopped = true;
        f = next;
        next = null;
      }
      if (f != null) {
        f.cancel(false);
      }
      live.decrementAndGet();
    }
  }
}
