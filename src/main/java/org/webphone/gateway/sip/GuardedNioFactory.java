package org.webphone.gateway.sip;

import gov.nist.javax.sip.stack.MessageProcessor;
import gov.nist.javax.sip.stack.NIOHandler;
import gov.nist.javax.sip.stack.NioMessageProcessorFactory;
import gov.nist.javax.sip.stack.NioTcpMessageChannel;
import gov.nist.javax.sip.stack.NioTcpMessageProcessor;
import gov.nist.javax.sip.stack.NioTlsMessageChannel;
import gov.nist.javax.sip.stack.NioTlsMessageProcessor;
import gov.nist.javax.sip.stack.SIPTransactionStack;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import javax.sip.ListeningPoint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JAIN-SIP's NIO transport for TCP (one selector thread per listening point, no thread per connection; idle
 * connections closed by the stack's {@code NIO_MAX_SOCKET_IDLE_TIME} auditor), with the inbound TCP
 * connections guarded: the connection caps of {@link SipPortGuard#admitTcp}, and {@link ContentLengthScan}
 * in front of the parser. Named in {@code gov.nist.javax.sip.MESSAGE_PROCESSOR_FACTORY}; the stack creates
 * it, then {@link SipEndpoint} hands it the guard before any listening point exists.
 *
 * <p>TLS ({@code sip.tlsPort}) runs on the same NIO transport with the same guard, caps and idle limit
 * ({@link TlsProcessor}); its connects are non-blocking when TLS is on (SipEndpoint), and the handshake is driven by
 * the selector thread, so neither runs on an event loop. A connection we opened that closes (the PBX closed it,
 * or it went idle) is reported to {@link #onOutboundClosed}, so the lines re-REGISTER over a new one.
 *
 * <p>Threads: the processor's methods run on its selector thread; a channel may be closed from the stack's
 * timer thread (idle) or the selector thread. Connections we open toward the PBX are JAIN-SIP's own channels:
 * only the PBX talks on them.
 */
public final class GuardedNioFactory extends NioMessageProcessorFactory {
  private static final Logger LOG = LoggerFactory.getLogger(GuardedNioFactory.class);
  private volatile SipPortGuard guard;
  private volatile int maxMessageBytes = 65536;
  private volatile Consumer<InetSocketAddress> onOutboundClosed = a -> { };

  /** For JAIN-SIP, which creates the factory by class name. */
  public GuardedNioFactory() {
  }

  void guard(SipPortGuard g, int maxBytes) {
    this.guard = g;
    this.maxMessageBytes = maxBytes;
  }

  /** Told (on a selector or timer thread) the remote address of each TLS connection we opened that closed. */
  void onOutboundClosed(Consumer<InetSocketAddress> listener) {
    this.onOutboundClosed = listener;
  }

  @Override
  public MessageProcessor createMessageProcessor(SIPTransactionStack stack, InetAddress ip, int port, String transport)
      throws IOException {
    SipPortGuard g = guard;
    if (g != null && ListeningPoint.TCP.equalsIgnoreCase(transport)) {
      return new Processor(ip, stack, port, g, maxMessageBytes);
    }
    if (g != null && ListeningPoint.TLS.equalsIgnoreCase(transport)) {
      return new TlsProcessor(ip, stack, port, g, maxMessageBytes, this);
    }
    return super.createMessageProcessor(stack, ip, port, transport);
  }

  /** The TCP listening point: refuses connections over the caps, puts a length check on each one it keeps. */
  static final class Processor extends NioTcpMessageProcessor {
    private final SipPortGuard guard;
    private final int maxMessageBytes;

    Processor(InetAddress ip, SIPTransactionStack stack, int port, SipPortGuard guard, int maxMessageBytes) {
      super(ip, stack, port);
      this.guard = guard;
      this.maxMessageBytes = maxMessageBytes;
      // Replaces the handler the constructor made (still unused; its idle auditor runs on an empty map).
      nioHandler = new KeepingHandler(stack, this, null);
    }

    @Override
    public NioTcpMessageChannel createMessageChannel(NioTcpMessageProcessor p, SocketChannel client)
        throws IOException {
      NioTcpMessageChannel known = nioHandler.getMessageChannel(client);
      if (known != null) {
        return known;
      }
      Admission a = new Admission(guard, client.socket().getInetAddress(), maxMessageBytes);
      return a.register(nioHandler, client, new Channel(this, client, a));
    }

    @Override
    public SocketChannel connect(InetSocketAddress to, InetAddress from, int timeoutMs) throws IOException {
      checkConnectThread(to);
      return super.connect(to, from, timeoutMs);
    }
  }

  /**
   * The stack opens its connections in the thread that hands it a message (PbxTrunk#handOff keeps that off the
   * event loops); one opened on an event loop would hold it for up to {@code CONNECTION_TIMEOUT}: said loudly.
   */
  static void checkConnectThread(InetSocketAddress to) {
    if (io.vertx.core.Context.isOnEventLoopThread()) {
      LOG.warn("SIP connection to {} opened on event loop thread {}: the loop waits for the connect", to,
          Thread.currentThread().getName());
    } else {
      LOG.debug("SIP connection to {} opened on {}", to, Thread.currentThread().getName());
    }
  }

  /**
   * Keeps the connections we open toward the PBX. JAIN-SIP 1.3.0-91's {@code NIOHandler.openOutgoingConnection}
   * never sets its {@code connected} flag, so its {@code finally} drops every new connection from the socket
   * table right after adding it: the next request opened another connection and closed the previous one, with
   * the PBX's answer still to come on it (REGISTER over TCP timed out with 408 in SipKamailioTest). This puts
   * the connection back after each send and connect.
   */
  static final class KeepingHandler extends NIOHandler {
    private final GuardedNioFactory closes;

    KeepingHandler(SIPTransactionStack stack, NioTcpMessageProcessor processor, GuardedNioFactory closes) {
      super(stack, processor);
      this.closes = closes;
    }

    /** A connection leaves the table when its channel closes: tell the factory's listener (TLS only). */
    @Override
    protected void removeSocket(SocketChannel socket) {
      super.removeSocket(socket);
      InetAddress remote = socket == null ? null : socket.socket().getInetAddress();
      if (closes == null || remote == null) {
        return;
      }
      // Sends racing for a new connection can make JAIN-SIP open a second one and close the first ("Old socket
      // different than new socket"): that is no lost connection while another one to the same peer is open.
      SocketChannel current = getSocket(makeKey(remote, socket.socket().getPort()));
      if (current == null || current == socket || !current.isOpen()) {
        closes.onOutboundClosed.accept(new InetSocketAddress(remote, socket.socket().getPort()));
      }
    }

    @Override
    public SocketChannel sendBytes(InetAddress sender, InetAddress receiver, int port, String transport,
        byte[] bytes, boolean retry, NioTcpMessageChannel channel) throws IOException {
      return keep(receiver, port, super.sendBytes(sender, receiver, port, transport, bytes, retry, channel));
    }

    @Override
    public SocketChannel createOrReuseSocket(InetAddress address, int port) throws IOException {
      return keep(address, port, super.createOrReuseSocket(address, port));
    }

    private SocketChannel keep(InetAddress address, int port, SocketChannel socket) {
      if (socket != null && socket.isOpen()) {
        String key = makeKey(address, port);
        if (getSocket(key) == null) {
          putSocket(key, socket);
        }
      }
      return socket;
    }
  }

  /**
   * The guard's decision on one inbound connection, for the TCP and the TLS channel alike: admitted, it gets the
   * length check and its place in the per-address count is given back once when it closes; refused, it has no
   * check and closes itself on its first read.
   */
  static final class Admission {
    final ContentLengthScan scan;
    final SipPortGuard guard;
    private final InetAddress from;
    private final AtomicBoolean closed = new AtomicBoolean();

    Admission(SipPortGuard guard, InetAddress from, int maxMessageBytes) {
      this.guard = guard;
      this.from = from;
      this.scan = guard.admitTcp(from) ? new ContentLengthScan(maxMessageBytes) : null;
    }

    /** Puts the channel in JAIN-SIP's table; a refused connection is shut down so that it closes itself. */
    <C extends NioTcpMessageChannel> C register(NIOHandler handler, SocketChannel client, C channel)
        throws IOException {
      handler.putMessageChannel(client, channel);
      if (scan == null) {
        // JAIN-SIP registers the socket with the selector right after this returns, so it cannot be closed
        // here; shut down, it becomes readable at once (end of stream) and the channel closes itself there.
        client.shutdownInput();
        client.shutdownOutput();
      }
      return channel;
    }

    /** The channel closed (called on every close; counts once). */
    void closed() {
      if (closed.compareAndSet(false, true) && scan != null) {
        guard.tcpClosed(from);
      }
    }
  }

  /** One inbound connection; a refused one (no scan) closes itself on its first read. */
  static final class Channel extends NioTcpMessageChannel {
    private final Admission admission;
    private final ContentLengthScan scan;
    private final SipPortGuard guard;

    Channel(Processor p, SocketChannel socket, Admission admission) throws IOException {
      super(p, socket);
      this.messageProcessor = p;
      this.admission = admission;
      this.scan = admission.scan;
      this.guard = admission.guard;
    }

    @Override
    public void readChannel() {
      if (scan == null) {
        close(true, false);
        return;
      }
      super.readChannel();
    }

    @Override
    protected void addBytes(byte[] bytes) throws Exception {
      if (!scan.accept(bytes)) {
        guard.drop(SipPortGuard.Reason.too_large, peerAddress, "TCP message with Content-Length over the cap");
        close(true, false);
        return;
      }
      super.addBytes(bytes);
    }

    @Override
    protected void close(boolean removeSocket, boolean stopKeepAliveTask) {
      super.close(removeSocket, stopKeepAliveTask);
      admission.closed();
    }
  }

  /** The TLS listening point: the same caps, length check and socket-table fix as {@link Processor}. */
  static final class TlsProcessor extends NioTlsMessageProcessor {
    private final SipPortGuard guard;
    private final int maxMessageBytes;

    TlsProcessor(InetAddress ip, SIPTransactionStack stack, int port, SipPortGuard guard, int maxMessageBytes,
        GuardedNioFactory factory) {
      super(ip, stack, port);
      this.guard = guard;
      this.maxMessageBytes = maxMessageBytes;
      nioHandler = new KeepingHandler(stack, this, factory);
    }

    @Override
    public NioTcpMessageChannel createMessageChannel(NioTcpMessageProcessor p, SocketChannel client)
        throws IOException {
      NioTcpMessageChannel known = nioHandler.getMessageChannel(client);
      if (known != null) {
        return known;
      }
      Admission a = new Admission(guard, client.socket().getInetAddress(), maxMessageBytes);
      return a.register(nioHandler, client, new TlsChannel(this, client, a));
    }

    @Override
    public SocketChannel connect(InetSocketAddress to, InetAddress from, int timeoutMs) throws IOException {
      checkConnectThread(to);
      return super.connect(to, from, timeoutMs);
    }
  }

  /**
   * One inbound TLS connection: the length check runs on the decrypted bytes; a refused one closes itself on its
   * first read; a handshake that fails (junk, a refused certificate) closes it in JAIN-SIP's own code.
   */
  static final class TlsChannel extends NioTlsMessageChannel {
    private final Admission admission;
    private final ContentLengthScan scan;
    private final SipPortGuard guard;

    TlsChannel(TlsProcessor p, SocketChannel socket, Admission admission) throws IOException {
      super(p, socket);
      this.admission = admission;
      this.scan = admission.scan;
      this.guard = admission.guard;
    }

    @Override
    public void readChannel() {
      if (scan == null) {
        close(true, false);
        return;
      }
      super.readChannel();
    }

    /** Ciphertext: a handshake that fails (junk, a refused certificate) is counted; JAIN-SIP then closes. */
    @Override
    protected void addBytes(byte[] bytes) throws Exception {
      try {
        super.addBytes(bytes);
      } catch (javax.net.ssl.SSLException e) {
        guard.drop(SipPortGuard.Reason.tls_handshake, peerAddress, "TLS handshake (" + e.getMessage() + ")");
        throw e;
      }
    }

    @Override
    public void addPlaintextBytes(byte[] bytes) throws Exception {
      if (!scan.accept(bytes)) {
        guard.drop(SipPortGuard.Reason.too_large, peerAddress, "TLS message with Content-Length over the cap");
        close(true, false);
        return;
      }
      super.addPlaintextBytes(bytes);
    }

    @Override
    protected void close(boolean removeSocket, boolean stopKeepAliveTask) {
      super.close(removeSocket, stopKeepAliveTask);
      admission.closed();
    }
  }
}
