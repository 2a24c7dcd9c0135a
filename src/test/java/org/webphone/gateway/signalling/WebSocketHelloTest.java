package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.webphone.gateway.signalling.Harness.method;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;

/**
 * Who gets an account, and when (issue 16: R1, R11): nothing is leased before the socket's first frame,
 * {@code Hello}; tokens travel in it, the URL form is only deprecated; one address gets its share of the pool;
 * {@code X-Forwarded-For} counts only from a trusted proxy. Each row is an attacker's exact input, and after
 * each the node still serves the next client.
 */
@ExtendWith(VertxExtension.class)
class WebSocketHelloTest {
  private static final String SECRET = "s3cret-for-tests";

  @Test
  void aSocketLeasesNothingBeforeItsHelloAndIsClosedWith1008WhenNoneComesWithinFiveSeconds(Vertx vertx)
      throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject())) {
      long opened = System.currentTimeMillis();
      Harness.Client silent = h.open(null, Map.of());
      assertNull(silent.frames.poll(500, TimeUnit.MILLISECONDS), "the server waits for the Hello");
      assertEquals(0, h.lower.count(Addresses.POOL_LEASE), "no lease before Hello");
      assertEquals(0, h.status().getInteger("sessions"));
      awaitClosed(silent, 8000);
      assertTrue(System.currentTimeMillis() - opened >= 4900, "kept for the 5 s of the Hello timeout");
      assertEquals(1008, (int) silent.ws.closeStatusCode());
      assertEquals(104, silent.await("Error").getInteger("code"));
      assertEquals(0, h.lower.count(Addresses.POOL_LEASE), "never leased");
      assertEquals(1L, WebSocketHardeningTest.awaitWebSocketCount(h, "closedNoHello", 1));

      Harness.Client next = h.ready();
      assertEquals(1, h.lower.count(Addresses.POOL_LEASE), "the Hello leases");
      next.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void aFirstFrameThatIsNotAValidHelloIsRefusedWith1008BeforeAnyLease(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject())) {
      Object[][] table = {
          {"{\"method\":\"Ping\",\"ref\":1}", 104},
          {"{\"method\":\"Call\",\"number\":\"600\",\"sdp\":\"v=0\"}", 104},
          {"{\"method\":\"Resume\",\"token\":\"0123456789abcdefghij\"}", 104},
          {"not json", 100},
          {"{\"method\":\"Hello\",\"token\":\"a token with spaces\"}", 103},
          {"{\"method\":\"Hello\",\"resume\":\"short\"}", 103},
          {"{\"method\":\"Hello\",\"token\":5}", 103},
          {"{\"method\":\"Hello\",\"pad\":\"" + "€".repeat(30_000) + "\"}", 105},
          {null, 100}, // a binary frame
      };
      for (Object[] row : table) {
        Harness.Client c = h.open(null, Map.of());
        if (row[0] == null) {
          c.ws.writeBinaryMessage(Buffer.buffer(new byte[] {'{', '}'}));
        } else {
          c.sendText((String) row[0]);
        }
        String what = row[0] == null ? "binary" : ((String) row[0]).substring(0, Math.min(60, ((String) row[0]).length()));
        JsonObject err = c.await("Error");
        assertEquals(row[1], err.getInteger("code"), what + " -> " + err);
        assertNull(err.getString("method"), "a refused connection: " + err);
        c.awaitClosed();
        assertEquals(1008, (int) c.ws.closeStatusCode(), what);
        assertEquals(0, h.lower.count(Addresses.POOL_LEASE), "no lease after " + what);
      }
      Harness.Client ok = h.ready();
      assertEquals(104, ok.request(method("Hello")).getInteger("code"), "a second Hello is refused");
      assertEquals("Pong", ok.request(method("Ping")).getString("event"), "and the session goes on");
      ok.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void theAccessTokenWorksInTheHelloAndInTheUrlOnlyAsDeprecated(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject().put("auth", new JsonObject().put("tokenSecret", SECRET)))) {
      long now = System.currentTimeMillis() / 1000;
      String good = AuthToken.issue(SECRET, now, "visitor-1");
      for (String bad : new String[] {null, "garbage", AuthToken.issue("other-secret", now, "v"), good + "x"}) {
        Harness.Client c = h.connect(bad == null ? null : "token=" + bad);
        assertEquals(201, c.await("Error").getInteger("code"), "Hello with token " + bad);
        c.awaitClosed();
        assertEquals(1008, (int) c.ws.closeStatusCode());
      }
      Harness.Client inUrl = h.open("token=garbage", Map.of());
      assertEquals(201, inUrl.await("Error").getInteger("code"), "a bad token in the URL is refused as before");
      assertEquals(0, h.lower.count(Addresses.POOL_LEASE));

      Harness.Client hello = h.connect("token=" + good);
      assertEquals("Hello", hello.await("Ack").getString("method"));
      hello.await("OnSetReadyStatus");
      hello.ws.close();
      h.assertNothingLeaked();
      Harness.Client old = h.open("token=" + good, Map.of());
      old.await("OnSetReadyStatus");
      assertEquals(2L, WebSocketHardeningTest.awaitWebSocketCount(h, "urlTokens", 2), "both URL tokens counted");
      old.ws.close();
      h.assertNothingLeaked();
    }
  }

  /**
   * auth.tokenMaxAgeSec bounds the Hello that opens a session: a token past it (signature fine) opens none, with or
   * without a jti that no move left usable, and with a resume token that names no session; but it takes back the
   * session its resume token names (AgentLinesOnTwoNodesTest has the move it may follow once).
   */
  @Test
  void aTokenPastItsAgeOpensNoSessionButStillResumesOne(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 2, new JsonObject().put("auth", new JsonObject().put("tokenSecret", SECRET)))) {
      long now = System.currentTimeMillis() / 1000;
      String aged = AuthToken.issue(SECRET, now - 400, "visitor-2");
      String agedWithId = AuthToken.issue(SECRET, now - 400, "visitor-3", "never-moved");
      String gone = RemoteSessions.newToken("node-gone");
      for (String hello : new String[] {"token=" + aged, "token=" + agedWithId, "token=" + aged + "&resume=" + gone}) {
        Harness.Client c = h.connect(hello);
        JsonObject refused = c.await("Error", e -> e.getInteger("code") == 201);
        assertEquals("access token refused: expired", refused.getString("message"), hello);
        c.awaitClosed();
        assertEquals(1008, (int) c.ws.closeStatusCode(), hello);
      }
      assertEquals(0, h.lower.count(Addresses.POOL_LEASE), "nothing leased for them");

      Harness.Client page = h.connect("token=" + AuthToken.issue(SECRET, now, "visitor-1", "fresh"));
      String resume = page.await("OnSession").getString("resumeToken");
      page.await("OnSetReadyStatus");
      Harness.Client again = h.connect("token=" + agedWithId + "&resume=" + resume);
      assertEquals(true, again.await("OnSession").getBoolean("resumed"), "its resume token takes the session back");
      page.awaitClosed();
      assertEquals(4001, (int) page.ws.closeStatusCode());
      assertEquals(1, h.lower.count(Addresses.POOL_LEASE));
      again.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void oneAddressGetsItsShareOfThePoolAndTheNextSessionGetsConnectionLimit(Vertx vertx) throws Exception {
    // Ten accounts (the default range 1000-1009): the default share is max(2, 10 % of 10) = 2.
    try (Harness h = new Harness(vertx, 10, new JsonObject().put("limits", new JsonObject().put("accountsPerIp", 0)))) {
      Harness.Client a = h.ready();
      Harness.Client b = h.ready();
      Harness.Client third = h.connect(null);
      JsonObject limit = third.await("OnRegistrationStateChanged");
      assertEquals("Connection limit", limit.getString("state"), limit.encode());
      third.awaitClosed();
      assertEquals(1013, (int) third.ws.closeStatusCode());
      assertEquals(2, h.lower.count(Addresses.POOL_LEASE), "the third never asked the pool");
      a.ws.close();
      h.lower.awaitCount(Addresses.POOL_RELEASE, 1);
      Harness.Client again = h.ready();
      again.ws.close();
      b.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void sessionsWithAValidAccessTokenAreNotBoundByTheAddressShare(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 10, new JsonObject().put("limits", new JsonObject().put("accountsPerIp", 1))
        .put("auth", new JsonObject().put("tokenSecret", SECRET)))) {
      long now = System.currentTimeMillis() / 1000;
      for (int i = 0; i < 3; i++) {
        h.connect("token=" + AuthToken.issue(SECRET, now, "visitor-" + i)).await("OnSetReadyStatus");
      }
      assertEquals(3, h.lower.leases.size(), "behind one NAT, three visitors with tokens");
    }
  }

  @Test
  void xForwardedForIsIgnoredWhenNoProxyIsTrusted(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 5, onePerAddress())) {
      sayHello(h, "203.0.113.7").await("OnSetReadyStatus");
      assertEquals(204, sayHello(h, "203.0.113.8").await("Error").getInteger("code"),
          "without trusted proxies the header is the client's own claim: both are 127.0.0.1");
      assertEquals(1, h.lower.leases.size());
    }
  }

  @Test
  void behindATrustedProxyTheClientIsTheRightMostForwardedAddressThatIsNotAProxy(Vertx vertx) throws Exception {
    JsonObject behindProxy = onePerAddress().put("http", new JsonObject()
        .put("trustedProxies", new JsonArray().add("127.0.0.0/8")));
    try (Harness h = new Harness(vertx, 5, behindProxy)) {
      sayHello(h, "203.0.113.7").await("OnSetReadyStatus");
      sayHello(h, "203.0.113.8").await("OnSetReadyStatus");
      String[] sameClient = {"203.0.113.7", "198.51.100.1, 203.0.113.7", "203.0.113.7, 127.0.0.1"};
      for (String xff : sameClient) {
        assertEquals(204, sayHello(h, xff).await("Error").getInteger("code"),
            "X-Forwarded-For: " + xff + " is 203.0.113.7 again (left entries prove nothing, trusted hops skipped)");
      }
      assertEquals(2, h.lower.leases.size());
    }
  }

  private static JsonObject onePerAddress() {
    return new JsonObject().put("limits", new JsonObject().put("maxSessionsPerIp", 1));
  }

  private static Harness.Client sayHello(Harness h, String forwardedFor) throws Exception {
    Harness.Client c = h.open(null, Map.of("X-Forwarded-For", forwardedFor));
    c.send(Harness.hello(null));
    return c;
  }

  private static void awaitClosed(Harness.Client c, long ms) throws InterruptedException {
    long end = System.currentTimeMillis() + ms;
    while (!c.closed && System.currentTimeMillis() < end) {
      Thread.sleep(10);
    }
    assertTrue(c.closed, "closed within " + ms + " ms");
  }
}
