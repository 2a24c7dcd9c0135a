package org.webphone.gateway.node;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.NodeFacts;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.common.messages.Fields;

/**
 * Node-level operations, deployed first and stopped last so it answers while the node drains:
 * <ul>
 *   <li>{@code gateway.node.<nodeId>} (cluster-wide): who is this node and in what state; with
 *       {@code {peer}} it also asks that node over the bus, a probe of node-to-node reachability.</li>
 *   <li>In a cluster the same consumer also answers on {@code gateway.node.<cluster member id>}, so a
 *       member that only knows the member list (the load tool) can ask every node.</li>
 *   <li>The set-up latency the gateway adds ({@link SetupLatency}): its timers are registered here, so
 *       /metrics shows them from the start, and removed when the node stops; {@code {setupLatency: true}}
 *       adds their reading to the reply.</li>
 *   <li>Prometheus gauges {@code webphone_node_*} (sessions, calls, lines, media, ready, members) fed by
 *       polling the verticles' status addresses, so scraping {@code /metrics} never waits on the event bus.
 *       The pool exports its own {@code webphone_pool_*}; names here never overlap a verticle's own.</li>
 * </ul>
 */
public final class NodeOpsVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(NodeOpsVerticle.class);
  static final long POLL_MS = 2000;

  /** Gauge name → status address and field it is read from. */
  private static final String[][] GAUGES = {
      {"webphone.node.sessions", Addresses.SIGNALLING_STATUS, Fields.SESSIONS},
      {"webphone.node.calls", Addresses.SIGNALLING_STATUS, Fields.CALLS},
      {"webphone.node.sip.lines", Addresses.SIP_STATUS, Fields.LINES},
      {"webphone.node.sip.registered", Addresses.SIP_STATUS, Fields.REGISTERED},
      {"webphone.node.sip.calls", Addresses.SIP_STATUS, Fields.CALLS},
      {"webphone.node.media.sessions", Addresses.MEDIA_STATUS, Fields.SESSIONS},
      {"webphone.node.media.ice.tcp.connections", Addresses.MEDIA_STATUS, Fields.ICE_TCP_CONNECTIONS},
      {"webphone.node.media.ice.tcp.junk", Addresses.MEDIA_STATUS, Fields.ICE_TCP_JUNK},
      {"webphone.node.media.ice.tcp.idle.closed", Addresses.MEDIA_STATUS, Fields.ICE_TCP_IDLE_CLOSED},
      {"webphone.node.media.ice.tcp.over.cap", Addresses.MEDIA_STATUS, Fields.ICE_TCP_OVER_CAP},
  };

  private final Map<String, Double> values = new ConcurrentHashMap<>();
  private final List<Meter> meters = new ArrayList<>();
  private MeterRegistry registry;
  private MessageConsumer<JsonObject> consumer;
  private MessageConsumer<JsonObject> memberConsumer;
  private String nodeId;
  private long timer = -1;
  private long requestTimeoutMs;

  @Override
  public Future<?> start() {
    nodeId = config().getString("nodeId");
    requestTimeoutMs = config().getJsonObject("limits").getLong("requestTimeoutMs");
    consumer = vertx.eventBus().consumer(Addresses.node(nodeId), this::info);
    var cm = ((VertxInternal) vertx).clusterManager();
    if (cm != null) {
      memberConsumer = vertx.eventBus().consumer(Addresses.node(cm.getNodeId()), this::info);
    }
    registry = BackendRegistries.getNow(nodeId);
    if (registry != null) {
      meters.addAll(SetupLatency.register(registry, nodeId));
      for (String[] g : GAUGES) {
        values.put(g[0], Double.NaN);
        meters.add(Gauge.builder(g[0], values, m -> m.getOrDefault(g[0], Double.NaN))
            .tag("node", nodeId).register(registry));
      }
      meters.add(Gauge.builder("webphone.node.ready", this,
          v -> NodeFacts.of(vertx).state() == NodeFacts.State.READY ? 1 : 0)
          .tag("node", nodeId).register(registry));
      meters.add(Gauge.builder("webphone.node.cluster.members", this, v -> members())
          .tag("node", nodeId).register(registry));
      timer = vertx.setPeriodic(1, POLL_MS, t -> poll());
    }
    return Future.join(consumer.completion(),
        memberConsumer == null ? Future.succeededFuture() : memberConsumer.completion());
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timer);
    if (registry != null) {
      meters.forEach(registry::remove);
      SetupLatency.forget(nodeId);
    }
    return Future.join(consumer.unregister(),
        memberConsumer == null ? Future.succeededFuture() : memberConsumer.unregister());
  }

  private int members() {
    var cm = ((VertxInternal) vertx).clusterManager();
    return cm == null ? 1 : cm.getNodes().size();
  }

  private void poll() {
    DeliveryOptions opts = new DeliveryOptions().setSendTimeout(Math.min(POLL_MS, requestTimeoutMs)).setLocalOnly(true);
    for (String address : new String[] {Addresses.SIGNALLING_STATUS, Addresses.SIP_STATUS, Addresses.MEDIA_STATUS}) {
      vertx.eventBus().<JsonObject>request(address, new JsonObject(), opts).onComplete(ar -> {
        for (String[] g : GAUGES) {
          if (g[1].equals(address)) {
            Object v = ar.succeeded() ? ar.result().body().getValue(g[2]) : null;
            // NaN rather than a stale number when a verticle does not answer: a scrape must not lie.
            values.put(g[0], v instanceof Number n ? n.doubleValue() : Double.NaN);
          }
        }
      });
    }
  }

  private void info(Message<JsonObject> m) {
    NodeFacts node = NodeFacts.of(vertx);
    JsonObject me = new JsonObject().put(Fields.NODE_ID, nodeId).put(Fields.STATE, node.state().wire())
        .put(Fields.MODE, node.mode()).put(Fields.CLUSTERED, vertx.isClustered()).put(Fields.MEMBERS, members());
    if (registry != null && m.body() != null && Boolean.TRUE.equals(m.body().getValue(Fields.SETUP_LATENCY))) {
      me.put(Fields.SETUP_LATENCY, SetupLatency.snapshot(registry, nodeId));
    }
    String peer = m.body() == null ? null : m.body().getString(Fields.PEER);
    if (peer == null || peer.isBlank()) {
      m.reply(me);
      return;
    }
    long t0 = System.nanoTime();
    vertx.eventBus().<JsonObject>request(Addresses.node(peer), new JsonObject(),
        new DeliveryOptions().setSendTimeout(requestTimeoutMs)).onComplete(ar -> {
          if (ar.succeeded()) {
            m.reply(me.put(Fields.PEER, ar.result().body())
                .put(Fields.PEER_RTT_MS, (System.nanoTime() - t0) / 1_000_000.0));
          } else if (ar.cause() instanceof ReplyException re && re.failureType() == ReplyFailure.NO_HANDLERS) {
            m.fail(ErrorCode.NOT_FOUND.code(), "no node " + peer + " in the cluster");
          } else {
            LOG.warn("node {} did not answer node {}: {}", peer, nodeId, ar.cause().toString());
            m.fail(ErrorCode.TIMEOUT.code(), "node " + peer + " did not answer: " + ar.cause().getMessage());
          }
        });
  }
}
