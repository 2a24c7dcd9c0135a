package org.webphone.gateway.signalling;

import io.vertx.core.json.JsonObject;

/** Where a session's server frames go: a WebSocket, or the event bus for sessions opened there. */
interface Transport {
  void send(JsonObject frame);

  /** Closes the carrier (not the session); {@code code} is a WebSocket close code. */
  void close(short code, String reason);

  String describe();
}
