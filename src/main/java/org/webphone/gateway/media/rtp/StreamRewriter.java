package org.webphone.gateway.media.rtp;

/**
 * Gives one outgoing RTP stream a fixed SSRC and sequence numbers and timestamps that never jump backwards,
 * whatever happens upstream: a browser leg rebuilt after a page reload, a PBX re-INVITE with a new SSRC.
 * When the incoming SSRC changes, the stream is rebased: the next packet continues one sequence number and
 * (at least) one packet's worth of samples after the last one sent, plus the wall-clock time elapsed.
 *
 * <p>One instance per direction; not thread-safe: the direction's single packet thread owns it (DTMF
 * packets are generated on that same thread).
 */
public final class StreamRewriter {
  private final int outSsrc;
  /** Timestamp units per millisecond of the call's codec clock (8 for G.711/G.722, 48 for Opus). */
  private volatile long unitsPerMs = 8;
  private boolean started;
  private int inSsrc;
  private int seqDelta;
  private long tsDelta;
  private int lastSeq;
  private long lastTs;
  private long lastNanos;
  private boolean rebased;
  /** Set by {@link #newSource} on another thread: the next packet starts a new upstream stream. */
  private volatile boolean sourceChanged;

  public StreamRewriter(int outSsrc) {
    this.outSsrc = outSsrc;
  }

  public int ssrc() {
    return outSsrc;
  }

  /** The stream's RTP clock rate (the codec's rtpmap clock); the caller serialises it with the packet thread. */
  public void clockRate(int hz) {
    unitsPerMs = Math.max(1, hz / 1000);
  }

  /** Rewrites SSRC, sequence number and timestamp of the RTP packet at {@code off} in place. */
  public void rewrite(byte[] b, int off, long nowNanos) {
    int ssrc = Rtp.ssrc(b, off);
    int seq = Rtp.seq(b, off);
    long ts = Rtp.timestamp(b, off);
    if (!started || ssrc != inSsrc || sourceChanged) {
      sourceChanged = false;
      rebase(ssrc, seq, ts, nowNanos);
    }
    int outSeq = (seq + seqDelta) & 0xFFFF;
    long outTs = (ts + tsDelta) & 0xFFFFFFFFL;
    Rtp.setSsrc(b, off, outSsrc);
    Rtp.setSeq(b, off, outSeq);
    Rtp.setTimestamp(b, off, outTs);
    if (rebased) {
      // A new source: receivers resynchronise their jitter buffer on the marker bit.
      Rtp.setMarker(b, off);
      rebased = false;
    }
    if (((outSeq - lastSeq) & 0xFFFF) < 0x8000) {
      lastSeq = outSeq;
      lastTs = outTs;
      lastNanos = nowNanos;
    }
  }

  /**
   * The next packet comes from a new upstream stream even if its SSRC is the same as the last one's (a persistent
   * browser leg's next call: a PBX or a test peer may reuse an SSRC and restart its sequence numbers, which mapped
   * with the old offset would go backwards and fail SRTP's replay check). Any thread.
   */
  public void newSource() {
    sourceChanged = true;
  }

  /** Next sequence number and the timestamp "now" for packets this side generates itself (DTMF). */
  public int nextOwnSeq() {
    lastSeq = (lastSeq + 1) & 0xFFFF;
    seqDelta = (seqDelta + 1) & 0xFFFF;
    return lastSeq;
  }

  public long timestampAt(long nowNanos) {
    if (!started) {
      return 0;
    }
    return (lastTs + Math.max(0, (nowNanos - lastNanos) / 1_000_000L) * unitsPerMs) & 0xFFFFFFFFL;
  }

  private void rebase(int ssrc, int seq, long ts, long nowNanos) {
    if (!started) {
      seqDelta = 0;
      tsDelta = 0;
      started = true;
      rebased = false;
    } else {
      long elapsedMs = Math.max(20, (nowNanos - lastNanos) / 1_000_000L);
      int wantSeq = (lastSeq + 1) & 0xFFFF;
      long wantTs = (lastTs + elapsedMs * unitsPerMs) & 0xFFFFFFFFL;
      seqDelta = (wantSeq - seq) & 0xFFFF;
      tsDelta = (wantTs - ts) & 0xFFFFFFFFL;
      rebased = true;
    }
    inSsrc = ssrc;
    lastSeq = (seq + seqDelta - 1) & 0xFFFF;
  }
}
