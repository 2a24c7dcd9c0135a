package org.webphone.gateway.media.ice;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.ice4j.ice.IceProcessingState;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.media.dtls.DtlsHandshakePool;
import org.webphone.gateway.testing.Eventually;

/**
 * An ended call's ice4j agent must not wait for the JVM's finalizer thread: ice4j's {@code Agent} declares
 * {@code finalize()}, and an agent registered for finalization kept the whole call (media session, SRTP
 * contexts, buffers) in the heap until that one thread got to it and a second GC came (bench/RESULTS.md, "Memory
 * footprint"). The test holds the finalizer thread in a finalize() of its own, so an agent that needs finalizing
 * can never be collected while it holds: the check cannot pass by luck of timing.
 */
class IceLegFinalizationTest {
  private static final CountDownLatch FINALIZER_HELD = new CountDownLatch(1);
  private static final CountDownLatch RELEASE = new CountDownLatch(1);

  /** Blocks the finalizer thread in its finalize() until {@link #RELEASE}. */
  private static final class FinalizerBlocker {
    @Override
    @SuppressWarnings("deprecation")
    protected void finalize() throws InterruptedException {
      FINALIZER_HELD.countDown();
      RELEASE.await(60, TimeUnit.SECONDS);
    }
  }

  @Test
  void aClosedLegsAgentIsCollectedWithoutWaitingForTheFinalizerThread() throws Exception {
    IceService service = new IceService("127.0.0.1", 0, "127.0.0.1", DtlsHandshakePool.DEFAULTS);
    try {
      new FinalizerBlocker();
      Eventually.until(Duration.ofSeconds(20), "the finalizer thread is held", () -> {
        System.gc();
        return FINALIZER_HELD.await(100, TimeUnit.MILLISECONDS);
      });
      ReferenceQueue<Object> collected = new ReferenceQueue<>();
      PhantomReference<Object> agent = closedLegsAgent(service, collected);
      Eventually.until(Duration.ofSeconds(20), "the closed leg's agent is collected", () -> {
        System.gc();
        return collected.remove(100) == agent;
      });
      Reference.reachabilityFence(agent);
      assertTrue(agent.refersTo(null), "the agent is gone");
    } finally {
      RELEASE.countDown();
      service.close();
    }
  }

  /** A leg made and closed (its agent freed) like a call's; only a phantom reference to its agent is kept. */
  private static PhantomReference<Object> closedLegsAgent(IceService service, ReferenceQueue<Object> queue)
      throws Exception {
    IceLeg leg = new IceLeg(service, "remoteufrag", "remotepasswordremotepassword", List.of(),
        new IceLeg.Listener() {
          @Override
          public void onState(IceProcessingState state) {
          }

          @Override
          public void onPacket(byte[] b, int off, int len, java.net.InetSocketAddress from, boolean tcp) {
          }
        });
    Field f = IceLeg.class.getDeclaredField("agent");
    f.setAccessible(true);
    PhantomReference<Object> ref = new PhantomReference<>(f.get(leg), queue);
    leg.close();
    return ref;
  }
}
