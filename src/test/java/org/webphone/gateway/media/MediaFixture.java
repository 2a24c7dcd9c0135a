package org.webphone.gateway.media;

import java.time.Duration;
import java.util.function.Predicate;
import org.webphone.gateway.media.client.SyntheticBrowser;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.BusRefusals;

/**
 * A media verticle deployed on free loopback ports, a UDP socket playing the PBX's RTP endpoint, and the
 * events the verticle sends to a session. Blocking helpers for tests written as straight-line scenarios
 * (they run on the JUnit thread, never on an event loop).
 */
final class MediaFixture implements AutoCloseable {
  final Vertx vertx;
  final int webrtcPort = Ports.free();
  final int rtpMin = Ports.freeRange(20);
  final DatagramSocket pbx;
  final LinkedBlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();
  private final List<AutoCloseable> owned = new ArrayList<>();
  final String deploymentId;

  MediaFixture(Vertx vertx, JsonObject mediaOverrides) throws Exception {
    this(vertx, mediaOverrides, null);
  }

  /** @param nodeId the node id in the verticle's config (names its metrics registry), or null */
  MediaFixture(Vertx vertx, JsonObject mediaOverrides, String nodeId) throws Exception {
    this(vertx, mediaOverrides, nodeId, new MediaRelayVerticle());
  }

  /** With the verticle to deploy (one made with a test's mDNS resolver). */
  MediaFixture(Vertx vertx, JsonObject mediaOverrides, String nodeId, MediaRelayVerticle verticle) throws Exception {
    this.vertx = vertx;
    JsonObject media = new JsonObject().put("webrtcPort", webrtcPort).put("iceTcpPort", webrtcPort).put("rtpPortMin", rtpMin)
        .put("rtpPortMax", rtpMin + 19).mergeIn(mediaOverrides);
    GatewayConfig cfg = GatewayConfig.of(new JsonObject().put("media", media));
    JsonObject json = cfg.json();
    if (nodeId != null) {
      json.put("nodeId", nodeId);
    }
    deploymentId = await(vertx.deployVerticle(verticle, new DeploymentOptions().setConfig(json)));
    pbx = new DatagramSocket(Ports.free(), InetAddress.getLoopbackAddress());
    pbx.setSoTimeout(3000);
  }

  void listen(String sessionId) {
    vertx.eventBus().<JsonObject>localConsumer(Addresses.session(sessionId), m -> events.add(m.body()));
  }

  <T> T own(T closeable) {
    owned.add((AutoCloseable) closeable);
    return closeable;
  }

  JsonObject request(String address, JsonObject body) throws Exception {
    return await(vertx.eventBus().<JsonObject>request(address, body, new DeliveryOptions().setSendTimeout(10_000)))
        .body();
  }

  /** The failure code of a request that must fail. */
  int failure(String address, JsonObject body) throws Exception {
    return BusRefusals.failureCode(() -> request(address, body), address + " " + body);
  }

  JsonObject status() throws Exception {
    return request(Addresses.MEDIA_STATUS, new JsonObject());
  }

  JsonObject sessionStatus(String callId) throws Exception {
    return request(Addresses.MEDIA_STATUS, new JsonObject().put("callId", callId)).getJsonObject("session");
  }

  long counter(String callId, String name) throws Exception {
    return sessionStatus(callId).getJsonObject("counters").getLong(name);
  }

  /** Waits for an event with this state; fails after {@code seconds}. */
  JsonObject awaitEvent(String state, int seconds) throws InterruptedException {
    return nextEvent("media event " + state, seconds, e -> state.equals(e.getString("state")));
  }

  /** Waits for the next {@code dtmf} event; fails after {@code seconds}. */
  JsonObject awaitDtmf(int seconds) throws InterruptedException {
    return nextEvent("a dtmf event", seconds, e -> "dtmf".equals(e.getString("event")));
  }

  /** The first queued event matching {@code p}; the events before it are dropped. */
  private JsonObject nextEvent(String what, int seconds, Predicate<JsonObject> p) throws InterruptedException {
    return Eventually.await(Duration.ofSeconds(seconds), what, () -> {
      for (JsonObject e = events.poll(); e != null; e = events.poll()) {
        if (p.test(e)) {
          return e;
        }
      }
      return null;
    });
  }

  /** The PBX's SDP (answer or offer) for its socket, with payload types and direction. */
  String pbxSdp(int version, String formats, String direction) {
    return "v=0\r\no=pbx 77 " + version + " IN IP4 127.0.0.1\r\ns=pbx\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio " + pbx.getLocalPort() + " RTP/AVP " + formats + "\r\n"
        + "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        + "a=" + direction + "\r\n";
  }

  /**
   * An outgoing call whose browser is connected and whose PBX answered from {@link #pbx}: create, pbx-sdp,
   * ICE + DTLS, "connected" event. Returns the gateway's RTP port.
   */
  int startCall(String callId, String sessionId, SyntheticBrowser browser) throws Exception {
    listen(sessionId);
    JsonObject created = request(org.webphone.gateway.common.Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", callId).put("sessionId", sessionId).put("browserOffer", browser.offer()));
    request(org.webphone.gateway.common.Addresses.MEDIA_PBX_SDP,
        new JsonObject().put("callId", callId).put("sdp", pbxSdp(1, "0 101", "sendrecv")));
    browser.connect(created.getString("browserAnswer"));
    awaitEvent("connected", 5);
    return Sdp.parse(created.getString("pbxSdp")).audio().port;
  }

  /** Receives datagrams at the PBX socket until {@code n} arrived or the socket times out. */
  List<byte[]> pbxReceive(int n) throws Exception {
    List<byte[]> out = new ArrayList<>();
    while (out.size() < n) {
      byte[] p = pbxReceive();
      if (p == null) {
        break;
      }
      out.add(p);
    }
    return out;
  }

  /** Receives one datagram at the PBX socket, or null after the socket timeout. */
  byte[] pbxReceive() throws Exception {
    DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
    try {
      pbx.receive(p);
    } catch (SocketTimeoutException e) {
      return null;
    }
    return java.util.Arrays.copyOf(p.getData(), p.getLength());
  }

  void pbxSend(byte[] rtp, int port) throws Exception {
    pbx.send(new DatagramPacket(rtp, rtp.length, InetAddress.getLoopbackAddress(), port));
  }

  /** Waits (bounded) until {@code media.status} field {@code key} equals {@code value}; returns the last status. */
  JsonObject awaitStatus(String key, int value) throws Exception {
    return Eventually.await(Duration.ofMillis(2500), "media.status " + key + " " + value, this::status,
        s -> s.getInteger(key) == value);
  }

  /** Asserts that the verticle holds nothing any more. */
  /** Closes the call's media, waits for its {@code closed} event, then checks that nothing is left. */
  void closeAndAssertNothingLeaks(String callId) throws Exception {
    request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", callId));
    awaitEvent("closed", 5);
    assertNothingLeaks();
  }

  void assertNothingLeaks() throws Exception {
    JsonObject s = status();
    assertEquals(0, s.getInteger("sessions"), "sessions: " + s);
    assertEquals(0, s.getInteger("rtpPorts"), "RTP ports in use: " + s);
    assertEquals(0, s.getInteger("agents"), "ICE agents: " + s);
    assertEquals(0, s.getInteger("iceAnswering"), "legs answering their own STUN: " + s);
    assertEquals(0, s.getInteger("dtlsSessions"), "DTLS sessions: " + s);
    assertEquals(s.getInteger("dtlsSessions"), s.getInteger("dtlsThreads"), "the old name carries the same count");
    assertEquals(0, s.getInteger("rtcpTasks"), "RTCP timer tasks: " + s);
    // A browser's ICE-TCP connection that never sent its first STUN belongs to no agent yet: the port closes it
    // after media.iceTcpFirstStunTimeoutMs (5 s), not with the call; the ones of the call's agent go with it.
    JsonObject t = Eventually.await(Duration.ofSeconds(8), "no ICE-TCP connection left", this::status,
        x -> x.getInteger("iceTcpConnections") == 0);
    assertEquals(0, t.getInteger("iceTcpConnections"), "ICE-TCP connections (freed with their agents): " + t);
  }

  static <T> T await(Future<T> f) throws Exception {
    return Eventually.result(20, "a reply or completion", f);
  }

  @Override
  public void close() throws Exception {
    for (AutoCloseable c : owned) {
      try {
        c.close();
      } catch (Exception ignored) {
        // best effort: the next owned thing must still be closed
      }
    }
    pbx.close();
  }
}
