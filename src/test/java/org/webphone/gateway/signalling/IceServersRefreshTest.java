package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * OnSession hands the page fresh TURN credentials and OnIceServers repeats them every half lifetime while the
 * session lives; the refresh timer ends with the session; the shared secret is in no frame.
 */
@ExtendWith(VertxExtension.class)
class IceServersRefreshTest {
  private static final String SECRET = "refresh-test-secret-0123456789";
  private static final String TURN = "turns:turn.example.com:443?transport=tcp";
  private Harness h;

  @AfterEach
  void tearDown() throws Exception {
    if (h != null) {
      h.close();
    }
  }

  @Test
  void freshCredentialsComeInOnSessionAndEveryHalfLifetimeUntilTheSessionEndsAndNeverCarryTheSecret(Vertx vertx)
      throws Exception {
    // A 2 s lifetime: a refresh every second.
    h = new Harness(vertx, 1, new JsonObject().put("ice", new JsonObject().put("servers", new JsonArray().add(TURN))
        .put("turnSecret", SECRET).put("turnCredentialTtlSec", 2)));
    List<JsonObject> seen = new ArrayList<>();
    Harness.Client c = h.connect(null);
    JsonObject session = c.await("OnSession");
    seen.add(session);
    long expiry = expiry(session.getJsonArray("iceServers"), session.getString("sessionId"));
    long nowSec = System.currentTimeMillis() / 1000;
    assertTrue(expiry >= nowSec + 1 && expiry <= nowSec + 2, "OnSession's credential expires in the lifetime: "
        + expiry + " at " + nowSec);
    for (int i = 0; i < 2; i++) {
      JsonObject refresh = c.await("OnIceServers");
      seen.add(refresh);
      long next = expiry(refresh.getJsonArray("iceServers"), session.getString("sessionId"));
      assertTrue(next > expiry, "each refresh carries a later expiry: " + next + " after " + expiry);
      expiry = next;
    }
    seen.addAll(c.frames);
    assertFalse(seen.stream().anyMatch(f -> f.encode().contains(SECRET)), "the secret is in no frame: " + seen);

    c.ws.close();
    h.assertNothingLeaked();
    // Each refresh reads the verticle's clock, and nothing else does with no frame coming in: unchanged
    // reads over three refresh periods after the session ended mean its timer ended with it.
    long reads = h.clockReads();
    long until = System.currentTimeMillis() + 3000;
    while (System.currentTimeMillis() < until) {
      assertEquals(reads, h.clockReads(), "the ended session's refresh timer still runs");
      Thread.sleep(100);
    }
  }

  /** The expiry of the one TURN entry's username {@code <expiry>:<sessionId>}, checked for its shape. */
  private static long expiry(JsonArray iceServers, String sessionId) {
    assertEquals(1, iceServers.size(), "one RTCIceServer: " + iceServers);
    JsonObject turn = iceServers.getJsonObject(0);
    assertEquals(new JsonArray().add(TURN), turn.getJsonArray("urls"));
    String[] user = turn.getString("username").split(":", 2);
    assertEquals(sessionId, user[1], "the username names the session");
    assertTrue(turn.getString("credential").matches("[A-Za-z0-9+/]{27}="), "a base64 HMAC-SHA1: " + turn);
    return Long.parseLong(user[0]);
  }
}
