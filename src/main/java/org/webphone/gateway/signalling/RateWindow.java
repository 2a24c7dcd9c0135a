package org.webphone.gateway.signalling;

import java.util.ArrayDeque;

/**
 * At most {@code limit} events in any sliding window of {@code windowMs}. Memory is bounded by the
 * limit. Not thread-safe: used on the signalling verticle's event loop only.
 */
public final class RateWindow {
  private final int limit;
  private final long windowMs;
  private final ArrayDeque<Long> times = new ArrayDeque<>();

  public RateWindow(int limit, long windowMs) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Records an event at {@code nowMs} and returns true, or returns false (and records nothing) when full. */
  public boolean tryAcquire(long nowMs) {
    while (!times.isEmpty() && nowMs - times.peekFirst() >= windowMs) {
      times.pollFirst();
    }
    if (times.size() >= limit) {
      return false;
    }
    times.addLast(nowMs);
    return true;
  }

  /** True when no event is left in the window (the owner may then forget this window). */
  public boolean isIdle(long nowMs) {
    while (!times.isEmpty() && nowMs - times.peekFirst() >= windowMs) {
      times.pollFirst();
    }
    return times.isEmpty();
  }
}
