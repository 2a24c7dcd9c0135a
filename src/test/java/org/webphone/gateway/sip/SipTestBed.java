package org.webphone.gateway.sip;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.BusRefusals;

/**
 * A real {@link SipLineVerticle} on a free loopback port, plus recorders for what it sends to sessions.
 *
 * <p>Stand-ins, and why: {@code media.session.pbx-sdp} and {@code media.session.direction} are answered by
 * a recorder, because the real media verticle only knows calls created with a browser's WebRTC offer
 * ({@code media.session.create}), which these SIP-level tests do not have (the end-to-end tests run the
 * real chain). {@code pool.account.validate} is a switch ({@link #leaseCurrent}) so that any lease can be
 * made stale; {@link #withDemoPbxAndRealPool()} uses the real pool instead.
 */
final class SipTestBed implements AutoCloseable {
  static final Duration WAIT = Duration.ofSeconds(10);

  final Vertx vertx;
  final int sipPort = Ports.free();
  final GatewayConfig config;
  final List<JsonObject> events = new CopyOnWriteArrayList<>();
  final List<JsonObject> mediaRequests = new CopyOnWriteArrayList<>();
  volatile boolean leaseCurrent = true;
  /** While true, {@code pool.account.validate} is not answered (a pool slower than the session's timeout). */
  volatile boolean holdLeaseChecks;
  private final List<io.vertx.core.eventbus.Message<JsonObject>> heldLeaseChecks = new CopyOnWriteArrayList<>();
  private final List<MessageConsumer<?>> consumers = new ArrayList<>();
  private final long scannersBefore = eventScanners();
  /** How far the node's clock (pool confirmations and their check) runs ahead of System.nanoTime. */
  private final AtomicLong clockAheadNanos = new AtomicLong();

  SipTestBed(JsonObject overrides) throws Exception {
    this(Vertx.vertx(), overrides, false, false);
  }

  /**
   * A bed in demo mode: the real {@link org.webphone.gateway.sip.demo.DemoPbxVerticle} on a free port (pool
   * accounts 1000-1009, password secret-&lt;user&gt;), deployed before the SIP verticle as the node does.
   */
  static SipTestBed withDemoPbx() throws Exception {
    return new SipTestBed(Vertx.vertx(), new JsonObject().put("demo", new JsonObject().put("port", Ports.free())),
        true, false);
  }

  /** Demo mode with the real {@link org.webphone.gateway.pool.AccountPoolVerticle} answering the lease checks. */
  static SipTestBed withDemoPbxAndRealPool() throws Exception {
    return withDemoPbxAndRealPool(Vertx.vertx(), new JsonObject());
  }

  /**
   * Demo mode with the real pool on {@code vertx} (for instance clustered, or with metrics; the bed closes
   * it), {@code overrides} merged into the configuration. The verticles get node id {@value #NODE_ID}.
   */
  static SipTestBed withDemoPbxAndRealPool(Vertx vertx, JsonObject overrides) throws Exception {
    return new SipTestBed(vertx, overrides.copy().put("demo", new JsonObject().put("port", Ports.free())), true, true);
  }

  static final String NODE_ID = "test-node";

  /** A source outside the default {@code pbx.allowedSources} (127.0.0.1): all of 127/8 is loopback on Linux. */
  static final java.net.InetAddress STRANGER = loopback(9);

  private static java.net.InetAddress loopback(int last) {
    try {
      return java.net.InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) last});
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A Vert.x whose Micrometer registry (Prometheus) is named {@value #NODE_ID}, for a bed made with it. */
  static Vertx metricsVertx() {
    return Vertx.builder().with(new io.vertx.core.VertxOptions().setMetricsOptions(
            new io.vertx.micrometer.MicrometerMetricsOptions().setEnabled(true).setRegistryName(NODE_ID)
                .setPrometheusOptions(new io.vertx.micrometer.VertxPrometheusOptions().setEnabled(true))))
        .withMetrics(new io.vertx.micrometer.MicrometerMetricsFactory()).build();
  }

  private SipTestBed(Vertx vertx, JsonObject overrides, boolean demo, boolean realPool) throws Exception {
    this.vertx = vertx;
    JsonObject o = overrides.copy();
    JsonObject sipSection = o.getJsonObject("sip", new JsonObject());
    sipSection.put("port", sipPort);
    sipSection.put("optionsIntervalSec", sipSection.getInteger("optionsIntervalSec", 0));
    o.put("sip", sipSection);
    config = GatewayConfig.of(o);
    fakes(!realPool);
    if (realPool) {
      await(vertx.deployVerticle(new org.webphone.gateway.pool.AccountPoolVerticle(this::nanoTime),
          new DeploymentOptions().setConfig(config.json().put("nodeId", NODE_ID))));
    }
    if (demo) {
      await(vertx.deployVerticle(new org.webphone.gateway.sip.demo.DemoPbxVerticle(),
          new DeploymentOptions().setConfig(config.json())));
    }
    // With a node id the verticle registers its meters (in the registry of a metricsVertx()).
    await(vertx.deployVerticle(new SipLineVerticle(this::nanoTime), new DeploymentOptions().setConfig(
        realPool || vertx.isMetricsEnabled() ? config.json().put("nodeId", NODE_ID) : config.json())));
  }

  private long nanoTime() {
    return System.nanoTime() + clockAheadNanos.get();
  }

  /** Moves the clock of the pool's confirmations and of their check on, as if that much time had passed. */
  void advanceClock(Duration d) {
    clockAheadNanos.addAndGet(d.toNanos());
  }

  /** A bed with {@code overrides} whose SIP verticle, node id {@value #NODE_ID}, has its meters in a registry. */
  static SipTestBed withMetrics(JsonObject overrides) throws Exception {
    return new SipTestBed(metricsVertx(), overrides, false, false);
  }

  /** A bed whose lines register with the PBX on 127.0.0.1:{@code pbxPort}. */
  static SipTestBed withPbx(int pbxPort, JsonObject more) throws Exception {
    JsonObject o = more.copy();
    o.put("pbx", o.getJsonObject("pbx", new JsonObject()).copy().put("host", "127.0.0.1").put("port", pbxPort));
    return new SipTestBed(o);
  }

  private void fakes(boolean fakePool) {
    if (fakePool) {
      consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.POOL_VALIDATE, m -> {
        if (holdLeaseChecks) {
          heldLeaseChecks.add(m);
        } else {
          m.reply(new JsonObject().put("current", leaseCurrent));
        }
      }));
    }
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.MEDIA_PBX_SDP, m -> {
      mediaRequests.add(m.body().copy().put("address", Addresses.MEDIA_PBX_SDP));
      m.reply(new JsonObject().put("sdp", sdp(40000, "sendrecv")));
    }));
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.MEDIA_DIRECTION, m -> {
      mediaRequests.add(m.body().copy().put("address", Addresses.MEDIA_DIRECTION));
      m.reply(new JsonObject().put("sdp", sdp(40000, m.body().getString("direction"))));
    }));
  }

  /** Waits (bounded) until {@code n} lease checks are held. */
  void awaitHeldLeaseChecks(int n) throws InterruptedException {
    Eventually.await(WAIT, n + " held lease checks", heldLeaseChecks::size, c -> c >= n);
  }

  /** Answers the held lease checks ({@link #leaseCurrent}) and stops holding. */
  void answerHeldLeaseChecks() {
    holdLeaseChecks = false;
    for (io.vertx.core.eventbus.Message<JsonObject> m : heldLeaseChecks) {
      m.reply(new JsonObject().put("current", leaseCurrent));
    }
    heldLeaseChecks.clear();
  }

  /** Records every event sent to {@code session.<sessionId>}. */
  void listen(String sessionId) {
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.session(sessionId),
        m -> events.add(m.body().copy().put("session", sessionId))));
  }

  static String sdp(int port, String direction) {
    return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio " + port + " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        + "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=" + direction + "\r\n";
  }

  static JsonObject account(String user, String password) {
    return new JsonObject().put("username", user).put("password", password).put("authUser", user)
        .put("displayName", "User " + user);
  }

  /** sip.line.open for session {@code id} (line id = session id) and waits for the reply. */
  JsonObject open(String id, String user, String password) throws Exception {
    listen(id);
    return request(Addresses.SIP_LINE_OPEN, new JsonObject().put("lineId", id).put("sessionId", id)
        .put("accountId", user).put("token", 1).put("account", account(user, password)));
  }

  JsonObject request(String address, JsonObject body) throws Exception {
    return await(vertx.eventBus().<JsonObject>request(address, body).map(m -> m.body()));
  }

  /** The failure code of a command that must be refused. */
  int refusal(String address, JsonObject body) throws Exception {
    return BusRefusals.failureCode(() -> request(address, body), address + " " + body);
  }

  static <T> T await(Future<T> f) throws Exception {
    return Eventually.result(WAIT, "a reply or completion", f);
  }

  /** Waits (bounded) for an event matching {@code p} and returns it. */
  JsonObject awaitEvent(Predicate<JsonObject> p, String what) throws InterruptedException {
    List<JsonObject> seen = Eventually.await(WAIT, "event " + what, () -> List.copyOf(events),
        l -> l.stream().anyMatch(p));
    return seen.stream().filter(p).findFirst().orElseThrow();
  }

  JsonObject awaitRegistration(String lineId, String state) throws InterruptedException {
    return awaitEvent(e -> "registration".equals(e.getString("event")) && lineId.equals(e.getString("lineId"))
        && state.equals(e.getString("state")), lineId + " " + state);
  }

  JsonObject awaitCallState(String callId, String state) throws InterruptedException {
    return awaitEvent(e -> "callState".equals(e.getString("event")) && callId.equals(e.getString("callId"))
        && state.equals(e.getString("state")), callId + " " + state);
  }

  JsonObject awaitIncoming(String lineId) throws InterruptedException {
    return awaitEvent(e -> "incoming".equals(e.getString("event")) && lineId.equals(e.getString("lineId"))
        && events.stream().noneMatch(x -> "callState".equals(x.getString("event"))
            && e.getString("callId").equals(x.getString("callId")) && isFinal(x)), "incoming on " + lineId);
  }

  private static boolean isFinal(JsonObject e) {
    return org.webphone.gateway.common.CallState.valueOf(e.getString("state")).isFinal();
  }

  List<String> registrationStates(String lineId) {
    return events.stream().filter(e -> "registration".equals(e.getString("event"))
        && lineId.equals(e.getString("lineId"))).map(e -> e.getString("state")).toList();
  }

  List<String> callStates(String callId) {
    return events.stream().filter(e -> "callState".equals(e.getString("event"))
        && callId.equals(e.getString("callId"))).map(e -> e.getString("state")).toList();
  }

  /**
   * What sip.status says is live ({@code lines, registered, calls}); the drop counts are in {@link #dropped},
   * the registrars in {@link #registrars}.
   */
  JsonObject status() throws Exception {
    JsonObject s = request(Addresses.SIP_STATUS, new JsonObject());
    s.remove("dropped");
    s.remove("pbx");
    return s;
  }

  /** sip.status's {@code dropped}: what the SIP port dropped since start, by reason. */
  JsonObject dropped() throws Exception {
    return request(Addresses.SIP_STATUS, new JsonObject()).getJsonObject("dropped");
  }

  /** sip.status's {@code pbx}: the current registrar, whether it is the preferred one, failovers. */
  JsonObject registrars() throws Exception {
    return request(Addresses.SIP_STATUS, new JsonObject()).getJsonObject("pbx");
  }

  static JsonArray accounts(String... users) {
    JsonArray a = new JsonArray();
    for (String u : users) {
      a.add(account(u, "secret-" + u));
    }
    return a;
  }

  /** Closes Vert.x (undeploying the verticles) and fails when a SIP stack thread of this bed outlives it. */
  @Override
  public void close() throws Exception {
    try {
      Eventually.result(15, "Vert.x to close", vertx.close());
    } finally {
      consumers.clear();
    }
    List<String> prefixes = List.of("webphone-sip-" + sipPort, "webphone-demo-" + config.getInt("demo.port"));
    Eventually.await(Duration.ofSeconds(5), "the SIP stack threads of this bed to end after close",
        () -> threadsLeft(prefixes), List::isEmpty);
  }

  /** This bed's SIP stack threads still alive, and JAIN-SIP listener threads beyond those alive before it. */
  private List<String> threadsLeft(List<String> prefixes) {
    List<String> left = new ArrayList<>(Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
        .map(Thread::getName).filter(n -> prefixes.stream().anyMatch(n::startsWith)).toList());
    long scanners = eventScanners();
    if (scanners > scannersBefore) {
      left.add("EventScannerThreads " + scanners + " (before: " + scannersBefore + ")");
    }
    return left;
  }

  /** JAIN-SIP's listener threads; they carry no stack name, so they are counted. */
  private static long eventScanners() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().equals("EventScannerThread")).count();
  }
}
