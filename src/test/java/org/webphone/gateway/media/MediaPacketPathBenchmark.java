package org.webphone.gateway.media;

import org.webphone.gateway.testing.Ports;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
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
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.RtpPorts;
import org.webphone.gateway.media.rtp.SrtpKeys;
import org.webphone.gateway.media.rtp.StreamRewriter;

/**
 * The relay's per-packet work for one G.711 20 ms packet (172 bytes of RTP), with real sockets on
 * loopback:
 * <ul>
 *   <li>{@code browserToPbx}: what ice4j's receive thread does after demultiplexing: copy into the leg's
 *       buffer, SRTP unprotect (auth, replay, decrypt), then {@link MediaSession#fromBrowser} (payload type
 *       check, SSRC/seq/timestamp rewrite, non-blocking UDP send to the PBX address).</li>
 *   <li>{@code pbxToBrowser}: what the {@code media-rtp-io} thread does per datagram after receiving it:
 *       rewrite, SRTP protect, UDP send (here a DatagramChannel standing in for ice4j's Component.send).</li>
 * </ul>
 * Run with {@code bench/media-jmh.sh}; {@code -prof gc} reports bytes allocated per packet.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 20, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class MediaPacketPathBenchmark {
  /** Pre-protected browser packets; a fresh receive context each iteration lets them be replayed. */
  private static final int RING = 1 << 18;

  private byte[] material;
  private byte[][] srtpFromBrowser;
  private SrtpKeys gatewayKeys;
  private MediaSession session;
  private RtpPorts ports;
  private RtpPorts.Pair pair;
  private DatagramChannel sink;
  private DatagramChannel toBrowserChannel;
  private InetSocketAddress browserAddress;
  private final PacketBuffer rx = new PacketBuffer();
  private final ByteBuffer rxView = ByteBuffer.wrap(rx.getBuffer());
  private final PacketBuffer tx = new PacketBuffer();
  private final ByteBuffer txView = ByteBuffer.wrap(tx.getBuffer());
  private final StreamRewriter toBrowser = new StreamRewriter(0x5EED);
  private final byte[] pbxPacket = MediaRelayVerticleTest.rtp(0, 1, 0, 0x0BADCAFE, MediaRelayVerticleTest.payload(1));
  private int index;
  private int pbxSeq;
  private long failures;
  /**
   * jitsi-srtp's AES: OpenSSL through JNI (what {@link SrtpKeys#warmUp} pins, the relay's) or the JDK's SunJCE
   * (AES-NI intrinsics), to compare; e.g. {@code bench/media-jmh.sh -p aes=OpenSSL,SunJCE}.
   */
  @Param({"OpenSSL"})
  public String aes;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    SrtpKeys.warmUp();
    if (!"OpenSSL".equals(aes)) {
      org.jitsi.srtp.crypto.Aes.setFactoryClassName("org.jitsi.srtp.crypto.Aes$" + aes + "CipherFactory");
    }
    material = new byte[SrtpKeys.KEYING_MATERIAL_LENGTH];
    new SecureRandom().nextBytes(material);
    try (SrtpKeys browser = new SrtpKeys(material, false)) {
      srtpFromBrowser = new byte[RING][];
      PacketBuffer b = new PacketBuffer();
      byte[] payload = MediaRelayVerticleTest.payload(7);
      for (int i = 0; i < RING; i++) {
        byte[] rtp = MediaRelayVerticleTest.rtp(0, i & 0xFFFF, 160L * i, 0x11223344, payload);
        b.load(rtp, 0, rtp.length);
        if (browser.protect(b) != SrtpErrorStatus.OK) {
          throw new IllegalStateException("protect failed");
        }
        srtpFromBrowser[i] = java.util.Arrays.copyOf(b.getBuffer(), b.getLength());
      }
    }
    InetAddress lo = InetAddress.getLoopbackAddress();
    sink = DatagramChannel.open().bind(new InetSocketAddress(lo, 0));
    int min = Ports.free(true);
    ports = new RtpPorts(lo, min, min + 1);
    pair = ports.allocate();
    NodeMediaResources rt = NodeMediaResources.builder().ports(ports).build();
    session = new MediaSession("bench", "bench", rt, pair);
    session.negotiated(CallCodec.g711(0), 126, 101);
    int sinkPort = ((InetSocketAddress) sink.getLocalAddress()).getPort();
    session.applyPbx(MediaSdp.parsePbx("v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio " + sinkPort + " RTP/AVP 0 101\r\na=sendrecv\r\n"));
    toBrowserChannel = DatagramChannel.open().bind(new InetSocketAddress(lo, 0));
    toBrowserChannel.configureBlocking(false);
    browserAddress = (InetSocketAddress) sink.getLocalAddress();
  }

  @Setup(Level.Iteration)
  public void freshReceiveContext() {
    gatewayKeys = new SrtpKeys(material, true);
    index = 0;
  }

  @Benchmark
  public boolean browserToPbx() throws Exception {
    byte[] wire = srtpFromBrowser[index];
    index = (index + 1) & (RING - 1);
    rx.load(wire, 0, wire.length);
    if (gatewayKeys.unprotect(rx) != SrtpErrorStatus.OK) {
      failures++;
      return false;
    }
    session.fromBrowser(rx.getBuffer(), rx.getLength(), rxView);
    return true;
  }

  @Benchmark
  public boolean pbxToBrowser() throws Exception {
    // As the rtp-io thread does after DatagramChannel.receive: the datagram is in the session's buffer.
    byte[] b = tx.getBuffer();
    System.arraycopy(pbxPacket, 0, b, 0, pbxPacket.length);
    Rtp.setSeq(b, 0, pbxSeq++ & 0xFFFF);
    Rtp.setTimestamp(b, 0, 160L * pbxSeq);
    toBrowser.rewrite(b, 0, System.nanoTime());
    tx.set(pbxPacket.length);
    if (gatewayKeys.protect(tx) != SrtpErrorStatus.OK) {
      failures++;
      return false;
    }
    txView.clear().limit(tx.getLength());
    return toBrowserChannel.send(txView, browserAddress) > 0;
  }

  /** Baseline: SRTP unprotect alone (jitsi-srtp), no relay work, no socket. */
  @Benchmark
  public boolean srtpUnprotectOnly() throws Exception {
    byte[] wire = srtpFromBrowser[index];
    index = (index + 1) & (RING - 1);
    rx.load(wire, 0, wire.length);
    return gatewayKeys.unprotect(rx) == SrtpErrorStatus.OK;
  }

  /** Baseline: the relay's own work toward the PBX without SRTP: type check, rewrite, UDP send. */
  @Benchmark
  public void relayOnlyToPbx() {
    byte[] b = rx.getBuffer();
    System.arraycopy(pbxPacket, 0, b, 0, pbxPacket.length);
    Rtp.setSeq(b, 0, pbxSeq++ & 0xFFFF);
    session.fromBrowser(b, pbxPacket.length, rxView);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    ports.release(pair);
    sink.close();
    toBrowserChannel.close();
    if (failures > 0) {
      throw new IllegalStateException(failures + " packets failed SRTP; the measurement is not valid");
    }
  }
}
