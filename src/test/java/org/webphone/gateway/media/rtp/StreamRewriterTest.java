package org.webphone.gateway.media.rtp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The rewriter's continuation across a new source and its "now" timestamp follow the codec's clock. */
class StreamRewriterTest {
  private static final long MS = 1_000_000L;

  private static byte[] rtp(int seq, long ts, int ssrc) {
    byte[] b = new byte[Rtp.HEADER + 4];
    b[0] = (byte) 0x80;
    b[1] = 111;
    Rtp.setSeq(b, 0, seq);
    Rtp.setTimestamp(b, 0, ts);
    Rtp.setSsrc(b, 0, ssrc);
    return b;
  }

  @Test
  void aNewSourceOnAnOpusCallContinuesTheTimestampBy48UnitsPerMillisecondOfTheGap() {
    StreamRewriter r = new StreamRewriter(7);
    r.clockRate(48_000);
    byte[] last = null;
    for (int i = 0; i < 10; i++) {
      last = rtp(100 + i, 500_000 + 960L * i, 1);
      r.rewrite(last, 0, 1_000 * MS + 20 * MS * i);
    }
    long lastTs = Rtp.timestamp(last, 0);
    // A rebuilt browser leg: another SSRC, its own sequence and timestamp base, 200 ms after the last packet.
    byte[] next = rtp(9, 42, 2);
    r.rewrite(next, 0, 1_000 * MS + 20 * MS * 9 + 200 * MS);
    assertEquals(7, Rtp.ssrc(next, 0));
    assertEquals((lastTs + 200 * 48) & 0xFFFFFFFFL, Rtp.timestamp(next, 0));
    assertEquals((Rtp.seq(last, 0) + 1) & 0xFFFF, Rtp.seq(next, 0));
    assertEquals((Rtp.timestamp(next, 0) + 60 * 48) & 0xFFFFFFFFL,
        r.timestampAt(1_000 * MS + 20 * MS * 9 + 260 * MS), "the DTMF start timestamp 60 ms later");
  }

  @Test
  void aG711CallKeepsItsEightUnitsPerMillisecond() {
    StreamRewriter r = new StreamRewriter(7);
    byte[] first = rtp(1, 1000, 1);
    r.rewrite(first, 0, 0);
    byte[] next = rtp(50, 9, 2);
    r.rewrite(next, 0, 100 * MS);
    assertEquals(1000 + 100 * 8, Rtp.timestamp(next, 0));
  }
}
