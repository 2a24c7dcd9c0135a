package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IceServerUrls;

/**
 * The TURN REST API credentials coturn's use-auth-secret checks, against a vector computed outside Java:
 * {@code printf %s "1796652000:s-abc" | openssl dgst -sha1 -hmac "turn-test-secret-0123456789" -binary | base64}.
 */
class TurnCredentialsTest {
  private static final String SECRET = "turn-test-secret-0123456789";

  private static TurnCredentials credentials(List<String> urls, long ttlSec, AtomicLong clockMs) {
    GatewayConfig cfg = GatewayConfig.of(new JsonObject().put("ice", new JsonObject().put("servers", new JsonArray(urls))
        .put("turnSecret", SECRET).put("turnCredentialTtlSec", ttlSec)));
    return new TurnCredentials(IceServerUrls.fromConfig(cfg), SECRET, clockMs::get);
  }

  @Test
  void theCredentialIsTheBase64HmacSha1OfExpiryColonSessionIdAsOpensslComputesIt() {
    AtomicLong clock = new AtomicLong(1_796_648_400_999L);
    TurnCredentials.Credential c = credentials(List.of("turn:turn.example.com"), 3600, clock).mint("s-abc");
    assertEquals("1796652000:s-abc", c.username(), "expiry = now (whole seconds) + lifetime");
    assertEquals("yAKv6X2WR7Z/4KioQJP3LS0RlLU=", c.credential());
    assertEquals(1_796_652_000L, c.expiresAtSec());
  }

  @Test
  void theIceServersAreTheStunUrlsAloneAndTheTurnUrlsWithAFreshCredentialFromTheClock() {
    AtomicLong clock = new AtomicLong(1_796_648_400_000L);
    TurnCredentials t = credentials(List.of("stun:stun.example.com:3478", "turn:10.0.0.9:3478?transport=udp",
        "turns:turn.example.com:443?transport=tcp"), 600, clock);
    JsonArray first = t.iceServers("s-1");
    assertEquals(new JsonArray().add(new JsonObject().put("urls", new JsonArray().add("stun:stun.example.com:3478")))
        .add(new JsonObject().put("urls", new JsonArray().add("turn:10.0.0.9:3478?transport=udp")
            .add("turns:turn.example.com:443?transport=tcp")).put("username", "1796649000:s-1")
            .put("credential", t.mint("s-1").credential())), first);
    clock.addAndGet(300_000);
    assertEquals("1796649300:s-1", t.iceServers("s-1").getJsonObject(1).getString("username"),
        "a later list carries a later expiry");
    assertEquals(300_000, t.refreshEveryMs(), "refreshed every half lifetime");
    assertFalse(t.toString().contains(SECRET), t.toString());
  }

  @Test
  void withStunOnlyThereIsNothingToMintAndWithNoServersTheListIsEmpty() {
    AtomicLong clock = new AtomicLong();
    TurnCredentials stun = new TurnCredentials(IceServerUrls.fromConfig(GatewayConfig.of(new JsonObject().put("ice",
        new JsonObject().put("servers", new JsonArray().add("stun:10.0.0.9"))))), "", clock::get);
    assertEquals(new JsonArray().add(new JsonObject().put("urls", new JsonArray().add("stun:10.0.0.9"))),
        stun.iceServers("s-1"));
    assertFalse(stun.expires(), "no TURN: no refresh timer");
    assertThrows(IllegalStateException.class, () -> stun.mint("s-1"));
    TurnCredentials none = new TurnCredentials(IceServerUrls.fromConfig(GatewayConfig.of(new JsonObject())), "",
        clock::get);
    assertEquals(new JsonArray(), none.iceServers("s-1"));
  }
}
