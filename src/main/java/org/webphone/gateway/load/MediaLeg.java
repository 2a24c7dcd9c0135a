package org.webphone.gateway.load;

import java.util.BitSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The audio of one virtual client's call: its {@link SyntheticBrowser} and what went through it. Each PCMU
 * payload carries the leg's tag and the packet's index and a pattern derived from both, so an echoed packet
 * proves itself: it must come back byte for byte (the relay passes G.711 through and rewrites only the RTP
 * header), and a packet of another call or a corrupted one is counted apart.
 *
 * <p>Threads: {@link #sendOne} runs on {@link LoadMedia}'s sender thread, {@link #onRtp} on the browser's
 * receive thread; the counters are read by the run's context when the call ends.
 */
final class MediaLeg {
  static final int PCMU = 0;
  static final int PAYLOAD_BYTES = 160; // 20 ms of G.711 at 8 kHz

  final SyntheticBrowser browser;
  final String offer;
  private final int tag = ThreadLocalRandom.current().nextInt();
  private final byte[] payload = new byte[PAYLOAD_BYTES]; // sender thread only
  private final BitSet seen = new BitSet(); // receive thread only
  private int nextIndex; // sender thread only

  final AtomicLong sent = new AtomicLong();
  final AtomicLong sendFailed = new AtomicLong();
  /** Echoes identical to a packet this leg sent, each index once. */
  final AtomicLong received = new AtomicLong();
  /** Decrypted packets that are not such an echo (other call, altered payload, other size). */
  final AtomicLong mismatched = new AtomicLong();
  final AtomicLong duplicates = new AtomicLong();
  final AtomicLong firstAudioNanos = new AtomicLong(-1);
  volatile long firstSentNanos = -1;
  /** When the gateway's answer came and when ICE + DTLS were done with it (for the set-up split). */
  volatile long answerNanos = -1;
  volatile long connectedNanos = -1;
  volatile boolean connected;
  private volatile boolean sending;
  /** When the call was answered (InCall), on the run's context. */
  long inCallNanos = -1;
  /** The gateway's answer was applied (run's context only). */
  boolean connectStarted;
  /** The sender's slot (0..19): which millisecond of each 20 ms period this leg sends in. */
  int slot = -1;

  MediaLeg(SyntheticBrowser browser) {
    this.browser = browser;
    this.offer = browser.offer();
    browser.sink = this::onRtp;
  }

  boolean sending() {
    return sending;
  }

  void startSending() {
    sending = true;
  }

  void stopSending() {
    sending = false;
  }

  /** One 20 ms packet, if the leg is sending. */
  void sendOne() {
    if (!sending) {
      return;
    }
    int index = nextIndex++;
    fill(payload, tag, index);
    try {
      if (index == 0) {
        firstSentNanos = System.nanoTime();
      }
      browser.sendRtp(PCMU, payload);
      sent.incrementAndGet();
    } catch (Exception e) {
      sendFailed.incrementAndGet(); // socket closed under us at the end of the call, or a full buffer
    }
  }

  private void onRtp(byte[] rtp, int len, long receivedNanos) {
    int h = Rtp.headerLength(rtp, 0, len);
    int index = h > 0 && len - h == PAYLOAD_BYTES ? matches(rtp, h, tag) : -1;
    if (index < 0) {
      mismatched.incrementAndGet();
      return;
    }
    if (seen.get(index)) {
      duplicates.incrementAndGet();
      return;
    }
    seen.set(index);
    received.incrementAndGet();
    firstAudioNanos.compareAndSet(-1, receivedNanos);
  }

  static void fill(byte[] p, int tag, int index) {
    putInt(p, 0, tag);
    putInt(p, 4, index);
    for (int i = 8; i < PAYLOAD_BYTES; i++) {
      p[i] = pattern(tag, index, i);
    }
  }

  /** The packet's index when the payload at {@code off} is exactly what this tag sent, else -1. */
  static int matches(byte[] b, int off, int tag) {
    if (getInt(b, off) != tag) {
      return -1;
    }
    int index = getInt(b, off + 4);
    if (index < 0) {
      return -1;
    }
    for (int i = 8; i < PAYLOAD_BYTES; i++) {
      if (b[off + i] != pattern(tag, index, i)) {
        return -1;
      }
    }
    return index;
  }

  private static byte pattern(int tag, int index, int i) {
    return (byte) (tag ^ (index * 31) ^ (i * 7));
  }

  private static void putInt(byte[] b, int off, int v) {
    b[off] = (byte) (v >>> 24);
    b[off + 1] = (byte) (v >>> 16);
    b[off + 2] = (byte) (v >>> 8);
    b[off + 3] = (byte) v;
  }

  private static int getInt(byte[] b, int off) {
    return (b[off] & 0xFF) << 24 | (b[off + 1] & 0xFF) << 16 | (b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF);
  }
}
