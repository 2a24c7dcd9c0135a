package org.webphone.gateway.media.dtls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The rules of the DTLS pool on their own, with tasks that stand for handshakes and block until the test lets
 * them end: the per-address share, the turn the addresses take, the thread kept for short tasks, and timers
 * and waiting handshakes that leave nothing behind when cancelled.
 */
class DtlsHandshakePoolTest {
  private static final InetAddress A = address("127.0.0.2");
  private static final InetAddress C = address("127.0.0.3");

  private final List<String> started = new CopyOnWriteArrayList<>();

  @Test
  void addressesTakeTurnsSoABrowserWaitsBehindOneHandshakeOfAnotherAddressNotBehindAllItsCalls() throws Exception {
    try (DtlsHandshakePool pool = new DtlsHandshakePool(new DtlsHandshakePool.Limits(2, 2, 1000))) {
      CountDownLatch a1 = handshake(pool, A, "a1");
      CountDownLatch a2 = handshake(pool, A, "a2");
      handshake(pool, A, "a3");
      handshake(pool, A, "a4");
      handshake(pool, C, "c1");
      awaitStarted(2);
      assertEquals(Set.of("a1", "a2"), Set.copyOf(started));
      assertEquals(3, pool.waiting());

      a1.countDown();
      awaitStarted(3);
      a2.countDown();
      awaitStarted(4);
      assertEquals(List.of("a3", "c1"), started.subList(2, 4), "c1 starts before a4: the addresses take turns");
      assertEquals(1, pool.waiting());
      assertEquals(2, pool.running());
    }
  }

  @Test
  void oneAddressNeverRunsMoreThanItsShareAndTheOthersKeepTheRest() throws Exception {
    try (DtlsHandshakePool pool = new DtlsHandshakePool(new DtlsHandshakePool.Limits(4, 2, 1000))) {
      for (int i = 0; i < 6; i++) {
        handshake(pool, A, "a" + i);
      }
      handshake(pool, C, "c1");
      handshake(pool, null, "unknown");
      awaitStarted(4);
      assertEquals(Set.of("a0", "a1", "c1", "unknown"), Set.copyOf(started));
      assertEquals(4, pool.waiting(), "A's other four wait, holding no thread");
    }
  }

  @Test
  void ipv6PeersShareBySlash64AndIpv4ByAddress() {
    assertEquals(DtlsHandshakePool.share(address("2001:db8:1:2:aaaa::1")),
        DtlsHandshakePool.share(address("2001:db8:1:2:bbbb::9")));
    assertNotEquals(DtlsHandshakePool.share(address("2001:db8:1:2::1")),
        DtlsHandshakePool.share(address("2001:db8:1:3::1")));
    assertEquals(A, DtlsHandshakePool.share(A));
  }

  @Test
  void aShortTaskRunsWhileEveryHandshakeThreadIsTaken() throws Exception {
    try (DtlsHandshakePool pool = new DtlsHandshakePool(new DtlsHandshakePool.Limits(2, 2, 1000))) {
      handshake(pool, A, "a1");
      handshake(pool, C, "c1");
      awaitStarted(2);
      CountDownLatch ran = new CountDownLatch(1);
      pool.execute(ran::countDown);
      assertTrue(ran.await(5, TimeUnit.SECONDS), "the pool keeps a thread for short tasks");
      assertTrue(pool.threads() <= 3, pool.threads() + " threads for 2 handshakes");
    }
  }

  @Test
  void cancelledTimersAndWaitingHandshakesLeaveNothingBehind() throws Exception {
    try (DtlsHandshakePool pool = new DtlsHandshakePool(new DtlsHandshakePool.Limits(1, 1, 1000))) {
      CountDownLatch fired = new CountDownLatch(1);
      pool.schedule(fired::countDown, 10);
      DtlsHandshakePool.Timer never = pool.schedule(() -> started.add("timer"), 60_000);
      assertTrue(fired.await(5, TimeUnit.SECONDS));
      never.cancel();
      never.cancel();
      assertEquals(0, pool.timers(), "a fired timer and a cancelled one are gone");

      CountDownLatch a1 = handshake(pool, A, "a1");
      awaitStarted(1);
      DtlsHandshakePool.Ticket waiting = pool.handshake(C, () -> started.add("c1"));
      assertEquals(1, pool.waiting());
      waiting.cancel();
      assertEquals(0, pool.waiting());
      a1.countDown();
      for (int i = 0; i < 100 && pool.running() > 0; i++) {
        Thread.sleep(20);
      }
      assertEquals(0, pool.running());
      assertEquals(List.of("a1"), started, "the cancelled handshake never ran");
    }
  }

  /** Asks for a handshake that records its start and blocks (bounded) until the returned latch opens. */
  private CountDownLatch handshake(DtlsHandshakePool pool, InetAddress from, String name) {
    CountDownLatch end = new CountDownLatch(1);
    pool.handshake(from, () -> {
      started.add(name);
      try {
        end.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    return end;
  }

  private void awaitStarted(int n) throws InterruptedException {
    for (int i = 0; i < 250 && started.size() < n; i++) {
      Thread.sleep(20);
    }
    assertEquals(n, started.size(), "started: " + started);
  }

  private static InetAddress address(String ip) {
    try {
      return InetAddress.getByName(ip);
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }
}
