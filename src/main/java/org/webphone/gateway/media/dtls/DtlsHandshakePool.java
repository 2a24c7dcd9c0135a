package org.webphone.gateway.media.dtls;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The node's DTLS threads and the rules for handing them out, made so that no peer can hold them.
 *
 * <p>bctls' DTLS handshake is a blocking API with no non-blocking mode, and Java 17 has no virtual threads,
 * so a running handshake holds a thread while it waits for the browser's next flight. Rather than
 * re-implement DTLS, the pool stays bounded and makes each hold short and fair:
 * <ul>
 *   <li>a leg asks for a thread ({@link #handshake}) only once ICE has completed <em>and</em> a ClientHello
 *       is queued: a leg whose peer never sends one holds no thread, only a timer here
 *       ({@link #schedule}, ended after {@link Limits#helloTimeoutMs});</li>
 *   <li>at most {@link Limits#maxHandshakes} handshakes run at once, each bounded by bctls' handshake timeout
 *       ({@code media.dtlsHandshakeTimeoutMs}, 5 s) from the moment it starts on its ClientHello;</li>
 *   <li>at most {@link Limits#perAddress} of them come from one remote IP address ({@link #share}); further handshakes wait,
 *       holding no thread, in a queue per address, and the addresses take turns (round robin, each in order
 *       of arrival): when a thread frees, the next address in turn with room starts its oldest handshake
 *       and goes to the back. One address therefore cannot take more than its share, a browser waits behind
 *       at most one handshake of each other waiting address (not behind all their calls), and a peer that
 *       sends a ClientHello and goes silent frees its thread after the timeout.</li>
 * </ul>
 *
 * <p>Threads ({@code media-dtls-N}): at most {@code maxHandshakes + 1}; the extra one is never given to a
 * handshake, so the short tasks (records after a handshake: retransmitted flights, alerts, close_notify; and
 * the hello timers) always find a thread. Idle threads end after 5 s, all of them at {@link #close}.
 *
 * <p>Thread-safety: every method may be called from any thread; the admission state is guarded by
 * {@code this}. The leg that asked for a handshake owns its {@link Ticket} and cancels it when it closes.
 */
public final class DtlsHandshakePool implements AutoCloseable {
  /** Defaults of {@code media.dtlsMaxHandshakes}, {@code media.dtlsHandshakesPerAddress} and {@code media.dtlsHelloTimeoutMs}. */
  public static final Limits DEFAULTS = new Limits(8, 2, 5000);

  /**
   * @param maxHandshakes  handshakes that may hold a thread at once on the node
   * @param perAddress     of those, how many may come from one remote IP address
   * @param helloTimeoutMs how long a leg whose ICE completed may wait for its first ClientHello
   */
  public record Limits(int maxHandshakes, int perAddress, int helloTimeoutMs) {
    public Limits {
      if (maxHandshakes < 1 || perAddress < 1 || helloTimeoutMs < 1) {
        throw new IllegalArgumentException("DTLS limits must be positive: " + maxHandshakes + ", " + perAddress
            + ", " + helloTimeoutMs);
      }
    }
  }

  /** A handshake asked for; {@link #cancel} takes it out of the wait (a running one is ended by its leg). */
  public final class Ticket {
    private final InetAddress from;
    private final Runnable task;

    private Ticket(InetAddress from, Runnable task) {
      this.from = from;
      this.task = task;
    }

    /** Forgets the handshake if it is still waiting; idempotent. */
    public void cancel() {
      synchronized (DtlsHandshakePool.this) {
        ArrayDeque<Ticket> q = waitingFrom.get(from);
        if (q != null && q.remove(this)) {
          waiting--;
          if (q.isEmpty()) {
            waitingFrom.remove(from);
          }
        }
      }
    }
  }

  /** A scheduled task; {@link #cancel} removes it from the queue at once. */
  public interface Timer {
    void cancel();
  }

  private final Limits limits;
  private final ScheduledThreadPoolExecutor pool;
  /** Waiting handshakes per address; iteration order is the addresses' turn (insertion order). */
  private final LinkedHashMap<InetAddress, ArrayDeque<Ticket>> waitingFrom = new LinkedHashMap<>();
  private final Map<InetAddress, Integer> runningFrom = new HashMap<>();
  private int running;
  private int waiting;
  private final AtomicInteger timers = new AtomicInteger();
  private final AtomicLong helloTimeouts = new AtomicLong();

  public DtlsHandshakePool() {
    this(DEFAULTS);
  }

  public DtlsHandshakePool(Limits limits) {
    this.limits = limits;
    AtomicInteger n = new AtomicInteger();
    pool = new ScheduledThreadPoolExecutor(limits.maxHandshakes() + 1, r -> {
      Thread t = new Thread(r, "media-dtls-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    pool.setKeepAliveTime(5, TimeUnit.SECONDS);
    pool.allowCoreThreadTimeOut(true);
    // A cancelled hello timer must leave the queue now, not when it would have fired.
    pool.setRemoveOnCancelPolicy(true);
    pool.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
  }

  public Limits limits() {
    return limits;
  }

  /**
   * Runs {@code task} (a blocking handshake, bounded by its own timeout) on a pool thread as soon as the node
   * and {@code from} have room; never blocks. {@code from} is the peer's IP address (null: counted as one
   * unknown address).
   */
  public Ticket handshake(InetAddress from, Runnable task) {
    Ticket t = new Ticket(share(from), task);
    synchronized (this) {
      waitingFrom.computeIfAbsent(from, a -> new ArrayDeque<>()).add(t);
      waiting++;
      dispatch();
    }
    return t;
  }

  /**
   * The address a handshake counts against: the IPv4 address, or an IPv6 address's /64 (one subscriber's
   * usual allocation, in which a peer can pick any number of addresses).
   */
  static InetAddress share(InetAddress from) {
    if (!(from instanceof Inet6Address)) {
      return from;
    }
    byte[] b = from.getAddress();
    java.util.Arrays.fill(b, 8, 16, (byte) 0);
    try {
      return InetAddress.getByAddress(b);
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException("16 bytes are an IPv6 address", e);
    }
  }

  /** Runs a short task (no blocking wait) on a pool thread; throws RejectedExecutionException once closed. */
  public void execute(Runnable task) {
    pool.execute(task);
  }

  /** Runs {@code task} once after {@code delayMs} on a pool thread, unless cancelled first. */
  public Timer schedule(Runnable task, long delayMs) {
    AtomicBoolean done = new AtomicBoolean();
    timers.incrementAndGet();
    ScheduledFuture<?> f;
    try {
      f = pool.schedule(() -> {
        if (done.compareAndSet(false, true)) {
          timers.decrementAndGet();
          task.run();
        }
      }, delayMs, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      timers.decrementAndGet();
      throw e;
    }
    return () -> {
      if (done.compareAndSet(false, true)) {
        timers.decrementAndGet();
        f.cancel(false);
      }
    };
  }

  /**
   * Starts waiting handshakes while the node has room: the addresses in turn, each with room starting its
   * oldest one and going to the back of the turn; holds the lock.
   */
  private void dispatch() {
    boolean started = true;
    while (started && running < limits.maxHandshakes()) {
      started = false;
      for (InetAddress from : new ArrayList<>(waitingFrom.keySet())) {
        if (running >= limits.maxHandshakes()) {
          break;
        }
        int fromHere = runningFrom.getOrDefault(from, 0);
        if (fromHere >= limits.perAddress()) {
          continue;
        }
        ArrayDeque<Ticket> q = waitingFrom.remove(from);
        Ticket t = q.poll();
        if (!q.isEmpty()) {
          waitingFrom.put(from, q);
        }
        waiting--;
        running++;
        runningFrom.put(from, fromHere + 1);
        started = true;
        try {
          pool.execute(() -> run(t));
        } catch (RejectedExecutionException e) {
          // Closing: the leg is closed by its owner before the node stops the pool.
          release(from);
        }
      }
    }
  }

  private void run(Ticket t) {
    try {
      t.task.run();
    } finally {
      synchronized (this) {
        release(t.from);
        dispatch();
      }
    }
  }

  private void release(InetAddress from) {
    running--;
    runningFrom.merge(from, -1, (a, b) -> a + b == 0 ? null : a + b);
  }

  /** Counts a leg ended because no ClientHello came in time (for {@code media.status}). */
  void helloTimedOut() {
    helloTimeouts.incrementAndGet();
  }

  /** Handshakes holding a thread now. */
  public synchronized int running() {
    return running;
  }

  /** Handshakes with a ClientHello queued that wait for the node's or their address's turn. */
  public synchronized int waiting() {
    return waiting;
  }

  /** Timers armed and not yet fired or cancelled (the legs waiting for their first ClientHello). */
  public int timers() {
    return timers.get();
  }

  /** Legs ended because no ClientHello came within {@link Limits#helloTimeoutMs} of ICE, since start. */
  public long helloTimeouts() {
    return helloTimeouts.get();
  }

  /** Threads alive now (idle ones included), for leak checks. */
  public int threads() {
    return pool.getPoolSize();
  }

  /** Stops the threads (running handshakes fail: their legs are closed first by the caller); bounded wait. */
  @Override
  public void close() {
    synchronized (this) {
      waitingFrom.clear();
      waiting = 0;
    }
    pool.shutdownNow();
    try {
      pool.awaitTermination(3, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
