package org.webphone.gateway.signalling;

import io.vertx.core.Vertx;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.internal.http.WebSocketInternal;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server frames as WebSocket text messages, with back-pressure: a client that does not read its socket
 * fills the write queue (Netty's high-water mark, 64 KiB, on top of the kernel's socket buffers), and is then
 * closed with {@link #NOT_READING} instead of being buffered without bound. Event loop only; owns nothing but
 * its socket.
 */
final class WebSocketTransport implements Transport {
  private static final Logger LOG = LoggerFactory.getLogger(WebSocketTransport.class);
  /** Close code for a client that stopped reading its frames (docs/protocol.md, "Close codes"). */
  static final short NOT_READING = 4004;
  /**
   * A client that does not read will not read our close frame either, and Vert.x starts its closing timeout
   * only once that frame is written: after this long the TCP connection is dropped with whatever is queued.
   */
  private static final long FORCE_CLOSE_MS = 2000;

  private final ServerWebSocket ws;
  private final Vertx vertx;
  private final Runnable onNotReading;
  private boolean closed;

  /** {@code onNotReading} runs once, when the socket is closed for a full write queue. */
  WebSocketTransport(ServerWebSocket ws, Vertx vertx, Runnable onNotReading) {
    this.ws = ws;
    this.vertx = vertx;
    this.onNotReading = onNotReading;
  }

  @Override
  public void send(JsonObject frame) {
    if (closed || ws.isClosed()) {
      return;
    }
    if (ws.writeQueueFull()) {
      notReading();
      return;
    }
    ws.writeTextMessage(frame.encode());
  }

  /**
   * Closes the socket when its write queue is full. Also called for the client's WebSocket pings, whose pongs
   * Vert.x writes by itself: a client that pings and never reads fills the queue with our pongs.
   */
  boolean closeIfNotReading() {
    if (!closed && !ws.isClosed() && ws.writeQueueFull()) {
      notReading();
      return true;
    }
    return closed;
  }

  private void notReading() {
    LOG.info("{} does not read its frames (write queue full); closing with {}", describe(), NOT_READING);
    close(NOT_READING, "not reading");
    onNotReading.run();
    vertx.setTimer(FORCE_CLOSE_MS, x -> {
      if (ws instanceof WebSocketInternal wi && wi.channelHandlerContext().channel().isActive()) {
        wi.channelHandlerContext().close();
      }
    });
  }

  @Override
  public void close(short code, String reason) {
    if (!closed) {
      closed = true;
      if (!ws.isClosed()) {
        ws.close(code, reason);
      }
    }
  }

  @Override
  public String describe() {
    return "WebSocket " + ws.remoteAddress();
  }
}
