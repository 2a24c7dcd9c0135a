package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.StaticHandler;
import io.vertx.micrometer.backends.BackendRegistries;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IceServerUrls;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * The HTTP side of the node: the phone page (webroot/, with {@link PageHeaders}), {@code /health} and
 * {@code /metrics} ({@link AdminSurface}, which also owns the admin listener), the WebSocket {@code /ws}
 * ({@link WebSocketEndpoint}) and bus sessions ({@link BusEndpoint}). Every connection gets
 * {@code http.headerTimeoutSec} to send a complete request head ({@link HeadDeadline}) and is closed after
 * {@code http.idleTimeoutSec} without a byte either way. It keeps the registry of the node's
 * {@link ClientSession}s (by id and by resume token) and the {@link Gate}; all of it on this verticle's
 * event loop. On stop it refuses new sessions and closes every session (call, line, lease).
 *
 * <p>While the node drains ({@code signalling.drain}, see {@code GatewayNode#drain}) it refuses new sessions
 * and calls with close code {@link #MOVED} (the page connects again, through the load balancer, to a node
 * that is ready), stops consuming bus opens so the cluster sends them elsewhere, moves idle sessions at once
 * and each in-call session once its call ended (line un-REGISTERed first, then the socket closed, then the
 * lease returned); resumes into its own sessions still work.
 */
public final class SignallingVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(SignallingVerticle.class);
  private static final long SWEEP_MS = 1000;
  /** Close code: the node drains, connect again (docs/protocol.md, "Close codes"). */
  static final short MOVED = 4002;
  /** Close code: the same agent signed in again in another session, which took the line (and its call) over. */
  static final short TAKEN_OVER = 4003;

  private HttpServer server;
  private AdminSurface admin;
  private HeadDeadline deadline;
  private GatewayConfig cfg;
  private Gate gate;
  private TurnCredentials turnCredentials;
  private DialPolicy dialPolicy;
  private VerticleRequests replies;
  private SignallingMetrics metrics;
  private RemoteSessions remotes;

  private TokenIds tokenIds;
  private AgentBoard agentBoard;
  private boolean agentsConfigured;
  private final Map<String, ClientSession> sessions = new HashMap<>();
  private final Map<String, ClientSession> byToken = new HashMap<>();
  private boolean draining;
  /** The node drains: sessions move to other nodes (see the class comment). */
  private boolean moving;
  /** Sessions closing: no longer in {@link #sessions}, their line or lease not yet given back. */
  private int leaving;
  private BusEndpoint bus;
  private long sweepTimer = -1;
  private long sweeps;
  /** Milliseconds of the per-frame rate check and of the TURN credentials' expiry: the wall clock, or a test's. */
  private final java.util.function.LongSupplier clockMs;

  public SignallingVerticle() {
    this(System::currentTimeMillis);
  }

  SignallingVerticle(java.util.function.LongSupplier clockMs) {
    this.clockMs = clockMs;
  }

  @Override
  public Future<?> start() {
    cfg = GatewayConfig.from(config());
    gate = new Gate(cfg);
    turnCredentials = new TurnCredentials(IceServerUrls.fromConfig(cfg), cfg.getString("ice.turnSecret"), clockMs);
    dialPolicy = new DialPolicy(cfg);
    replies = new VerticleRequests(vertx, cfg.getLong("limits.requestTimeoutMs"));
    metrics = new SignallingMetrics(config().getString("nodeId"));
    tokenIds = new TokenIds(vertx, cfg.getLong("auth.tokenMaxAgeSec"));
    agentBoard = new AgentBoard(config().getString("nodeId"));
    agentsConfigured = !org.webphone.gateway.config.AccountList.agentsFromConfig(cfg).isEmpty();
    vertx.eventBus().<JsonObject>localConsumer(Addresses.SIGNALLING_STATUS, m -> m.reply(status()));
    vertx.eventBus().<JsonObject>localConsumer(Addresses.SIGNALLING_DRAIN, m -> {
      startMoving();
      m.reply(status());
    });
    bus = new BusEndpoint(this);
    bus.register();
    remotes = new RemoteSessions(this, bus);
    remotes.register();
    WebSocketEndpoint ws = new WebSocketEndpoint(this);
    sweepTimer = vertx.setPeriodic(SWEEP_MS, x -> sweep());

    deadline = new HeadDeadline(vertx, cfg.getLong("http.headerTimeoutSec") * 1000,
        BackendRegistries.getNow(config().getString("nodeId", "")));
    admin = new AdminSurface(vertx, cfg, config().getString("nodeId"));
    PageHeaders headers = new PageHeaders(cfg, gate.origins());
    Router router = Router.router(vertx);
    router.route().handler(deadline::headArrived);
    router.route().handler(headers::security);
    admin.addPublicRoutes(router);
    String webroot = cfg.getString("http.webroot");
    router.route("/*").handler(headers::cors).handler(webrootHandler(webroot));

    HttpServerOptions options = new HttpServerOptions()
        .setHost(cfg.getString("http.host"))
        .setPort(cfg.getInt("http.port"))
        // No h2c upgrade on plain HTTP: browsers never use it, and behind a reverse proxy that passes
        // Upgrade headers it would let a client tunnel past the proxy's rules (h2c smuggling).
        .setHttp2ClearTextEnabled(false)
        // Netty's hard cap is above the limit so that a frame a little too large gets an Error frame
        // (FRAME_TOO_LARGE, socket kept) from WebSocketEndpoint; only far larger ones drop the socket.
        .setMaxWebSocketFrameSize(4 * cfg.getInt("limits.maxFrameBytes"))
        .setMaxWebSocketMessageSize(4 * cfg.getInt("limits.maxFrameBytes"))
        // Any connection, a WebSocket included, silent both ways this long is closed (the page pings every 25 s).
        .setIdleTimeout(cfg.getInt("http.idleTimeoutSec")).setIdleTimeoutUnit(TimeUnit.SECONDS);
    if (!cfg.getString("http.tlsCert").isBlank()) {
      options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(cfg.getString("http.tlsCert")).setKeyPath(cfg.getString("http.tlsKey")));
    }
    return vertx.createHttpServer(options).connectionHandler(deadline::opened).requestHandler(router)
        .webSocketHandshakeHandler(h -> {
          deadline.upgrading(h.localAddress(), h.remoteAddress());
          ws.handshake(h);
        })
        .webSocketHandler(ws::connected).listen().compose(s -> {
          server = s;
          LOG.info("HTTP{} listening on {}:{}", options.isSsl() ? "S" : "", options.getHost(), s.actualPort());
          return admin.listen(options, deadline);
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
    if (remotes != null) {
      remotes.close();
    }
    List<Future<Void>> closing = new ArrayList<>();
    for (ClientSession s : new ArrayList<>(sessions.values())) {
      closing.add(s.close("the gateway is shutting down", (short) 1001));
    }
    return Future.join(closing).transform(x -> server == null ? Future.succeededFuture() : server.close())
        .transform(x -> admin == null ? Future.succeededFuture() : admin.close())
        .onComplete(x -> {
          metrics.close();
          agentBoard.close();
          if (deadline != null) {
            deadline.close();
          }
        });
  }

  /** The node drains: no new session or call here; idle sessions move now, the others after their call. */
  private void startMoving() {
    if (moving || draining) {
      return;
    }
    moving = true;
    bus.stopOpening();
    LOG.info("draining: {} session(s) here; idle ones move now, the others after their call", sessions.size());
    moveIdle();
  }

  private void moveIdle() {
    for (ClientSession s : new ArrayList<>(sessions.values())) {
      s.moveIfIdle();
    }
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

  /**
   * Called by a closing session: it no longer counts anywhere, but it is {@link #leaving} until its line is
   * closed and its lease given back (a drain ends only then: the pool must still be there to take the lease).
   */
  void forget(ClientSession s) {
    if (sessions.remove(s.id()) != null) {
      byToken.remove(s.resumeToken());
      gate.leave(s.clientIp());
      leaving++;
      s.closing().onComplete(x -> leaving--);
    }
  }

  /** The session of {@code agent} on this node, other than {@code other}, that has a call in progress; or null. */
  ClientSession agentInCall(String agent, ClientSession other) {
    if (agent == null) {
      return null;
    }
    for (ClientSession s : sessions.values()) {
      if (s != other && agent.equals(s.agent()) && s.hasCall() && s.phase() != ClientSession.Phase.CLOSING) {
        return s;
      }
    }
    return null;
  }

  /** A takeover that moves a call (docs/pool.md): {@code held} gets {@code t} like a resume; its old page gets 4003. */
  void takeOverCall(ClientSession held, Transport t) {
    agentBoard.takenOver();
    byToken.remove(held.resumeToken());
    held.attach(t, TAKEN_OVER, "taken over: the same agent signed in again in another session");
    byToken.put(held.resumeToken(), held);
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

  /** The node drains: new sessions and calls are refused with {@link #MOVED}; see {@link #startMoving}. */
  boolean moving() {
    return moving;
  }

  Gate gate() {
    return gate;
  }

  TurnCredentials turnCredentials() {
    return turnCredentials;
  }

  DialPolicy dialPolicy() {
    return dialPolicy;
  }

  RemoteSessions remotes() {
    return remotes;
  }

  SignallingMetrics metrics() {
    return metrics;
  }

  TokenIds tokenIds() {
    return tokenIds;
  }

  AgentBoard agentBoard() {
    return agentBoard;
  }

  /** With pool.agents configured a token's sub names an agent's line; without, it is only informational. */
  boolean agentsConfigured() {
    return agentsConfigured;
  }

  VerticleRequests replies() {
    return replies;
  }

  GatewayConfig cfg() {
    return cfg;
  }

  long nowMs() {
    return clockMs.getAsLong();
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
    return new JsonObject().put(Fields.SESSIONS, sessions.size() + leaving).put(Fields.CALLS, calls)
        .put(Fields.DETACHED, detached).put(Fields.FORWARDS, remotes.size())
        .put(Fields.WEB_SOCKETS, metrics.webSocketCounts());
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
    if (moving) {
      moveIdle(); // a session whose call ended without an event, or a detached one whose call ended
    }
    if (++sweeps % 60 == 0) {
      gate.sweep(now);
    }
  }

  /** The port actually bound (tests deploy on port 0). */
  public int actualPort() {
    return server == null ? -1 : server.actualPort();
  }
}
