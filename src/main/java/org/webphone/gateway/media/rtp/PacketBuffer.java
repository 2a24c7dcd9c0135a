package org.webphone.gateway.media.rtp;

import org.jitsi.utils.ByteArrayBuffer;

/**
 * A reusable packet buffer for jitsi-srtp (jitsi-utils ships only the interface). Each relay direction owns
 * one and reuses it for every packet, so the hot path allocates nothing; the array has head room for the
 * SRTP auth tag, so {@link #grow} never reallocates for RTP-sized packets.
 */
public final class PacketBuffer implements ByteArrayBuffer {
  public static final int CAPACITY = 1500 + 64;

  private byte[] data = new byte[CAPACITY];
  private int offset;
  private int length;

  /** Copies a datagram in (offset 0). Returns false when it does not fit. */
  public boolean load(byte[] src, int off, int len) {
    if (len > data.length - 32) {
      return false;
    }
    System.arraycopy(src, off, data, 0, len);
    offset = 0;
    length = len;
    return true;
  }

  /** Marks {@code len} bytes at offset 0 as the packet, after writing them into {@link #getBuffer()}. */
  public void set(int len) {
    offset = 0;
    length = len;
  }

  @Override
  public byte[] getBuffer() {
    return data;
  }

  @Override
  public int getOffset() {
    return offset;
  }

  @Override
  public int getLength() {
    return length;
  }

  @Override
  public void setLength(int len) {
    length = len;
  }

  @Override
  public void setOffset(int off) {
    offset = off;
  }

  @Override
  public boolean isInvalid() {
    return false;
  }

  @Override
  public void readRegionToBuff(int off, int len, byte[] out) {
    System.arraycopy(data, offset + off, out, 0, len);
  }

  @Override
  public void grow(int howMuch) {
    if (offset + length + howMuch > data.length) {
      byte[] bigger = new byte[offset + length + howMuch];
      System.arraycopy(data, 0, bigger, 0, offset + length);
      data = bigger;
    }
  }

  @Override
  public void append(byte[] src, int len) {
    grow(len);
    System.arraycopy(src, 0, data, offset + length, len);
    length += len;
  }

  @Override
  public void shrink(int len) {
    length = Math.max(0, length - len);
  }
}
