package org.webphone.gateway.media.dtls;

import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The node's few threads for DTLS: bctls' handshake is a blocking API, so each handshake holds one of these
 * threads while it runs (bounded: more legs connecting at once wait in the queue while the browsers
 * retransmit); after the handshake a leg holds no thread, and the rare records that arrive later
 * (retransmitted client flights, alerts, close_notify) are processed by a short task here. Idle threads end
 * after a few seconds, and all of them when the node stops.
 */
public final class DtlsHandshakePool implements Executor, AutoCloseable {
  /** Handshakes that can run at once; bctls needs about 20 ms of CPU each, the rest is waiting. */
  public static final int THREADS = 8;
  private final ThreadPoolExecutor pool;

  public DtlsHandshakePool() {
    AtomicInteger n = new AtomicInteger();
    pool = new ThreadPoolExecutor(THREADS, THREADS, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
      Thread t = new Thread(r, "media-dtls-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    pool.allowCoreThreadTimeOut(true);
  }

  @Override
  public void execute(Runnable task) {
    pool.execute(task);
  }

  /** Threads alive now (idle ones included), for leak checks. */
  public int threads() {
    return pool.getPoolSize();
  }

  /** Stops the threads (running handshakes fail: their legs are closed first by the caller); bounded wait. */
  @Override
  public void close() {
    pool.shutdownNow();
    try {
      pool.awaitTermination(3, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
