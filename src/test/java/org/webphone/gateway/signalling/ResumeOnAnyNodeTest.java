package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.node.ForwardingBench;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewaySession;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestNode;

/**
 * Resume on any node, at the WebSocket and bus level: two nodes in this JVM ({@code a} and {@code b}, each with
 * its embedded demo PBX) form one Hazelcast cluster with the project's cluster.xml (its own cluster name and ports,
 * a TCP-IP members list of the two). A session of {@code a} is taken back through {@code b} and back again, and
 * every token that must not work gets Error 302 and a fresh session; the last test drains {@code a}, then
 * takes it out of the cluster as a crash would (its Hazelcast member terminated).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ResumeOnAnyNodeTest {
  private static final int GRACE_SEC = 2;
  private static final long WAIT_MS = 15_000;
  private static Path dir;
  private static TestNode a;
  private static TestNode b;
  private final List<GatewaySession> sockets = new ArrayList<>();

  @BeforeAll
  static void startTwoClusteredNodes() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "resume-any-node-").toAbsolutePath();
    String cluster = "webphone-resume-" + UUID.randomUUID();
    int hzA = Ports.free();
    int hzB = Ports.free();
    a = TestNode.start(node("a", ForwardingBench.clusterXml(dir, "a", cluster, hzA, List.of(hzA, hzB))));
    b = TestNode.start(node("b", ForwardingBench.clusterXml(dir, "b", cluster, hzB, List.of(hzA, hzB))));
    Eventually.until(Duration.ofSeconds(30), "both nodes to see two members",
        () -> members(a) == 2 && members(b) == 2);
  }

  @AfterAll
  static void stopNodes() throws Exception {
    for (TestNode n : new TestNode[] {b, a}) {
      if (n != null) {
        try {
          n.close();
        } catch (Exception | AssertionError e) {
          System.err.println("stopping " + n.node().nodeId() + ": " + e); // a was terminated by the last test
        }
      }
    }
  }

  @AfterEach
  void closeSockets() {
    sockets.forEach(GatewaySession::close);
  }

  private static JsonObject node(String id, Path clusterXml) {
    return new JsonObject().put("node", new JsonObject().put("id", id))
        .put("cluster", new JsonObject().put("enabled", true).put("config", clusterXml.toString())
            .put("host", "127.0.0.1"))
        .put("session", new JsonObject().put("resumeGraceSec", GRACE_SEC))
        // Every socket of the test comes from 127.0.0.1.
        .put("limits", new JsonObject().put("accountsPerIp", 10));
  }

  private static int members(TestNode n) throws Exception {
    return n.health().getJsonObject("cluster").getJsonArray("members").size();
  }

  private static InetSocketAddress ws(TestNode n) {
    return new InetSocketAddress("127.0.0.1", n.config().getInt("http.port"));
  }

  private GatewaySession hello(TestNode n, String resume) throws Exception {
    JsonObject hello = new JsonObject().put("method", "Hello").put("ref", 1);
    if (resume != null) {
      hello.put("resume", resume);
    }
    GatewaySession s = GatewaySession.open(ws(n), hello);
    sockets.add(s);
    return s;
  }

  /** The next event of {@code s} that {@code match} accepts (others skipped), within {@link #WAIT_MS}. */
  private static JsonObject await(GatewaySession s, String what, Predicate<JsonObject> match) throws Exception {
    return s.await(what, match, WAIT_MS);
  }

  private static JsonObject event(GatewaySession s, String name) throws Exception {
    return await(s, name, e -> name.equals(e.getString("event")));
  }

  private static JsonObject status(TestNode n) throws Exception {
    return Eventually.result(5, "signalling.status", n.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIGNALLING_STATUS, new JsonObject())).body();
  }

  /** Until {@code n}'s signalling holds {@code sessions} sessions ({@code detached} of them) and {@code forwards}. */
  private static void awaitCounts(TestNode n, int sessions, int detached, int forwards) throws Exception {
    Eventually.await(Duration.ofSeconds(15), n.node().nodeId() + ": " + sessions + " sessions, " + detached
        + " detached, " + forwards + " forwarded sockets", () -> status(n), st -> st.getInteger("sessions") == sessions
        && st.getInteger("detached") == detached && st.getInteger("forwards") == forwards);
  }

  /** A ready session of {@code n}: its id and resume token. */
  private String[] readySession(TestNode n) throws Exception {
    GatewaySession s = hello(n, null);
    JsonObject on = event(s, "OnSession");
    assertNotNull(await(s, "Ready", e -> "OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready")));
    s.close();
    return new String[] {on.getString("sessionId"), on.getString("resumeToken")};
  }

  private static String randomPart() {
    byte[] r = new byte[24];
    Randoms.nextBytes(r);
    return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(r);
  }

  @Test
  @Order(1)
  void aSessionOfNodeAIsTakenBackThroughNodeBThenBackOnAAndItsTokensNameTheirOwner() throws Exception {
    GatewaySession onA = hello(a, null);
    JsonObject first = event(onA, "OnSession");
    String id = first.getString("sessionId");
    assertTrue(first.getString("resumeToken").startsWith("a."), "the token names its owner: " + first);
    assertEquals("a", RemoteSessions.ownerOf(first.getString("resumeToken")));
    await(onA, "Ready", e -> "OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready"));
    onA.close();
    awaitCounts(a, 1, 1, 0);

    // Through b: the same session (id, line), forwarded; frames and their acks cross the bus.
    GatewaySession onB = hello(b, first.getString("resumeToken"));
    JsonObject ack = event(onB, "Ack");
    assertEquals(id, ack.getString("sessionId"));
    assertEquals(true, ack.getBoolean("resumed"));
    JsonObject again = event(onB, "OnSession");
    assertEquals(true, again.getBoolean("resumed"));
    assertEquals(id, again.getString("sessionId"));
    assertTrue(again.getString("resumeToken").startsWith("a."), "still a's: " + again);
    assertNotEquals(first.getString("resumeToken"), again.getString("resumeToken"), "a token works once");
    await(onB, "Ready", e -> "OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready"));
    onB.socket().sendText("{\"method\":\"Ping\",\"ref\":7}");
    JsonObject pong = event(onB, "Pong");
    assertEquals(7, pong.getInteger("ref"));
    assertEquals(true, pong.getBoolean("registered"), "the owner's line answers: " + pong);
    onB.socket().sendText("{\"method\":\"HangUp\",\"ref\":8}");
    JsonObject refused = event(onB, "Error");
    assertEquals(8, refused.getInteger("ref"));
    assertEquals("HangUp", refused.getString("method"), "the owner's refusal comes back as an Error: " + refused);
    awaitCounts(a, 1, 0, 0);
    awaitCounts(b, 0, 0, 1);

    // The socket through b closes: b frees its entry, a's session waits for a resume; back on a, locally.
    onB.close();
    awaitCounts(b, 0, 0, 0);
    awaitCounts(a, 1, 1, 0);
    GatewaySession backOnA = hello(a, again.getString("resumeToken"));
    JsonObject third = event(backOnA, "OnSession");
    assertEquals(id, third.getString("sessionId"));
    assertEquals(true, third.getBoolean("resumed"));

    // Taken over while a socket is open: through b again, and the socket on a is closed with 4001.
    GatewaySession takeover = hello(b, third.getString("resumeToken"));
    JsonObject fourth = event(takeover, "OnSession");
    assertEquals(id, fourth.getString("sessionId"));
    Eventually.until(Duration.ofSeconds(10), "the socket on a to be closed", backOnA::isClosed);
    assertEquals(4001, backOnA.closeCode());
    // ... and taken over back on a: b's socket gets 4001 from the owner, and b frees its entry.
    GatewaySession last = hello(a, fourth.getString("resumeToken"));
    assertEquals(id, event(last, "OnSession").getString("sessionId"));
    Eventually.until(Duration.ofSeconds(10), "the socket through b to be closed", takeover::isClosed);
    assertEquals(4001, takeover.closeCode());
    awaitCounts(b, 0, 0, 0);

    // Closed for good: after the grace, nothing is left on either node.
    last.close();
    awaitCounts(a, 0, 0, 0);
    awaitCounts(b, 0, 0, 0);
    a.awaitIdle(0);
  }

  @Test
  @Order(2)
  void aBusClientResumesASessionOfEitherNodeFromEitherNode() throws Exception {
    DeliveryOptions timeout = new DeliveryOptions().setSendTimeout(10_000);
    JsonObject opened = Eventually.result(15, "a bus session", b.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIGNALLING_OPEN, new JsonObject(), timeout)).body();
    String id = opened.getString("sessionId");
    String token = opened.getString("resumeToken");
    // signalling.session.open is answered by any node (round robin): four resumes from each node reach both.
    for (TestNode from : new TestNode[] {a, b, a, b, a, b, a, b}) {
      JsonObject r = Eventually.result(15, "a resume from " + from.node().nodeId(), from.node().vertx().eventBus()
          .<JsonObject>request(Addresses.SIGNALLING_OPEN, new JsonObject().put("resumeToken", token), timeout)).body();
      assertEquals(id, r.getString("sessionId"));
      assertEquals(true, r.getBoolean("resumed"));
      token = r.getString("resumeToken");
    }
    Eventually.result(15, "the bus session to close", a.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId", id), timeout));
    awaitCounts(a, 0, 0, 0);
    awaitCounts(b, 0, 0, 0);
    String used = token;
    ReplyException gone = org.junit.jupiter.api.Assertions.assertThrows(ReplyException.class, () -> Eventually.result(15,
        "a resume of a closed session", b.node().vertx().eventBus().request(Addresses.SIGNALLING_OPEN,
            new JsonObject().put("resumeToken", used), timeout)));
    assertEquals(302, gone.failureCode(), gone.getMessage());
  }

  @Test
  @Order(2)
  void signallingSessionCloseReachesTheOwnerWhicheverNodeTheBusPicks() throws Exception {
    DeliveryOptions timeout = new DeliveryOptions().setSendTimeout(10_000);
    List<String> ids = new ArrayList<>();
    List<String> ofA = new ArrayList<>();
    List<String> ofB = new ArrayList<>();
    for (TestNode from : new TestNode[] {a, b, a, b, a, b, a, b}) {
      JsonObject opened = Eventually.result(15, "a bus session", from.node().vertx().eventBus()
          .<JsonObject>request(Addresses.SIGNALLING_OPEN, new JsonObject(), timeout)).body();
      ids.add(opened.getString("sessionId"));
      (opened.getString("resumeToken").startsWith("a.") ? ofA : ofB).add(opened.getString("sessionId"));
    }
    assertTrue(ofA.size() >= 2 && ofB.size() >= 2, "the opens landed on both nodes: " + ofA + " " + ofB);
    // All closes from a, two of a's sessions then two of b's: the bus alternates the nodes it gives a's requests
    // to, so of each pair one close reaches the node that does not hold the session.
    List<String> order = new ArrayList<>();
    for (int i = 0; i + 1 < Math.max(ofA.size(), ofB.size()); i += 2) {
      order.addAll(ofA.subList(Math.min(i, ofA.size()), Math.min(i + 2, ofA.size())));
      order.addAll(ofB.subList(Math.min(i, ofB.size()), Math.min(i + 2, ofB.size())));
    }
    for (String id : ids) {
      if (!order.contains(id)) {
        order.add(id);
      }
    }
    for (String id : order) {
      JsonObject closed = Eventually.result(15, "the close of " + id, a.node().vertx().eventBus()
          .<JsonObject>request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId", id), timeout)).body();
      assertEquals(id, closed.getString("sessionId"));
    }
    awaitCounts(a, 0, 0, 0);
    awaitCounts(b, 0, 0, 0);
    for (String id : new String[] {ids.get(0), "s-" + UUID.randomUUID(), "x.y z", "signalling.node.a.resume"}) {
      ReplyException none = org.junit.jupiter.api.Assertions.assertThrows(ReplyException.class, () -> Eventually
          .result(15, "a close of " + id, a.node().vertx().eventBus().request(Addresses.SIGNALLING_CLOSE,
              new JsonObject().put("sessionId", id), timeout)));
      assertEquals(302, none.failureCode(), id + ": " + none.getMessage());
    }
    ReplyException junk = org.junit.jupiter.api.Assertions.assertThrows(ReplyException.class, () -> Eventually.result(
        15, "a bus resume with junk before the token's random part", b.node().vertx().eventBus().request(
            Addresses.SIGNALLING_OPEN, new JsonObject().put("resumeToken", "signalling.node.a.resume." + randomPart()),
            timeout)));
    assertEquals(302, junk.failureCode());
    assertTrue(junk.getMessage().contains("names no valid node"), junk.getMessage());
  }

  @Test
  @Order(3)
  void tokensThatMustNotWorkGetError302AndAFreshSession() throws Exception {
    String[] expired = readySession(a);
    awaitCounts(a, 0, 0, 0); // not resumed within the grace: closed

    String[] used = readySession(a);
    GatewaySession taken = hello(b, used[1]);
    assertEquals(used[0], event(taken, "OnSession").getString("sessionId"));

    String[][] cases = {
        {"a." + randomPart(), "refused it"},           // unknown to its owner
        {expired[1], "refused it"},                    // its session ended after the grace
        {used[1], "refused it"},                       // already used (by the socket above)
        {"ghost." + randomPart(), "not in the cluster"}, // no such node
        {"a.b." + randomPart(), "names no valid node"},  // junk before the random part: never an address
        {"n".repeat(41) + "." + randomPart(), "names no valid node"},
    };
    for (String[] c : cases) {
      GatewaySession s = hello(b, c[0]);
      JsonObject error = event(s, "Error");
      assertEquals(302, error.getInteger("code"), error.encode());
      assertEquals("Hello", error.getString("method"));
      assertTrue(error.getString("message").contains(c[1]), c[0] + ": " + error);
      JsonObject ack = event(s, "Ack");
      assertEquals(false, ack.getBoolean("resumed"), "a fresh session: " + ack);
      JsonObject fresh = event(s, "OnSession");
      assertTrue(fresh.getString("resumeToken").startsWith("b."), fresh.encode());
      s.close();
    }
    // A token forged on b to name a: a is asked and refuses it; the same naming b, asked on a, b refuses.
    GatewaySession forged = hello(a, "b." + randomPart());
    JsonObject error = event(forged, "Error");
    assertEquals(302, error.getInteger("code"));
    assertTrue(error.getString("message").contains("its node b refused it"), error.encode());
    forged.close();
    taken.close();
    awaitCounts(a, 0, 0, 0);
    awaitCounts(b, 0, 0, 0);
  }

  @Test
  @Order(4)
  void aResumeThroughBWorksWhileAIsDrainingAndEndsWhenALeavesTheCluster() throws Exception {
    String[] s = readySession(a);
    a.node().beginDrain();
    GatewaySession onB = hello(b, s[1]);
    JsonObject on = event(onB, "OnSession");
    assertEquals(s[0], on.getString("sessionId"));
    onB.socket().sendText("{\"method\":\"Ping\",\"ref\":1}");
    assertEquals(true, event(onB, "Pong").getBoolean("registered"));
    awaitCounts(b, 0, 0, 1);

    // a crashes (its Hazelcast member terminated, nothing said): b closes the socket it carried for a.
    ((HazelcastClusterManager) ((VertxInternal) a.node().vertx()).clusterManager()).getHazelcastInstance()
        .getLifecycleService().terminate();
    Eventually.until(Duration.ofSeconds(30), "b to close the socket of a's session", onB::isClosed);
    assertEquals(RemoteSession.OWNER_GONE, onB.closeCode());
    awaitCounts(b, 0, 0, 0);
    // What a crash also takes away: a's event bus (in this JVM its Vert.x would live on without its member).
    Eventually.result(30, "a's Vert.x to close", a.node().vertx().close());
    // The page comes back with its token: a is not in the cluster any more.
    GatewaySession again = hello(b, on.getString("resumeToken"));
    JsonObject error = event(again, "Error");
    assertEquals(302, error.getInteger("code"));
    assertTrue(error.getString("message").matches(".*its node a (is not in the cluster|could not be reached).*"),
        error.encode());
    assertTrue(event(again, "OnSession").getString("resumeToken").startsWith("b."));
    again.close();
    awaitCounts(b, 0, 0, 0);
  }
}
