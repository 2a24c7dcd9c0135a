package org.webphone.gateway.load;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The audio side of a load run ({@code --media}): makes, connects and closes the virtual clients'
 * {@link MediaLeg}s and sends their packets.
 *
 * <p>Threads, all named {@code load-media-*} and all gone after {@link #close()}: a few set-up threads for
 * the blocking parts (a browser's key pair and socket, ICE checks, the DTLS handshake, close), so the run's
 * event loop never blocks and a slow handshake does not hold up the others; and ONE sender thread for every
 * leg. The sender spreads the legs over the 20 ms period (or {@link #SLOTS} ms) (slot = millisecond of the period) instead of
 * sending every leg's packet at once: real browsers are not in step, and a burst of hundreds of packets
 * each 20 ms would measure the receive buffers, not the gateway. Each browser has its own receive thread
 * (SyntheticBrowser's), which only decrypts and counts.
 *
 * <p>Every future returned here completes on the run's context.
 */
final class LoadMedia {
  private static final Logger LOG = LoggerFactory.getLogger(LoadMedia.class);
  /**
   * Milliseconds between two packets of a leg, one slot per millisecond: 20 as a browser sends; a bench of
   * many quiet calls (bench/memory-footprint.sh: 1000 calls at one packet a second) sets
   * {@code -Dload.media.packetMs=1000}.
   */
  private static final int SLOTS = Math.max(1, Integer.getInteger("load.media.packetMs", 20));
  private static final int SETUP_THREADS = 6;
  private static final long SLOT_NANOS = 1_000_000;
  /** Further behind than this (a stall of the machine), the sender skips ahead instead of bursting. */
  private static final long MAX_LAG_NANOS = 100_000_000;

  /**
   * Where the browsers' sockets bind: the tool's own cluster address when it joins a cluster on another host
   * (WEBPHONE_CLUSTER_HOST, the event bus's host too: LoadTool), since a node on another host never answers a
   * loopback source; else loopback.
   */
  private static final InetAddress ADDRESS = address(System.getenv(GatewayConfig.envName("cluster.host")));

  private final Context context;
  private final ExecutorService setup;
  private final java.util.concurrent.Future<?> srtpReady;
  private final Thread sender;
  @SuppressWarnings("unchecked")
  private final List<MediaLeg>[] slots = IntStream.range(0, SLOTS).mapToObj(i -> new CopyOnWriteArrayList<MediaLeg>())
      .toArray(List[]::new);
  private final Set<MediaLeg> open = ConcurrentHashMap.newKeySet();
  private final AtomicInteger nextSlot = new AtomicInteger();
  private volatile boolean running = true;
  private Future<Void> closed;

  static InetAddress address(String clusterHost) {
    try {
      return clusterHost == null || clusterHost.isBlank() ? InetAddress.getLoopbackAddress()
          : InetAddress.getByName(clusterHost);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("WEBPHONE_CLUSTER_HOST is not an address: " + clusterHost, e);
    }
  }

  LoadMedia(Context context) {
    this.context = context;
    AtomicInteger n = new AtomicInteger();
    ThreadPoolExecutor pool = new ThreadPoolExecutor(SETUP_THREADS, SETUP_THREADS, 5, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), r -> {
          Thread t = new Thread(r, "load-media-setup-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    pool.allowCoreThreadTimeOut(true);
    this.setup = pool;
    // The browsers' SRTP as the gateway's: jitsi-srtp's AES pinned and used once before the first call,
    // else the first packets of the first calls wait seconds for its cipher self-benchmark.
    this.srtpReady = pool.submit(() -> {
      try {
        SrtpKeys.warmUp();
      } catch (Exception e) {
        LOG.warn("SRTP warm-up failed, the first calls' audio may start late: {}", e.toString());
      }
    });
    this.sender = new Thread(this::sendLoop, "load-media-sender");
    sender.setDaemon(true);
    sender.setPriority(Thread.MAX_PRIORITY);
    sender.start();
  }

  /** What the legs that exist now (made, not yet closed) did so far. */
  record Live(int browsers, int sending, long sent, long received) {
  }

  Live live() {
    int sending = 0;
    long sent = 0;
    long received = 0;
    for (MediaLeg leg : open) {
      sending += leg.sending() ? 1 : 0;
      sent += leg.sent.get();
      received += leg.received.get();
    }
    return new Live(open.size(), sending, sent, received);
  }

  /** A new browser with its offer; its socket and receive thread exist until {@link #close(MediaLeg)}. */
  Future<MediaLeg> open() {
    return blocking(() -> {
      srtpReady.get();
      if (!running) {
        throw new IllegalStateException("the run's media is closed");
      }
      MediaLeg leg = new MediaLeg(new SyntheticBrowser(null, ADDRESS));
      open.add(leg);
      if (!running) { // close() may have drained the set just before the add
        closeNow(leg);
        throw new IllegalStateException("the run's media is closed");
      }
      return leg;
    });
  }

  /** ICE then DTLS against the gateway's answer (bounded by the browser: 15 s of ICE checks). */
  Future<Void> connect(MediaLeg leg, String answerSdp) {
    leg.answerNanos = System.nanoTime();
    return blocking(() -> {
      leg.browser.connect(answerSdp);
      leg.connectedNanos = System.nanoTime();
      leg.connected = true;
      return null;
    });
  }

  /** The leg sends one packet every 20 ms ({@link #SLOTS} ms) from now on. */
  void startSending(MediaLeg leg) {
    if (leg.slot < 0) {
      // The emptiest slot would be better balanced after many ends; round robin is close enough for calls
      // of similar length.
      leg.slot = Math.floorMod(nextSlot.getAndIncrement(), SLOTS);
      slots[leg.slot].add(leg);
    }
    leg.startSending();
  }

  /** Stops its packets, closes its browser (socket, DTLS, receive thread) in the background. */
  void close(MediaLeg leg) {
    leg.stopSending();
    if (leg.slot >= 0) {
      slots[leg.slot].remove(leg);
    }
    if (!open.contains(leg)) {
      return;
    }
    try {
      setup.execute(() -> closeNow(leg));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // close() runs: it closes every leg still open once the set-up threads are done
    }
  }

  /** Closes every leg and stops every thread of this class; completes on the context, bounded. */
  Future<Void> close() {
    if (closed != null) {
      return closed;
    }
    running = false;
    Promise<Void> p = Promise.promise();
    closed = p.future();
    Thread closer = new Thread(() -> {
      try {
        sender.interrupt();
        sender.join(5000);
        for (List<MediaLeg> s : slots) {
          s.clear();
        }
        setup.shutdown();
        // Set-ups still running (ICE checks, a handshake) are interrupted: both wait interruptibly.
        if (!setup.awaitTermination(2, TimeUnit.SECONDS)) {
          setup.shutdownNow();
          setup.awaitTermination(10, TimeUnit.SECONDS);
        }
        for (MediaLeg leg : List.copyOf(open)) {
          closeNow(leg);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        context.runOnContext(v -> p.complete());
      }
    }, "load-media-close");
    closer.setDaemon(true);
    closer.start();
    return closed;
  }

  private void closeNow(MediaLeg leg) {
    if (open.remove(leg)) {
      leg.stopSending();
      leg.browser.close();
    }
  }

  private void sendLoop() {
    long next = System.nanoTime();
    long tick = 0;
    while (running) {
      for (MediaLeg leg : slots[(int) (tick % SLOTS)]) {
        leg.sendOne();
      }
      tick++;
      next += SLOT_NANOS;
      long wait = next - System.nanoTime();
      if (wait > 0) {
        LockSupport.parkNanos(wait);
      } else if (-wait > MAX_LAG_NANOS) {
        LOG.debug("media sender {} ms behind; skipping ahead", -wait / 1_000_000);
        next = System.nanoTime();
      }
    }
  }

  private <T> Future<T> blocking(Callable<T> work) {
    Promise<T> p = Promise.promise();
    try {
      setup.execute(() -> {
        try {
          T r = work.call();
          context.runOnContext(v -> p.complete(r));
        } catch (Throwable e) {
          context.runOnContext(v -> p.fail(e));
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      p.fail(new IllegalStateException("the run's media is closed"));
    }
    return p.future();
  }
}
