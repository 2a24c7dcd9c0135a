package org.webphone.gateway.media;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.Addresses;

/** WebRTC to RTP media relay (issue 5). */
public final class MediaRelayVerticle extends VerticleBase {
  @Override
  public Future<?> start() {
    vertx.eventBus().<JsonObject>localConsumer(Addresses.MEDIA_STATUS, m -> m.reply(
        new JsonObject().put("sessions", 0)));
    return Future.succeededFuture();
  }
}
