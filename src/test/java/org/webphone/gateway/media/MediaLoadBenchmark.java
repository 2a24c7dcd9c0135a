package org.webphone.gateway.media;

import org.webphone.gateway.media.client.ClientIoLoop;
import org.webphone.gateway.media.client.SyntheticBrowser;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Relay load: N concurrent calls through one in-process media verticle, each a synthetic browser
 * ({@link SyntheticBrowser}: ICE, DTLS client, SRTP) sending G.711 20 ms packets (50/s), and one UDP socket
 * playing every PBX that echoes each RTP packet back. So every packet crosses the relay twice
 * (browser→PBX, PBX→browser). Reports loss, round-trip latency, the relay's CPU per call (CPU time of the
 * gateway's threads only, not the load generator's) and GC.
 *
 * <p>Run: {@code bench/media-load.sh 100 200} (arguments: call counts; window {@code JAVA_OPTS=-Dseconds=20}).
 * {@code -Dtransports=udp,tcp} runs each call count over UDP, then with every browser on ICE-TCP (RFC 4571
 * frames on one TCP connection each; bench/ice-tcp-vs-udp.sh), in the same JVM one after the other.
 */
public final class MediaLoadBenchmark {
  public static void main(String[] args) throws Exception {
    // ice4j logs through java.util.logging; route it to logback (bench/logback-quiet.xml: warnings only).
    org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
    org.slf4j.bridge.SLF4JBridgeHandler.install();
    int seconds = Integer.getInteger("seconds", 20);
    List<Integer> sizes = new ArrayList<>();
    for (String a : args) {
      sizes.add(Integer.parseInt(a));
    }
    if (sizes.isEmpty()) {
      sizes.add(100);
    }
    System.out.printf("machine: %d cores, %s, Java %s%n", Runtime.getRuntime().availableProcessors(),
        System.getProperty("os.name") + " " + System.getProperty("os.version"), System.getProperty("java.version"));
    try {
      for (String transport : System.getProperty("transports", "udp").split(",")) {
        overTcp = "tcp".equals(transport.trim());
        for (int n : sizes) {
          System.out.println("transport: " + (overTcp ? "ICE-TCP" : "UDP"));
          run(n, seconds);
        }
      }
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  /** Every synthetic browser of the next run uses ICE-TCP instead of UDP. */
  static boolean overTcp;

  static LoadRelay relay(int calls) throws Exception {
    String which = System.getProperty("relay", "gateway");
    if ("rtpengine".equals(which)) {
      return new RtpengineLoadRelay(Integer.getInteger("rtpengine.ng"), Integer.getInteger("rtpengine.pid"));
    }
    if (!"gateway".equals(which)) {
      throw new IllegalArgumentException("-Drelay=gateway|rtpengine, not " + which);
    }
    return new GatewayLoadRelay(calls);
  }

  static void run(int calls, int seconds) throws Exception {
    LoadRelay relay = relay(calls);
    DatagramChannel pbx = DatagramChannel.open();
    pbx.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 4 << 20);
    pbx.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    int pbxPort = ((InetSocketAddress) pbx.getLocalAddress()).getPort();
    String pbxAnswer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio " + pbxPort + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
    AtomicLong echoed = new AtomicLong();
    OneWay toPbx = new OneWay();
    Thread echo = new Thread(() -> echo(pbx, echoed, toPbx), "load-pbx-echo");
    echo.setPriority(Thread.MAX_PRIORITY);
    echo.setDaemon(true);
    echo.start();

    long heapBefore = usedHeapAfterGc();
    long relayRssBefore = relay.rssBytes();
    List<SyntheticBrowser> clients = new ArrayList<>();
    // One receive thread for every synthetic browser: the generator must cost less than the relay it measures.
    ClientIoLoop clientLoop = new ClientIoLoop("test-browser-rx");
    long[] histogramUs = new long[1_000_001];
    AtomicLong received = new AtomicLong();
    long setupStart = System.nanoTime();
    ExecutorService setup = Executors.newFixedThreadPool(4, r -> new Thread(r, "load-setup"));
    List<Future<SyntheticBrowser>> pending = new ArrayList<>();
    String run = Long.toHexString(System.nanoTime() & 0xFFFFFFL);
    for (int i = 0; i < calls; i++) {
      String callId = "load-" + run + "-" + i;
      pending.add(setup.submit(() -> {
        SyntheticBrowser c = new SyntheticBrowser(clientLoop);
        if (overTcp) {
          c.overIceTcp();
        }
        // Both relays then run SRTP_AES128_CM_HMAC_SHA1_80 (ours offers nothing else; rtpengine prefers GCM).
        c.offerAeadGcm = false;
        c.connect(relay.open(callId, c.offer(), pbxAnswer));
        c.sink = (rtp, len, at) -> {
          long sent = ByteBuffer.wrap(rtp, 12, 8).getLong();
          int us = (int) Math.min(histogramUs.length - 1, Math.max(0, (at - sent) / 1000));
          synchronized (histogramUs) {
            histogramUs[us]++;
          }
          received.incrementAndGet();
        };
        return c;
      }));
    }
    for (Future<SyntheticBrowser> f : pending) {
      clients.add(f.get(120, TimeUnit.SECONDS));
    }
    setup.shutdown();
    double setupS = (System.nanoTime() - setupStart) / 1e9;
    // Memory per call: this JVM's heap (the generator's browsers, plus our relay when it runs here: compare with
    // the rtpengine run, where the heap is the generator's alone) and the relay process's resident set.
    double heapPerCallKb = (usedHeapAfterGc() - heapBefore) / 1024.0 / calls;
    double relayRssPerCallKb = (relay.rssBytes() - relayRssBefore) / 1024.0 / calls;
    GcPauses pauses = new GcPauses();

    // Warm-up, then the measured window: counters, histogram and CPU are reset at its start.
    AtomicLong sent = new AtomicLong();
    boolean[] running = {true};
    Thread sender = new Thread(() -> send(clients, sent, running), "load-sender");
    sender.setPriority(Thread.MAX_PRIORITY);
    sender.start();
    Thread.sleep(3000);
    synchronized (histogramUs) {
      java.util.Arrays.fill(histogramUs, 0);
    }
    toPbx.reset = true;
    java.util.Map<String, Long> threads0 = ThreadCpu.byGroup();
    long sent0 = sent.get();
    long recv0 = received.get();
    long echoed0 = echoed.get();
    Object start = relay.windowStart();
    long cpu0 = relay.cpuNanos();
    long gcCount0 = gcCount();
    long gcTime0 = gcTimeMs();
    pauses.reset();
    double load0 = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    long t0 = System.nanoTime();
    Thread.sleep(seconds * 1000L);
    long cpu1 = relay.cpuNanos();
    java.util.Map<String, Long> threads1 = ThreadCpu.byGroup();
    double wall = (System.nanoTime() - t0) / 1e9;
    long sentN = sent.get() - sent0;
    running[0] = false;
    sender.join();
    Thread.sleep(500); // in-flight packets of the window come back
    long recvN = received.get() - recv0;
    long echoedN = echoed.get() - echoed0;
    String details = relay.windowDetails(start, sentN, echoedN, recvN);
    long gcCount = gcCount() - gcCount0;
    long gcTime = gcTimeMs() - gcTime0;
    pauses.close();

    long total;
    long[] h;
    synchronized (histogramUs) {
      h = histogramUs.clone();
    }
    total = java.util.Arrays.stream(h).sum();
    double cpuPerCallPct = 100.0 * (cpu1 - cpu0) / 1e9 / wall / calls;
    double nsPerForward = (cpu1 - cpu0) / Math.max(1.0, 2.0 * recvN);
    System.out.printf(
        "relay=%s calls=%d load=%.2f setup=%.1fs window=%.1fs sent=%d echoed=%d received=%d loss=%.3f%% "
            + "rtt p50=%.2fms p99=%.2fms max=%.2fms relayCpu=%.1f%% of a core (%.3f%%/call, %.1f us per forwarded "
            + "packet) gc=%d (%d ms) %s%n  cpu: %s%n",
        relay.name(), calls, load0, setupS, wall, sentN, echoedN, recvN,
        100.0 * Math.max(0, sentN - recvN) / Math.max(1, sentN),
        pct(h, total, 0.50) / 1000.0, pct(h, total, 0.99) / 1000.0, max(h) / 1000.0,
        100.0 * (cpu1 - cpu0) / 1e9 / wall, cpuPerCallPct, nsPerForward / 1000.0, gcCount, gcTime, details,
        relay.cpuScope());
    long[] ow = toPbx.histogramUs.clone();
    long owTotal = java.util.Arrays.stream(ow).sum();
    System.out.printf("  one way browser->PBX echo (generator send + relay): p50=%.2fms p99=%.2fms max=%.2fms%n"
            + "  threads (%% of a core in the window): %s%n"
            + "  gc pauses in the window: %d, max %.1f ms, total %.1f ms (this JVM); memory per call: heap %.1f KB"
            + " (this JVM, after GC), relay RSS %s%n",
        pct(ow, owTotal, 0.50) / 1000.0, pct(ow, owTotal, 0.99) / 1000.0, max(ow) / 1000.0,
        ThreadCpu.diff(threads0, threads1, wall), pauses.count, pauses.maxMs, pauses.totalMs, heapPerCallKb,
        relayRssBefore < 0 ? "n/a (in this JVM)" : String.format("%.1f KB", relayRssPerCallKb));

    for (int i = 0; i < calls; i++) {
      relay.close("load-" + run + "-" + i);
    }
    for (SyntheticBrowser c : clients) {
      c.close();
    }
    clientLoop.close();
    pbx.close();
    relay.close();
  }

  private static void send(List<SyntheticBrowser> clients, AtomicLong sent, boolean[] running) {
    byte[] payload = MediaRelayVerticleTest.payload(3);
    ByteBuffer stamp = ByteBuffer.wrap(payload);
    long next = System.nanoTime();
    while (running[0]) {
      for (SyntheticBrowser c : clients) {
        stamp.putLong(0, System.nanoTime());
        try {
          if (c.sendAudio(0, payload, payload.length)) {
            sent.incrementAndGet();
          }
        } catch (Exception e) {
          // not sent, not counted: the packet is not in flight either
        }
      }
      next += 20_000_000L;
      long wait = next - System.nanoTime();
      if (wait > 0) {
        try {
          TimeUnit.NANOSECONDS.sleep(wait);
        } catch (InterruptedException e) {
          return;
        }
      }
    }
  }

  /** Latency from the generator's send stamp to the echo PBX; written by the echo thread only. */
  private static final class OneWay {
    final long[] histogramUs = new long[1_000_001];
    volatile boolean reset;
  }

  private static void echo(DatagramChannel pbx, AtomicLong echoed, OneWay oneWay) {
    ByteBuffer buf = ByteBuffer.allocateDirect(2048);
    try {
      while (pbx.isOpen()) {
        buf.clear();
        SocketAddress from = pbx.receive(buf);
        long now = System.nanoTime();
        buf.flip();
        if (oneWay.reset) {
          java.util.Arrays.fill(oneWay.histogramUs, 0);
          oneWay.reset = false;
        }
        if (buf.limit() >= 20) {
          long us = (now - buf.getLong(12)) / 1000;
          oneWay.histogramUs[(int) Math.min(oneWay.histogramUs.length - 1, Math.max(0, us))]++;
        }
        pbx.send(buf, from);
        echoed.incrementAndGet();
      }
    } catch (Exception closed) {
      // end of the run
    }
  }

  private static long usedHeapAfterGc() throws InterruptedException {
    for (int i = 0; i < 2; i++) {
      System.gc();
      Thread.sleep(200);
    }
    var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    return heap.getUsed();
  }

  /** Every GC pause of this JVM while open (G1's young and mixed pauses; concurrent cycles are not pauses). */
  private static final class GcPauses implements javax.management.NotificationListener {
    int count;
    double maxMs;
    double totalMs;
    private final List<javax.management.NotificationEmitter> emitters = new ArrayList<>();

    GcPauses() {
      for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
        if (gc instanceof javax.management.NotificationEmitter e) {
          e.addNotificationListener(this, null, null);
          emitters.add(e);
        }
      }
    }

    synchronized void reset() {
      count = 0;
      maxMs = 0;
      totalMs = 0;
    }

    @Override
    public synchronized void handleNotification(javax.management.Notification n, Object handback) {
      if (!com.sun.management.GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
        return;
      }
      var info = com.sun.management.GarbageCollectionNotificationInfo.from(
          (javax.management.openmbean.CompositeData) n.getUserData());
      if (info.getGcName().contains("Concurrent") || info.getGcName().contains("Cycles")) {
        return;
      }
      double ms = info.getGcInfo().getDuration();
      count++;
      totalMs += ms;
      maxMs = Math.max(maxMs, ms);
    }

    void close() {
      for (javax.management.NotificationEmitter e : emitters) {
        try {
          e.removeNotificationListener(this);
        } catch (javax.management.ListenerNotFoundException ignored) {
          // never added
        }
      }
    }
  }

  private static long gcCount() {
    return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(GarbageCollectorMXBean::getCollectionCount).sum();
  }

  private static long gcTimeMs() {
    return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(GarbageCollectorMXBean::getCollectionTime).sum();
  }

  private static long pct(long[] h, long total, double q) {
    long want = (long) Math.ceil(q * total);
    long acc = 0;
    for (int i = 0; i < h.length; i++) {
      acc += h[i];
      if (acc >= want && want > 0) {
        return i;
      }
    }
    return 0;
  }

  private static long max(long[] h) {
    for (int i = h.length - 1; i >= 0; i--) {
      if (h[i] > 0) {
        return i;
      }
    }
    return 0;
  }
}
