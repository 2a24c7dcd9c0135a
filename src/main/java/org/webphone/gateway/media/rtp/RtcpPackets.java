package org.webphone.gateway.media.rtp;

/**
 * RTCP packets of RFC 3550 section 6 written into and read from raw arrays: SR, RR, SDES (CNAME), BYE, and
 * the NTP wallclock they carry. A compound packet is these, back to back; the parser walks one and hands
 * what it understands to a {@link Handler}, skipping the rest (APP, XR, feedback...). Allocation-free.
 *
 * <pre>
 *  |V=2|P|  RC/SC  |      PT       |             length (32-bit words - 1)                   |
 * </pre>
 */
public final class RtcpPackets {
  public static final int SR = 200;
  public static final int RR = 201;
  public static final int SDES = 202;
  public static final int BYE = 203;
  /** Seconds from 1900 (NTP era 0) to 1970. */
  private static final long NTP_EPOCH_OFFSET = 2_208_988_800L;
  private static final long WALL_BASE_NANOS;
  private static final long MONO_BASE_NANOS;

  static {
    long wall = System.currentTimeMillis();
    MONO_BASE_NANOS = System.nanoTime();
    WALL_BASE_NANOS = wall * 1_000_000L;
  }

  private RtcpPackets() {
  }

  /**
   * The 64-bit NTP timestamp of the monotonic instant {@code nanos}: wallclock fixed once per process and
   * advanced by {@link System#nanoTime()}, so our SR times and our RTT arithmetic use one consistent clock.
   */
  public static long ntp(long nanos) {
    long wall = WALL_BASE_NANOS + (nanos - MONO_BASE_NANOS);
    long secs = wall / 1_000_000_000L + NTP_EPOCH_OFFSET;
    long frac = ((wall % 1_000_000_000L) << 32) / 1_000_000_000L;
    return (secs << 32) | frac;
  }

  /** The middle 32 bits of an NTP timestamp (the "compact" form of LSR, DLSR and RTT: 1/65536 s). */
  public static long middle(long ntp) {
    return (ntp >>> 16) & 0xFFFFFFFFL;
  }

  private static void header(byte[] b, int off, int count, int pt, int words) {
    b[off] = (byte) (0x80 | count);
    b[off + 1] = (byte) pt;
    b[off + 2] = (byte) ((words - 1) >>> 8);
    b[off + 3] = (byte) (words - 1);
  }

  /**
   * Writes an SR (with the report block {@code stats} gives, if it has a received stream) and returns its
   * length.
   */
  public static int writeSr(byte[] b, int off, int ssrc, RtcpStats stats, long nowNanos) {
    long ntp = ntp(nowNanos);
    Rtp.writeInt(b, off + 4, ssrc);
    Rtp.writeInt(b, off + 8, (int) (ntp >>> 32));
    Rtp.writeInt(b, off + 12, (int) ntp);
    Rtp.writeInt(b, off + 16, (int) stats.sentTimestampAt(nowNanos));
    Rtp.writeInt(b, off + 20, (int) stats.sentPackets());
    Rtp.writeInt(b, off + 24, (int) stats.sentOctets());
    int block = stats.writeReportBlock(b, off + 28, nowNanos);
    int len = 28 + block;
    header(b, off, block == 0 ? 0 : 1, SR, len / 4);
    return len;
  }

  /** Writes an RR (empty when nothing is received yet) and returns its length. */
  public static int writeRr(byte[] b, int off, int ssrc, RtcpStats stats, long nowNanos) {
    Rtp.writeInt(b, off + 4, ssrc);
    int block = stats.writeReportBlock(b, off + 8, nowNanos);
    int len = 8 + block;
    header(b, off, block == 0 ? 0 : 1, RR, len / 4);
    return len;
  }

  /** Writes an SDES packet with one chunk: {@code ssrc}, CNAME (ASCII, at most 255 bytes), END, padding. */
  public static int writeSdes(byte[] b, int off, int ssrc, byte[] cname) {
    int n = Math.min(255, cname.length);
    Rtp.writeInt(b, off + 4, ssrc);
    b[off + 8] = 1;
    b[off + 9] = (byte) n;
    System.arraycopy(cname, 0, b, off + 10, n);
    int end = off + 10 + n;
    // At least one null octet ends the item list, then pad the chunk to 32 bits (RFC 3550 6.5).
    int chunk = (10 + n + 1 + 3) & ~3;
    for (int i = end; i < off + chunk; i++) {
      b[i] = 0;
    }
    header(b, off, 1, SDES, chunk / 4);
    return chunk;
  }

  /** Writes a BYE for {@code ssrc} (no reason) and returns its length. */
  public static int writeBye(byte[] b, int off, int ssrc) {
    Rtp.writeInt(b, off + 4, ssrc);
    header(b, off, 1, BYE, 2);
    return 8;
  }

  /** What a parsed compound packet contained; called in packet order. */
  public interface Handler {
    void onSenderReport(int ssrc, long ntp, long rtpTimestamp, long packets, long octets);

    /**
     * One report block from {@code reporter} about {@code source}: fraction lost (0..255), cumulative lost,
     * extended highest sequence, jitter (timestamp units), LSR and DLSR (1/65536 s).
     */
    void onReportBlock(int reporter, int source, int fractionLost, int cumulativeLost, long extendedMax,
                       long jitter, long lsr, long dlsr);

    void onBye(int ssrc);

    /** A packet type this parser does not interpret (SDES included: we read no peer CNAME). */
    void onOther(int pt);
  }

  /**
   * Walks a compound RTCP packet. Returns the number of packets handed to {@code h}, or -1 when the
   * structure is malformed (version, lengths); packets before the fault have been delivered.
   */
  public static int parse(byte[] b, int off, int len, Handler h) {
    int end = off + len;
    int count = 0;
    while (off < end) {
      if (end - off < 4 || (b[off] & 0xC0) != 0x80) {
        return -1;
      }
      int rc = b[off] & 0x1F;
      int pt = b[off + 1] & 0xFF;
      int plen = 4 * ((((b[off + 2] & 0xFF) << 8) | (b[off + 3] & 0xFF)) + 1);
      if (plen > end - off) {
        return -1;
      }
      switch (pt) {
        case SR -> {
          if (plen < 28 + 24 * rc) {
            return -1;
          }
          int ssrc = Rtp.readInt(b, off + 4);
          long ntp = ((long) Rtp.readInt(b, off + 8) << 32) | (Rtp.readInt(b, off + 12) & 0xFFFFFFFFL);
          h.onSenderReport(ssrc, ntp, Rtp.readInt(b, off + 16) & 0xFFFFFFFFL,
              Rtp.readInt(b, off + 20) & 0xFFFFFFFFL, Rtp.readInt(b, off + 24) & 0xFFFFFFFFL);
          blocks(b, off + 28, rc, ssrc, h);
        }
        case RR -> {
          if (plen < 8 + 24 * rc) {
            return -1;
          }
          blocks(b, off + 8, rc, Rtp.readInt(b, off + 4), h);
        }
        case BYE -> {
          if (plen < 4 + 4 * rc) {
            return -1;
          }
          for (int i = 0; i < rc; i++) {
            h.onBye(Rtp.readInt(b, off + 4 + 4 * i));
          }
        }
        default -> h.onOther(pt);
      }
      count++;
      off += plen;
    }
    return count;
  }

  private static void blocks(byte[] b, int off, int rc, int reporter, Handler h) {
    for (int i = 0; i < rc; i++, off += 24) {
      int w = Rtp.readInt(b, off + 4);
      // Cumulative lost is a signed 24-bit number.
      int cumulative = (w << 8) >> 8;
      h.onReportBlock(reporter, Rtp.readInt(b, off), (w >>> 24) & 0xFF, cumulative,
          Rtp.readInt(b, off + 8) & 0xFFFFFFFFL, Rtp.readInt(b, off + 12) & 0xFFFFFFFFL,
          Rtp.readInt(b, off + 16) & 0xFFFFFFFFL, Rtp.readInt(b, off + 20) & 0xFFFFFFFFL);
    }
  }
}
