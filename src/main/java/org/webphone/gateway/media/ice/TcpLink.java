package org.webphone.gateway.media.ice;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ArrayBlockingQueue;
import org.ice4j.TransportAddress;
import org.ice4j.ice.TcpHostCandidate;
import org.ice4j.socket.IceSocketWrapper;

/**
 * One ICE-TCP connection of {@link IceTcpPort}: a non-blocking channel read by the port's thread, which
 * frames it (RFC 4571) and calls {@link #toIce4j} for STUN and the leg's target for the rest.
 *
 * <p>Once its first frame named a leg, ice4j gets it as an {@link IceSocketWrapper} ({@link Ice4jSocket}):
 * ice4j's {@code Connector} thread blocks in {@code receive} on a small queue of STUN frames, and ice4j's
 * sends (STUN, DTLS, SRTCP) and our media ({@link #send}) are written framed, each whole or not at all, from
 * any thread: a frame the socket cannot take at once is kept and finished by the port's thread
 * (OP_WRITE); while one is kept, further frames are dropped, as a full UDP socket would.
 *
 * <p>Closed once ({@link #close}) by the port's thread (EOF, bad input, idle), by ice4j (agent freed:
 * {@code TcpHostCandidate.free} closes its sockets) or with the port.
 */
final class TcpLink {
  private static final int STUN_QUEUE = 32;
  private static final byte[] CLOSED = new byte[0];

  private final IceTcpPort port;
  private final SocketChannel channel;
  private final InetSocketAddress remote;
  private final TransportAddress local;
  private final long firstStunDeadline;
  private final ByteBuffer in = ByteBuffer.allocate(2 + IceTcpPort.MAX_FRAME);
  /** One frame (length + datagram) built here and written with one write: one copy, one syscall. */
  private final ByteBuffer out = ByteBuffer.allocateDirect(2 + IceTcpPort.MAX_FRAME);
  private final ArrayBlockingQueue<byte[]> stun = new ArrayBlockingQueue<>(STUN_QUEUE);
  private ByteBuffer backlog;
  private SelectionKey key;
  private volatile WebRtcPort.Target target;
  private volatile TcpHostCandidate candidate;
  private volatile boolean accepted;
  private volatile boolean open = true;

  TcpLink(IceTcpPort port, SocketChannel channel, InetSocketAddress remote, TransportAddress local,
          long firstStunDeadline) {
    this.port = port;
    this.channel = channel;
    this.remote = remote;
    this.local = local;
    this.firstStunDeadline = firstStunDeadline;
  }

  void key(SelectionKey k) {
    this.key = k;
  }

  SocketChannel channel() {
    return channel;
  }

  ByteBuffer in() {
    return in;
  }

  InetSocketAddress remote() {
    return remote;
  }

  long firstStunDeadline() {
    return firstStunDeadline;
  }

  boolean accepted() {
    return accepted;
  }

  boolean open() {
    return open;
  }

  /** The leg's candidate it was handed to, or null before. */
  TcpHostCandidate candidate() {
    return candidate;
  }

  WebRtcPort.Target target() {
    return target;
  }

  /**
   * Hands the connection to the agent of {@code candidate}: the first frame is queued for ice4j before its
   * Connector starts, so it is the first thing ice4j reads (what ice4j's own listener does with a push-back
   * socket). On the port's thread.
   */
  void accept(WebRtcPort.Target t, TcpHostCandidate c, byte[] b, int off, int len) {
    target = t;
    candidate = c;
    accepted = true;
    toIce4j(b, off, len);
    Ice4jSocket s = new Ice4jSocket();
    c.addSocket(s);
    c.getStunStack().addSocket(s);
  }

  /** A STUN frame for ice4j (copied); dropped when ice4j is behind, as a full UDP socket would. */
  void toIce4j(byte[] b, int off, int len) {
    byte[] copy = new byte[len];
    System.arraycopy(b, off, copy, 0, len);
    stun.offer(copy);
  }

  /**
   * Writes {@code data}'s position..limit as one frame without blocking; false when dropped (closed, or an
   * earlier frame still waits for room). Any thread.
   */
  boolean send(ByteBuffer data) throws IOException {
    int len = data.remaining();
    synchronized (this) {
      if (!open || backlog != null && backlog.hasRemaining() || len > IceTcpPort.MAX_FRAME) {
        return false;
      }
      out.clear();
      out.put((byte) (len >> 8)).put((byte) len).put(data).flip();
      try {
        channel.write(out);
      } catch (IOException e) {
        close();
        throw e;
      }
      if (out.hasRemaining()) {
        if (backlog == null) {
          backlog = ByteBuffer.allocate(2 + IceTcpPort.MAX_FRAME);
        }
        backlog.clear();
        backlog.put(out).flip();
        port.wantWrite(key);
      }
      return true;
    }
  }

  /** The port's thread, when the socket has room again: writes what {@link #send} kept. */
  synchronized void flush() {
    try {
      if (backlog != null) {
        channel.write(backlog);
      }
      if (backlog == null || !backlog.hasRemaining()) {
        key.interestOps(SelectionKey.OP_READ);
      }
    } catch (IOException e) {
      close();
    }
  }

  /** Closes the socket and wakes ice4j's Connector; idempotent, any thread. */
  void close() {
    synchronized (this) {
      if (!open) {
        return;
      }
      open = false;
    }
    if (key != null) {
      key.cancel();
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // nothing left to send
    }
    stun.clear();
    stun.offer(CLOSED);
    port.closed(this, accepted);
  }

  /**
   * What ice4j sees: a TCP socket whose reads are the STUN frames our reader passes and whose writes are
   * framed. {@code getTCPSocket} gives the channel's socket for its addresses only (ice4j matches pairs by
   * them); nobody reads or writes through it.
   */
  private final class Ice4jSocket extends IceSocketWrapper {
    @Override
    public void send(DatagramPacket p) throws IOException {
      TcpLink.this.send(ByteBuffer.wrap(p.getData(), p.getOffset(), p.getLength()));
    }

    @Override
    public void receive(DatagramPacket p) throws IOException {
      byte[] m;
      try {
        m = open ? stun.take() : CLOSED;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ClosedChannelException();
      }
      if (m == CLOSED) {
        stun.offer(CLOSED);
        throw new ClosedChannelException();
      }
      int len = Math.min(m.length, p.getData().length);
      System.arraycopy(m, 0, p.getData(), 0, len);
      p.setLength(len);
      p.setAddress(remote.getAddress());
      p.setPort(remote.getPort());
    }

    @Override
    public void close() {
      TcpLink.this.close();
    }

    @Override
    public InetAddress getLocalAddress() {
      return local.getAddress();
    }

    @Override
    public int getLocalPort() {
      return local.getPort();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
      return local;
    }

    @Override
    public Socket getTCPSocket() {
      return channel.socket();
    }

    @Override
    public DatagramSocket getUDPSocket() {
      return null;
    }
  }
}
