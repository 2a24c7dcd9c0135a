package org.webphone.gateway;

import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Deployable;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.shareddata.LocalMap;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.FileNotFoundException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.media.MediaRelayVerticle;
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
 * <p>Node facts other verticles need are in the local map {@link #NODE_MAP}: {@code nodeId} and
 * {@code state} (starting, ready, draining, stopped).
 */
public final class GatewayNode {
  private static final Logger LOG = LoggerFactory.getLogger(GatewayNode.class);
  public static final String NODE_MAP = "gateway.node";

  private final GatewayConfig config;
  private final String nodeId;
  private final Deque<String> deployments = new ArrayDeque<>();
  private Vertx vertx;
  private HazelcastClusterManager clusterManager;

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
  public Future<Void> start() {
    VertxOptions options = new VertxOptions()
        .setMetricsOptions(new MicrometerMetricsOptions()
            .setEnabled(true)
            .setRegistryName(nodeId)
            .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true)));
    Future<Vertx> vx;
    if (config.getBoolean("cluster.enabled")) {
      System.setProperty("hazelcast.logging.type", "slf4j");
      options.getEventBusOptions().setHost(config.getString("cluster.host"));
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
      LocalMap<String, String> map = v.sharedData().getLocalMap(NODE_MAP);
      map.put("nodeId", nodeId);
      map.put("state", "starting");
      map.put("mode", config.demoMode() ? "demo" : "pbx");
      LOG.info("node {} starting ({}, {})", nodeId, config.getBoolean("cluster.enabled") ? "clustered" : "standalone",
          config.demoMode() ? "embedded demo PBX" : "PBX " + config.pbxHost() + ":" + config.pbxPort());
      List<Supplier<Deployable>> order = new ArrayList<>();
      order.add(AccountPoolVerticle::new);
      order.add(MediaRelayVerticle::new);
      if (config.demoMode()) {
        order.add(DemoPbxVerticle::new);
      }
      order.add(SipLineVerticle::new);
      order.add(SignallingVerticle::new);
      Future<Void> chain = Future.succeededFuture();
      for (Supplier<Deployable> s : order) {
        chain = chain.compose(x -> deploy(s.get()));
      }
      return chain;
    }).onSuccess(x -> {
      vertx.sharedData().<String, String>getLocalMap(NODE_MAP).put("state", "ready");
      LOG.info("node {} ready: http://{}:{}/", nodeId, config.getString("http.host"), config.getInt("http.port"));
    });
  }

  private Future<Void> deploy(Deployable verticle) {
    return vertx.deployVerticle(verticle, new DeploymentOptions().setConfig(config.json().put("nodeId", nodeId)))
        .onSuccess(deployments::push)
        .mapEmpty();
  }

  /**
   * Graceful stop: state "draining" (health answers 503, no new sessions), verticles undeployed in reverse
   * order, then Vert.x closed (which leaves the cluster). Bounded by {@code shutdown.graceSec} per step.
   */
  public Future<Void> stop() {
    if (vertx == null) {
      return Future.succeededFuture();
    }
    vertx.sharedData().<String, String>getLocalMap(NODE_MAP).put("state", "draining");
    LOG.info("node {} draining", nodeId);
    long boundMs = Math.max(1, config.getInt("shutdown.graceSec")) * 1000L;
    Future<Void> chain = Future.succeededFuture();
    while (!deployments.isEmpty()) {
      String id = deployments.pop();
      chain = chain.compose(x -> bounded(vertx.undeploy(id), boundMs, "undeploy " + id));
    }
    Vertx v = vertx;
    return chain.eventually(() -> {
      v.sharedData().<String, String>getLocalMap(NODE_MAP).put("state", "stopped");
      return v.close();
    }).onComplete(ar -> LOG.info("node {} stopped", nodeId));
  }

  private Future<Void> bounded(Future<Void> f, long ms, String what) {
    Promise<Void> p = Promise.promise();
    long timer = vertx.setTimer(ms, t -> {
      if (p.tryComplete()) {
        LOG.warn("{} did not finish within {} ms; going on", what, ms);
      }
    });
    f.onComplete(ar -> {
      vertx.cancelTimer(timer);
      if (ar.failed()) {
        LOG.warn("{} failed: {}", what, ar.cause().toString());
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
