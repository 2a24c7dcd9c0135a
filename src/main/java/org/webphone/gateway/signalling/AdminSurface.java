package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.HostAndPort;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.micrometer.PrometheusScrapingHandler;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.NodeFacts;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IpRanges;

/**
 * The operator's HTTP surface: the full {@code /health} (state, mode, counts, cluster members; never a
 * session id, lease or token) and {@code /metrics} (Prometheus). Served
 * <ul>
 *   <li>on {@code http.adminPort}, a second listener bound to {@code http.adminHost} (loopback by default),
 *       which answers only requests whose {@code Host} is an IP address, {@code localhost} or the admin host
 *       (a DNS-rebinding page names its own host), and asks for the token too when one is configured;</li>
 *   <li>on the public port only with {@code Authorization: Bearer <http.adminToken>} (compared in constant
 *       time); without a token configured the public {@code /metrics} does not exist (404).</li>
 * </ul>
 * The public {@code /health} without a token answers only {@code {"state"}}, 200 when ready and 503 otherwise,
 * for load balancers. {@code POST /admin/drain} (same rules as {@code /metrics}) starts the node's drain, as
 * SIGTERM does, and answers 202 {@code {"state": "draining"}}.
 *
 * <p>Runs on the signalling verticle's event loop; owns the admin listener, which {@link #close} closes.
 */
final class AdminSurface {
  private static final Logger LOG = LoggerFactory.getLogger(AdminSurface.class);
  private static final long STATUS_TIMEOUT_MS = 2000;
  static final String DRAIN_PATH = "/admin/drain";

  private final Vertx vertx;
  private final GatewayConfig cfg;
  private final String nodeId;
  /** SHA-256 of the token, or null when none is configured: the digests compare in constant time. */
  private final byte[] tokenDigest;
  private HttpServer server;

  AdminSurface(Vertx vertx, GatewayConfig cfg, String nodeId) {
    this.vertx = vertx;
    this.cfg = cfg;
    this.nodeId = nodeId;
    String token = cfg.getString("http.adminToken");
    this.tokenDigest = token.isEmpty() ? null : sha256(token);
  }

  /** {@code /health} and {@code /metrics} on the public router. */
  void addPublicRoutes(Router router) {
    router.get("/health").handler(rc -> {
      if (tokenDigest != null && rc.request().getHeader("Authorization") != null) {
        if (authorized(rc)) {
          health(rc, true);
        }
        return;
      }
      health(rc, false);
    });
    Handler<RoutingContext> scrape = PrometheusScrapingHandler.create(nodeId);
    router.get("/metrics").handler(rc -> {
      if (tokenDigest == null) {
        rc.response().setStatusCode(404).end();
      } else if (authorized(rc)) {
        scrape.handle(rc);
      }
    });
    router.post(DRAIN_PATH).handler(rc -> {
      if (tokenDigest == null) {
        rc.response().setStatusCode(404).end();
      } else if (authorized(rc)) {
        drain(rc);
      }
    });
  }

  /** Asks the node to drain ({@code gateway.drain}); 202 with the node's state, 503 when no node answers. */
  private void drain(RoutingContext rc) {
    if (rc.request().getHeader("Origin") != null) {
      // A browser's cross-site form POST to the loopback admin port carries an Origin; an operator's curl does not.
      rc.response().setStatusCode(403).end();
      return;
    }
    LOG.info("drain requested over HTTP by {}", rc.request().remoteAddress());
    vertx.eventBus().<JsonObject>request(Addresses.NODE_DRAIN, new JsonObject(),
        new DeliveryOptions().setSendTimeout(STATUS_TIMEOUT_MS)).onComplete(ar -> rc.response()
        .setStatusCode(ar.succeeded() ? 202 : 503).putHeader("content-type", "application/json")
        .putHeader("cache-control", "no-store")
        .end(ar.succeeded() ? ar.result().body().encode() : new JsonObject().put("error", "no node to drain").encode()));
  }

  /** Opens the admin listener when {@code http.adminPort} is set; {@code base} supplies the timeouts. */
  Future<Void> listen(HttpServerOptions base, HeadDeadline deadline) {
    int port = cfg.getInt("http.adminPort");
    if (port == 0) {
      return Future.succeededFuture();
    }
    Router router = Router.router(vertx);
    router.route().handler(deadline::headArrived);
    router.route().handler(rc -> {
      rc.response().putHeader("X-Content-Type-Options", "nosniff").putHeader("Cache-Control", "no-store");
      if (!hostAllowed(rc.request().authority())) {
        // 421: this listener does not serve that name (what a DNS-rebinding page asks for).
        rc.response().setStatusCode(421).end();
      } else if (tokenDigest == null || authorized(rc)) {
        rc.next();
      }
    });
    router.get("/health").handler(rc -> health(rc, true));
    router.get("/metrics").handler(PrometheusScrapingHandler.create(nodeId));
    router.post(DRAIN_PATH).handler(this::drain);
    HttpServerOptions options = new HttpServerOptions().setHost(cfg.getString("http.adminHost")).setPort(port)
        .setHttp2ClearTextEnabled(false)
        .setIdleTimeout(base.getIdleTimeout()).setIdleTimeoutUnit(base.getIdleTimeoutUnit());
    return vertx.createHttpServer(options).connectionHandler(deadline::opened).requestHandler(router).listen()
        .onSuccess(s -> {
          server = s;
          LOG.info("admin surface (full /health, /metrics) on http://{}:{}/{}", options.getHost(), s.actualPort(),
              tokenDigest == null ? "" : " (token required)");
        }).mapEmpty();
  }

  Future<Void> close() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** True when the request carries the admin token; otherwise answers 401 itself. */
  private boolean authorized(RoutingContext rc) {
    String auth = rc.request().getHeader("Authorization");
    boolean ok = tokenDigest != null && auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)
        && MessageDigest.isEqual(tokenDigest, sha256(auth.substring(7).trim()));
    if (!ok) {
      rc.response().setStatusCode(401).putHeader("WWW-Authenticate", "Bearer realm=\"webphone admin\"").end();
    }
    return ok;
  }

  /** An IP address, localhost or the configured admin host: never a name a stranger's DNS answers for. */
  private boolean hostAllowed(HostAndPort authority) {
    if (authority == null) {
      return true; // HTTP/1.0 without Host: not a browser
    }
    String host = authority.host().toLowerCase(Locale.ROOT);
    return IpRanges.literal(host) != null || host.equals("localhost")
        || host.equals(cfg.getString("http.adminHost").toLowerCase(Locale.ROOT));
  }

  private void health(RoutingContext rc, boolean full) {
    NodeFacts node = NodeFacts.of(vertx);
    NodeFacts.State state = node.state();
    DeliveryOptions opts = new DeliveryOptions().setSendTimeout(STATUS_TIMEOUT_MS);
    // Counts only: the pool's full status lists leases (accounts, session ids, tokens) and the waiting line.
    Future<JsonObject> pool = status(Addresses.POOL_STATUS, new JsonObject().put(Fields.LEASES, false), opts);
    Future<JsonObject> sip = status(Addresses.SIP_STATUS, new JsonObject(), opts);
    Future<JsonObject> media = status(Addresses.MEDIA_STATUS, new JsonObject(), opts);
    // The session counts are shown, not judged: only the full health asks for them.
    Future<JsonObject> sig = full ? status(Addresses.SIGNALLING_STATUS, new JsonObject(), opts)
        : Future.succeededFuture(new JsonObject());
    Future.join(pool, sip, media, sig).onComplete(ar -> {
      boolean ok = state == NodeFacts.State.READY && pool.succeeded() && sip.succeeded() && media.succeeded();
      JsonObject body = new JsonObject().put("state", state.wire());
      if (full) {
        body.put("nodeId", node.nodeId()).put("mode", node.mode()).put("cluster", cluster())
            .put("pool", pool.succeeded() ? pool.result() : null)
            .put("sip", sip.succeeded() ? sip.result() : null)
            .put("media", media.succeeded() ? media.result() : null)
            .put("sessions", sig.succeeded() ? sig.result().getValue(Fields.SESSIONS) : null)
            .put("calls", sig.succeeded() ? sig.result().getValue(Fields.CALLS) : null)
            .put("forwards", sig.succeeded() ? sig.result().getValue(Fields.FORWARDS) : null);
      }
      rc.response().setStatusCode(ok ? 200 : 503)
          .putHeader("content-type", "application/json")
          .putHeader("cache-control", "no-store")
          .end(full ? body.encodePrettily() : body.encode());
    });
  }

  private JsonObject cluster() {
    JsonObject cluster = new JsonObject().put("enabled", vertx.isClustered());
    if (vertx.isClustered() && ((VertxInternal) vertx).clusterManager() instanceof HazelcastClusterManager hz) {
      cluster.put("members", new JsonArray(hz.getNodes()));
      cluster.put("self", hz.getNodeId());
    }
    return cluster;
  }

  private Future<JsonObject> status(String address, JsonObject query, DeliveryOptions opts) {
    return vertx.eventBus().<JsonObject>request(address, query, opts).map(m -> m.body());
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
    }
  }
}
