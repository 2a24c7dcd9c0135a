package org.webphone.gateway.media.rtp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Ports;

class RtpPortsTest {
  private static final InetAddress LO = InetAddress.getLoopbackAddress();

  @Test
  void handsOutEveryPairOnceThenNullAndReusesReleasedOnes() throws Exception {
    int min = Ports.freeRange(6);
    RtpPorts ports = new RtpPorts(LO, min, min + 5);
    List<RtpPorts.Pair> got = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      RtpPorts.Pair p = ports.allocate();
      assertNotNull(p, "pair " + i);
      assertEquals(0, p.port() % 2, "RTP on an even port");
      assertEquals(p.port(), ((InetSocketAddress) p.rtp().getLocalAddress()).getPort());
      assertEquals(p.port() + 1, ((InetSocketAddress) p.rtcp().getLocalAddress()).getPort());
      got.add(p);
    }
    assertEquals(3, got.stream().map(RtpPorts.Pair::port).distinct().count());
    assertEquals(3, ports.inUse());
    assertNull(ports.allocate(), "all three pairs are in use");
    ports.release(got.get(1));
    assertEquals(2, ports.inUse());
    assertTrue(!got.get(1).rtp().isOpen() && !got.get(1).rtcp().isOpen(), "release closes both channels");
    RtpPorts.Pair again = ports.allocate();
    assertNotNull(again);
    assertEquals(got.get(1).port(), again.port(), "the only free pair");
    got.set(1, again);
    got.forEach(ports::release);
    assertEquals(0, ports.inUse());
  }

  @Test
  void skipsAPairAnotherProgramHoldsAndFreesItsReservation() throws Exception {
    int min = Ports.freeRange(4);
    RtpPorts ports = new RtpPorts(LO, min, min + 3);
    try (DatagramSocket squatter = new DatagramSocket(new InetSocketAddress(LO, min + 1))) {
      RtpPorts.Pair p = ports.allocate();
      assertNotNull(p);
      assertEquals(min + 2, p.port(), "the pair whose RTCP port is taken is skipped");
      assertEquals(1, ports.inUse(), "the skipped pair is not left reserved");
      assertNull(ports.allocate(), "the other pair is still unbindable");
      assertEquals(1, ports.inUse());
      ports.release(p);
    }
    RtpPorts.Pair first = ports.allocate();
    assertNotNull(first, "once the squatter left, its pair can be had");
    ports.release(first);
    assertEquals(0, ports.inUse());
  }

  @Test
  void concurrentAllocateAndReleaseNeverShareAPair() throws Exception {
    int min = Ports.freeRange(40);
    RtpPorts ports = new RtpPorts(LO, min, min + 39);
    Set<Integer> held = ConcurrentHashMap.newKeySet();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    CountDownLatch go = new CountDownLatch(1);
    try {
      List<Future<Integer>> runs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        runs.add(pool.submit(() -> {
          go.await();
          int doubled = 0;
          for (int i = 0; i < 300; i++) {
            RtpPorts.Pair p = ports.allocate();
            if (p == null) {
              continue; // all 20 pairs busy (or one still closing): fine, just not shared
            }
            if (!held.add(p.port())) {
              doubled++;
            }
            held.remove(p.port());
            ports.release(p);
          }
          return doubled;
        }));
      }
      go.countDown();
      for (Future<Integer> r : runs) {
        assertEquals(0, r.get(60, TimeUnit.SECONDS), "a pair was handed to two holders at once");
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(0, ports.inUse(), "every pair back");
  }
}
