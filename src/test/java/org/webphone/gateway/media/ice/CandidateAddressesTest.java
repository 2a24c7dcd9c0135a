package org.webphone.gateway.media.ice;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;

/** Which addresses the gateway's host candidates carry, and how a candidate line is read. */
class CandidateAddressesTest {
  private static InetAddress ip(String s) throws Exception {
    return InetAddress.getByName(s);
  }

  private static List<InetAddress> ips(String... s) throws Exception {
    return CandidateAddresses.resolve(List.of(s));
  }

  private static List<String> chosen(List<InetAddress> announced, String bind, List<InetAddress> interfaces,
                                     boolean ipv6) throws Exception {
    return CandidateAddresses.choose(announced, ip(bind), interfaces, ipv6).stream()
        .map(CandidateAddresses::literal).toList();
  }

  @Test
  void everyAnnouncedAddressGetsAHostCandidateInTheConfiguredOrder() throws Exception {
    assertEquals(List.of("203.0.113.7", "198.51.100.20", "10.0.0.5"),
        chosen(ips("203.0.113.7", "198.51.100.20", "10.0.0.5", "203.0.113.7"), "0.0.0.0", List.of(), false));
  }

  @Test
  void neverTheWildcardNeverLinkLocalOrMulticastAndNoLoopbackBesideAPublicAddress() throws Exception {
    assertEquals(List.of("203.0.113.7"),
        chosen(ips("127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.1", "203.0.113.7"), "0.0.0.0", List.of(), false));
    // Nothing announced, a wildcard bind: the interfaces, without loopback once another is there.
    assertEquals(List.of("10.1.2.3", "192.0.2.9"),
        chosen(List.of(), "0.0.0.0", ips("127.0.0.1", "10.1.2.3", "fe80::1", "192.0.2.9"), false));
    // A bound address is offered as it is: loopback alone (the demo, the tests) stays.
    assertEquals(List.of("127.0.0.1"), chosen(List.of(), "127.0.0.1", ips("10.1.2.3"), false));
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> CandidateAddresses.choose(ips("0.0.0.0"), ip("0.0.0.0"), List.of(), false));
    assertTrue(none.getMessage().startsWith("no address a browser could reach"), none.getMessage());
  }

  @Test
  void ipv6AddressesGetCandidatesOnlyWhereTheNodeCanCarryIpv6() throws Exception {
    List<InetAddress> announced = ips("203.0.113.7", "2001:db8::7");
    assertEquals(List.of("203.0.113.7", "2001:db8:0:0:0:0:0:7"), chosen(announced, "::", List.of(), true));
    assertEquals(List.of("203.0.113.7"), chosen(announced, "0.0.0.0", List.of(), false));
    assertTrue(CandidateAddresses.choose(ips("2001:db8::7", "203.0.113.7"), ip("::"), List.of(), false)
        .stream().noneMatch(a -> a instanceof java.net.Inet6Address));
    // The launchers run the JVM IPv4-only; the same JVM flag governs the tests.
    assertEquals(!Boolean.getBoolean("java.net.preferIPv4Stack"), CandidateAddresses.ipv6Capable(ip("::")));
    assertEquals(false, CandidateAddresses.ipv6Capable(ip("0.0.0.0")));
  }

  @Test
  void theOneAddressKeyStaysAnAliasInFrontOfTheList() {
    GatewayConfig one = GatewayConfig.of(new JsonObject().put("media", new JsonObject()
        .put("announcedAddress", "203.0.113.7")));
    assertEquals(List.of("203.0.113.7"), one.mediaCandidateAddresses());
    GatewayConfig both = GatewayConfig.of(new JsonObject().put("media", new JsonObject()
        .put("announcedAddress", "203.0.113.7")
        .put("announcedAddresses", new JsonArray().add("198.51.100.20").add("203.0.113.7"))));
    assertEquals(List.of("203.0.113.7", "198.51.100.20"), both.mediaCandidateAddresses());
    assertEquals(List.of(), GatewayConfig.of(new JsonObject()).mediaCandidateAddresses());
    ConfigException bad = assertThrows(ConfigException.class, () -> GatewayConfig.of(new JsonObject()
        .put("media", new JsonObject().put("announcedAddresses", new JsonArray().add("not an address!")))));
    assertTrue(bad.getMessage().contains("media.announcedAddresses"), bad.getMessage());
  }

  @Test
  void aCandidateIsReadFromTheBrowsersStringTheSdpLineOrItsValue() {
    String chrome = "candidate:842163049 1 udp 1677729535 198.51.100.4 53705 typ srflx raddr 0.0.0.0 rport 0 "
        + "generation 0 ufrag sXP5 network-cost 999";
    IceCandidate c = IceCandidate.parse(chrome);
    assertEquals("198.51.100.4", c.ip());
    assertEquals(53705, c.port());
    assertEquals("srflx", c.type());
    assertEquals("sXP5", c.ufrag());
    assertTrue(c.usable());
    assertEquals(c.toSdpValue(), IceCandidate.parse("a=" + chrome).toSdpValue());
    assertEquals(c.toSdpValue(), IceCandidate.parse(chrome.substring("candidate:".length())).toSdpValue());
    IceCandidate mdns = IceCandidate.parse("candidate:0 1 UDP 2122252543 e944ecdc-337d-48ab-8368-e821e6592496.local "
        + "43136 typ host");
    assertTrue(mdns.isMdns() && !mdns.usable(), "Firefox's mDNS host candidate");
    assertEquals("10.0.0.2", mdns.withIp("10.0.0.2").ip());
    assertNull(IceCandidate.parse("candidate:1 1 udp 1 1.2.3.4 99999 typ host"));
    assertNull(IceCandidate.parse("candidate:1 1 udp 1 1.2.3.4 5000 typ nonsense"));
    assertNull(IceCandidate.parse("candidate:x 1 udp one 1.2.3.4 5000 typ host"));
    assertNull(IceCandidate.parse("hello"));
  }
}
