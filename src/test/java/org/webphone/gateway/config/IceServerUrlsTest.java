package org.webphone.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The ice.* keys: every URL form the page may get is taken, every bad one stops the node naming the key. */
class IceServerUrlsTest {
  private static final String SECRET = "0123456789abcdef-secret";

  private static GatewayConfig config(JsonArray servers, String secret, long ttl) {
    return GatewayConfig.of(new JsonObject().put("ice", new JsonObject().put("servers", servers)
        .put("turnSecret", secret).put("turnCredentialTtlSec", ttl)));
  }

  @Test
  void stunTurnAndTurnsUrlsAreTakenWithTheirPortsAndTransports() {
    IceServerUrls u = IceServerUrls.fromConfig(config(new JsonArray(List.of("stun:stun.example.com",
        "turn:10.0.0.9:3478?transport=udp", "turn:turn.example.com?transport=tcp",
        "turns:turn.example.com:443?transport=tcp", "turn:[2001:db8::1]:3478")), SECRET, 3600));
    assertEquals(List.of("stun stun.example.com 3478 udp", "turn 10.0.0.9 3478 udp", "turn turn.example.com 3478 tcp",
        "turns turn.example.com 443 tcp", "turn [2001:db8::1] 3478 udp"), u.urls().stream()
        .map(x -> x.scheme() + " " + x.host() + " " + x.port() + " " + x.transport()).toList());
    assertTrue(u.hasTurn());
    assertEquals(3600, u.ttlSec());
  }

  @Test
  void aBadUrlStopsTheNodeNamingItsIndex() {
    Map<String, String> bad = Map.of(
        "http://turn.example.com", "must be stun:host",
        "turn:", "must be stun:host",
        "turn:turn.example.com:0", "port must be 1..65535",
        "turn:turn.example.com:70000", "port must be 1..65535",
        "turn:-bad-.example.com", "bad host",
        "turn:turn.example.com?transport=sctp", "transport must be udp or tcp",
        "turns:turn.example.com:443?transport=udp", "transport must be tcp",
        "stun:stun.example.com?transport=tcp", "takes no transport",
        "turn:turn.example.com:3478?transport=udp&x=1", "must be stun:host");
    bad.forEach((url, why) -> {
      ConfigException e = assertThrows(ConfigException.class,
          () -> config(new JsonArray().add("stun:ok.example.com").add(url), SECRET, 3600), url);
      assertTrue(e.key().equals("ice.servers[1]") && e.getMessage().contains(why), url + ": " + e.getMessage());
    });
    ConfigException notString = assertThrows(ConfigException.class, () -> config(new JsonArray().add(3478), SECRET, 60));
    assertEquals("ice.servers[0]", notString.key(), notString.getMessage());
  }

  @Test
  void aTurnUrlWithoutASecretStopsTheNodeWhileStunNeedsNone() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> config(new JsonArray().add("turns:turn.example.com:443?transport=tcp"), "", 3600));
    assertTrue(e.key().equals("ice.turnSecret") && e.getMessage().contains("TURN URL"), e.getMessage());
    assertFalse(IceServerUrls.fromConfig(config(new JsonArray().add("stun:stun.example.com"), "", 3600)).hasTurn());
  }

  @Test
  void aShortSecretOrAnOutOfRangeLifetimeStopsTheNodeAndTheMessageNeverEchoesTheSecret() {
    String shortSecret = "tooShort!";
    ConfigException s = assertThrows(ConfigException.class,
        () -> config(new JsonArray().add("turn:turn.example.com"), shortSecret, 3600));
    assertEquals("ice.turnSecret", s.key(), s.getMessage());
    assertFalse(s.getMessage().contains(shortSecret), s.getMessage());
    ConfigException spaces = assertThrows(ConfigException.class,
        () -> config(new JsonArray().add("turn:turn.example.com"), "a secret with spaces in it", 3600));
    assertFalse(spaces.getMessage().contains("with spaces"), spaces.getMessage());
    for (long ttl : new long[] {0, 1, 86401}) {
      ConfigException t = assertThrows(ConfigException.class,
          () -> config(new JsonArray().add("turn:turn.example.com"), SECRET, ttl));
      assertEquals("ice.turnCredentialTtlSec", t.key(), t.getMessage());
    }
    JsonArray many = new JsonArray();
    for (int i = 0; i <= IceServerUrls.MAX_SERVERS; i++) {
      many.add("stun:s" + i + ".example.com");
    }
    assertThrows(ConfigException.class, () -> config(many, SECRET, 3600));
  }
}
