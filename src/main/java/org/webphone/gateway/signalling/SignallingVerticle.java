package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * The HTTP side of the node: the phone page (webroot/), {@code /health}, {@code /metrics}, the WebSocket
 * {@code /ws} ({@link WebSocketEndpoint}) and bus sessions ({@link BusEndpoint}). It keeps the registry
 * of the node's {@link ClientSession}s (by id and by resume token) and the {@link Gate}; all of it on
 * this verticle's event loop. On stop it refuses new sessions and closes every session (call, line, lease).
 */
public final class SignallingVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(SignallingVerticle.class);
  private static final long STATUS_TIMEOUT_MS = 2000;

  private static final long SWEEP_MS = 1000;

  private HttpServer server;
  private GatewayConfig cfg;
  private Gate gate;
  private DialPolicy dialPolicy;
  private Replies replies;
  private SignallingMetrics metrics;
  private final Map<String, ClientSession> sessions = new HashMap<>();
  private final Map<String, ClientSession> byToken = new HashMap<>();
  private boolean draining;
  private long sweepTimer = -1;
  private long sweeps;

  @Override
  public Future<?> start() {
    cfg = GatewayConfig.from(config());
    gate = new Gate(cfg);
    dialPolicy = new DialPolicy(cfg);
    replies = new Replies(vertx, cfg.getLong("limits.requestTimeoutMs"));
    metrics = new SignallingMetrics(config().getString("nodeId"));
    vertx.eventBus().<JsonObject>localConsumer(Addresses.SIGNALLING_STATUS, m -> m.reply(status()));
    new BusEndpoint(this).register();
    WebSocketEndpoint ws = new WebSocketEndpoint(this);
    sweepTimer = vertx.setPeriodic(SWEEP_MS, x -> sweep());

    Router router = Router.router(vertx);
    router.get("/health").handler(this::health);
    router.get("/metrics").handler(PrometheusScrapingHandler.create(config().getString("nodeId")));
    String webroot = cfg.getString("http.webroot");
    router.route("/*").handler(webrootHandler(webroot));

    HttpServerOptions options = new HttpServerOptions()
        .setHost(cfg.getString("http.host"))
        .setPort(cfg.getInt("http.port"))
        // No h2c upgrade on plain HTTP: browsers never use it, and behind a reverse proxy that passes
        // Upgrade headers it would let a client tunnel past the proxy's rules (h2c smuggling).
        .setHttp2ClearTextEnabled(false)
        // Netty's hard cap is above the limit so that a frame a little too large gets an Error frame
        // (FRAME_TOO_LARGE, socket kept) from WebSocketEndpoint; only far larger ones drop the socket.
        .setMaxWebSocketFrameSize(4 * cfg.getInt("limits.maxFrameBytes"))
        .setMaxWebSocketMessageSize(4 * cfg.getInt("limits.maxFrameBytes"));
    if (!cfg.getString("http.tlsCert").isBlank()) {
      options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(cfg.getString("http.tlsCert")).setKeyPath(cfg.getString("http.tlsKey")));
    }
    return vertx.createHttpServer(options).requestHandler(router)
        .webSocketHandshakeHandler(ws::handshake).webSocketHandler(ws::connected).listen().onSuccess(s -> {
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
    draining = true;
    if (sweepTimer >= 0) {
      vertx.cancelTimer(sweepTimer);
    }
    List<Future<Void>> closing = new ArrayList<>();
    for (ClientSession s : new ArrayList<>(sessions.values())) {
      closing.add(s.close("the gateway is shutting down", (short) 1001));
    }
    return Future.join(closing).transform(x -> server == null ? Future.succeededFuture() : server.close())
        .onComplete(x -> metrics.close());
  }

  // ------------------------------------------------------------------ session registry

  /** Admits (sessions per IP) and registers a new session; {@link #start} starts it. */
  ClientSession newSession(String ip) {
    if (draining) {
      throw new ProtocolException(org.webphone.gateway.common.ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
    }
    gate.admit(ip);
    ClientSession s = new ClientSession(this, ip);
    sessions.put(s.id(), s);
    byToken.put(s.resumeToken(), s);
    return s;
  }

  void start(ClientSession s, Transport t) {
    s.start(t);
  }

  ClientSession open(String ip, Transport t) {
    ClientSession s = newSession(ip);
    s.start(t);
    return s;
  }

  /** Gives session {@code s} to a returning client over {@code t}; its resume token changes. */
  void attach(ClientSession s, Transport t) {
    metrics.resumed();
    byToken.remove(s.resumeToken());
    s.attach(t);
    byToken.put(s.resumeToken(), s);
  }

  /** Called by a closing session: it no longer counts anywhere. */
  void forget(ClientSession s) {
    if (sessions.remove(s.id()) != null) {
      byToken.remove(s.resumeToken());
      gate.leave(s.clientIp());
    }
  }

  ClientSession session(String id) {
    return sessions.get(id);
  }

  ClientSession byToken(String token) {
    return token == null ? null : byToken.get(token);
  }

  boolean draining() {
    return draining;
  }

  Gate gate() {
    return gate;
  }

  DialPolicy dialPolicy() {
    return dialPolicy;
  }

  SignallingMetrics metrics() {
    return metrics;
  }

  Replies replies() {
    return replies;
  }

  GatewayConfig cfg() {
    return cfg;
  }

  Vertx vertx() {
    return vertx;
  }

  String nodeId() {
    return config().getString("nodeId", "node");
  }

  private JsonObject status() {
    int calls = 0;
    int detached = 0;
    for (ClientSession s : sessions.values()) {
      calls += s.hasCall() ? 1 : 0;
      detached += s.isDetached() ? 1 : 0;
    }
    return new JsonObject().put(Fields.SESSIONS, sessions.size()).put(Fields.CALLS, calls)
        .put(Fields.DETACHED, detached);
  }

  /** Closes sessions idle for {@code limits.idleSessionSec} (no frame, no call); trims the per-IP windows. */
  private void sweep() {
    long now = System.currentTimeMillis();
    long idleMs = cfg.getLong("limits.idleSessionSec") * 1000;
    for (ClientSession s : new ArrayList<>(sessions.values())) {
      if (!s.isDetached() && !s.hasCall() && now - s.lastSeenMs() > idleMs) {
        s.close("idle for " + cfg.getLong("limits.idleSessionSec") + " s", (short) 1000);
      }
    }
    if (++sweeps % 60 == 0) {
      gate.sweep(now);
    }
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
      // The lease list (accounts and session ids) stays off /health.
      body.put("pool", pool.succeeded() ? withoutLeases(pool.result()) : null);
      body.put("sip", sip.succeeded() ? sip.result() : null);
      body.put("media", media.succeeded() ? media.result() : null);
      body.put("sessions", sig.succeeded() ? sig.result().getValue(Fields.SESSIONS) : null);
      body.put("calls", sig.succeeded() ? sig.result().getValue(Fields.CALLS) : null);
      boolean ok = "ready".equals(state) && pool.succeeded() && sip.succeeded() && media.succeeded();
      rc.response().setStatusCode(ok ? 200 : 503)
          .putHeader("content-type", "application/json")
          .putHeader("cache-control", "no-store")
          .end(body.encodePrettily());
    });
  }

  private static JsonObject withoutLeases(JsonObject poolStatus) {
    JsonObject copy = poolStatus.copy();
    copy.remove("leases");
    return copy;
  }

  private Future<JsonObject> status(String address, DeliveryOptions opts) {
    return vertx.eventBus().<JsonObject>request(address, new JsonObject(), opts).map(m -> m.body());
  }
}
