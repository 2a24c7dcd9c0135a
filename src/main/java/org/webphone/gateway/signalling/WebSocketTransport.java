package org.webphone.gateway.signalling;

import io.vertx.core.Vertx;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.internal.http.WebSocketInternal;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server frames as WebSocket text messages, with back-pressure. The write queue is full when Netty holds
 * more than its high-water mark (64 KiB) on top of the kernel's socket buffers, i.e. the client has left a lot
 * unread. A short burst can get there too (a flood of pings answered within one read), so a full queue starts a
 * congestion: it ends when the queue drains; if instead {@link #CONGESTION_BYTES} more are written, or it lasts
 * {@link #CONGESTION_MS}, the client is not reading and the socket is closed with {@link #NOT_READING}. So what
 * one socket can make the node hold is bounded: 64 KiB + {@code CONGESTION_BYTES} + the kernel's buffers.
 *
 * <p>Event loop only; owns its socket and its congestion timer (cancelled on drain and on close).
 */
final class WebSocketTransport implements Transport {
  private static final Logger LOG = LoggerFactory.getLogger(WebSocketTransport.class);
  /** Close code for a client that stopped reading its frames (docs/protocol.md, "Close codes"). */
  static final short NOT_READING = 4004;
  static final long CONGESTION_BYTES = 64 * 1024;
  static final long CONGESTION_MS = 5000;
  /**
   * A client that does not read will not read our close frame either, and Vert.x starts its closing timeout
   * only once that frame is written: after this long the TCP connection is dropped with whatever is queued.
   */
  private static final long FORCE_CLOSE_MS = 2000;

  private final ServerWebSocket ws;
  private final Vertx vertx;
  private final Runnable onNotReading;
  private boolean closed;
  /** Bytes written since the queue was found full; -1 when it is not. */
  private long congestedBytes = -1;
  private long congestionTimer = -1;

  /** {@code onNotReading} runs once, when the socket is closed for a client that does not read. */
  WebSocketTransport(ServerWebSocket ws, Vertx vertx, Runnable onNotReading) {
    this.ws = ws;
    this.vertx = vertx;
    this.onNotReading = onNotReading;
    ws.drainHandler(x -> endCongestion());
  }

  @Override
  public void send(JsonObject frame) {
    if (closed || ws.isClosed()) {
      return;
    }
    String text = frame.encode();
    if (!notReading(text.length())) {
      ws.writeTextMessage(text);
    }
  }

  /**
   * The client sent a WebSocket ping, which Vert.x has answered with a pong by itself: the pong counts toward
   * the congestion like our own frames. True when this socket is (now) closed.
   */
  boolean pinged(int payloadBytes) {
    return closed || ws.isClosed() || notReading(payloadBytes + 2L);
  }

  /** Accounts {@code bytes} about to be queued; closes the socket and returns true when the client does not read. */
  private boolean notReading(long bytes) {
    if (!ws.writeQueueFull()) {
      endCongestion();
      return false;
    }
    if (congestedBytes < 0) {
      congestedBytes = 0;
      congestionTimer = vertx.setTimer(CONGESTION_MS, x -> {
        congestionTimer = -1;
        if (!closed && !ws.isClosed() && ws.writeQueueFull()) {
          cut("for " + CONGESTION_MS + " ms");
        }
      });
    }
    congestedBytes += bytes;
    if (congestedBytes > CONGESTION_BYTES) {
      cut(congestedBytes + " bytes more");
      return true;
    }
    return false;
  }

  private void endCongestion() {
    congestedBytes = -1;
    if (congestionTimer >= 0) {
      vertx.cancelTimer(congestionTimer);
      congestionTimer = -1;
    }
  }

  private void cut(String how) {
    LOG.info("{} does not read its frames (write queue full {}); closing with {}", describe(), how, NOT_READING);
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
      endCongestion();
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
