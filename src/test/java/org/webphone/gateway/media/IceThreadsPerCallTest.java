package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.ClientIoLoop;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;

/**
 * No thread per call on the UDP path (issue 21): once ICE completed on UDP, a leg frees its ice4j agent (whose
 * STUN stack read each browser address on an {@code IceConnector} thread) and answers the browser's checks
 * itself; the node's thread count with 40 calls up is its count with 10 calls, both within a few threads of
 * idle. Synthetic browsers over UDP, each call connected (ICE, DTLS) and carrying audio both ways.
 */
@ExtendWith(VertxExtension.class)
class IceThreadsPerCallTest {
  private static final int FEW = 10;
  private static final int MANY = 40;
  /**
   * Threads allowed above idle once the set-up burst is over: the bounded pools that grow with the set-up rate
   * (workers, DTLS, ice4j executors) end their idle threads after 5 s; a few may linger while they age.
   */
  private static final int SLACK = 6;

  @Test
  void threadsDoNotGrowWithTheCallsHeldOverUdp(Vertx vertx) throws Exception {
    int rtpMin = Ports.freeRange(2 * MANY + 4);
    MediaFixture f = new MediaFixture(vertx, new JsonObject().put("rtpPortMin", rtpMin)
        .put("rtpPortMax", rtpMin + 2 * MANY + 3));
    try (ClientIoLoop loop = new ClientIoLoop("test-browser-rx")) {
      // Idle: the node deployed, one call made and ended (what the first call starts lazily exists).
      SyntheticBrowser warm = f.own(new SyntheticBrowser(loop));
      f.startCall("warm", "swarm", warm);
      f.closeAndAssertNothingLeaks("warm");
      int idle = settled(Integer.MAX_VALUE, "idle");

      List<SyntheticBrowser> browsers = new ArrayList<>();
      startCalls(f, loop, browsers, FEW);
      int atFew = settled(idle + SLACK, FEW + " calls");
      startCalls(f, loop, browsers, MANY);
      // Within SLACK of both idle and the count at FEW calls (the pools' threads may still be ending).
      int atMany = settled(Math.min(idle, atFew) + SLACK, MANY + " calls");
      System.out.printf("threads: idle %d, %d calls %d, %d calls %d%n", idle, FEW, atFew, MANY, atMany);

      JsonObject s = f.status();
      assertEquals(MANY, s.getInteger("sessions"), "calls up: " + s);
      assertEquals(MANY, s.getInteger("iceAnswering"), "every leg answers its own STUN: " + s);
      assertEquals(0, MediaRelayThreadingTest.threads("^IceConnector.*").size(), "no ice4j Connector thread");
      assertTrue(atMany - atFew <= SLACK, "threads grew with the calls: " + atFew + " at " + FEW + ", " + atMany
          + " at " + MANY);
      // Every call still carries audio both ways with the agents freed.
      for (SyntheticBrowser b : browsers) {
        b.sendRtp(0, MediaRelayVerticleTest.payload(1));
      }
      assertEquals(MANY, f.pbxReceive(MANY).size(), "a packet of every browser at the PBX");

      for (int i = 0; i < MANY; i++) {
        f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "c" + i));
      }
      f.assertNothingLeaks();
    } finally {
      f.close();
    }
  }

  private static void startCalls(MediaFixture f, ClientIoLoop loop, List<SyntheticBrowser> browsers, int upTo)
      throws Exception {
    for (int i = browsers.size(); i < upTo; i++) {
      SyntheticBrowser b = f.own(new SyntheticBrowser(loop));
      f.startCall("c" + i, "s" + i, b);
      browsers.add(b);
    }
  }

  /**
   * The JVM's live threads once at most {@code limit} (a bounded wait: the legs free their agents on the node's
   * ICE thread just after COMPLETED, and the pools' idle threads end after 5 s).
   */
  private static int settled(int limit, String when) throws InterruptedException {
    if (limit == Integer.MAX_VALUE) {
      // Idle: the count after the warm-up's pool threads have ended (it stops falling).
      int[] last = {Integer.MAX_VALUE};
      return Eventually.await(Duration.ofSeconds(15), "the idle thread count to settle", () -> {
        Thread.sleep(1000);
        int now = ManagementFactory.getThreadMXBean().getThreadCount();
        int before = last[0];
        last[0] = now;
        return now >= before ? now : null;
      });
    }
    return Eventually.await(Duration.ofSeconds(15), "at most " + limit + " threads with " + when,
        () -> ManagementFactory.getThreadMXBean().getThreadCount(), n -> n <= limit);
  }
}
