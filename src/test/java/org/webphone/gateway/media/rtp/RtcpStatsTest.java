package org.webphone.gateway.media.rtp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The RFC 3550 arithmetic of the reports, on packets with chosen sequence numbers, timestamps and arrival
 * times: sequence wrap, loss and fraction lost per interval, restarts, jitter, and RTT from LSR/DLSR.
 */
class RtcpStatsTest {
  private static final long MS = 1_000_000L;

  private static byte[] rtp(int seq, long ts, int ssrc) {
    byte[] p = new byte[172];
    p[0] = (byte) 0x80;
    Rtp.setSeq(p, 0, seq & 0xFFFF);
    Rtp.setTimestamp(p, 0, ts);
    Rtp.setSsrc(p, 0, ssrc);
    return p;
  }

  @Test
  void sequenceNumbersThatWrapAroundExtendTheHighestSequenceAndLoseNothing() {
    RtcpStats s = new RtcpStats();
    for (int i = 0; i < 12; i++) {
      s.received(rtp(65530 + i, 160L * i, 7), 0, 1_000 * MS + 20 * MS * i);
    }
    assertEquals(65536 + 5, s.extendedMaxSeq());
    assertEquals(12, s.expected());
    assertEquals(0, s.lost());
  }

  @Test
  void packetsLeftOutAreLostAndTheFractionCountsOnlyTheIntervalSinceTheLastReport() {
    RtcpStats s = new RtcpStats();
    byte[] block = new byte[24];
    long t = 5_000 * MS;
    for (int i = 0; i < 100; i++) {
      if (i < 40 || i >= 50) {
        s.received(rtp(100 + i, 160L * i, 9), 0, t + 20 * MS * i);
      }
    }
    assertEquals(24, s.writeReportBlock(block, 0, t + 2_000 * MS));
    assertEquals(9, Rtp.readInt(block, 0));
    assertEquals(10 * 256 / 100, (block[4] & 0xFF), "fraction lost: 10 of 100 expected in the interval");
    assertEquals(10, Rtp.readInt(block, 4) & 0xFFFFFF);
    assertEquals(199, Rtp.readInt(block, 8));
    for (int i = 100; i < 150; i++) {
      s.received(rtp(100 + i, 160L * i, 9), 0, t + 20 * MS * i);
    }
    s.writeReportBlock(block, 0, t + 3_000 * MS);
    assertEquals(0, block[4] & 0xFF, "nothing lost since the previous report");
    assertEquals(10, Rtp.readInt(block, 4) & 0xFFFFFF, "the cumulative count stays");
  }

  @Test
  void aNewSourceOrTwoSequentialPacketsAfterAJumpStartTheCountsAfresh() {
    RtcpStats s = new RtcpStats();
    for (int i = 0; i < 10; i++) {
      s.received(rtp(1000 + i, 160L * i, 1), 0, 20 * MS * i);
    }
    s.received(rtp(30_000, 0, 1), 0, 300 * MS);
    assertEquals(10, s.receivedPackets(), "one packet after a big jump is held back as suspect");
    s.received(rtp(30_001, 160, 1), 0, 320 * MS);
    assertEquals(1, s.receivedPackets(), "the second one in sequence restarts the source");
    assertEquals(30_001, s.extendedMaxSeq());
    s.received(rtp(5, 0, 2), 0, 340 * MS);
    assertEquals(2, s.receivedSsrc());
    assertEquals(1, s.expected());
    assertEquals(12, s.receivedTotal());
  }

  @Test
  void jitterIsZeroForPerfectPacingAndNearTheSwingForAlternatingArrivals() {
    RtcpStats even = new RtcpStats();
    RtcpStats swinging = new RtcpStats();
    even.jitterPayloadType(0, 8000);
    swinging.jitterPayloadType(0, 8000);
    long t = 0;
    for (int i = 0; i < 400; i++) {
      even.received(rtp(i, 160L * i, 3), 0, 20 * MS * i);
      // Arrivals alternately 10 ms and 30 ms apart: every transit difference is 10 ms = 80 timestamp units.
      t += (i % 2 == 0) ? 10 * MS : 30 * MS;
      swinging.received(rtp(i, 160L * i, 3), 0, t);
    }
    assertEquals(0, even.jitter());
    assertTrue(swinging.jitter() >= 75 && swinging.jitter() <= 80, "jitter " + swinging.jitter());
    RtcpStats dtmf = new RtcpStats();
    dtmf.jitterPayloadType(0, 8000);
    for (int i = 0; i < 50; i++) {
      byte[] p = rtp(i, 8000, 3);
      Rtp.setPayloadType(p, 0, 101);
      dtmf.received(p, 0, 20 * MS * i);
    }
    assertEquals(0, dtmf.jitter(), "telephone-event packets (one timestamp per event) do not count");
  }

  @Test
  void onAnOpusCallJitterIsCountedInUnitsOfThe48kHzClock() {
    RtcpStats even = new RtcpStats();
    RtcpStats swinging = new RtcpStats();
    even.jitterPayloadType(111, 48_000);
    swinging.jitterPayloadType(111, 48_000);
    long t = 5_000 * MS;
    for (int i = 0; i < 400; i++) {
      byte[] p = rtp(i, 960L * i, 3);
      Rtp.setPayloadType(p, 0, 111);
      even.received(p, 0, 5_000 * MS + 20 * MS * i);
      // Arrivals alternately 10 ms and 30 ms apart: every transit difference is 10 ms = 480 units at 48 kHz.
      t += (i % 2 == 0) ? 10 * MS : 30 * MS;
      swinging.received(p, 0, t);
    }
    assertEquals(0, even.jitter(), "20 ms paced packets 960 units apart have no jitter at 48 kHz");
    assertTrue(swinging.jitter() >= 450 && swinging.jitter() <= 480, "jitter " + swinging.jitter());
    assertEquals(48_000, swinging.clockRate());
  }

  @Test
  void anSrTimestampOnAnOpusCallAdvances48UnitsPerMillisecond() {
    RtcpStats stats = new RtcpStats();
    stats.sentClockRate(48_000);
    stats.sent(rtp(1, 96_000, 42), 0, 172, 7_000 * MS);
    assertEquals(96_000 + 100 * 48, stats.sentTimestampAt(7_100 * MS));
    RtcpStats g711 = new RtcpStats();
    g711.sent(rtp(1, 16_000, 42), 0, 172, 7_000 * MS);
    assertEquals(16_000 + 100 * 8, g711.sentTimestampAt(7_100 * MS), "8 kHz until told otherwise");
  }

  @Test
  void theArrivalClockNeverOverflowsForAnyNanoTime() {
    assertEquals(48_000, RtcpStats.arrival(1_000_000_000L, 48_000));
    long big = Long.MAX_VALUE - 1;
    assertTrue(RtcpStats.arrival(big, 48_000) > 0, "no overflow near Long.MAX_VALUE");
    assertEquals(960, RtcpStats.arrival(123_456_789_000L + 20 * MS, 48_000) - RtcpStats.arrival(123_456_789_000L, 48_000));
  }

  @Test
  void aCompoundReportRoundTripsAndTheRoundTripTimeComesFromLsrAndDlsr() {
    RtcpStats stats = new RtcpStats();
    long t0 = 10_000 * MS;
    for (int i = 0; i < 20; i++) {
      stats.sent(rtp(i, 160L * i, 42), 0, 172, t0 + 20 * MS * i);
      stats.received(rtp(500 + i, 160L * i, 77), 0, t0 + 20 * MS * i);
    }
    byte[] b = new byte[256];
    long now = t0 + 400 * MS;
    int len = RtcpPackets.writeSr(b, 0, 42, stats, now);
    len += RtcpPackets.writeSdes(b, len, 42, "gw".getBytes());
    len += RtcpPackets.writeBye(b, len, 42);
    List<String> seen = new ArrayList<>();
    long[] sr = new long[3];
    int n = RtcpPackets.parse(b, 0, len, new RtcpPackets.Handler() {
      @Override
      public void onSenderReport(int ssrc, long ntp, long rtpTimestamp, long packets, long octets) {
        seen.add("SR " + ssrc);
        sr[0] = rtpTimestamp;
        sr[1] = packets;
        sr[2] = octets;
      }

      @Override
      public void onReportBlock(int reporter, int source, int fractionLost, int cumulativeLost, long extendedMax,
                                long jitter, long lsr, long dlsr) {
        seen.add("block " + source + " max " + extendedMax + " lost " + cumulativeLost);
      }

      @Override
      public void onBye(int ssrc) {
        seen.add("BYE " + ssrc);
      }

      @Override
      public void onOther(int pt) {
        seen.add("other " + pt);
      }
    });
    assertEquals(3, n);
    assertEquals(List.of("SR 42", "block 77 max 519 lost 0", "BYE 42"), seen);
    assertEquals(20, sr[1]);
    assertEquals(20 * 160, sr[2]);
    assertEquals(160L * 19 + 160 * 20 / 20, sr[0], "RTP time of 'now': last timestamp + 20 ms at 8 kHz");
    assertEquals(-1, RtcpPackets.parse(b, 0, len - 2, new RtcpLeg("x", 1, "c", 5000, null, e -> { })));

    // The peer got our SR at t0 + 400 ms, held it 1 s (DLSR) and its RR reaches us 1.05 s later: RTT 50 ms.
    RtcpLeg leg = new RtcpLeg("pbx", 42, "gw", 5000, new RtcpLeg.Transport() {
      @Override
      public boolean ready() {
        return true;
      }

      @Override
      public SrtpKeys keys() {
        return null;
      }

      @Override
      public void send(byte[] data, int off, int l) {
      }
    }, e -> { });
    byte[] rr = new byte[32];
    rr[0] = (byte) 0x81;
    rr[1] = (byte) 201;
    rr[3] = 7;
    Rtp.writeInt(rr, 4, 77);
    Rtp.writeInt(rr, 8, 42);
    Rtp.writeInt(rr, 12, (3 << 24) | 2);
    Rtp.writeInt(rr, 24, (int) RtcpPackets.middle(RtcpPackets.ntp(now)));
    Rtp.writeInt(rr, 28, 65536);
    PacketBuffer buf = new PacketBuffer();
    buf.load(rr, 0, rr.length);
    leg.onRtcp(buf, now + 1_050 * MS);
    assertEquals(50, leg.rttMs(), 0.1);
    assertEquals(3 * 100.0 / 256, leg.remoteLossPercent(), 0.001);
    assertEquals(1, leg.reportsReceived());
  }

  /**
   * The relay's two directions write one stats object at once (the receive side from one packet thread, the send
   * side from the other) while the RTCP thread reads: the counts of both sides, and the RTP timestamp an SR
   * carries, are exact once both writers have finished, however their writes interleave.
   */
  @Test
  void twoPacketThreadsWritingTheirSidesAtOnceLeaveEveryCountExact() throws Exception {
    RtcpStats s = new RtcpStats();
    int n = 200_000;
    long t0 = 1_000 * MS;
    Thread receiver = new Thread(() -> {
      for (int i = 0; i < n; i++) {
        if (i % 10 != 3) { // one packet in ten lost
          s.received(rtp(i, 160L * i, 5), 0, t0 + 20 * MS * i);
        }
      }
    });
    Thread sender = new Thread(() -> {
      byte[] p = rtp(0, 0, 6);
      for (int i = 0; i < n; i++) {
        Rtp.setTimestamp(p, 0, 160L * i);
        s.sent(p, 0, 172, t0 + 20 * MS * i);
      }
    });
    receiver.start();
    sender.start();
    long readsWhileWriting = 0;
    while (receiver.isAlive() || sender.isAlive()) {
      assertTrue(s.sentPackets() <= n && s.receivedTotal() <= n);
      readsWhileWriting++;
    }
    receiver.join(30_000);
    sender.join(30_000);
    assertTrue(readsWhileWriting > 0);
    assertEquals(n, s.sentPackets());
    assertEquals((long) n * (172 - Rtp.HEADER), s.sentOctets());
    assertEquals(t0 + 20 * MS * (n - 1), s.lastSentNanos());
    assertEquals(160L * (n - 1) + 8 * 20, s.sentTimestampAt(t0 + 20 * MS * n), "20 ms after the last: + 160 units");
    assertEquals(n - n / 10, s.receivedTotal());
    assertEquals(n, s.expected());
    assertEquals(n / 10, s.lost());
    assertEquals(0, s.jitter(), "perfect pacing");
  }
}
