package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.signalling.AuthToken;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewaySession;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Sipp;

/**
 * An agent's named line on a two-node cluster, at the WebSocket level, with the drain's bed ({@link DrainBed}: two
 * node JVMs, Kamailio with digest auth whose location table the test reads, SIPp answering every call to a number
 * that is not registered). Agent "alice" owns extension 2100 ({@code pool.agents}); each session opens with a fresh
 * token of hers. The agent's sessions are scripts, not pages: what a page does on close 4002 (Hello again, on another
 * node, with the token it has) is done by hand.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentLinesOnTwoNodesTest {
  private static final String SECRET = "two-node-agent-secret";
  private static final String LINE = "2100";
  private static final long WAIT_MS = 30_000;

  @TempDir
  static Path dir;

  private static DrainBed bed;
  private static int tokens;
  private final List<GatewaySession> sessions = new ArrayList<>();

  @BeforeAll
  static void startTheCluster() throws Exception {
    bed = DrainBed.start(dir, 60, Map.of(
        "WEBPHONE_POOL_AGENTS", "[{\"id\":\"alice\",\"username\":\"" + LINE + "\",\"password\":\"secret-" + LINE + "\"}]",
        "WEBPHONE_AUTH_TOKEN_SECRET", SECRET,
        // The agent's call has no real browser leg (a synthetic offer): it must outlast the test, not end on its own.
        "WEBPHONE_MEDIA_TIMEOUT_SEC", "300"));
  }

  @AfterAll
  static void stopTheCluster() throws Exception {
    if (bed != null) {
      bed.close();
    }
  }

  @AfterEach
  void closeSessions() {
    sessions.forEach(GatewaySession::close);
  }

  @Test
  @Order(1)
  void theAgentsSessionOnTheOtherNodeTakesTheLineOverTheFirstIsToldWith4003AndKamailioHoldsOneContact()
      throws Exception {
    GatewaySession first = agent(0, token());
    assertNull(first.awaitReady(WAIT_MS), "alice's line on node 0");
    assertEquals(List.of(0), registeredBy(), "one contact, node 0's");

    GatewaySession second = agent(1, token());
    JsonObject closed = first.await("OnSessionClosed", e -> "OnSessionClosed".equals(e.getString("event")), WAIT_MS);
    assertTrue(closed.getString("reason").startsWith("taken over"), closed.encode());
    Eventually.until(Duration.ofSeconds(10), "the first socket to close", first::isClosed);
    assertEquals(4003, first.closeCode());
    assertNull(second.awaitReady(WAIT_MS), "alice's line on node 1");
    Eventually.await(Duration.ofSeconds(10), "one contact for " + LINE + ", node 1's", () -> registeredBy(),
        List.of(1)::equals);
    assertEquals(0, bed.usrloc().mostExtraContacts(), "the line was never registered twice at once");
    JsonObject pool = bed.fullHealth(1).getJsonObject("pool");
    assertEquals(0, pool.getInteger("leased"), "the anonymous pool is untouched: " + pool.encode());
  }

  @Test
  @Order(2)
  void aDrainingNodeAnswers480DuringTheAgentsCallThenUnregistersTheLineBeforeThePageMovesAndItsTokenOpensTheNewSession()
      throws Exception {
    bed.ensureRunning(1);
    String token = token();
    GatewaySession page = agent(1, token);
    assertNull(page.awaitReady(WAIT_MS), "alice's line on node 1");
    Eventually.await(Duration.ofSeconds(10), "one contact for " + LINE + ", node 1's", () -> registeredBy(),
        List.of(1)::equals);
    String callId;
    try (SyntheticBrowser browser = new SyntheticBrowser()) {
      page.socket().sendText(new JsonObject().put("method", "Call").put("ref", "call").put("number", "600")
          .put("sdp", browser.offer()).encode());
      callId = page.await("the call answered", e -> "OnCallStateChanged".equals(e.getString("event"))
          && "InCall".equals(e.getString("state")), WAIT_MS).getString("callId");

      HttpResponse<String> drain = Http.post("http://127.0.0.1:" + bed.adminPort(1) + "/admin/drain",
          "Authorization", "Bearer " + DrainBed.TOKEN);
      assertEquals(202, drain.statusCode(), drain.body());
      // A queue's call to the agent while its node drains: 480, so the PBX tries the next agent.
      try (Sipp caller = Sipp.uac("uac-480.xml", "127.0.0.1:" + bed.pbxPort(), "-s", LINE)) {
        caller.awaitSuccess(Duration.ofSeconds(20));
      }
      assertEquals(List.of(1), registeredBy(), "the line stays on node 1 while its call goes on");

      page.socket().sendText(new JsonObject().put("method", "HangUp").put("ref", "bye").put("callId", callId).encode());
      JsonObject moved = page.await("the move", e -> "OnSessionClosed".equals(e.getString("event")), WAIT_MS);
      assertTrue(moved.getString("reason").startsWith("moved"), moved.encode());
      Eventually.until(Duration.ofSeconds(10), "the socket to close", page::isClosed);
      assertEquals(4002, page.closeCode());
    }
    // The line was un-REGISTERed before the socket closed: no contact the moment the page learns it must move.
    assertEquals(List.of(), registeredBy(), "no contact for " + LINE + " once the page is told to move");

    GatewaySession again = agent(0, token); // the page's only token, on the node the balancer picks now
    assertNull(again.awaitReady(WAIT_MS), "the same token opens alice's line on node 0");
    Eventually.await(Duration.ofSeconds(10), "one contact for " + LINE + ", node 0's", () -> registeredBy(),
        List.of(0)::equals);
    assertEquals(0, bed.node(1).awaitExit(Duration.ofSeconds(60)), bed.node(1).tail());
    assertEquals(0, bed.usrloc().mostExtraContacts(), "the line was never registered twice at once");
  }

  // ------------------------------------------------------------------ helpers

  private static String token() {
    return AuthToken.issue(SECRET, System.currentTimeMillis() / 1000, "alice", "two-nodes-" + ++tokens);
  }

  /** A session of alice on node {@code i} (its Hello carries {@code token}). */
  private GatewaySession agent(int i, String token) throws Exception {
    GatewaySession s = GatewaySession.open(new InetSocketAddress("127.0.0.1", bed.httpPort(i)),
        new JsonObject().put("method", "Hello").put("ref", "hello").put("token", token));
    sessions.add(s);
    return s;
  }

  /** Which nodes (0, 1) hold a contact of the agent's line at Kamailio now, one entry per contact. */
  private static List<Integer> registeredBy() throws Exception {
    List<Integer> nodes = new ArrayList<>();
    for (String c : bed.contacts(LINE)) {
      for (int i = 0; i < 2; i++) {
        if (c.contains("127.0.0.1:" + bed.sipPort(i))) {
          nodes.add(i);
        }
      }
    }
    return nodes;
  }
}
