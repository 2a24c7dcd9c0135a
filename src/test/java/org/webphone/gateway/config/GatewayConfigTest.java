package org.webphone.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GatewayConfigTest {
  @TempDir
  Path dir;

  private static GatewayConfig load(Path file, Map<String, String> env) {
    return GatewayConfig.load(file, env, new Properties());
  }

  @Test
  void defaultsGiveTheEmbeddedDemoWithTenAccounts() {
    GatewayConfig c = load(null, Map.of());
    assertTrue(c.demoMode());
    assertEquals(8080, c.getInt("http.port"));
    assertEquals("127.0.0.1", c.pbxHost());
    assertEquals(5090, c.pbxPort());
    List<AccountList.Account> accounts = AccountList.fromConfig(c);
    assertEquals(10, accounts.size());
    assertEquals("1000", accounts.get(0).username());
    assertEquals("secret-1000", accounts.get(0).password());
  }

  @Test
  void everyKeyHasAnEnvironmentVariableThatOverridesFileAndDefault() throws Exception {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"http\":{\"port\":9000},\"pbx\":{\"host\":\"10.1.2.3\"}}");
    GatewayConfig c = load(f, Map.of("WEBPHONE_HTTP_PORT", "9100", "WEBPHONE_MEDIA_RTP_PORT_MIN", "30000",
        "WEBPHONE_MEDIA_RTP_PORT_MAX", "30100", "WEBPHONE_DIAL_ALLOW", "1xx,2xx", "WEBPHONE_CLUSTER_ENABLED", "true"));
    assertEquals(9100, c.getInt("http.port"));
    assertEquals(30000, c.getInt("media.rtpPortMin"));
    assertEquals("10.1.2.3", c.pbxHost());
    assertFalse(c.demoMode());
    assertEquals(2, c.getArray("dial.allow").size());
    assertTrue(c.getBoolean("cluster.enabled"));
    assertEquals("WEBPHONE_MEDIA_RTP_PORT_MIN", GatewayConfig.envName("media.rtpPortMin"));
  }

  @Test
  void theOzekiExamplesRangeGeneratorGivesOz880ToOz898() {
    GatewayConfig c = GatewayConfig.of(new JsonObject().put("pool", new JsonObject().put("range",
        new JsonObject().put("prefix", "oz8").put("from", 80).put("to", 98).put("passwordTemplate", "{user}"))));
    List<AccountList.Account> a = AccountList.fromConfig(c);
    assertEquals(19, a.size());
    assertEquals("oz880", a.get(0).username());
    assertEquals("oz880", a.get(0).password());
    assertEquals("oz898", a.get(18).username());
  }

  @Test
  void badValuesNameTheKey() throws Exception {
    assertKey("http.port", () -> load(null, Map.of("WEBPHONE_HTTP_PORT", "70000")));
    assertKey("http.port", () -> load(null, Map.of("WEBPHONE_HTTP_PORT", "eighty")));
    assertKey("sip.transport", () -> load(null, Map.of("WEBPHONE_SIP_TRANSPORT", "sctp")));
    assertKey("node.eventLoops", () -> load(null, Map.of("WEBPHONE_NODE_EVENT_LOOPS", "-1")));
    // A node id becomes part of bus addresses (signalling.node.<id>.resume) and of every resume token.
    assertKey("node.id", () -> load(null, Map.of("WEBPHONE_NODE_ID", "a.b")));
    assertKey("node.id", () -> load(null, Map.of("WEBPHONE_NODE_ID", "node a")));
    assertKey("node.id", () -> load(null, Map.of("WEBPHONE_NODE_ID", "n".repeat(41))));
    assertKey("media.rtpPortMin", () -> load(null, Map.of("WEBPHONE_MEDIA_RTP_PORT_MIN", "20001")));
    assertKey("dial.allow", () -> load(null, Map.of("WEBPHONE_DIAL_ALLOW", "[\"(\"]")));
    // Host names would mean a DNS lookup per client; only literal addresses and CIDR blocks are trusted.
    assertKey("http.trustedProxies", () -> load(null, Map.of("WEBPHONE_HTTP_TRUSTED_PROXIES", "proxy.example")));
    assertKey("http.trustedProxies", () -> load(null, Map.of("WEBPHONE_HTTP_TRUSTED_PROXIES", "10.0.0.0/33")));
    assertKey("limits.accountsPerIp", () -> load(null, Map.of("WEBPHONE_LIMITS_ACCOUNTS_PER_IP", "-1")));
    assertKey("http.tlsKey", () -> load(null, Map.of("WEBPHONE_HTTP_TLS_CERT", "/etc/hostname")));
    assertKey("pbx.allowedSources", () -> load(null, Map.of("WEBPHONE_PBX_ALLOWED_SOURCES", "pbx.example.com")));
    assertKey("pbx.allowedSources", () -> load(null, Map.of("WEBPHONE_PBX_ALLOWED_SOURCES", "10.0.0.0/33")));
    assertKey("sip.tcpIdleSec", () -> load(null, Map.of("WEBPHONE_SIP_TCP_IDLE_SEC", "0")));
    Path f = dir.resolve("typo.json");
    Files.writeString(f, "{\"http\":{\"prot\":9000}}");
    assertKey("http.prot", () -> load(f, Map.of()));
    Files.writeString(f, "{\"pool\":{\"accounts\":[{\"username\":\"a b\",\"password\":\"x\"}]}}");
    assertKey("pool.accounts[0].username", () -> load(f, Map.of()));
    Files.writeString(f, "not json");
    assertKey("--config", () -> load(f, Map.of()));
  }

  @Test
  void theIceTcpPortIsAtLeast1024Or80And443OnlyWithAPublicAnnouncedAddress() {
    // Chromium ignores remote candidates on ports below 1024 other than 80/443, and 80/443 on private addresses.
    assertKey("media.iceTcpPort", () -> load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "1023")));
    assertKey("media.iceTcpPort", () -> load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "443")));
    assertKey("media.iceTcpPort", () -> load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "443",
        "WEBPHONE_MEDIA_ANNOUNCED_ADDRESS", "192.168.1.10")));
    assertKey("media.iceTcpPort", () -> load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "80",
        "WEBPHONE_MEDIA_ANNOUNCED_ADDRESS", "100.64.0.1")));
    assertKey("media.iceTcpPort", () -> load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "443",
        "WEBPHONE_MEDIA_ANNOUNCED_ADDRESS", "media.example.com")));
    assertEquals(443, load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "443", "WEBPHONE_MEDIA_ANNOUNCED_ADDRESS",
        "203.0.113.7")).getInt("media.iceTcpPort"));
    assertEquals(0, load(null, Map.of("WEBPHONE_MEDIA_ICE_TCP_PORT", "0")).getInt("media.iceTcpPort"), "0 = off");
    assertEquals(10000, load(null, Map.of()).getInt("media.iceTcpPort"), "on by default");
  }

  private static void assertKey(String key, Runnable r) {
    ConfigException e = assertThrows(ConfigException.class, r::run);
    assertEquals(key, e.key(), e.getMessage());
    assertTrue(e.getMessage().startsWith("configuration error: " + key + ": "), e.getMessage());
  }
}
