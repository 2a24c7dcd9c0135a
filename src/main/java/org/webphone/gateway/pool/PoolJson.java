package org.webphone.gateway.pool;

import io.vertx.core.json.JsonObject;

/** The JSON shapes of docs/event-bus.md ("Account pool"). */
final class PoolJson {
  private PoolJson() {
  }

  /** {accountId, token, account:{username, password, authUser, displayName}}: the reply to a lease. */
  static JsonObject grant(PoolState.Grant g) {
    PoolState.Cred c = g.cred();
    return new JsonObject().put("accountId", g.lease().accountId()).put("token", g.lease().token())
        .put("account", new JsonObject().put("username", c.username()).put("password", c.password())
            .put("authUser", c.authUser()).put("displayName", c.displayName()));
  }

  static JsonObject counts(PoolState.Counts c) {
    return new JsonObject().put("total", c.total()).put("free", c.free()).put("leased", c.leased())
        .put("waiting", c.waiting());
  }
}
