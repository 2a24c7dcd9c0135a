package org.webphone.gateway.media;

import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import org.jitsi.srtp.SrtpErrorStatus;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.RtcpStats;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * SRTP cost per 172-byte G.711 packet for each browser-leg profile (AES128_CM_HMAC_SHA1_80 against
 * AEAD_AES_128_GCM, both through jitsi-srtp's OpenSSL backend), and the per-packet cost of the RTCP
 * statistics hooks. Run with {@code bench/srtp-profile-jmh.sh}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 20, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class SrtpProfileBenchmark {
  /** More packets than one iteration can use (replays would fail); sequence numbers wrap, the ROC follows. */
  private static final int RING = 1 << 18;

  @Param({"AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM"})
  public String profile;

  private byte[] material;
  private byte[][] protectedRing;
  private SrtpKeys sender;
  private SrtpKeys receiver;
  private final PacketBuffer buf = new PacketBuffer();
  private final byte[] rtp = MediaRelayVerticleTest.rtp(0, 1, 0, 0x11223344, MediaRelayVerticleTest.payload(3));
  private final RtcpStats stats = new RtcpStats();
  private int index;
  private int seq;
  private long failures;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    SrtpKeys.warmUp();
    SrtpKeys.Profile p = SrtpKeys.Profile.valueOf(profile);
    material = new byte[p.keyingMaterialLength()];
    new SecureRandom().nextBytes(material);
    try (SrtpKeys browser = new SrtpKeys(p, material, false)) {
      protectedRing = new byte[RING][];
      for (int i = 0; i < RING; i++) {
        Rtp.setSeq(rtp, 0, i & 0xFFFF);
        buf.load(rtp, 0, rtp.length);
        if (browser.protect(buf) != SrtpErrorStatus.OK) {
          throw new IllegalStateException("protect failed");
        }
        protectedRing[i] = java.util.Arrays.copyOf(buf.getBuffer(), buf.getLength());
      }
    }
    stats.jitterPayloadType(0, 8000);
  }

  @Setup(Level.Iteration)
  public void freshContexts() {
    SrtpKeys.Profile p = SrtpKeys.Profile.valueOf(profile);
    receiver = new SrtpKeys(p, material, true);
    sender = new SrtpKeys(p, material, true);
    index = 0;
  }

  /** What the gateway does to each browser packet: authenticate, replay-check, decrypt. */
  @Benchmark
  public boolean unprotect() throws Exception {
    byte[] wire = protectedRing[index];
    index = (index + 1) & (RING - 1);
    buf.load(wire, 0, wire.length);
    boolean ok = receiver.unprotect(buf) == SrtpErrorStatus.OK;
    if (!ok) {
      failures++;
    }
    return ok;
  }

  /** What the gateway does to each packet toward the browser: encrypt and tag. */
  @Benchmark
  public boolean protect() throws Exception {
    Rtp.setSeq(rtp, 0, seq++ & 0xFFFF);
    buf.load(rtp, 0, rtp.length);
    return sender.protect(buf) == SrtpErrorStatus.OK;
  }

  /** The RTCP hooks per packet: receive statistics (sequence, jitter) and send statistics. */
  @Benchmark
  public long rtcpStatsHooks() {
    int s = seq++;
    Rtp.setSeq(rtp, 0, s & 0xFFFF);
    Rtp.setTimestamp(rtp, 0, 160L * s);
    long now = System.nanoTime();
    stats.received(rtp, 0, now);
    stats.sent(rtp, 0, rtp.length, now);
    return stats.sentPackets();
  }

  @TearDown(Level.Trial)
  public void check() {
    if (failures > 0) {
      throw new IllegalStateException(failures + " packets failed SRTP; the measurement is not valid");
    }
  }
}
