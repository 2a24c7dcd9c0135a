package org.webphone.gateway.sip.demo;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;

/** The embedded demo PBX, started when no PBX is configured (issue 3). */
public final class DemoPbxVerticle extends VerticleBase {
  @Override
  public Future<?> start() {
    return Future.succeededFuture();
  }
}
