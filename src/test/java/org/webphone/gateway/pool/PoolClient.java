package org.webphone.gateway.pool;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.BusRefusals;

/** Test helper: talks to a node's pool verticle over the event bus, as signalling does. */
final class PoolClient {
  private final Vertx vertx;

  PoolClient(Vertx vertx) {
    this.vertx = vertx;
  }

  /** A node config: defaults plus {@code pool} overrides. */
  static JsonObject config(String nodeId, JsonObject pool) {
    return GatewayConfig.of(new JsonObject().put("pool", pool)).json().put("nodeId", nodeId);
  }

  /** A pool section with accounts {@code prefix}{from}..{@code prefix}{to}. */
  static JsonObject range(String prefix, int from, int to) {
    return new JsonObject().put("range", new JsonObject().put("prefix", prefix).put("from", from).put("to", to)
        .put("passwordTemplate", "pw-{user}"));
  }

  Future<JsonObject> request(String address, JsonObject body) {
    return vertx.eventBus().<JsonObject>request(address, body, new DeliveryOptions().setSendTimeout(10_000))
        .map(m -> m.body());
  }

  JsonObject call(String address, JsonObject body) {
    try {
      return request(address, body).await(15, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError(address + " did not answer", e);
    }
  }

  /** The failure code of a request that must fail; an AssertionError when it succeeds. */
  int failureCode(String address, JsonObject body) throws Exception {
    return BusRefusals.failureCode(() -> call(address, body), address + " " + body);
  }

  JsonObject lease(String sessionId) {
    return call(Addresses.POOL_LEASE, new JsonObject().put("sessionId", sessionId).put("nodeId", "test"));
  }

  JsonObject release(JsonObject lease) {
    return call(Addresses.POOL_RELEASE, new JsonObject().put("accountId", lease.getString("accountId"))
        .put("token", lease.getLong("token")));
  }

  boolean current(JsonObject lease) {
    return call(Addresses.POOL_VALIDATE, new JsonObject().put("accountId", lease.getString("accountId"))
        .put("token", lease.getLong("token"))).getBoolean("current");
  }

  JsonObject status() {
    return call(Addresses.POOL_STATUS, new JsonObject());
  }
}
