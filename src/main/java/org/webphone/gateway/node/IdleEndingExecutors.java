package org.webphone.gateway.node;

import io.vertx.core.spi.ExecutorServiceFactory;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Vert.x's blocking pools (the worker pool of {@code executeBlocking}, the internal blocking pool, named worker
 * executors) as pools whose idle threads end after {@value #KEEP_ALIVE_SEC} s. Vert.x's own factory makes each a
 * fixed pool ({@code Executors.newFixedThreadPool}): a thread, once a burst of blocking work started it (media
 * set-up, SIP stack start, file reads under load or an attack), lived as long as the node, so the node's thread
 * count only ever rose, to 20 + 20 by default. The sizes are Vert.x's ({@code VertxOptions}): a burst still gets
 * every thread at once; only idle ones end, and a later burst starts them again (a thread start is a few tens of
 * microseconds, nothing next to the work that needs one).
 *
 * <p>Vert.x 5.0 has no builder method for this factory; it is found as a {@code VertxServiceProvider}
 * (META-INF/services/io.vertx.core.spi.VertxServiceProvider), so every Vert.x instance of the JVM gets it.
 * Threads: none of its own; the pools' threads come from Vert.x's thread factory (names {@code vert.x-worker-thread-N},
 * {@code vert.x-internal-blocking-N}) and end by themselves, or when Vert.x closes the pool.
 */
public final class IdleEndingExecutors implements ExecutorServiceFactory {
  /** How long an idle pool thread lives; the mixed attack run (e2e/MixedAttackTest) waits this much for them. */
  public static final int KEEP_ALIVE_SEC = 5;

  @Override
  public ExecutorService createExecutor(ThreadFactory threadFactory, Integer concurrency, Integer maxConcurrency) {
    int size = maxConcurrency;
    ThreadPoolExecutor pool = new ThreadPoolExecutor(size, size, KEEP_ALIVE_SEC, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), threadFactory);
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }
}
