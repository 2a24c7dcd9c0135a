package org.webphone.gateway.pool;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.AccountList;
import org.webphone.gateway.config.GatewayConfig;

/** The account pool (issue 4 fills in leases, fencing, the cluster-wide map and the waiting line). */
public final class AccountPoolVerticle extends VerticleBase {
  @Override
  public Future<?> start() {
    int total = AccountList.fromConfig(GatewayConfig.from(config())).size();
    vertx.eventBus().<JsonObject>localConsumer(Addresses.POOL_STATUS, m -> m.reply(
        new JsonObject().put("total", total).put("free", total).put("leased", 0).put("waiting", 0)));
    return Future.succeededFuture();
  }
}
