package org.webphone.gateway.signalling;

import io.vertx.core.eventbus.EventBus;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.messages.Fields;

/**
 * On the owner: a session's carrier when its WebSocket is held by another node (resume on any node). Frames go
 * as over the bus ({@link BusTransport}: published to the forwarding node's {@code signalling.forward.<id>},
 * commands on {@code signalling.session.<id>.commands}); what a bus client does not need and a socket does is the
 * close: {@link #close} also sends {@code {closeCode, reason}}, so the forwarding node closes the browser's socket
 * with the code the session chose (4001 taken over, 1000, 1013, ...).
 *
 * <p>Event loop of the signalling verticle. Owns the inner transport's commands consumer: {@link #close} and
 * {@link #release} unregister it; {@code onGone} (the owner's registry entry) runs once, on either.
 */
final class ForwardedTransport implements Transport {
  private final EventBus bus;
  private final BusTransport inner;
  private final Runnable onGone;
  private boolean gone;

  ForwardedTransport(EventBus bus, BusTransport inner, Runnable onGone) {
    this.bus = bus;
    this.inner = inner;
    this.onGone = onGone;
  }

  BusTransport inner() {
    return inner;
  }

  @Override
  public void send(JsonObject frame) {
    if (!gone) {
      inner.send(frame);
    }
  }

  /** The session let go of this carrier: the forwarding node closes the browser's socket with {@code code}. */
  @Override
  public void close(short code, String reason) {
    if (!gone) {
      bus.send(inner.events(), new JsonObject().put(Fields.CLOSE_CODE, code).put(Fields.REASON, reason));
      release();
    }
  }

  /** The forwarding node's socket is gone already: nothing to tell it, only the commands consumer to free. */
  void release() {
    if (!gone) {
      gone = true;
      inner.close((short) 1000, "released");
      onGone.run();
    }
  }

  @Override
  public String describe() {
    return "WebSocket on another node (" + inner.events() + ")";
  }
}
