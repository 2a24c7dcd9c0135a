package org.webphone.gateway.media.ice;

import java.lang.reflect.Field;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ice4j's two node-wide cached thread pools, {@code ice4j.Agent-executor-*} (agent tasks: connectivity checks,
 * state changes) and {@code ice4j.NetAccessManager-*} (STUN message processing), keep an idle thread for 60 s:
 * after a burst of legs connecting at once (many calls, or an attack's legs) the node's thread count stayed up
 * a minute. Their threads end here after {@code keepAliveSec} idle instead. ice4j has no setting for this:
 * the pools are private static fields, read once by reflection; when a field is not there (another ice4j
 * version) it is logged and ice4j's 60 s stay. The pools stay unbounded, as ice4j made them: their load is
 * bounded by the legs (agents) a node allows, not by the pool.
 */
final class Ice4jPools {
  private static final Logger LOG = LoggerFactory.getLogger(Ice4jPools.class);

  private Ice4jPools() {
  }

  static void endIdleThreadsAfter(int keepAliveSec) {
    shorten(org.ice4j.ice.Agent.class, "agentTasksExecutor", keepAliveSec);
    shorten(org.ice4j.stack.NetAccessManager.class, "messageProcessingExecutor", keepAliveSec);
  }

  private static void shorten(Class<?> owner, String field, int keepAliveSec) {
    try {
      Field f = owner.getDeclaredField(field);
      f.setAccessible(true);
      if (f.get(null) instanceof ThreadPoolExecutor pool) {
        pool.setKeepAliveTime(keepAliveSec, TimeUnit.SECONDS);
        return;
      }
      LOG.info("ice4j's {}.{} is not a ThreadPoolExecutor: its idle threads keep ice4j's timeout",
          owner.getSimpleName(), field);
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.info("ice4j's {}.{} not found ({}): its idle threads keep ice4j's timeout", owner.getSimpleName(), field,
          e.toString());
    }
  }
}
