package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * Signalling's requests to the other verticles (pool, SIP, media) over the event bus, with the configured
 * timeout; failures become {@link ProtocolException}s with stable codes. Immutable.
 */
final class VerticleRequests {
  private final Vertx vertx;
  private final DeliveryOptions options;

  VerticleRequests(Vertx vertx, long timeoutMs) {
    this.vertx = vertx;
    this.options = new DeliveryOptions().setSendTimeout(timeoutMs);
  }

  Future<JsonObject> request(String address, JsonObject body) {
    return vertx.eventBus().<JsonObject>request(address, body, options)
        .map(m -> m.body() == null ? new JsonObject() : m.body())
        .recover(e -> Future.failedFuture(toProtocol(address, e)));
  }

  /**
   * True when {@code e} says a request got no answer in time: the consumer may still carry it out later (a
   * local consumer handles every message it was sent), so the requester must undo it by its id.
   */
  static boolean timedOut(Throwable e) {
    return e instanceof ProtocolException p && p.code() == ErrorCode.TIMEOUT
        || e instanceof ReplyException r && r.failureType() == ReplyFailure.TIMEOUT;
  }

  static ProtocolException toProtocol(String address, Throwable e) {
    if (e instanceof ProtocolException p) {
      return p;
    }
    if (e instanceof ReplyException r) {
      if (r.failureType() == ReplyFailure.TIMEOUT) {
        return new ProtocolException(ErrorCode.TIMEOUT, address + " did not answer in time");
      }
      if (r.failureType() == ReplyFailure.NO_HANDLERS) {
        return new ProtocolException(ErrorCode.INTERNAL, address + " is not available");
      }
      return new ProtocolException(ErrorCode.of(r.failureCode()), String.valueOf(r.getMessage()));
    }
    return new ProtocolException(ErrorCode.INTERNAL, String.valueOf(e.getMessage()));
  }
}
