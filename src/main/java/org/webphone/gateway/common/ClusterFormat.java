package org.webphone.gateway.common;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The version of everything nodes exchange (docs/pool.md, "Mixed versions"): the pool's state, operations and
 * their results in Hazelcast, and the bus messages of the pool ({@code pool.node.<member>}) and of resume
 * ({@code signalling.node.<id>.resume|detach}). Each carries {@code v}, the format's major version. The rule that
 * lets two releases run side by side in a rolling deploy: a release may add fields (readers ignore fields they do
 * not know and default fields that are missing) without changing {@code v}; anything else (a field removed,
 * renamed or meaning something else) raises {@code v}, and a node refuses a {@code v} above its own with a log
 * line and {@code webphone_cluster_format_refused_total} instead of misreading it.
 *
 * <p>Any thread (Hazelcast's partition threads too): the counters are atomic, the rest is stateless. The
 * counters are per JVM, which is one node in production.
 */
public final class ClusterFormat {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterFormat.class);
  /** The field that carries the major version. */
  public static final String V = "v";
  /** The major version this node writes and the highest it reads. */
  public static final int MAJOR = 1;
  /** At most one refusal line per this many ms (a whole old cluster against a new node would flood the log). */
  private static final long LOG_EVERY_MS = 10_000;
  private static final AtomicLong REFUSED_POOL = new AtomicLong();
  private static final AtomicLong REFUSED_BUS = new AtomicLong();
  private static final AtomicLong LAST_LOG_MS = new AtomicLong(Long.MIN_VALUE / 2);

  private ClusterFormat() {
  }

  /** Where a refused message came from: the labels of the metric. */
  public enum Channel {
    POOL, BUS;

    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Puts this node's version into {@code body} (and returns it). */
  public static JsonObject stamp(JsonObject body) {
    return body.put(V, MAJOR);
  }

  /**
   * Null when this node can read {@code body}, or the sentence saying why not. A missing {@code v} is version 1:
   * the bus bodies of nodes that predate the field have version 1's shape.
   */
  public static String unreadable(JsonObject body, String what) {
    Object v = body == null ? null : body.getValue(V);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.intValue() < 1) {
      return what + " has no valid format version (" + V + "=" + v + ")";
    }
    if (n.intValue() > MAJOR) {
      return what + " has format v" + n.intValue() + " from a newer node; this node reads up to v" + MAJOR
          + " (finish the rolling upgrade: docs/deploy.md)";
    }
    return null;
  }

  /** Counts a refusal and logs it (at most one line per {@link #LOG_EVERY_MS}, with the count so far). */
  public static void refused(Channel channel, String why) {
    long n = (channel == Channel.POOL ? REFUSED_POOL : REFUSED_BUS).incrementAndGet();
    long now = System.currentTimeMillis();
    long last = LAST_LOG_MS.get();
    if (now - last >= LOG_EVERY_MS && LAST_LOG_MS.compareAndSet(last, now)) {
      LOG.warn("cluster format: refused ({} {} message(s) so far): {}", n, channel.label(), why);
    }
  }

  /** Refusals so far in this JVM on {@code channel}. */
  public static long refusedCount(Channel channel) {
    return (channel == Channel.POOL ? REFUSED_POOL : REFUSED_BUS).get();
  }
}
