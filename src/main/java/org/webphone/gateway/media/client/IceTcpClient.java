package org.webphone.gateway.media.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The active side of an ICE-TCP connection (RFC 6544 {@code tcptype active}) for a {@link SyntheticBrowser}:
 * one blocking socket to the gateway's passive candidate, every datagram framed by a 2-byte length (RFC 4571).
 * Writes come from any thread (serialised here); a thread of its own, {@code test-browser-rx-tcp}, reads frames
 * and hands each to the browser's handler as if it were a datagram from the gateway. Closed with the browser.
 */
final class IceTcpClient implements AutoCloseable {
  private final SocketChannel socket;
  private final InetSocketAddress gateway;
  private final Thread reader;
  private final ByteBuffer header = ByteBuffer.allocate(2);
  private final ByteBuffer[] frame = new ByteBuffer[2];

  IceTcpClient(InetSocketAddress gateway, ClientIoLoop.Handler handler) throws IOException {
    this.gateway = gateway;
    socket = SocketChannel.open(gateway);
    socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
    reader = new Thread(() -> read(handler), "test-browser-rx-tcp");
    reader.setDaemon(true);
    reader.start();
  }

  /** Writes {@code data} (position..limit) as one frame, whole; blocking. */
  synchronized boolean send(ByteBuffer data) throws IOException {
    int len = data.remaining();
    header.clear();
    header.put((byte) (len >> 8)).put((byte) len).flip();
    frame[0] = header;
    frame[1] = data;
    while (data.hasRemaining() || header.hasRemaining()) {
      socket.write(frame);
    }
    return true;
  }

  private void read(ClientIoLoop.Handler handler) {
    ByteBuffer len = ByteBuffer.allocate(2);
    ByteBuffer body = ByteBuffer.allocate(65535);
    try {
      while (true) {
        len.clear();
        fill(len);
        body.clear().limit((len.get(0) & 0xFF) << 8 | (len.get(1) & 0xFF));
        fill(body);
        handler.onDatagram(body.array(), body.limit(), gateway);
      }
    } catch (IOException closed) {
      // the browser or the gateway closed the connection
    }
  }

  private void fill(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (socket.read(b) < 0) {
        throw new IOException("end of stream");
      }
    }
  }

  @Override
  public void close() {
    try {
      socket.close();
      reader.join(2000);
    } catch (IOException ignored) {
      // already closed
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
