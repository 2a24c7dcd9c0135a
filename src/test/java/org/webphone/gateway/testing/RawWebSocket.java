package org.webphone.gateway.testing;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A WebSocket client written on a bare socket, for the attack driver: it binds a chosen source address,
 * can send any frame at any rate (text, binary, ping, masked as a client must), can stop reading
 * altogether, and shows exactly what the server did. One thread writes; one thread (possibly the same)
 * reads. Close it to free the socket.
 */
public final class RawWebSocket implements AutoCloseable {
  public static final int TEXT = 1;
  public static final int BINARY = 2;
  public static final int CLOSE = 8;
  public static final int PING = 9;

  private final SocketChannel ch;
  private final ByteBuffer in = ByteBuffer.allocate(1 << 17).flip();

  private RawWebSocket(SocketChannel ch) {
    this.ch = ch;
  }

  /**
   * Connects from {@code local} to {@code server} and completes the opening handshake on {@code path};
   * {@code receiveBuffer} &gt; 0 sets a small SO_RCVBUF (a client that never reads fills it sooner).
   */
  public static RawWebSocket connect(InetAddress local, InetSocketAddress server, String path, int receiveBuffer)
      throws IOException {
    SocketChannel ch = SocketChannel.open();
    try {
      if (receiveBuffer > 0) {
        ch.setOption(StandardSocketOptions.SO_RCVBUF, receiveBuffer);
      }
      ch.bind(new InetSocketAddress(local, 0));
      ch.socket().connect(server, 5000);
      ch.socket().setSoTimeout(10_000);
      String key = Base64.getEncoder().encodeToString(randomBytes(16));
      String req = "GET " + path + " HTTP/1.1\r\nHost: " + server.getAddress().getHostAddress() + ":" + server.getPort()
          + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
          + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
      ch.write(ByteBuffer.wrap(req.getBytes(StandardCharsets.US_ASCII)));
      RawWebSocket ws = new RawWebSocket(ch);
      String head = ws.readHead();
      if (!head.startsWith("HTTP/1.1 101")) {
        throw new IOException("no WebSocket upgrade: " + head.lines().findFirst().orElse(""));
      }
      return ws;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    ThreadLocalRandom.current().nextBytes(b);
    return b;
  }

  private String readHead() throws IOException {
    StringBuilder sb = new StringBuilder();
    while (!sb.toString().endsWith("\r\n\r\n")) {
      sb.append((char) (readByte() & 0xFF));
      if (sb.length() > 8192) {
        throw new IOException("handshake response too long");
      }
    }
    return sb.toString();
  }

  private byte readByte() throws IOException {
    if (!in.hasRemaining()) {
      in.clear();
      // Through the socket's stream so that SO_TIMEOUT bounds the wait.
      int n = ch.socket().getInputStream().read(in.array(), 0, in.capacity());
      if (n < 0) {
        in.limit(0);
        throw new EOFException("closed by the server");
      }
      in.limit(n);
    }
    return in.get();
  }

  /** Sends one masked frame (FIN set); blocks while the socket's send buffer is full. */
  public void send(int opcode, byte[] payload) throws IOException {
    int len = payload.length;
    ByteBuffer f = ByteBuffer.allocate(14 + len);
    f.put((byte) (0x80 | opcode));
    if (len < 126) {
      f.put((byte) (0x80 | len));
    } else if (len < 65536) {
      f.put((byte) (0x80 | 126)).putShort((short) len);
    } else {
      f.put((byte) (0x80 | 127)).putLong(len);
    }
    byte[] mask = randomBytes(4);
    f.put(mask);
    for (int i = 0; i < len; i++) {
      f.put((byte) (payload[i] ^ mask[i & 3]));
    }
    f.flip();
    while (f.hasRemaining()) {
      ch.write(f);
    }
  }

  public void sendText(String text) throws IOException {
    send(TEXT, text.getBytes(StandardCharsets.UTF_8));
  }

  /** A frame the server sent: its opcode and payload (a close frame's payload starts with the code). */
  public record Frame(int opcode, byte[] payload) {
    public String text() {
      return new String(payload, StandardCharsets.UTF_8);
    }

    /** The close code of a close frame, or -1. */
    public int closeCode() {
      return opcode == CLOSE && payload.length >= 2 ? ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF) : -1;
    }
  }

  /** Reads the next frame (waits up to {@code timeoutMs}); EOFException when the server closed the socket. */
  public Frame read(int timeoutMs) throws IOException {
    ch.socket().setSoTimeout(timeoutMs);
    int b0 = readByte() & 0xFF;
    int b1 = readByte() & 0xFF;
    long len = b1 & 0x7F;
    if (len == 126) {
      len = ((readByte() & 0xFF) << 8) | (readByte() & 0xFF);
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) {
        len = (len << 8) | (readByte() & 0xFF);
      }
    }
    if (len > 1 << 24) {
      throw new IOException("server frame of " + len + " bytes");
    }
    byte[] payload = new byte[(int) len];
    for (int i = 0; i < len; i++) {
      payload[i] = readByte();
    }
    return new Frame(b0 & 0x0F, payload);
  }

  /** The socket, for a caller that polls many idle ones without a thread each. */
  public SocketChannel channel() {
    return ch;
  }

  @Override
  public void close() {
    try {
      ch.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }
}
