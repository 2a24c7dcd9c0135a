package org.webphone.gateway.media;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A test's reading of one RTCP compound packet, written independently of the gateway's parser: which packet
 * types came in what order, the SR sender info, the report blocks, the SDES CNAME and BYE.
 */
final class RtcpView {
  record Block(int ssrc, int fractionLost, int cumulativeLost, long extendedMax, long jitter, long lsr, long dlsr) {
  }

  final List<Integer> types = new ArrayList<>();
  int senderSsrc;
  boolean sr;
  long ntp;
  long rtpTimestamp;
  long packets = -1;
  long octets = -1;
  final List<Block> blocks = new ArrayList<>();
  String cname;
  int sdesSsrc;
  boolean bye;
  int byeSsrc;

  static RtcpView parse(byte[] b) {
    RtcpView v = new RtcpView();
    int off = 0;
    while (off + 4 <= b.length) {
      if ((b[off] & 0xC0) != 0x80) {
        throw new AssertionError("RTCP version is not 2 at offset " + off);
      }
      int count = b[off] & 0x1F;
      int pt = b[off + 1] & 0xFF;
      int len = 4 * (u16(b, off + 2) + 1);
      if (off + len > b.length) {
        throw new AssertionError("RTCP length " + len + " beyond the packet at offset " + off);
      }
      v.types.add(pt);
      switch (pt) {
        case 200 -> {
          v.sr = true;
          v.senderSsrc = i32(b, off + 4);
          v.ntp = ((long) i32(b, off + 8) << 32) | (i32(b, off + 12) & 0xFFFFFFFFL);
          v.rtpTimestamp = i32(b, off + 16) & 0xFFFFFFFFL;
          v.packets = i32(b, off + 20) & 0xFFFFFFFFL;
          v.octets = i32(b, off + 24) & 0xFFFFFFFFL;
          v.blocks(b, off + 28, count);
        }
        case 201 -> {
          v.senderSsrc = i32(b, off + 4);
          v.blocks(b, off + 8, count);
        }
        case 202 -> {
          v.sdesSsrc = i32(b, off + 4);
          if (b[off + 8] == 1) {
            v.cname = new String(b, off + 10, b[off + 9] & 0xFF, StandardCharsets.US_ASCII);
          }
        }
        case 203 -> {
          v.bye = true;
          v.byeSsrc = i32(b, off + 4);
        }
        default -> {
        }
      }
      off += len;
    }
    if (off != b.length) {
      throw new AssertionError("RTCP compound packet has " + (b.length - off) + " trailing bytes");
    }
    return v;
  }

  private void blocks(byte[] b, int off, int count) {
    for (int i = 0; i < count; i++, off += 24) {
      int w = i32(b, off + 4);
      blocks.add(new Block(i32(b, off), (w >>> 24) & 0xFF, (w << 8) >> 8, i32(b, off + 8) & 0xFFFFFFFFL,
          i32(b, off + 12) & 0xFFFFFFFFL, i32(b, off + 16) & 0xFFFFFFFFL, i32(b, off + 20) & 0xFFFFFFFFL));
    }
  }

  /** The middle 32 bits of the SR's NTP timestamp: what a report block's LSR must echo. */
  long ntpMiddle() {
    return (ntp >>> 16) & 0xFFFFFFFFL;
  }

  static int u16(byte[] b, int i) {
    return ((b[i] & 0xFF) << 8) | (b[i + 1] & 0xFF);
  }

  static int i32(byte[] b, int i) {
    return ((b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
  }

  static void put32(byte[] b, int i, long v) {
    b[i] = (byte) (v >>> 24);
    b[i + 1] = (byte) (v >>> 16);
    b[i + 2] = (byte) (v >>> 8);
    b[i + 3] = (byte) v;
  }

  /**
   * An RR from {@code ssrc} with one block about {@code source} echoing the SR seen {@code sinceSrNanos} ago
   * (LSR/DLSR), followed by an APP packet (type 204) that the gateway must skip and count.
   */
  static byte[] receiverReport(int ssrc, int source, RtcpView lastSr, long sinceSrNanos, boolean withApp) {
    byte[] b = new byte[32 + (withApp ? 12 : 0)];
    b[0] = (byte) 0x81;
    b[1] = (byte) 201;
    b[3] = 7;
    put32(b, 4, ssrc);
    put32(b, 8, source);
    put32(b, 12, 0);
    put32(b, 16, 0);
    put32(b, 20, 0);
    put32(b, 24, lastSr == null ? 0 : lastSr.ntpMiddle());
    // Rounded down, so that the gateway's A - LSR - DLSR is never below the true round trip.
    put32(b, 28, lastSr == null ? 0 : (sinceSrNanos << 16) / 1_000_000_000L);
    if (withApp) {
      b[32] = (byte) 0x80;
      b[33] = (byte) 204;
      b[35] = 2;
      put32(b, 36, ssrc);
      b[40] = 't';
      b[41] = 'e';
      b[42] = 's';
      b[43] = 't';
    }
    return b;
  }

  /** An SR from {@code ssrc} (no report blocks) with this NTP time and counts. */
  static byte[] senderReport(int ssrc, long ntp, long rtpTs, long packets, long octets) {
    byte[] b = new byte[28];
    b[0] = (byte) 0x80;
    b[1] = (byte) 200;
    b[3] = 6;
    put32(b, 4, ssrc);
    put32(b, 8, ntp >>> 32);
    put32(b, 12, ntp);
    put32(b, 16, rtpTs);
    put32(b, 20, packets);
    put32(b, 24, octets);
    return b;
  }
}
