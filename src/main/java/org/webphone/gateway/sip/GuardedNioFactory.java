package org.webphone.gateway.sip;

import gov.nist.javax.sip.stack.MessageProcessor;
import gov.nist.javax.sip.stack.NIOHandler;
import gov.nist.javax.sip.stack.NioMessageProcessorFactory;
import gov.nist.javax.sip.stack.NioTcpMessageChannel;
import gov.nist.javax.sip.stack.NioTcpMessageProcessor;
import gov.nist.javax.sip.stack.OIOMessageProcessorFactory;
import gov.nist.javax.sip.stack.SIPTransactionStack;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sip.ListeningPoint;

/**
 * JAIN-SIP's NIO transport for TCP (one selector thread per listening point, no thread per connection; idle
 * connections closed by the stack's {@code NIO_MAX_SOCKET_IDLE_TIME} auditor), with the inbound TCP
 * connections guarded: the connection caps of {@link SipPortGuard#admitTcp}, and {@link ContentLengthScan}
 * in front of the parser. Named in {@code gov.nist.javax.sip.MESSAGE_PROCESSOR_FACTORY}; the stack creates
 * it, then {@link SipEndpoint} hands it the guard before any listening point exists.
 *
 * <p>Threads: the processor's methods run on its selector thread; a channel may be closed from the stack's
 * timer thread (idle) or the selector thread. Connections we open toward the PBX are JAIN-SIP's own channels:
 * only the PBX talks on them.
 */
public final class GuardedNioFactory extends NioMessageProcessorFactory {
  private volatile SipPortGuard guard;
  private volatile int maxMessageBytes = 65536;

  /** For JAIN-SIP, which creates the factory by class name. */
  public GuardedNioFactory() {
  }

  void guard(SipPortGuard g, int maxBytes) {
    this.guard = g;
    this.maxMessageBytes = maxBytes;
  }

  @Override
  public MessageProcessor createMessageProcessor(SIPTransactionStack stack, InetAddress ip, int port, String transport)
      throws IOException {
    SipPortGuard g = guard;
    if (g != null && ListeningPoint.TCP.equalsIgnoreCase(transport)) {
      return new Processor(ip, stack, port, g, maxMessageBytes);
    }
    if (ListeningPoint.TLS.equalsIgnoreCase(transport)) {
      // NIO TLS shares the outbound socket-table bug KeepingHandler works around for TCP; TLS stays on the
      // classic transport it had before (a thread per connection), untouched by this change.
      return new OIOMessageProcessorFactory().createMessageProcessor(stack, ip, port, transport);
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
      nioHandler = new KeepingHandler(stack, this);
    }

    @Override
    public NioTcpMessageChannel createMessageChannel(NioTcpMessageProcessor p, SocketChannel client)
        throws IOException {
      NioTcpMessageChannel known = nioHandler.getMessageChannel(client);
      if (known != null) {
        return known;
      }
      InetAddress from = client.socket().getInetAddress();
      boolean admitted = guard.admitTcp(from);
      Channel c = new Channel(this, client, admitted ? new ContentLengthScan(maxMessageBytes) : null,
          admitted ? () -> guard.tcpClosed(from) : () -> { }, guard);
      nioHandler.putMessageChannel(client, c);
      if (!admitted) {
        // JAIN-SIP registers the socket with the selector right after this returns, so it cannot be closed
        // here; shut down, it becomes readable at once (end of stream) and the channel closes itself there.
        client.shutdownInput();
        client.shutdownOutput();
      }
      return c;
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
    KeepingHandler(SIPTransactionStack stack, NioTcpMessageProcessor processor) {
      super(stack, processor);
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

  /** One inbound connection; a refused one (no scan) closes itself on its first read. */
  static final class Channel extends NioTcpMessageChannel {
    private final ContentLengthScan scan;
    private final Runnable onClose;
    private final SipPortGuard guard;
    private final AtomicBoolean closed = new AtomicBoolean();

    Channel(Processor p, SocketChannel socket, ContentLengthScan scan, Runnable onClose, SipPortGuard guard)
        throws IOException {
      super(p, socket);
      this.messageProcessor = p;
      this.scan = scan;
      this.onClose = onClose;
      this.guard = guard;
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
      if (closed.compareAndSet(false, true)) {
        onClose.run();
      }
    }
  }
}
