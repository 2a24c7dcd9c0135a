package org.webphone.gateway.media.rtp;

/**
 * RTP header access on raw arrays (RFC 3550), and the first-byte demultiplexing of RFC 7983.
 *
 * <pre>
 *  0                   1                   2                   3
 *  |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *  |                           timestamp                           |
 *  |           synchronization source (SSRC) identifier            |
 * </pre>
 */
public final class Rtp {
  public static final int HEADER = 12;

  private Rtp() {
  }

  /** A plausible RTP or RTCP packet: version 2 and at least a fixed header. */
  public static boolean isRtpOrRtcp(byte[] b, int off, int len) {
    return len >= HEADER && (b[off] & 0xC0) == 0x80;
  }

  /** RTCP (rtcp-mux, RFC 5761): payload types 64..95 after clearing the marker bit. */
  public static boolean isRtcp(byte[] b, int off) {
    int pt = b[off + 1] & 0x7F;
    return pt >= 64 && pt <= 95;
  }

  /** STUN by RFC 7983 (first byte 0..3) and the RFC 5389 magic cookie; no allocation, for receive paths. */
  public static boolean isStun(byte[] b, int len) {
    return len >= 20 && (b[0] & 0xFF) < 4 && b[4] == 0x21 && b[5] == 0x12 && (b[6] & 0xFF) == 0xA4 && b[7] == 0x42;
  }

  /** DTLS record by RFC 7983: first byte 20..63. */
  public static boolean isDtls(byte[] b, int off, int len) {
    if (len < 13) {
      return false;
    }
    int first = b[off] & 0xFF;
    return first >= 20 && first <= 63;
  }

  public static int payloadType(byte[] b, int off) {
    return b[off + 1] & 0x7F;
  }

  public static void setPayloadType(byte[] b, int off, int pt) {
    b[off + 1] = (byte) ((b[off + 1] & 0x80) | (pt & 0x7F));
  }

  public static boolean marker(byte[] b, int off) {
    return (b[off + 1] & 0x80) != 0;
  }

  public static void setMarker(byte[] b, int off) {
    b[off + 1] |= (byte) 0x80;
  }

  public static int seq(byte[] b, int off) {
    return ((b[off + 2] & 0xFF) << 8) | (b[off + 3] & 0xFF);
  }

  public static void setSeq(byte[] b, int off, int seq) {
    b[off + 2] = (byte) (seq >>> 8);
    b[off + 3] = (byte) seq;
  }

  public static long timestamp(byte[] b, int off) {
    return readInt(b, off + 4) & 0xFFFFFFFFL;
  }

  public static void setTimestamp(byte[] b, int off, long ts) {
    writeInt(b, off + 4, (int) ts);
  }

  public static int ssrc(byte[] b, int off) {
    return readInt(b, off + 8);
  }

  public static void setSsrc(byte[] b, int off, int ssrc) {
    writeInt(b, off + 8, ssrc);
  }

  /** Header length including CSRCs and the extension; -1 when the packet is shorter than its header. */
  public static int headerLength(byte[] b, int off, int len) {
    int h = HEADER + 4 * (b[off] & 0x0F);
    if ((b[off] & 0x10) != 0) {
      if (len < h + 4) {
        return -1;
      }
      h += 4 + 4 * (((b[off + h + 2] & 0xFF) << 8) | (b[off + h + 3] & 0xFF));
    }
    return h <= len ? h : -1;
  }

  /**
   * Removes CSRCs and the header extension in place (the PBX leg negotiates neither); returns the new length,
   * or -1 for a malformed packet.
   */
  public static int stripExtensions(byte[] b, int off, int len) {
    int h = headerLength(b, off, len);
    if (h < 0) {
      return -1;
    }
    if (h == HEADER) {
      return len;
    }
    System.arraycopy(b, off + h, b, off + HEADER, len - h);
    b[off] = (byte) (b[off] & 0xE0);
    return len - h + HEADER;
  }

  static int readInt(byte[] b, int i) {
    return ((b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
  }

  static void writeInt(byte[] b, int i, int v) {
    b[i] = (byte) (v >>> 24);
    b[i + 1] = (byte) (v >>> 16);
    b[i + 2] = (byte) (v >>> 8);
    b[i + 3] = (byte) v;
  }
}
