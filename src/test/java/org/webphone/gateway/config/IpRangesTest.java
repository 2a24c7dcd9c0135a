package org.webphone.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * pbx.allowedSources and http.trustedProxies: which addresses an entry covers (literals only, both families,
 * every prefix length), what is refused without any lookup, and the defaults.
 */
class IpRangesTest {
  private static boolean in(IpRanges r, String ip) throws Exception {
    return r.contains(InetAddress.getByName(ip));
  }

  @Test
  void addressesAndBlocksCoverExactlyTheirAddresses() throws Exception {
    IpRanges r = IpRanges.parse(List.of("203.0.113.7", "10.1.0.0/16", "192.0.2.128/25", "2001:db8::/32"));
    Object[][] table = {
        {"203.0.113.7", true}, {"203.0.113.8", false}, {"10.1.255.9", true}, {"10.2.0.1", false},
        {"192.0.2.128", true}, {"192.0.2.255", true}, {"192.0.2.127", false}, {"2001:db8::1", true},
        {"2001:db9::1", false}, {"::ffff:10.1.0.1", true},
    };
    for (Object[] t : table) {
      assertEquals(t[1], in(r, (String) t[0]), (String) t[0]);
    }
    assertEquals(false, r.contains(null));
  }

  @Test
  void eachBlockCoversItsOwnAddressesAndFamiliesNeverMix() {
    Object[][] table = {
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.1", false},
        {"192.168.1.128/25", "192.168.1.200", true},
        {"192.168.1.128/25", "192.168.1.127", false},
        {"203.0.113.7", "203.0.113.7", true},
        {"203.0.113.7", "203.0.113.8", false},
        {"0.0.0.0/0", "198.51.100.1", true},
        {"2001:db8::/32", "2001:db8:1::5", true},
        {"2001:db8::/32", "2001:db9::5", false},
        {"[::1]", "::1", true},
        {"::/0", "127.0.0.1", false}, // families never mix
    };
    for (Object[] row : table) {
      IpRanges block = IpRanges.parse(List.of((String) row[0]));
      assertEquals(row[2], block.contains(IpRanges.literal((String) row[1])), row[0] + " ∋ " + row[1]);
    }
  }

  @Test
  void hostNamesAndMalformedBlocksAreRefusedWithoutAnyLookup() {
    for (String bad : List.of("pbx.example.com", "proxy.example", "localhost", "10.0.0.0/33", "10.0.0.0/-1",
        "10.0.0.0/x", "10.0.0.0/", "", "1234", "1.2.3", "999.1.1.1", "10.0.0.256", "::1/129")) {
      assertThrows(IllegalArgumentException.class, () -> IpRanges.parse(List.of(bad)), bad);
    }
    assertNull(IpRanges.literal("proxy.example"));
    assertNull(IpRanges.literal(" unknown"));
  }

  @Test
  void theDefaultIsThePbxHostOrTheDemoPbx() throws Exception {
    IpRanges demo = IpRanges.pbxSources(GatewayConfig.of(new JsonObject()));
    assertEquals(true, in(demo, "127.0.0.1"));
    assertEquals(false, in(demo, "127.0.0.9"));
    IpRanges pbx = IpRanges.pbxSources(GatewayConfig.of(new JsonObject()
        .put("pbx", new JsonObject().put("host", "192.0.2.10"))));
    assertEquals(true, in(pbx, "192.0.2.10"));
    assertEquals(false, in(pbx, "127.0.0.1"));
    IpRanges listed = IpRanges.pbxSources(GatewayConfig.of(new JsonObject().put("pbx", new JsonObject()
        .put("host", "192.0.2.10").put("allowedSources", new JsonArray().add("198.51.100.0/24")))));
    assertEquals(false, in(listed, "192.0.2.10"), "a configured list replaces the default");
    assertEquals(true, in(listed, "198.51.100.77"));
  }
}
