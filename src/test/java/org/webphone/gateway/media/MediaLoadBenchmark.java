package org.webphone.gateway.media;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
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
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;

/**
 * Relay load: N concurrent calls through one in-process media verticle, each a synthetic browser
 * ({@link WebRtcTestClient}: ICE, DTLS client, SRTP) sending G.711 20 ms packets (50/s), and one UDP socket
 * playing every PBX that echoes each RTP packet back. So every packet crosses the relay twice
 * (browser→PBX, PBX→browser). Reports loss, round-trip latency, the relay's CPU per call (CPU time of the
 * gateway's threads only, not the load generator's) and GC.
 *
 * <p>Run: {@code bench/media-load.sh 100 200} (arguments: call counts; window {@code JAVA_OPTS=-Dseconds=20}).
 */
public final class MediaLoadBenchmark {
  private static final String[] GENERATOR_THREADS = {"test-browser-rx", "load-", "main"};

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
      for (int n : sizes) {
        run(n, seconds);
      }
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  static void run(int calls, int seconds) throws Exception {
    Vertx vertx = Vertx.vertx();
    // Below the ephemeral range, so other programs' sockets do not take ports of the range meanwhile.
    int rtpMin = 20000 + 2 * java.util.concurrent.ThreadLocalRandom.current().nextInt(3000);
    JsonObject media = new JsonObject().put("webrtcPort", org.webphone.gateway.testing.Ports.free())
        .put("rtpPortMin", rtpMin).put("rtpPortMax", rtpMin + 4 * calls + 99).put("timeoutSec", 60);
    GatewayConfig cfg = GatewayConfig.of(new JsonObject().put("media", media));
    MediaFixture.await(vertx.deployVerticle(new MediaRelayVerticle(), new DeploymentOptions().setConfig(cfg.json())));
    DatagramChannel pbx = DatagramChannel.open();
    pbx.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 4 << 20);
    pbx.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    int pbxPort = ((InetSocketAddress) pbx.getLocalAddress()).getPort();
    String pbxAnswer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio " + pbxPort + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
    AtomicLong echoed = new AtomicLong();
    Thread echo = new Thread(() -> echo(pbx, echoed), "load-pbx-echo");
    echo.setPriority(Thread.MAX_PRIORITY);
    echo.setDaemon(true);
    echo.start();

    List<WebRtcTestClient> clients = new ArrayList<>();
    long[] histogramUs = new long[1_000_001];
    AtomicLong received = new AtomicLong();
    long setupStart = System.nanoTime();
    ExecutorService setup = Executors.newFixedThreadPool(4, r -> new Thread(r, "load-setup"));
    List<Future<WebRtcTestClient>> pending = new ArrayList<>();
    for (int i = 0; i < calls; i++) {
      int id = i;
      pending.add(setup.submit(() -> {
        WebRtcTestClient c = new WebRtcTestClient();
        JsonObject created = vertx.eventBus().<JsonObject>request(Addresses.MEDIA_CREATE, new JsonObject()
            .put("callId", "load-" + id).put("sessionId", "load").put("browserOffer", c.offer()))
            .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS).body();
        vertx.eventBus().request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "load-" + id)
            .put("sdp", pbxAnswer)).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        c.connect(created.getString("browserAnswer"));
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
    for (Future<WebRtcTestClient> f : pending) {
      clients.add(f.get(120, TimeUnit.SECONDS));
    }
    setup.shutdown();
    double setupS = (System.nanoTime() - setupStart) / 1e9;

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
    long sent0 = sent.get();
    long recv0 = received.get();
    long echoed0 = echoed.get();
    JsonObject c0 = counters(vertx);
    long cpu0 = gatewayCpuNanos();
    long gcCount0 = gcCount();
    long gcTime0 = gcTimeMs();
    long t0 = System.nanoTime();
    Thread.sleep(seconds * 1000L);
    long cpu1 = gatewayCpuNanos();
    double wall = (System.nanoTime() - t0) / 1e9;
    long sentN = sent.get() - sent0;
    running[0] = false;
    sender.join();
    Thread.sleep(500); // in-flight packets of the window come back
    long recvN = received.get() - recv0;
    long echoedN = echoed.get() - echoed0;
    JsonObject c1 = counters(vertx);
    long gcCount = gcCount() - gcCount0;
    long gcTime = gcTimeMs() - gcTime0;

    long total;
    long[] h;
    synchronized (histogramUs) {
      h = histogramUs.clone();
    }
    total = java.util.Arrays.stream(h).sum();
    double cpuPerCallPct = 100.0 * (cpu1 - cpu0) / 1e9 / wall / calls;
    double nsPerForward = (cpu1 - cpu0) / Math.max(1.0, 2.0 * recvN);
    JsonObject status = vertx.eventBus().<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject())
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).body();
    System.out.printf(
        "calls=%d setup=%.1fs window=%.1fs sent=%d echoedBack=%d loss=%.3f%% rtt p50=%.2fms p99=%.2fms max=%.2fms "
            + "gatewayCpu=%.1f%% of a core (%.3f%%/call, %.1f us per forwarded packet) gc=%d (%d ms) "
            + "authFailed=%d sendFailed=%d%n"
            + "  path: sent %d -> gateway browserIn %d -> toPbx %d -> echoed %d -> gateway pbxIn %d -> toBrowser %d"
            + " -> received %d%n",
        calls, setupS, wall, sentN, recvN, 100.0 * Math.max(0, sentN - recvN) / Math.max(1, sentN),
        pct(h, total, 0.50) / 1000.0, pct(h, total, 0.99) / 1000.0, max(h) / 1000.0,
        100.0 * (cpu1 - cpu0) / 1e9 / wall, cpuPerCallPct, nsPerForward / 1000.0, gcCount, gcTime,
        status.getJsonObject("counters").getLong("browserAuthFailed"),
        status.getJsonObject("counters").getLong("sendFailed"),
        sentN, delta(c0, c1, "browserIn"), delta(c0, c1, "toPbx"), echoedN, delta(c0, c1, "pbxIn"),
        delta(c0, c1, "toBrowser"), recvN);

    for (int i = 0; i < calls; i++) {
      vertx.eventBus().request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "load-" + i))
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    for (WebRtcTestClient c : clients) {
      c.close();
    }
    pbx.close();
    MediaFixture.await(vertx.close());
  }

  private static JsonObject counters(Vertx vertx) throws Exception {
    return vertx.eventBus().<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject())
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).body().getJsonObject("counters");
  }

  private static long delta(JsonObject a, JsonObject b, String key) {
    return b.getLong(key) - a.getLong(key);
  }

  private static void send(List<WebRtcTestClient> clients, AtomicLong sent, boolean[] running) {
    byte[] payload = MediaRelayVerticleTest.payload(3);
    long next = System.nanoTime();
    while (running[0]) {
      for (WebRtcTestClient c : clients) {
        ByteBuffer.wrap(payload, 0, 8).putLong(System.nanoTime());
        try {
          c.sendRtp(0, payload);
          sent.incrementAndGet();
        } catch (Exception e) {
          // counted as loss: sent is not incremented... but the packet is not in flight either
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

  private static void echo(DatagramChannel pbx, AtomicLong echoed) {
    ByteBuffer buf = ByteBuffer.allocateDirect(2048);
    try {
      while (pbx.isOpen()) {
        buf.clear();
        SocketAddress from = pbx.receive(buf);
        buf.flip();
        pbx.send(buf, from);
        echoed.incrementAndGet();
      }
    } catch (Exception closed) {
      // end of the run
    }
  }

  /** CPU time of every live thread that is not the load generator's. */
  private static long gatewayCpuNanos() {
    var mx = ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (ThreadInfo ti : mx.getThreadInfo(mx.getAllThreadIds())) {
      if (ti == null) {
        continue;
      }
      boolean generator = false;
      for (String p : GENERATOR_THREADS) {
        generator |= ti.getThreadName().startsWith(p);
      }
      if (!generator) {
        long t = mx.getThreadCpuTime(ti.getThreadId());
        sum += Math.max(0, t);
      }
    }
    return sum;
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
