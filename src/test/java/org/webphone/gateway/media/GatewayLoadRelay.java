package org.webphone.gateway.media;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Ports;

/**
 * Our media verticle, deployed in the benchmark's JVM, as the relay of the load benchmark. Its CPU is the CPU
 * time of every Java thread that is not the load generator's (ice4j, media I/O, DTLS, Vert.x); the JVM's own
 * threads (GC, JIT, VM) are reported apart because they also serve the in-process generator.
 */
final class GatewayLoadRelay implements LoadRelay {
  static final String[] GENERATOR_THREADS = {"test-browser-rx", "load-", "main"};
  private final Vertx vertx = Vertx.vertx();
  /** SDES-SRTP on the PBX leg too ({@code -DpbxSrtp=true}): see {@link #open}. */
  private final boolean pbxSrtp = Boolean.getBoolean("pbxSrtp");

  GatewayLoadRelay(int calls) throws Exception {
    // Free now and below the ephemeral range (other programs' sockets do not take ports of it meanwhile), and
    // never the ports of anything else this JVM started.
    int rtpPorts = 4 * calls + 100;
    int rtpMin = Ports.freeRange(rtpPorts);
    int webrtc = Ports.free();
    JsonObject media = new JsonObject().put("webrtcPort", webrtc).put("iceTcpPort", webrtc)
        .put("iceTcpConnectionsPerAddress", 100_000)
        .put("rtpPortMin", rtpMin).put("rtpPortMax", rtpMin + rtpPorts - 1).put("timeoutSec", 60)
        .put("pbxSrtp", pbxSrtp).put("pbxSrtpOverPlainSip", pbxSrtp);
    GatewayConfig cfg = GatewayConfig.of(new JsonObject().put("media", media));
    // Up to 2 min: the SRTP warm-up at deploy takes seconds on a busy shared machine.
    vertx.deployVerticle(new MediaRelayVerticle(), new DeploymentOptions().setConfig(cfg.json()))
        .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
  }

  @Override
  public String name() {
    return pbxSrtp ? "gateway (SRTP both legs)" : "gateway";
  }

  @Override
  public String open(String callId, String browserOffer, String pbxAnswer) throws Exception {
    JsonObject created = vertx.eventBus().<JsonObject>request(Addresses.MEDIA_CREATE, new JsonObject()
        .put("callId", callId).put("sessionId", "load").put("browserOffer", browserOffer))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS).body();
    String answer = pbxAnswer;
    if (pbxSrtp) {
      // The echo PBX answers tag 1 with the gateway's own key: what it echoes then decrypts on the way back,
      // so the gateway protects and unprotects every PBX-leg packet while the echo does no crypto at all.
      String crypto = Sdp.parse(created.getString("pbxSdp")).audio().attrs("crypto").get(0);
      answer = pbxAnswer.replace("RTP/AVP", "RTP/SAVP") + "a=crypto:" + crypto + "\r\n";
    }
    vertx.eventBus().request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", callId).put("sdp", answer))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    return created.getString("browserAnswer");
  }

  @Override
  public void close(String callId) throws Exception {
    vertx.eventBus().request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", callId))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  @Override
  public long cpuNanos() {
    return javaThreadsCpu(false);
  }

  @Override
  public String cpuScope() {
    return "gateway: CPU clock (utime+stime) of the JVM's Java threads that are not the generator's";
  }

  private record Start(JsonObject counters, long process, long allJava) {
  }

  @Override
  public Object windowStart() throws Exception {
    return new Start(counters(), LoadRelay.procCpuNanos("/proc/self/stat"), javaThreadsCpu(true));
  }

  @Override
  public String windowDetails(Object start, long sent, long echoed, long received) throws Exception {
    Start s = (Start) start;
    JsonObject c1 = counters();
    // Process CPU minus every live Java thread's: GC, JIT and VM threads, which serve the generator too.
    long internal = (LoadRelay.procCpuNanos("/proc/self/stat") - s.process) - (javaThreadsCpu(true) - s.allJava);
    JsonObject status = vertx.eventBus().<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject())
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).body();
    return String.format("jvmInternalCpu=%.2fs authFailed=%d sendFailed=%d%n"
            + "  path: sent %d -> gateway browserIn %d -> toPbx %d -> echoed %d -> gateway pbxIn %d -> toBrowser %d"
            + " -> received %d",
        internal / 1e9, status.getJsonObject("counters").getLong("browserAuthFailed"),
        status.getJsonObject("counters").getLong("sendFailed"),
        sent, delta(s.counters, c1, "browserIn"), delta(s.counters, c1, "toPbx"), echoed,
        delta(s.counters, c1, "pbxIn"), delta(s.counters, c1, "toBrowser"), received);
  }

  private JsonObject counters() throws Exception {
    return vertx.eventBus().<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject())
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).body().getJsonObject("counters");
  }

  private static long delta(JsonObject a, JsonObject b, String key) {
    return b.getLong(key) - a.getLong(key);
  }

  /**
   * CPU time of the Java threads: all of them, or only those that are not the load generator's. Cumulative: a
   * thread that has ended keeps the time last read for it, so the difference of two readings never loses the
   * time of a thread that ends between them (summing only the live threads did: pool threads ending in the
   * window took their whole lifetime's CPU out of the window's figure).
   */
  static long javaThreadsCpu(boolean all) {
    var mx = ManagementFactory.getThreadMXBean();
    synchronized (LAST_CPU) {
      for (ThreadInfo ti : mx.getThreadInfo(mx.getAllThreadIds())) {
        if (ti == null) {
          continue;
        }
        long cpu = mx.getThreadCpuTime(ti.getThreadId());
        if (cpu >= 0) {
          boolean generator = false;
          for (String p : GENERATOR_THREADS) {
            generator |= ti.getThreadName().startsWith(p);
          }
          LAST_CPU.put(ti.getThreadId(), generator ? -cpu - 1 : cpu);
        }
      }
      long sum = 0;
      for (long v : LAST_CPU.values()) {
        // Generator threads are stored negated (minus one, so that zero stays distinguishable).
        sum += v >= 0 ? v : all ? -v - 1 : 0;
      }
      return sum;
    }
  }

  /** Last CPU time read per thread id (generator threads as {@code -cpu - 1}); ended threads stay. */
  private static final java.util.Map<Long, Long> LAST_CPU = new java.util.HashMap<>();

  @Override
  public void close() throws Exception {
    MediaFixture.await(vertx.close());
  }
}
