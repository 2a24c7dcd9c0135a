package org.webphone.gateway.media.rtp;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.util.BitSet;

/**
 * The even/odd port pairs of {@code media.rtpPortMin..rtpPortMax}. A pair is handed out only when both
 * ports could be bound, so a port held by another program is skipped, not fatal. Thread-safe.
 */
public final class RtpPorts {
  private final InetAddress bind;
  private final int min;
  private final int pairs;
  private final BitSet used;
  private int next;

  public RtpPorts(InetAddress bind, int min, int max) {
    this.bind = bind;
    this.min = min;
    this.pairs = (max - min + 1) / 2;
    this.used = new BitSet(pairs);
  }

  /**
   * A bound RTP/RTCP channel pair, or null when every pair is in use or unbindable. The lock covers only the
   * choice of a free pair: the binds (four system calls) and a release's closes run outside it, so an event
   * loop making a call never waits for a worker that was descheduled while closing another call's ports.
   */
  public Pair allocate() {
    for (int tried = 0; tried < pairs; tried++) {
      int i = reserve();
      if (i < 0) {
        return null;
      }
      int port = min + 2 * i;
      DatagramChannel rtp = null;
      try {
        rtp = open(port);
        DatagramChannel rtcp = open(port + 1);
        return new Pair(port, rtp, rtcp);
      } catch (IOException busy) {
        closeQuietly(rtp);
        unreserve(i);
      }
    }
    return null;
  }

  /** The next free pair from where the last search stopped, marked used; -1 when none is free. */
  private synchronized int reserve() {
    int i = used.nextClearBit(next);
    if (i >= pairs) {
      i = used.nextClearBit(0);
      if (i >= pairs) {
        return -1;
      }
    }
    used.set(i);
    next = (i + 1) % pairs;
    return i;
  }

  private synchronized void unreserve(int i) {
    used.clear(i);
  }

  private DatagramChannel open(int port) throws IOException {
    DatagramChannel ch = DatagramChannel.open();
    try {
      ch.setOption(StandardSocketOptions.SO_RCVBUF, 256 * 1024);
      ch.bind(new InetSocketAddress(bind, port));
      ch.configureBlocking(false);
      return ch;
    } catch (IOException e) {
      ch.close();
      throw e;
    }
  }

  /** Closes the pair's channels, then frees the pair for another call. Call once per allocated pair. */
  public void release(Pair pair) {
    closeQuietly(pair.rtp());
    closeQuietly(pair.rtcp());
    unreserve((pair.port() - min) / 2);
  }

  public synchronized int inUse() {
    return used.cardinality();
  }

  private static void closeQuietly(DatagramChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // closing a datagram channel has nothing to flush
      }
    }
  }

  /** A bound pair: RTP on the even port, RTCP on the next. */
  public record Pair(int port, DatagramChannel rtp, DatagramChannel rtcp) {
  }
}
