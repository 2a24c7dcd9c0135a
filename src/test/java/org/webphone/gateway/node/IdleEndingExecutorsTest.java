package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.media.ice.IceService;
import org.webphone.gateway.testing.Eventually;

/**
 * Pools that grow under a burst give their threads back once idle (issue 16's attack run: +12 worker, +6
 * internal-blocking and +17 ice4j threads stayed after the attack).
 */
class IdleEndingExecutorsTest {
  private static final Duration IDLE_END = Duration.ofSeconds(IdleEndingExecutors.KEEP_ALIVE_SEC + 10);

  @Test
  void aBurstOfBlockingWorkStartsWorkerThreadsThatEndOnceIdle() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      long before = workers();
      CountDownLatch release = new CountDownLatch(1);
      CountDownLatch running = new CountDownLatch(8);
      List<Future<Object>> burst = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        burst.add(vertx.executeBlocking(() -> {
          running.countDown();
          return release.await(30, TimeUnit.SECONDS);
        }, false));
      }
      assertEquals(true, running.await(30, TimeUnit.SECONDS), "8 blocking tasks run at once");
      assertEquals(before + 8, workers(), "the burst started 8 worker threads");
      release.countDown();
      Eventually.result(IDLE_END, "the burst to end", Future.all(burst));
      Eventually.await(IDLE_END, "the idle worker threads to end", () -> workers(), n -> n <= before);
    } finally {
      Eventually.result(30, "Vert.x to close", vertx.close());
    }
  }

  @Test
  void ice4jsCachedPoolsEndTheirIdleThreadsAfterTheSameTime() throws Exception {
    IceService.configureIce4j(); // loads IceService, which shortens ice4j's pools
    assertEquals(IdleEndingExecutors.KEEP_ALIVE_SEC, keepAliveSec(org.ice4j.ice.Agent.class, "agentTasksExecutor"));
    assertEquals(IdleEndingExecutors.KEEP_ALIVE_SEC,
        keepAliveSec(org.ice4j.stack.NetAccessManager.class, "messageProcessingExecutor"));
  }

  private static long keepAliveSec(Class<?> owner, String field) throws ReflectiveOperationException {
    Field f = owner.getDeclaredField(field);
    f.setAccessible(true);
    return ((ThreadPoolExecutor) f.get(null)).getKeepAliveTime(TimeUnit.SECONDS);
  }

  /** Live Vert.x worker threads (of every Vert.x in this JVM; the test's own burst is what changes them). */
  private static long workers() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("vert.x-worker-thread-")).count();
  }
}
