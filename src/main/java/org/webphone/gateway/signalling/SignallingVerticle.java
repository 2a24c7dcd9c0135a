package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;
import io.vertx.micrometer.PrometheusScrapingHandler;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;

/**
 * The HTTP side of the node: the phone page (webroot/), {@code /health}, {@code /metrics} and the
 * WebSocket {@code /ws} (issue 6).
 */
public final class SignallingVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(SignallingVerticle.class);
  private static final long STATUS_TIMEOUT_MS = 2000;

  private HttpServer server;
  private GatewayConfig cfg;

  @Override
  public Future<?> start() {
    cfg = GatewayConfig.from(config());
    vertx.eventBus().<JsonObject>localConsumer(Addresses.SIGNALLING_STATUS, m -> m.reply(
        new JsonObject().put("sessions", 0).put("calls", 0)));

    Router router = Router.router(vertx);
    router.get("/health").handler(this::health);
    router.get("/metrics").handler(PrometheusScrapingHandler.create(config().getString("nodeId")));
    String webroot = cfg.getString("http.webroot");
    router.route("/*").handler(webrootHandler(webroot));

    HttpServerOptions options = new HttpServerOptions()
        .setHost(cfg.getString("http.host"))
        .setPort(cfg.getInt("http.port"))
        .setMaxWebSocketFrameSize(cfg.getInt("limits.maxFrameBytes"))
        .setMaxWebSocketMessageSize(cfg.getInt("limits.maxFrameBytes"));
    if (!cfg.getString("http.tlsCert").isBlank()) {
      options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(cfg.getString("http.tlsCert")).setKeyPath(cfg.getString("http.tlsKey")));
    }
    return vertx.createHttpServer(options).requestHandler(router).listen().onSuccess(s -> {
      server = s;
      LOG.info("HTTP{} listening on {}:{}", options.isSsl() ? "S" : "", options.getHost(), s.actualPort());
    });
  }

  /** Serves webroot/ from the working directory when present (development), else from the classpath. */
  private static StaticHandler webrootHandler(String webroot) {
    Path dir = Path.of(webroot);
    if (Files.isDirectory(dir)) {
      return StaticHandler.create(io.vertx.ext.web.handler.FileSystemAccess.ROOT, dir.toAbsolutePath().toString())
          .setCachingEnabled(false);
    }
    return StaticHandler.create(webroot);
  }

  @Override
  public Future<?> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** The port actually bound (tests deploy on port 0). */
  public int actualPort() {
    return server == null ? -1 : server.actualPort();
  }

  private void health(RoutingContext rc) {
    var node = vertx.sharedData().<String, String>getLocalMap(GatewayNode.NODE_MAP);
    String state = node.getOrDefault("state", "starting");
    JsonObject body = new JsonObject()
        .put("nodeId", node.get("nodeId"))
        .put("state", state)
        .put("mode", node.get("mode"));
    JsonObject cluster = new JsonObject().put("enabled", vertx.isClustered());
    if (vertx.isClustered() && ((VertxInternal) vertx).clusterManager() instanceof HazelcastClusterManager hz) {
      cluster.put("members", new JsonArray(hz.getNodes()));
      cluster.put("self", hz.getNodeId());
    }
    body.put("cluster", cluster);
    DeliveryOptions opts = new DeliveryOptions().setSendTimeout(STATUS_TIMEOUT_MS);
    Future<JsonObject> pool = status(Addresses.POOL_STATUS, opts);
    Future<JsonObject> sip = status(Addresses.SIP_STATUS, opts);
    Future<JsonObject> media = status(Addresses.MEDIA_STATUS, opts);
    Future<JsonObject> sig = status(Addresses.SIGNALLING_STATUS, opts);
    Future.join(pool, sip, media, sig).onComplete(ar -> {
      body.put("pool", pool.succeeded() ? pool.result().copy().put("leases", (Object) null) : null);
      body.put("sip", sip.succeeded() ? sip.result() : null);
      body.put("media", media.succeeded() ? media.result() : null);
      body.put("sessions", sig.succeeded() ? sig.result().getValue("sessions") : null);
      body.put("calls", sig.succeeded() ? sig.result().getValue("calls") : null);
      JsonObject poolBody = body.getJsonObject("pool");
      if (poolBody != null) {
        poolBody.remove("leases");
      }
      boolean ok = "ready".equals(state) && pool.succeeded() && sip.succeeded() && media.succeeded();
      rc.response().setStatusCode(ok ? 200 : 503)
          .putHeader("content-type", "application/json")
          .putHeader("cache-control", "no-store")
          .end(body.encodePrettily());
    });
  }

  private Future<JsonObject> status(String address, DeliveryOptions opts) {
    return vertx.eventBus().<JsonObject>request(address, new JsonObject(), opts).map(m -> m.body());
  }
}
