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
  /** auth.tokenMaxAgeSec as the nodes run it (the default). */
  private static final long MAX_AGE_SEC = 300;

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
        "WEBPHONE_MEDIA_TIMEOUT_SEC", "300",
        // A closed page's session (and its line) ends soon after, so each test can check that nothing is left.
        "WEBPHONE_SESSION_RESUME_GRACE_SEC", "3"));
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

  /**
   * The agent's call lives on node 0; a new tab reaches node 1 with a fresh token of hers: node 1 forwards the socket
   * to node 0's session (as a resume on another node), the old tab is closed with 4003, the new one gets the call and
   * offers a new browser leg. SIP is untouched (SIPp's UAS saw one INVITE and no BYE during the move, the line stays
   * registered by node 0 alone), the audio echoed by SIPp comes back on the new leg, and the new tab hangs up.
   */
  @Test
  @Order(2)
  void aTakeoverOnAnotherNodeMovesTheCallWithoutTouchingSip() throws Exception {
    GatewaySession first = signedIn(0);
    Eventually.await(Duration.ofSeconds(10), "one contact for " + LINE + ", node 0's", () -> registeredBy(),
        List.of(0)::equals);
    long invites = bed.invites();
    long byes = bed.byes();
    try (SyntheticBrowser before = new SyntheticBrowser(); SyntheticBrowser after = new SyntheticBrowser()) {
      String callId = call(first, before);
      assertTrue(echoes(before) > 0, "SIPp echoes the first tab's audio");

      GatewaySession second = agent(1, token());
      JsonObject session = second.await("the call's session", e -> "OnSession".equals(e.getString("event"))
          && e.getBoolean("resumed"), WAIT_MS);
      assertEquals(callId, session.getJsonObject("call").getString("callId"), session.encode());
      assertEquals("InCall", session.getJsonArray("calls").getJsonObject(0).getString("state"), session.encode());
      assertEquals("alice", session.getString("agent"));
      Eventually.until(Duration.ofSeconds(10), "the first tab's socket to close", first::isClosed);
      assertEquals(4003, first.closeCode(), "the first tab is told it was taken over");
      assertEquals(1, bed.fullHealth(1).getInteger("forwards"), "node 1 carries the socket of node 0's session");

      offer(second, after, callId);
      assertTrue(echoes(after) > 0, "SIPp echoes the new tab's audio, on the same call");
      assertEquals(invites + 1, bed.invites(), "one INVITE: no new call, no re-INVITE for the move");
      assertEquals(byes, bed.byes(), "no BYE during the move");
      assertEquals(List.of(0), registeredBy(), "the line stays node 0's, registered once");
      assertEquals(1, bed.fullHealth(0).getInteger("calls"));

      second.socket().sendText(new JsonObject().put("method", "HangUp").put("ref", "bye").put("callId", callId).encode());
      second.await("the call's end", e -> "OnCallStateChanged".equals(e.getString("event"))
          && "Completed".equals(e.getString("state")), WAIT_MS);
      Eventually.until(Duration.ofSeconds(10), "SIPp to get the new tab's BYE", () -> bed.byes() == byes + 1);
    }
    closeSessions();
    assertNothingLeft();
    assertEquals(0, bed.usrloc().mostExtraContacts(), "the line was never registered twice at once");
  }

  /**
   * The documented token lifetime ({@code auth.tokenMaxAgeSec}, 300 s) bounds the Hello that opens a session, not
   * the session: a tab whose token is older than that still takes its session back ({@code Hello {token, resume}})
   * and, once, follows it off a draining node (close 4002). The tab's token is the one of the takeover that moved
   * the call to it, so that session counts the tab's token id, not the first tab's.
   */
  @Test
  @Order(3)
  void aTokenPastItsAgeResumesItsMovedSessionAndFollowsItOffADrainingNodeOnce() throws Exception {
    GatewaySession first = signedIn(1);
    long iat = System.currentTimeMillis() / 1000 - MAX_AGE_SEC + 15; // valid for 15 s more
    String old = AuthToken.issue(SECRET, iat, "alice", "two-nodes-aged-" + ++tokens);
    try (SyntheticBrowser before = new SyntheticBrowser(); SyntheticBrowser after = new SyntheticBrowser()) {
      String callId = call(first, before);
      GatewaySession tab = agent(0, old); // takes the call over from node 0
      String resume = tab.await("the call's session", e -> "OnSession".equals(e.getString("event"))
          && e.getBoolean("resumed"), WAIT_MS).getString("resumeToken");
      Eventually.until(Duration.ofSeconds(10), "the first tab's socket to close", first::isClosed);
      assertEquals(4003, first.closeCode());
      Eventually.until(Duration.ofSeconds(30), "the tab's token to pass its age",
          () -> System.currentTimeMillis() / 1000 > iat + MAX_AGE_SEC + 1);

      tab.close(); // the tab reloads, onto the node that holds its session now
      GatewaySession reloaded = GatewaySession.open(new InetSocketAddress("127.0.0.1", bed.httpPort(1)),
          new JsonObject().put("method", "Hello").put("ref", "hello").put("token", old).put("resume", resume));
      sessions.add(reloaded);
      JsonObject back = reloaded.await("the session back", e -> "OnSession".equals(e.getString("event"))
          || "Error".equals(e.getString("event")), WAIT_MS);
      assertEquals(true, back.getBoolean("resumed"), "a token past its age still resumes: " + back.encode());
      assertEquals(callId, back.getJsonObject("call").getString("callId"));
      offer(reloaded, after, callId);
      assertTrue(echoes(after) > 0, "SIPp echoes the reloaded tab's audio");

      HttpResponse<String> drain = Http.post("http://127.0.0.1:" + bed.adminPort(1) + "/admin/drain",
          "Authorization", "Bearer " + DrainBed.TOKEN);
      assertEquals(202, drain.statusCode(), drain.body());
      reloaded.socket().sendText(new JsonObject().put("method", "HangUp").put("ref", "bye").put("callId", callId).encode());
      reloaded.await("the move", e -> "OnSessionClosed".equals(e.getString("event")), WAIT_MS);
      Eventually.until(Duration.ofSeconds(10), "the socket to close", reloaded::isClosed);
      assertEquals(4002, reloaded.closeCode());
    }
    GatewaySession again = agent(0, old); // the tab's only token, past its age, on the node the balancer picks now
    assertNull(again.awaitReady(WAIT_MS), "the token past its age follows its moved session once");
    Eventually.await(Duration.ofSeconds(10), "one contact for " + LINE + ", node 0's", () -> registeredBy(),
        List.of(0)::equals);
    assertEquals(0, bed.node(1).awaitExit(Duration.ofSeconds(60)), bed.node(1).tail());

    GatewaySession once = agent(0, old);
    JsonObject refused = once.await("the refusal", e -> "Error".equals(e.getString("event")), WAIT_MS);
    assertEquals(201, refused.getInteger("code"), "only once: " + refused.encode());
    Eventually.until(Duration.ofSeconds(10), "the refused socket to close", once::isClosed);
    assertEquals(1008, once.closeCode());
    assertTrue(!again.isClosed(), "the session it followed goes on");
  }

  @Test
  @Order(4)
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

  /** Both nodes running, and alice's session on node {@code i} with a fresh token, her line registered. */
  private GatewaySession signedIn(int i) throws Exception {
    bed.ensureRunning(0);
    bed.ensureRunning(1);
    GatewaySession s = agent(i, token());
    assertNull(s.awaitReady(WAIT_MS), "alice's line on node " + i);
    return s;
  }

  /** alice's outgoing call to 600 (SIPp's echoing UAS, through Kamailio) from {@code page}, with {@code leg}; InCall. */
  private static String call(GatewaySession page, SyntheticBrowser leg) throws Exception {
    page.socket().sendText(new JsonObject().put("method", "Call").put("ref", "call").put("number", "600")
        .put("sdp", leg.offer()).encode());
    String callId = page.await("the call's Ack", e -> "call".equals(e.getString("ref")), WAIT_MS).getString("callId");
    assertTrue(callId != null, "the Call was acknowledged");
    leg.connect(page.await("the answer", e -> "Answer".equals(e.getString("event")), WAIT_MS).getString("sdp"));
    page.await("the call answered", e -> "OnCallStateChanged".equals(e.getString("event"))
        && "InCall".equals(e.getString("state")), WAIT_MS);
    return callId;
  }

  /** A new browser leg for the running call, as a reloaded page (or the agent's new tab) offers it. */
  private static void offer(GatewaySession page, SyntheticBrowser leg, String callId) throws Exception {
    page.socket().sendText(new JsonObject().put("method", "Offer").put("ref", "offer").put("callId", callId)
        .put("sdp", leg.offer()).encode());
    leg.connect(page.await("the answer to the offer", e -> "Answer".equals(e.getString("event"))
        && callId.equals(e.getString("callId")), WAIT_MS).getString("sdp"));
  }

  /**
   * Sends 50 PCMU packets (20 ms apart) marked for this round from {@code leg} and counts those that come back: SIPp's
   * UAS echoes what reached it, so each one crossed the gateway to the far side and back.
   */
  private static int echoes(SyntheticBrowser leg) throws Exception {
    byte[] mark = ("echo-" + System.nanoTime()).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    byte[] payload = new byte[160];
    System.arraycopy(mark, 0, payload, 0, mark.length);
    leg.received.clear();
    for (int i = 0; i < 50; i++) {
      leg.sendRtp(0, payload);
      Thread.sleep(20);
    }
    Thread.sleep(500);
    int n = 0;
    for (byte[] p; (p = leg.received.poll()) != null; ) {
      if (p.length >= 12 + mark.length
          && java.util.Arrays.equals(p, 12, 12 + mark.length, mark, 0, mark.length)) {
        n++;
      }
    }
    return n;
  }

  /** No session, call, forwarded socket or media session on either running node, and no contact of the line. */
  private static void assertNothingLeft() throws Exception {
    for (int i = 0; i < 2; i++) {
      if (!bed.node(i).isAlive()) {
        continue;
      }
      int node = i;
      Eventually.await(Duration.ofSeconds(20), "nothing left on node " + i, () -> bed.fullHealth(node),
          h -> h.getInteger("sessions") == 0 && h.getInteger("calls") == 0 && h.getInteger("forwards") == 0
              && h.getJsonObject("media").getInteger("sessions") == 0);
    }
    Eventually.await(Duration.ofSeconds(10), "no contact for " + LINE, () -> registeredBy(), List.of()::equals);
  }

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
