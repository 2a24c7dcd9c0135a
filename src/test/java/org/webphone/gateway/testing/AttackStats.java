package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the attack driver did and what the gateway answered: named counters ({@code ws.binary.sent},
 * {@code sip.response.403}, ...) and maxima, safe from every vector's threads; printed as one JSON line at
 * the end. Also the pacing every vector uses to hold its stated rate.
 */
public final class AttackStats {
  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
  private final Map<String, LongAccumulator> maxima = new ConcurrentHashMap<>();

  public void inc(String name) {
    add(name, 1);
  }

  public void add(String name, long n) {
    counts.computeIfAbsent(name, k -> new LongAdder()).add(n);
  }

  public void max(String name, long value) {
    maxima.computeIfAbsent(name, k -> new LongAccumulator(Math::max, Long.MIN_VALUE)).accumulate(value);
  }

  public long get(String name) {
    LongAdder a = counts.get(name);
    return a == null ? 0 : a.sum();
  }

  public JsonObject toJson() {
    JsonObject j = new JsonObject();
    new TreeMap<>(counts).forEach((k, v) -> j.put(k, v.sum()));
    new TreeMap<>(maxima).forEach((k, v) -> j.put(k + ".max", v.get()));
    return j;
  }

  /**
   * Sleeps until the {@code done}-th event of a stream of {@code perSecond} events started at
   * {@code startNanos} is due (never when behind: a late stream catches up in a burst).
   */
  public static void pace(long startNanos, long done, int perSecond) throws InterruptedException {
    long wait = startNanos + done * 1_000_000_000L / perSecond - System.nanoTime();
    if (wait > 0) {
      Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
    }
  }
}
