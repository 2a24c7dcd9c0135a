package org.webphone.gateway.pool;

import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.messages.Fields;

/** The JSON shapes of docs/event-bus.md ("Account pool"). */
final class PoolJson {
  private PoolJson() {
  }

  /** {accountId, token, account:{username, password, authUser, displayName}}: the reply to a lease. */
  static JsonObject grant(PoolState.Grant g) {
    PoolState.Cred c = g.cred();
    return new JsonObject().put(Fields.ACCOUNT_ID, g.lease().accountId()).put(Fields.TOKEN, g.lease().token())
        .put(Fields.ACCOUNT, new JsonObject().put(Fields.USERNAME, c.username()).put(Fields.PASSWORD, c.password())
            .put(Fields.AUTH_USER, c.authUser()).put(Fields.DISPLAY_NAME, c.displayName()));
  }

  static JsonObject counts(PoolState.Counts c) {
    return new JsonObject().put(Fields.TOTAL, c.total()).put(Fields.FREE, c.free()).put(Fields.LEASED, c.leased())
        .put(Fields.WAITING, c.waiting());
  }
}
