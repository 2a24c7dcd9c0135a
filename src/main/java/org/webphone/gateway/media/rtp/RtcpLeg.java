package org.webphone.gateway.media.rtp;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.concurrent.ThreadLocalRandom;
import org.jitsi.srtp.SrtpErrorStatus;

/**
 * RTCP of one media leg, terminated here as an RTP translator that rewrites SSRC/seq/ts must (RFC 3550
 * section 7): the leg reports on the stream it receives and describes the stream it sends, under the SSRC it
 * sends with, and reads the peer's reports about that stream (loss, jitter, round-trip time). Nothing is
 * relayed to the other leg.
 *
 * <p>Threads: {@link #stats()} is fed by the leg's packet threads; {@link #onRtcp} runs on the thread that
 * receives the leg's RTCP; reports are built and sent by the node's RTCP thread ({@link RtcpScheduler}) and,
 * for the final BYE, by whoever closes the call; the peer's figures are volatile for status readers.
 */
public final class RtcpLeg implements RtcpPackets.Handler {
  /** Where the leg's RTCP goes and how it is protected. */
  public interface Transport {
    /** True once the leg can send (browser: DTLS done; PBX: address, and keys when SDES-SRTP). */
    boolean ready();

    /** SRTCP keys, or null for plain RTCP. */
    SrtpKeys keys();

    void send(byte[] b, int off, int len) throws IOException;
  }

  /** Things worth counting, reported to the owner (which keeps the node's counters). */
  public enum Event { SENT, RECEIVED, IGNORED, BAD, SEND_FAILED }

  public interface Listener {
    void on(Event e);
  }

  private static final long FIRST_REPORT_NANOS = 1_000_000_000L;
  /** 10 ms in 1/65536 s: a computed RTT this far below zero is rounding, not a broken clock. */
  private static final long NEGATIVE_SLACK = 655;

  private final String name;
  private final int ssrc;
  private final byte[] cname;
  private final Transport transport;
  private final Listener listener;
  private final RtcpStats stats = new RtcpStats();
  /** Built and protected under this leg's lock (the RTCP thread, or the closer for BYE). */
  private final PacketBuffer out = new PacketBuffer();
  private final long intervalNanos;
  private long sentAtLastReport;
  private long sentAtReportBeforeLast;
  private boolean byeSent;
  private long nextReportNanos;

  private volatile long reportsSent;
  private volatile long reportsReceived;
  private volatile int remoteFractionLost = -1;
  private volatile long remoteCumulativeLost;
  private volatile long remoteJitter;
  private volatile long remoteSentPackets = -1;
  private volatile double rttMs = -1;
  private volatile double rttSumMs;
  private volatile int rttCount;
  private volatile boolean byeReceived;

  /**
   * @param name           "browser" or "pbx", for status and logs
   * @param ssrc           the SSRC this leg sends media with (our RTCP speaks for it)
   * @param intervalMillis nominal report interval (RFC 3550: 5 s minimum for one audio stream)
   */
  public RtcpLeg(String name, int ssrc, String cname, long intervalMillis, Transport transport, Listener listener) {
    this.name = name;
    this.ssrc = ssrc;
    this.cname = cname.getBytes(StandardCharsets.US_ASCII);
    this.intervalNanos = intervalMillis * 1_000_000L;
    this.transport = transport;
    this.listener = listener;
  }

  public String name() {
    return name;
  }

  public RtcpStats stats() {
    return stats;
  }

  public int ssrc() {
    return ssrc;
  }

  // ------------------------------------------------------------------ sending

  /**
   * Sends a report when one is due and returns the nanos until the next check: the first report about a
   * second after media starts, then every interval × [0.5, 1.5). RTCP thread.
   */
  public long tick(long now) {
    synchronized (this) {
      if (byeSent) {
        return -1;
      }
      boolean media = stats.sentPackets() > 0 || stats.receiving();
      if (!media || !transport.ready()) {
        nextReportNanos = 0;
        return jitter(FIRST_REPORT_NANOS / 2);
      }
      if (nextReportNanos == 0) {
        nextReportNanos = now + jitter(FIRST_REPORT_NANOS);
      }
      if (now - nextReportNanos < 0) {
        return nextReportNanos - now;
      }
      send(now, false);
      nextReportNanos = now + jitter(intervalNanos);
      return nextReportNanos - now;
    }
  }

  /** Sends SR/RR + SDES + BYE once, if the leg ever carried media and can still send; the closer's thread. */
  public void bye(long now) {
    synchronized (this) {
      if (byeSent) {
        return;
      }
      byeSent = true;
      if ((stats.sentPackets() > 0 || stats.receiving()) && transport.ready()) {
        send(now, true);
      }
    }
  }

  private static long jitter(long nanos) {
    return (long) (nanos * (0.5 + ThreadLocalRandom.current().nextDouble()));
  }

  private void send(long now, boolean bye) {
    byte[] b = out.getBuffer();
    long sent = stats.sentPackets();
    // RFC 3550 6.3.8: still a sender while it sent anything since the report before the last one, so the
    // final counts of a stream that just stopped reach the peer in one more SR instead of never.
    int len = sent != sentAtReportBeforeLast
        ? RtcpPackets.writeSr(b, 0, ssrc, stats, now)
        : RtcpPackets.writeRr(b, 0, ssrc, stats, now);
    sentAtReportBeforeLast = sentAtLastReport;
    sentAtLastReport = sent;
    len += RtcpPackets.writeSdes(b, len, ssrc, cname);
    if (bye) {
      len += RtcpPackets.writeBye(b, len, ssrc);
    }
    out.set(len);
    try {
      SrtpKeys k = transport.keys();
      if (k != null && k.protectRtcp(out) != SrtpErrorStatus.OK) {
        listener.on(Event.SEND_FAILED);
        return;
      }
      transport.send(out.getBuffer(), out.getOffset(), out.getLength());
      reportsSent++;
      listener.on(Event.SENT);
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      listener.on(Event.SEND_FAILED);
    }
  }

  // ------------------------------------------------------------------ receiving

  /**
   * One RTCP datagram of this leg in {@code buf} (SRTCP when the transport has keys): authenticated and
   * decrypted in place, then parsed. On the leg's receiving thread.
   */
  public void onRtcp(PacketBuffer buf, long now) {
    SrtpKeys k = transport.keys();
    if (k != null) {
      SrtpErrorStatus status;
      try {
        status = k.unprotectRtcp(buf);
      } catch (GeneralSecurityException | RuntimeException e) {
        status = SrtpErrorStatus.FAIL;
      }
      if (status != SrtpErrorStatus.OK) {
        listener.on(Event.BAD);
        return;
      }
    }
    receivedNow = now;
    int n = RtcpPackets.parse(buf.getBuffer(), buf.getOffset(), buf.getLength(), this);
    if (n < 0) {
      listener.on(Event.BAD);
      return;
    }
    reportsReceived++;
    listener.on(Event.RECEIVED);
  }

  /** Arrival time of the packet being parsed (receiving thread only). */
  private long receivedNow;

  @Override
  public void onSenderReport(int from, long ntp, long rtpTimestamp, long packets, long octets) {
    stats.peerSenderReport(RtcpPackets.middle(ntp), receivedNow);
    remoteSentPackets = packets;
  }

  @Override
  public void onReportBlock(int reporter, int source, int fractionLost, int cumulativeLost, long extendedMax,
                            long jitter, long lsr, long dlsr) {
    if (source != ssrc) {
      return;
    }
    remoteFractionLost = fractionLost;
    remoteCumulativeLost = cumulativeLost;
    remoteJitter = jitter;
    if (lsr != 0) {
      // RFC 3550 6.4.1: RTT = A - LSR - DLSR, all in 1/65536 s; a negative result means clock trouble.
      long rtt = (RtcpPackets.middle(RtcpPackets.ntp(receivedNow)) - lsr - dlsr) & 0xFFFFFFFFL;
      if (rtt > 0x100000000L - NEGATIVE_SLACK) {
        // A hair below zero: both sides truncate to 1/65536 s, so a loopback peer can land there.
        rtt = 0;
      }
      if (rtt < 0x80000000L) {
        double ms = rtt * 1000.0 / 65536.0;
        rttMs = ms;
        rttSumMs += ms;
        rttCount++;
      }
    }
  }

  @Override
  public void onBye(int from) {
    byeReceived = true;
  }

  @Override
  public void onOther(int pt) {
    listener.on(Event.IGNORED);
  }

  // ------------------------------------------------------------------ quality

  /** Loss of the stream we receive, percent of expected (0 before any packet). */
  public double lossPercent() {
    long expected = stats.expected();
    return expected <= 0 ? 0 : Math.max(0, 100.0 * stats.lost() / expected);
  }

  public double jitterMs() {
    return stats.jitter() * 1000.0 / stats.clockRate();
  }

  /** The last round-trip time from the peer's report blocks, or -1 before one came with an LSR. */
  public double rttMs() {
    return rttMs;
  }

  public double meanRttMs() {
    int n = rttCount;
    return n == 0 ? -1 : rttSumMs / n;
  }

  /** Loss the peer reported for the stream we send, percent (last report), or -1 before any report. */
  public double remoteLossPercent() {
    int f = remoteFractionLost;
    return f < 0 ? -1 : f * 100.0 / 256.0;
  }

  public long reportsSent() {
    return reportsSent;
  }

  public long reportsReceived() {
    return reportsReceived;
  }

  /** For {@code media.status}: what we measured, what the peer reported, RTCP counts. */
  public JsonObject toJson() {
    JsonObject j = new JsonObject()
        .put("ssrc", Integer.toUnsignedLong(ssrc))
        .put("sentPackets", stats.sentPackets())
        .put("sentOctets", stats.sentOctets())
        .put("receivedPackets", stats.receivedPackets())
        .put("expectedPackets", stats.expected())
        .put("lostPackets", stats.lost())
        .put("lossPercent", round(lossPercent()))
        .put("jitterMs", round(jitterMs()))
        .put("rtcpSent", reportsSent)
        .put("rtcpReceived", reportsReceived)
        .put("byeReceived", byeReceived);
    if (stats.receiving()) {
      j.put("remoteSsrc", Integer.toUnsignedLong(stats.receivedSsrc()));
    }
    if (remoteFractionLost >= 0) {
      j.put("remoteLossPercent", round(remoteLossPercent()))
          .put("remoteCumulativeLost", remoteCumulativeLost)
          .put("remoteJitterMs", round(remoteJitter * 1000.0 / stats.clockRate()));
    }
    if (remoteSentPackets >= 0) {
      j.put("remoteSentPackets", remoteSentPackets);
    }
    if (rttMs >= 0) {
      j.put("rttMs", round(rttMs)).put("meanRttMs", round(meanRttMs()));
    }
    return j;
  }

  /** {@code loss 0.0% jitter 1.2 ms rtt 3.4 ms}, for the call-end log line. */
  public String summary() {
    double rtt = meanRttMs();
    return String.format(java.util.Locale.ROOT, "loss %.1f%% jitter %.1f ms rtt %s", lossPercent(), jitterMs(),
        rtt < 0 ? "n/a" : String.format(java.util.Locale.ROOT, "%.1f ms", rtt));
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
