package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.config.GatewayConfig;

/**
 * A gateway node in the test's JVM on free loopback ports. {@code overrides} uses the same keys as
 * default-config.json; ports not given are picked free.
 */
public final class TestNode implements AutoCloseable {
  private final GatewayNode node;
  private final GatewayConfig config;

  private TestNode(GatewayNode node, GatewayConfig config) {
    this.node = node;
    this.config = config;
  }

  public static TestNode start(JsonObject overrides) throws Exception {
    // The ports are free when picked, but another process may bind one first: fresh picks, a few attempts.
    for (int attempt = 1; ; attempt++) {
      try {
        return startOnce(overrides);
      } catch (java.net.BindException e) {
        if (attempt == 3) {
          throw e;
        }
      }
    }
  }

  /**
   * A node whose pool is the one agent line 1000 (password {@code secret-1000}) of the test PBX {@code pbx} on
   * loopback, with {@code overrides} merged in (e.g. the dial policy).
   */
  public static TestNode withLine1000On(Kamailio pbx, JsonObject overrides) throws Exception {
    return start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
            .put("passwordTemplate", "secret-{user}")))
        .mergeIn(overrides, true));
  }

  /**
   * Closes each of {@code all} in order (nulls skipped), the browser and the node first, then the peers, even when
   * one fails; the first failure is thrown at the end.
   */
  public static void closeAll(AutoCloseable... all) throws Exception {
    Exception first = null;
    for (AutoCloseable c : all) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private static TestNode startOnce(JsonObject overrides) throws Exception {
    int rtp = Ports.free(true);
    // Free for UDP and TCP: the ICE-TCP port takes the same number (never the default 10000 of another node).
    int webrtc = Ports.free();
    JsonObject base = new JsonObject()
        .put("http", new JsonObject().put("port", Ports.free()).put("adminPort", Ports.free()))
        .put("sip", new JsonObject().put("port", Ports.free()))
        .put("demo", new JsonObject().put("port", Ports.free()))
        .put("media", new JsonObject().put("webrtcPort", webrtc).put("iceTcpPort", webrtc).put("rtpPortMin", rtp)
            .put("rtpPortMax", Math.min(65535, rtp + 199)))
        .put("shutdown", new JsonObject().put("graceSec", 5));
    GatewayConfig cfg = GatewayConfig.of(base.mergeIn(overrides, true));
    GatewayNode node = new GatewayNode(cfg);
    try {
      Eventually.result(60, "the node to start", node.start());
    } catch (Exception e) {
      Eventually.result(30, "the node that failed to start to stop", node.stop());
      throw e;
    }
    return new TestNode(node, cfg);
  }

  public GatewayNode node() {
    return node;
  }

  public GatewayConfig config() {
    return config;
  }

  public String url() {
    return "http://127.0.0.1:" + config.getInt("http.port") + "/";
  }

  /** The node's admin surface (full /health, /metrics) on loopback. */
  public String adminUrl() {
    return "http://127.0.0.1:" + config.getInt("http.adminPort") + "/";
  }

  /** The node's {@code media.status} reply (its relay's holdings and counters). */
  public JsonObject mediaStatus() throws Exception {
    return Eventually.result(5, "media.status", node.vertx().eventBus()
        .<JsonObject>request(org.webphone.gateway.common.Addresses.MEDIA_STATUS, new JsonObject())).body();
  }

  /** The node's full /health body from its admin surface (whatever its status code). */
  public JsonObject health() throws Exception {
    return new JsonObject(Http.get(adminUrl() + "health").body());
  }

  /**
   * Waits (up to 20 s: a closed page keeps its session for the resume grace) until the node holds
   * {@code leases} leases and no SIP call or media session, then asserts exactly that.
   */
  public void awaitIdle(int leases) throws Exception {
    Eventually.await(java.time.Duration.ofSeconds(20), leases + " leases, no calls and no media sessions",
        this::health, h -> idle(h, leases));
  }

  private static boolean idle(JsonObject h, int leases) {
    return h.getJsonObject("pool").getInteger("leased") == leases
        && h.getJsonObject("media").getInteger("sessions") == 0 && h.getJsonObject("sip").getInteger("calls") == 0;
  }

  @Override
  public void close() throws Exception {
    Eventually.result(60, "the node to stop", node.stop());
  }
}
