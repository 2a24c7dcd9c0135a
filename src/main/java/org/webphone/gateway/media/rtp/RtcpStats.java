package org.webphone.gateway.media.rtp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What one leg knows about its two RTP streams, for RTCP (RFC 3550 section 6.4 and appendix A): the stream
 * it receives (extended highest sequence number, expected and lost, interarrival jitter in units of the
 * codec's RTP clock, the last SR the peer sent) and the stream it sends (packets, octets, last timestamp and when).
 *
 * <p>Threads: {@link #received} has one writer (the leg's receiving thread) and {@link #sent} one writer at a
 * time (the caller serialises: the PBX direction's rewriter lock, or the single rtp-io thread); the RTCP
 * thread reads both to build reports. Each writer ends with a release store that the reader reads first
 * (acquire), so a report sees every field as of some recent packet (a report may lag one packet, which RTCP
 * tolerates); a release store costs no fence on x86, unlike a volatile write. Both per-packet methods are a
 * handful of arithmetic operations and allocate nothing. The two writers are two threads, each writing on every
 * packet: the send side lives on cache lines of its own ({@link Sent}) so that they do not share one.
 */
public final class RtcpStats {
  private static final VarHandle RX_PUBLISHED;
  private static final VarHandle SENT_PUBLISHED;

  static {
    try {
      MethodHandles.Lookup l = MethodHandles.lookup();
      RX_PUBLISHED = l.findVarHandle(RtcpStats.class, "rxPublished", long.class);
      SENT_PUBLISHED = l.findVarHandle(Sent.class, "published", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /**
   * The send side's fields, in an object of their own between 64 bytes of padding on each side: they are written
   * on every packet by the other direction's thread, and sharing a cache line with the receive side's fields
   * (written on every packet by the receiving thread) would move that line between the cores twice per packet.
   * All fields are longs, so the JVM lays them out in declaration order (fields are grouped by size).
   */
  @SuppressWarnings("unused")
  static final class Sent {
    private long p00, p01, p02, p03, p04, p05, p06, p07;
    long packets;
    long octets;
    long lastTs;
    long lastNanos;
    volatile long published;
    private long p10, p11, p12, p13, p14, p15, p16, p17;
  }

  /** The default clock, 8 kHz (PCMU/PCMA/G.722, telephone-event/8000), until the codec says otherwise. */
  public static final int DEFAULT_CLOCK_RATE = 8000;
  private static final int MAX_DROPOUT = 3000;
  private static final int MAX_MISORDER = 100;
  private static final int SEQ_MOD = 1 << 16;

  // ---- receive side (receiving thread)
  private int rxSsrc;
  private boolean rxStarted;
  private int maxSeq;
  private long cycles;
  private int baseSeq;
  private int badSeq = SEQ_MOD + 1;
  private long received;
  private long receivedTotal;
  private int lastTransit;
  private boolean haveTransit;
  /** Interarrival jitter times 16, in timestamp units (RFC 3550 A.8's integer form). */
  private long jitter16;
  private volatile int rxEpoch;
  private volatile long rxPublished;
  /** Only packets of this payload type feed the jitter (telephone-event keeps one timestamp per event). */
  private volatile int jitterPt = -1;
  /** The received stream's RTP clock rate (Hz): jitter is in its units (RFC 3550 A.8). */
  private volatile long rxClockRate = DEFAULT_CLOCK_RATE;
  /** The sent stream's RTP clock rate (Hz), for an SR's RTP timestamp. */
  private volatile long sentClockRate = DEFAULT_CLOCK_RATE;

  // ---- last SR from the peer (receiving thread writes, RTCP thread reads)
  private volatile long lastSrNtpMiddle = -1;
  private volatile long lastSrArrivalNanos;

  // ---- interval state (RTCP thread only)
  private int priorEpoch = -1;
  private long expectedPrior;
  private long receivedPrior;

  // ---- send side (one writer at a time), on cache lines of its own
  private final Sent tx = new Sent();

  /** Only packets of {@code pt} feed the jitter, measured on the clock of {@code clockRate} Hz. */
  public void jitterPayloadType(int pt, int clockRate) {
    jitterPt = pt;
    rxClockRate = clockRate;
  }

  public void sentClockRate(int clockRate) {
    sentClockRate = clockRate;
  }

  /** The received stream's clock, for converting {@link #jitter()} to time. */
  public long clockRate() {
    return rxClockRate;
  }

  /** One RTP packet of the received stream at {@code off} (header as it arrived, before any rewrite). */
  public void received(byte[] b, int off, long nowNanos) {
    int ssrc = Rtp.ssrc(b, off);
    int seq = Rtp.seq(b, off);
    if (!rxStarted || ssrc != rxSsrc) {
      initSeq(ssrc, seq);
    } else if (!updateSeq(seq)) {
      RX_PUBLISHED.setRelease(this, nowNanos);
      return;
    }
    received++;
    receivedTotal++;
    int pt = jitterPt;
    if (pt < 0 || Rtp.payloadType(b, off) == pt) {
      // 32-bit wrapping arithmetic on purpose: only differences of transit times matter (A.8).
      int transit = (int) arrival(nowNanos, rxClockRate) - (int) Rtp.timestamp(b, off);
      if (haveTransit) {
        int d = Math.abs(transit - lastTransit);
        jitter16 += d - ((jitter16 + 8) >> 4);
      }
      lastTransit = transit;
      haveTransit = true;
    }
    RX_PUBLISHED.setRelease(this, nowNanos);
  }

  /**
   * {@code nanos} in units of a {@code hz} clock, without overflow for any System.nanoTime value: whole
   * seconds and the rest apart (only differences matter, A.8).
   */
  static long arrival(long nanos, long hz) {
    return (nanos / 1_000_000_000L) * hz + (nanos % 1_000_000_000L) * hz / 1_000_000_000L;
  }

  private void initSeq(int ssrc, int seq) {
    rxSsrc = ssrc;
    rxStarted = true;
    baseSeq = seq;
    maxSeq = seq;
    badSeq = SEQ_MOD + 1;
    cycles = 0;
    received = 0;
    haveTransit = false;
    jitter16 = 0;
    rxEpoch++;
  }

  /** RFC 3550 A.1 without probation (the legs accept media from one authenticated source only). */
  private boolean updateSeq(int seq) {
    int udelta = (seq - maxSeq) & 0xFFFF;
    if (udelta < MAX_DROPOUT) {
      if (seq < maxSeq) {
        cycles += SEQ_MOD;
      }
      maxSeq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
      if (seq == badSeq) {
        // Two sequential packets after a big jump: the source restarted; start over with it.
        initSeq(rxSsrc, seq);
      } else {
        badSeq = (seq + 1) & 0xFFFF;
        return false;
      }
    }
    return true;
  }

  /** One RTP packet of the sent stream (header as sent); {@code len} is the whole RTP packet's length. */
  public void sent(byte[] b, int off, int len, long nowNanos) {
    Sent t = tx;
    t.packets++;
    t.octets += Math.max(0, len - Rtp.HEADER);
    t.lastTs = Rtp.timestamp(b, off);
    t.lastNanos = nowNanos;
    SENT_PUBLISHED.setRelease(t, nowNanos);
  }

  /** Notes an SR from the peer (for LSR/DLSR in our next report block). */
  public void peerSenderReport(long ntpMiddle, long arrivalNanos) {
    lastSrArrivalNanos = arrivalNanos;
    lastSrNtpMiddle = ntpMiddle;
  }

  // ------------------------------------------------------------------ reading (RTCP thread, status)

  /** Nanos of the last sent packet, or 0 before any. */
  public long lastSentNanos() {
    Sent t = tx;
    return t.published == 0 ? 0 : t.lastNanos;
  }

  public long sentPackets() {
    Sent t = tx;
    return t.published == 0 ? 0 : t.packets;
  }

  public long sentOctets() {
    Sent t = tx;
    return t.published == 0 ? 0 : t.octets;
  }

  /** The RTP timestamp that corresponds to {@code nowNanos} on the sent stream's clock (for an SR). */
  public long sentTimestampAt(long nowNanos) {
    Sent t = tx;
    if (t.published == 0) {
      return 0;
    }
    return (t.lastTs + Math.max(0, nowNanos - t.lastNanos) * sentClockRate / 1_000_000_000L) & 0xFFFFFFFFL;
  }

  public boolean receiving() {
    return rxPublished != 0;
  }

  public int receivedSsrc() {
    return rxPublished == 0 ? 0 : rxSsrc;
  }

  /** Packets received since the last new source (all sources: {@link #receivedTotal}). */
  public long receivedPackets() {
    return rxPublished == 0 ? 0 : received;
  }

  public long receivedTotal() {
    return rxPublished == 0 ? 0 : receivedTotal;
  }

  public long extendedMaxSeq() {
    return rxPublished == 0 ? 0 : cycles + maxSeq;
  }

  public long expected() {
    return rxPublished == 0 ? 0 : cycles + maxSeq - baseSeq + 1;
  }

  /** Cumulative packets lost of the current source (negative with duplicates, as RFC 3550 allows). */
  public long lost() {
    return rxPublished == 0 ? 0 : expected() - received;
  }

  /** Interarrival jitter in timestamp units. */
  public long jitter() {
    return rxPublished == 0 ? 0 : jitter16 >> 4;
  }

  /**
   * Writes one 24-byte report block about the received stream at {@code off} and advances the interval
   * (fraction lost is since the previous call). RTCP thread only.
   */
  public int writeReportBlock(byte[] out, int off, long nowNanos) {
    long published = rxPublished;
    int epoch = rxEpoch;
    if (published == 0) {
      return 0;
    }
    long expected = expected();
    long rcvd = received;
    if (epoch != priorEpoch) {
      priorEpoch = epoch;
      expectedPrior = 0;
      receivedPrior = 0;
    }
    long expectedInterval = expected - expectedPrior;
    long lostInterval = expectedInterval - (rcvd - receivedPrior);
    expectedPrior = expected;
    receivedPrior = rcvd;
    int fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : (int) ((lostInterval << 8) / expectedInterval);
    long lost = Math.max(-0x800000L, Math.min(0x7FFFFFL, expected - rcvd));
    Rtp.writeInt(out, off, rxSsrc);
    Rtp.writeInt(out, off + 4, (Math.min(fraction, 255) << 24) | (int) (lost & 0xFFFFFF));
    Rtp.writeInt(out, off + 8, (int) (cycles + maxSeq));
    Rtp.writeInt(out, off + 12, (int) (jitter16 >> 4));
    long lsr = lastSrNtpMiddle;
    if (lsr < 0) {
      Rtp.writeInt(out, off + 16, 0);
      Rtp.writeInt(out, off + 20, 0);
    } else {
      long dlsr = ((nowNanos - lastSrArrivalNanos) << 16) / 1_000_000_000L;
      Rtp.writeInt(out, off + 16, (int) lsr);
      Rtp.writeInt(out, off + 20, (int) Math.min(0xFFFFFFFFL, Math.max(0, dlsr)));
    }
    return 24;
  }
}
