package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.fail;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.ClientWebSocket;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;

/**
 * A signalling verticle on a free loopback port with {@link FakeLowerLayers} below it, WebSocket clients
 * that queue what they receive, and the leak check every test ends with. Tests run on the JUnit thread and
 * wait on queues with a bound; the verticle's event loop is never blocked.
 */
final class Harness implements AutoCloseable {
  static final long WAIT_MS = 5000;
  static final Duration WAIT = Duration.ofMillis(WAIT_MS);

  final Vertx vertx;
  final FakeLowerLayers lower;
  final int port;
  final WebSocketClient wsClient;
  private final List<Client> clients = new ArrayList<>();
  private String deployment;
  private String poolDeployment;
  /** The verticle's rate-check clock: the wall clock until a test stops it; then only the test moves it. */
  private final AtomicLong stoppedAtMs = new AtomicLong(-1);
  private final AtomicLong clockReads = new AtomicLong();

  Harness(Vertx vertx, int accounts, JsonObject overrides) throws Exception {
    this.vertx = vertx;
    this.lower = new FakeLowerLayers(vertx, accounts);
    this.port = Ports.free();
    await(lower.register());
    // Sessions end when their socket closes unless a test asks for a resume grace period; all clients share
    // 127.0.0.1, so the address's share of the pool is lifted unless a test sets it.
    JsonObject o = new JsonObject().put("session", new JsonObject().put("resumeGraceSec", 0))
        .put("limits", new JsonObject().put("accountsPerIp", 1000)).mergeIn(overrides, true);
    JsonObject http = o.getJsonObject("http", new JsonObject()).put("port", port);
    o.put("http", http);
    JsonObject cfg = GatewayConfig.of(o).json().put("nodeId", "test-node");
    if (accounts < 0) {
      poolDeployment = await(vertx.deployVerticle(new org.webphone.gateway.pool.AccountPoolVerticle(),
          new DeploymentOptions().setConfig(cfg)));
    }
    deployment = await(vertx.deployVerticle(new SignallingVerticle(this::clockMs), new DeploymentOptions().setConfig(cfg)));
    wsClient = vertx.createWebSocketClient();
  }

  private long clockMs() {
    clockReads.incrementAndGet();
    long t = stoppedAtMs.get();
    return t < 0 ? System.currentTimeMillis() : t;
  }

  /** Stops the rate-check clock at now; returns how often it was read so far (once per frame received). */
  long stopClock() {
    stoppedAtMs.set(System.currentTimeMillis());
    return clockReads.get();
  }

  void advanceClock(long ms) {
    stoppedAtMs.addAndGet(ms);
  }

  long clockReads() {
    return clockReads.get();
  }

  static <T> T await(Future<T> f) throws Exception {
    return Eventually.result(WAIT, "a reply or completion", f);
  }

  /**
   * A client that says Hello, with {@code hello}'s fields ({@code "token=..."}, {@code "resume=..."}, joined by
   * {@code &}; null: neither).
   */
  Client connect(String hello) throws Exception {
    return connect(hello, null);
  }

  Client connect(String hello, String origin) throws Exception {
    Client c = connect(wsClient, port, hello, origin);
    clients.add(c);
    return c;
  }

  /** A socket with {@code uriQuery} in its URL (the deprecated token form) and {@code headers}, that sends nothing. */
  Client open(String uriQuery, Map<String, String> headers) throws Exception {
    Client c = open(wsClient, port, uriQuery, headers);
    clients.add(c);
    return c;
  }

  /** A WebSocket client of any gateway on 127.0.0.1:{@code port} that says Hello (see {@link #connect(String)}). */
  static Client connect(WebSocketClient wsClient, int port, String hello, String origin) throws Exception {
    Client c = open(wsClient, port, null, origin == null ? Map.of() : Map.of("Origin", origin));
    c.send(hello(hello));
    return c;
  }

  /** A client frame of {@code method}, to be filled in. */
  static JsonObject method(String method) {
    return new JsonObject().put("method", method);
  }

  /** The Hello frame of {@code "token=...&resume=..."}. */
  static JsonObject hello(String fields) {
    JsonObject h = new JsonObject().put("method", "Hello");
    for (String kv : fields == null ? new String[0] : fields.split("&")) {
      int eq = kv.indexOf('=');
      h.put(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return h;
  }

  static Client open(WebSocketClient wsClient, int port, String uriQuery, Map<String, String> headers)
      throws Exception {
    WebSocketConnectOptions o = new WebSocketConnectOptions().setHost("127.0.0.1").setPort(port)
        .setURI("/ws" + (uriQuery == null ? "" : "?" + uriQuery));
    headers.forEach(o::putHeader);
    Client c = new Client();
    ClientWebSocket ws = wsClient.webSocket();
    // Handlers before connecting: the server may speak right after the handshake.
    ws.textMessageHandler(t -> c.frames.add(new JsonObject(t)));
    ws.closeHandler(x -> c.closed = true);
    c.ws = ws;
    await(ws.connect(o));
    return c;
  }

  /** A client that waited until its line is Ready. */
  Client ready() throws Exception {
    Client c = connect(null);
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    return c;
  }

  JsonObject status() throws Exception {
    return await(vertx.eventBus().<JsonObject>request(Addresses.SIGNALLING_STATUS, new JsonObject())).body();
  }

  /** Leased plus waiting at the real pool (0 with the fake one). */
  int realPoolBusy() throws Exception {
    if (poolDeployment == null) {
      return 0;
    }
    JsonObject p = await(vertx.eventBus().<JsonObject>request(Addresses.POOL_STATUS, new JsonObject())).body();
    return p.getInteger("leased") + p.getInteger("waiting");
  }

  /** Nothing left behind: no session, lease, line or media session, a bounded wait for async closes. */
  void assertNothingLeaked() throws Exception {
    Eventually.await(WAIT, "nothing left behind", this::leftBehind, List::isEmpty);
  }

  /** What is still open, one entry per kind; empty when nothing is. */
  private List<String> leftBehind() throws Exception {
    List<String> left = new ArrayList<>();
    int pool = realPoolBusy();
    int sessions = status().getInteger("sessions");
    if (pool != 0) {
      left.add("leased or waiting at the pool: " + pool);
    }
    if (sessions != 0) {
      left.add("sessions: " + sessions);
    }
    if (!lower.leases.isEmpty()) {
      left.add("leases: " + List.copyOf(lower.leases.keySet()));
    }
    if (lower.openLines.get() != 0) {
      left.add("open lines: " + lower.openLines.get());
    }
    if (!lower.mediaSessions.isEmpty()) {
      left.add("media sessions: " + List.copyOf(lower.mediaSessions.keySet()));
    }
    return left;
  }

  @Override
  public void close() throws Exception {
    for (Client c : clients) {
      if (!c.closed) {
        c.ws.close();
      }
    }
    if (deployment != null) {
      await(vertx.undeploy(deployment));
    }
    if (poolDeployment != null) {
      await(vertx.undeploy(poolDeployment));
    }
    await(wsClient.close());
  }

  /** One WebSocket and the frames it received, in order. */
  static final class Client {
    WebSocket ws;
    final LinkedBlockingDeque<JsonObject> frames = new LinkedBlockingDeque<>();
    volatile boolean closed;

    void send(JsonObject frame) {
      ws.writeTextMessage(frame.encode());
    }

    void sendText(String text) {
      ws.writeTextMessage(text);
    }

    /** The next frame of kind {@code event} matching {@code p}; frames before it are skipped. */
    JsonObject await(String event, Predicate<JsonObject> p) throws InterruptedException {
      return next(f -> event.equals(f.getString("event")) && p.test(f), "no " + event, false);
    }

    JsonObject await(String event) throws InterruptedException {
      return await(event, e -> true);
    }

    /**
     * Like {@link #await(String, Predicate)}, but the frames before it stay queued, in order: for events of two
     * calls whose order between them is not fixed (a hold of one crossing the answer of the other).
     */
    JsonObject awaitKeeping(String event, Predicate<JsonObject> p) throws InterruptedException {
      return next(f -> event.equals(f.getString("event")) && p.test(f), "no " + event, true);
    }

    /**
     * The gateway's {@code Answer} for the call; frames before it stay queued, in order, for the next await:
     * the Answer may come after call states (the INVITE or 200 OK does not wait for the browser's ICE agent).
     */
    JsonObject awaitAnswer(String callId) throws InterruptedException {
      return next(f -> "Answer".equals(f.getString("event")) && callId.equals(f.getString("callId")),
          "no Answer for " + callId, true);
    }

    /** Sends {@code frame} with a fresh ref and returns the Ack/Pong or Error answering it. */
    JsonObject request(JsonObject frame) throws InterruptedException {
      String ref = "r" + System.nanoTime();
      send(frame.copy().put("ref", ref));
      // Events that arrived before the answer stay queued, in order, for the next await.
      return next(f -> ref.equals(f.getString("ref")), "no answer to " + frame.getString("method"), true);
    }

    /** The first frame matching within WAIT_MS; the frames before it are dropped, or kept in order. */
    private JsonObject next(Predicate<JsonObject> match, String missing, boolean keepSkipped)
        throws InterruptedException {
      long end = System.currentTimeMillis() + WAIT_MS;
      List<JsonObject> skipped = new ArrayList<>();
      try {
        while (true) {
          long left = end - System.currentTimeMillis();
          JsonObject f = left <= 0 ? null : frames.poll(left, TimeUnit.MILLISECONDS);
          if (f == null) {
            fail(missing + " within " + WAIT_MS + " ms; got " + skipped);
          }
          if (match.test(f)) {
            return f;
          }
          skipped.add(f);
        }
      } finally {
        if (keepSkipped) {
          for (int i = skipped.size() - 1; i >= 0; i--) {
            frames.addFirst(skipped.get(i));
          }
        }
      }
    }

    void awaitClosed() throws InterruptedException {
      Eventually.until(WAIT, "the server to close the WebSocket", () -> closed);
    }
  }
}
