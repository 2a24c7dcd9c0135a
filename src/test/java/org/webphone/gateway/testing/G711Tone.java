package org.webphone.gateway.testing;

import java.util.List;

/**
 * A sine tone as G.711 µ-law (PCMU) payloads for a script-driven browser leg, and the level and frequency of
 * PCMU audio that arrived: what Chromium's fake microphone and analyser do for a page, for a
 * {@code SyntheticBrowser}. 8 kHz, 20 ms (160 samples) per packet. Pure functions.
 */
public final class G711Tone {
  public static final int SAMPLES_PER_PACKET = 160;

  private G711Tone() {
  }

  /** Packet {@code n} (from 0) of a continuous {@code hz} tone at about -10 dBFS. */
  public static byte[] packet(int hz, int n) {
    byte[] out = new byte[SAMPLES_PER_PACKET];
    for (int i = 0; i < SAMPLES_PER_PACKET; i++) {
      double t = (n * (double) SAMPLES_PER_PACKET + i) / 8000.0;
      out[i] = encode((int) (10000 * Math.sin(2 * Math.PI * hz * t)));
    }
    return out;
  }

  /**
   * RMS (0..1) and frequency (Hz, from zero crossings) of the PCMU payloads of {@code packets} (whole RTP
   * packets with a 12-byte header, as {@code SyntheticBrowser.received} holds them).
   */
  public static double[] levelAndFrequency(List<byte[]> packets) {
    double sum = 0;
    long n = 0;
    long crossings = 0;
    int prev = 0;
    for (byte[] p : packets) {
      for (int i = 12; i < p.length; i++) {
        int s = decode(p[i]);
        sum += (double) s * s;
        if ((prev < 0 && s >= 0) || (prev >= 0 && s < 0)) {
          crossings++;
        }
        prev = s;
        n++;
      }
    }
    if (n == 0) {
      return new double[] {0, 0};
    }
    return new double[] {Math.sqrt(sum / n) / 32768.0, crossings / 2.0 / (n / 8000.0)};
  }

  /** ITU-T G.711 µ-law encoding of one 16-bit sample. */
  static byte encode(int sample) {
    int sign = sample < 0 ? 0x80 : 0;
    int magnitude = Math.min(Math.abs(sample), 32635) + 0x84;
    int exponent = 7;
    for (int mask = 0x4000; (magnitude & mask) == 0 && exponent > 0; mask >>= 1) {
      exponent--;
    }
    int mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    return (byte) ~(sign | (exponent << 4) | mantissa);
  }

  static int decode(byte b) {
    int u = ~b & 0xFF;
    int t = ((u & 0x0F) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (u & 0x80) != 0 ? 0x84 - t : t - 0x84;
  }
}
