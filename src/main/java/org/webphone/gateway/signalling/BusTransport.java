package org.webphone.gateway.signalling;

import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * A session driven over the event bus (load tests, integrations): server frames are published to the
 * events address; the commands consumer belongs to this transport and goes away with it.
 */
final class BusTransport implements Transport {
  private final EventBus bus;
  private final String events;
  private MessageConsumer<JsonObject> commands;

  BusTransport(EventBus bus, String events) {
    this.bus = bus;
    this.events = events;
  }

  String events() {
    return events;
  }

  void commands(MessageConsumer<JsonObject> consumer) {
    this.commands = consumer;
  }

  /** Completes when the commands consumer is registered (cluster-wide when clustered). */
  io.vertx.core.Future<Void> ready() {
    return commands == null ? io.vertx.core.Future.succeededFuture() : commands.completion();
  }

  @Override
  public void send(JsonObject frame) {
    bus.publish(events, frame);
  }

  @Override
  public void close(short code, String reason) {
    if (commands != null) {
      commands.unregister();
      commands = null;
    }
  }

  @Override
  public String describe() {
    return "event bus " + events;
  }
}
