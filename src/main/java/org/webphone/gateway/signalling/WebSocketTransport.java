package org.webphone.gateway.signalling;

import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;

/** Server frames as WebSocket text messages. */
final class WebSocketTransport implements Transport {
  private final ServerWebSocket ws;
  private boolean closed;

  WebSocketTransport(ServerWebSocket ws) {
    this.ws = ws;
  }

  @Override
  public void send(JsonObject frame) {
    if (!closed && !ws.isClosed()) {
      ws.writeTextMessage(frame.encode());
    }
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
