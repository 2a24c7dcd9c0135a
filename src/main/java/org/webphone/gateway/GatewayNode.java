package org.webphone.gateway;

import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Deployable;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.NodeFacts;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.media.MediaRelayVerticle;
import org.webphone.gateway.node.NodeOpsVerticle;
import org.webphone.gateway.pool.AccountPoolVerticle;
import org.webphone.gateway.signalling.SignallingVerticle;
import org.webphone.gateway.sip.SipLineVerticle;
import org.webphone.gateway.sip.demo.DemoPbxVerticle;

/**
 * One gateway node: a Vert.x instance (clustered through Hazelcast when {@code cluster.enabled}) with the
 * pool, media, SIP-line and signalling verticles (and the demo PBX when no PBX is configured).
 *
 * <p>Ownership: the node creates and closes the Vert.x instance; each verticle frees what it created in
 * its {@code stop()}. Verticles are stopped in reverse order of start, so signalling drains its sessions
 * (hang up, unregister, return leases) while SIP, media and pool are still there to do it.
 *
 * <p>A drain ({@link #drain}: SIGTERM or the admin request) is the operator's stop: signalling refuses new
 * sessions and moves idle ones to other nodes, calls run to their end, and the node stops by itself once
 * no session is left, or at {@code shutdown.drainLimitSec} (then the calls left end with BYE as in
 * {@link #stop}). Its timers run on Vert.x; the node's own methods may be called from any thread.
 *
 * <p>Node facts other verticles need (id, state, mode) are written to {@link NodeFacts}.
 */
public final class GatewayNode {
  private static final Logger LOG = LoggerFactory.getLogger(GatewayNode.class);
  private static final long DRAIN_POLL_MS = 500;
  /** While draining, the counts are logged when they change and at least this often. */
  private static final long DRAIN_LOG_MS = 5000;

  private final GatewayConfig config;
  private final String nodeId;
  private final Deque<String> deployments = new ConcurrentLinkedDeque<>();
  private volatile Vertx vertx;
  private HazelcastClusterManager clusterManager;
  private Future<Void> started;
  private volatile Future<Void> stopping;
  private final List<String> stopProblems = new CopyOnWriteArrayList<>();
  /** Completes once the node stopped after a drain; null until a drain begins. */
  private Promise<Void> drained;
  private long drainPoll = -1;
  private long drainLimit = -1;
  private String lastDrainCount = "";
  private long lastDrainLogMs;

  public GatewayNode(GatewayConfig config) {
    this.config = config;
    String id = config.getString("node.id");
    this.nodeId = id.isBlank() ? "node-" + UUID.randomUUID().toString().substring(0, 8) : id;
  }

  public String nodeId() {
    return nodeId;
  }

  public Vertx vertx() {
    return vertx;
  }

  /** Starts Vert.x (joining the cluster when enabled) and deploys the verticles in order. */
  public synchronized Future<Void> start() {
    if (started != null) {
      return started;
    }
    started = doStart();
    return started;
  }

  private Future<Void> doStart() {
    VertxOptions options = new VertxOptions()
        .setMetricsOptions(new MicrometerMetricsOptions()
            .setEnabled(true)
            .setRegistryName(nodeId)
            .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true)));
    if (config.getInt("node.eventLoops") > 0) {
      options.setEventLoopPoolSize(config.getInt("node.eventLoops")); // 0: Vert.x's default, 2 per core
    }
    // Netty's epoll transport where it loads (Linux x86-64): no selector wake-up lock between the loops.
    options.setPreferNativeTransport(config.getBoolean("node.nativeTransport"));
    Future<Vertx> vx;
    if (config.getBoolean("cluster.enabled")) {
      System.setProperty("hazelcast.logging.type", "slf4j");
      // A fixed port (cluster.port) is one a firewall between hosts can open; 0 picks a free one.
      options.getEventBusOptions().setHost(config.getString("cluster.host")).setPort(config.getInt("cluster.port"));
      try {
        clusterManager = new HazelcastClusterManager(hazelcastConfig());
      } catch (Exception e) {
        return Future.failedFuture(e);
      }
      vx = Vertx.builder().with(options).withMetrics(new MicrometerMetricsFactory())
          .withClusterManager(clusterManager).buildClustered();
    } else {
      vx = Future.succeededFuture(
          Vertx.builder().with(options).withMetrics(new MicrometerMetricsFactory()).build());
    }
    return vx.compose(v -> {
      vertx = v;
      NodeFacts.of(v).starting(nodeId, config.demoMode());
      LOG.info("node {} starting ({}, {}, {} transport)", nodeId,
          config.getBoolean("cluster.enabled") ? "clustered" : "standalone",
          config.demoMode() ? "embedded demo PBX" : "PBX " + config.pbxHost() + ":" + config.pbxPort(),
          v.isNativeTransportEnabled() ? "native" : "NIO");
      if (config.getBoolean("node.nativeTransport") && !v.isNativeTransportEnabled()) {
        LOG.warn("node.nativeTransport: the native transport did not load, NIO instead: {}",
            String.valueOf(v.unavailableNativeTransportCause()));
      }
      List<Supplier<Deployable>> order = new ArrayList<>();
      order.add(NodeOpsVerticle::new);
      order.add(AccountPoolVerticle::new);
      order.add(MediaRelayVerticle::new);
      if (config.demoMode()) {
        order.add(DemoPbxVerticle::new);
      }
      order.add(SipLineVerticle::new);
      order.add(SignallingVerticle::new);
      Future<Void> chain = ClusterQuorum.awaitPoolQuorum(v, clusterManager, nodeId);
      for (Supplier<Deployable> s : order) {
        chain = chain.compose(x -> deploy(s.get()));
      }
      // The admin surface's drain request (signalling cannot reach the node object itself).
      v.eventBus().<JsonObject>localConsumer(Addresses.NODE_DRAIN, m -> {
        drain();
        m.reply(new JsonObject().put("state", NodeFacts.of(v).state().wire()));
      });
      return chain;
    }).onSuccess(x -> {
      if (stopping != null) {
        return; // a stop came in while starting: never announce ready
      }
      NodeFacts.of(vertx).state(NodeFacts.State.READY);
      LOG.info("node {} ready: http://{}:{}/", nodeId, config.getString("http.host"), config.getInt("http.port"));
    });
  }

  private Future<Void> deploy(Deployable verticle) {
    return vertx.deployVerticle(verticle, new DeploymentOptions().setConfig(config.json().put("nodeId", nodeId)))
        .onSuccess(deployments::push)
        .onFailure(e -> LOG.error("node {}: {} failed to deploy: {}", nodeId, verticle.getClass().getSimpleName(), e.toString()))
        .mapEmpty();
  }

  /**
   * First step of a graceful stop: {@code /health} answers 503 (load balancers stop sending browsers here)
   * and signalling refuses new sessions. {@link #stop()} does this itself; it is separate so that an
   * orchestrator (or a test) can drain before stopping.
   */
  public synchronized void beginDrain() {
    if (vertx != null) {
      NodeFacts.of(vertx).state(NodeFacts.State.DRAINING);
    }
  }

  /**
   * Drains the node (SIGTERM, the admin request): {@code /health} answers 503 {@code draining} at once,
   * signalling refuses new sessions and calls and moves idle sessions (close 4002), each in-call session
   * moves once its call ended; when no session is left (or at {@code shutdown.drainLimitSec}, or on
   * {@link #endDrain}) the node {@link #stop}s. The future completes (as {@link #stop}'s does) once the node
   * stopped. Idempotent; during start it waits for the start to end first.
   */
  public synchronized Future<Void> drain() {
    if (drained != null) {
      return drained.future();
    }
    drained = Promise.promise();
    Future<Void> afterStart = started == null ? Future.succeededFuture() : started.transform(ar -> Future.<Void>succeededFuture());
    afterStart.onComplete(x -> beginDrainSteps());
    return drained.future();
  }

  private synchronized void beginDrainSteps() {
    Vertx v = vertx;
    if (v == null || stopping != null || started == null || started.failed()) {
      stop().onComplete(drained);
      return;
    }
    beginDrain();
    int limit = config.getInt("shutdown.drainLimitSec");
    LOG.info("node {} draining: new sessions go elsewhere, calls run to their end (limit {} s)", nodeId, limit);
    v.eventBus().request(Addresses.SIGNALLING_DRAIN, new JsonObject())
        .onFailure(e -> LOG.warn("node {}: signalling did not take the drain: {}", nodeId, e.toString()));
    drainLimit = v.setTimer(limit * 1000L, t -> endDrain("the drain limit (" + limit + " s)"));
    drainPoll = v.setPeriodic(DRAIN_POLL_MS, t -> v.eventBus().<JsonObject>request(Addresses.SIGNALLING_STATUS,
        new JsonObject()).onSuccess(m -> drainProgress(m.body())));
  }

  private void drainProgress(JsonObject status) {
    int sessions = status.getInteger(Fields.SESSIONS, 0);
    int calls = status.getInteger(Fields.CALLS, 0);
    if (sessions == 0) {
      endDrain("no call and no session left");
      return;
    }
    String count = calls + " call(s), " + sessions + " session(s)";
    long now = System.currentTimeMillis();
    if (!count.equals(lastDrainCount) || now - lastDrainLogMs >= DRAIN_LOG_MS) {
      lastDrainCount = count;
      lastDrainLogMs = now;
      LOG.info("node {} draining: {} still here", nodeId, count);
    }
  }

  /**
   * Ends a drain now (the drain limit, a second SIGTERM, or nothing left): the node {@link #stop}s, which
   * hangs up the calls still up (BYE), unregisters their lines and returns their leases. No-op without a
   * drain.
   */
  public synchronized void endDrain(String why) {
    if (drained == null || stopping != null) {
      return;
    }
    LOG.info("node {} drain ends: {}", nodeId, why);
    Vertx v = vertx;
    if (v != null) {
      v.cancelTimer(drainPoll);
      v.cancelTimer(drainLimit);
    }
    stop().onComplete(drained);
  }

  /**
   * Graceful stop, bounded by {@code shutdown.graceSec} in total: drain, undeploy the verticles in reverse
   * order (signalling hangs up calls, unregisters lines and returns leases while SIP, media and pool are
   * still there), then close Vert.x, which leaves the cluster. A step that overruns the bound is abandoned
   * (logged) and the stop goes on. The returned future always completes once everything was tried: it
   * fails, naming the steps, when a step failed or overran. Calling it again returns the same future;
   * called during start, it waits for the start to end first.
   */
  public synchronized Future<Void> stop() {
    if (stopping != null) {
      return stopping;
    }
    long deadline = System.nanoTime() + Math.max(1, config.getInt("shutdown.graceSec")) * 1_000_000_000L;
    Promise<Void> done = Promise.promise();
    stopping = done.future();
    Future<Void> afterStart = started == null ? Future.succeededFuture() : started.transform(ar -> Future.<Void>succeededFuture());
    afterStart.onComplete(x -> {
      if (vertx == null) {
        done.complete();
        return;
      }
      beginDrain();
      LOG.info("node {} stopping (bound {} s)", nodeId, config.getInt("shutdown.graceSec"));
      Future<Void> chain = Future.succeededFuture();
      while (!deployments.isEmpty()) {
        String id = deployments.pop();
        chain = chain.compose(y -> bounded(vertx.undeploy(id), deadline, "undeploy " + id));
      }
      Vertx v = vertx;
      chain.compose(y -> {
        NodeFacts.of(v).state(NodeFacts.State.STOPPED);
        // Closing also leaves the cluster; give it at least a second even when the verticles used the bound.
        return bounded(v.close(), Math.max(deadline, System.nanoTime() + 1_000_000_000L), "close Vert.x");
      }).onComplete(ar -> {
        if (stopProblems.isEmpty()) {
          LOG.info("node {} stopped", nodeId);
          done.complete();
        } else {
          LOG.warn("node {} stopped with problems: {}", nodeId, stopProblems);
          done.fail(new IllegalStateException("stopped with problems: " + stopProblems));
        }
      });
    });
    return stopping;
  }

  /** {@code f}, or success at {@code deadline} (System.nanoTime) with a warning, whichever comes first. */
  private Future<Void> bounded(Future<Void> f, long deadline, String what) {
    Promise<Void> p = Promise.promise();
    long ms = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
    // A JDK timer, not a Vert.x one: the bound must hold while Vert.x itself is closing.
    CompletableFuture.delayedExecutor(ms, TimeUnit.MILLISECONDS).execute(() -> {
      if (p.tryComplete()) {
        LOG.warn("node {}: {} did not finish within the shutdown bound; going on", nodeId, what);
        stopProblems.add(what + " overran the bound");
      }
    });
    f.onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("node {}: {} failed: {}", nodeId, what, ar.cause().toString());
        stopProblems.add(what + " failed: " + ar.cause());
      }
      p.tryComplete();
    });
    return p.future();
  }

  private Config hazelcastConfig() throws FileNotFoundException {
    String name = config.getString("cluster.config");
    Path file = Path.of(name);
    if (Files.isRegularFile(file)) {
      LOG.info("Hazelcast configuration from file {}", file.toAbsolutePath());
      return new FileSystemXmlConfig(file.toFile());
    }
    LOG.info("Hazelcast configuration {} from the classpath", name);
    return new ClasspathXmlConfig(name);
  }
}
