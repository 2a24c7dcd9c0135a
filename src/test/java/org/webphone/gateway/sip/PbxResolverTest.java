package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.naming.NameNotFoundException;
import javax.naming.NamingException;
import org.junit.jupiter.api.Test;

/**
 * RFC 3263/2782 target selection of {@link PbxResolver}. No DNS server can be started here (none is installed
 * as a peer), so SRV answers come from a table given as the resolver's {@link PbxResolver.Dns}: a fake, and
 * the only one, standing in for the records a zone would hold. The A-record path of the real resolver is
 * checked with {@code localhost}, which every host resolves from /etc/hosts.
 */
class PbxResolverTest {
  /** A zone in a table: SRV records by name, addresses by host; a name in neither does not exist. */
  private static final class Zone implements PbxResolver.Dns {
    final Map<String, List<PbxResolver.Srv>> srv = new HashMap<>();
    final Map<String, List<String>> a = new HashMap<>();
    final List<String> asked = new ArrayList<>();
    boolean srvFails;

    @Override
    public List<PbxResolver.Srv> srv(String name) throws NamingException {
      asked.add("SRV " + name);
      if (srvFails) {
        throw new NamingException("DNS server not reachable");
      }
      if (!srv.containsKey(name)) {
        throw new NameNotFoundException(name);
      }
      return srv.get(name);
    }

    @Override
    public List<InetAddress> addresses(String host) throws UnknownHostException {
      asked.add("A " + host);
      List<String> ips = a.get(host);
      if (ips == null) {
        throw new UnknownHostException(host);
      }
      List<InetAddress> out = new ArrayList<>();
      for (String ip : ips) {
        out.add(InetAddress.getByName(ip));
      }
      return out;
    }
  }

  private static List<String> hostPorts(List<PbxTarget> targets) {
    return targets.stream().map(PbxTarget::hostPort).toList();
  }

  @Test
  void srvRecordsGiveTheTargetsInPriorityOrderWithTheirPortsAndAddresses() {
    Zone z = new Zone();
    z.srv.put("_sip._udp.pbx.example.com", List.of(new PbxResolver.Srv(20, 0, 5080, "backup.example.com"),
        new PbxResolver.Srv(10, 0, 5062, "main.example.com")));
    z.a.put("main.example.com", List.of("192.0.2.1", "192.0.2.2"));
    z.a.put("backup.example.com", List.of("198.51.100.7"));
    PbxResolver r = new PbxResolver(z, "udp", new Random(1));
    List<PbxTarget> t = r.resolve(List.of(new PbxResolver.Entry("pbx.example.com", 5060, "primary")));
    assertEquals(List.of("192.0.2.1:5062", "192.0.2.2:5062", "198.51.100.7:5080"), hostPorts(t));
    assertEquals("primary SRV main.example.com", t.get(0).origin());
  }

  @Test
  void theSrvNameFollowsTheTransport() {
    assertEquals("_sip._udp.example.com", PbxResolver.srvName("udp", "example.com"));
    assertEquals("_sip._tcp.example.com", PbxResolver.srvName("tcp", "example.com"));
    assertEquals("_sips._tcp.example.com", PbxResolver.srvName("tls", "example.com"));
    Zone z = new Zone();
    z.srv.put("_sips._tcp.example.com", List.of(new PbxResolver.Srv(0, 0, 5061, "tls.example.com")));
    z.a.put("tls.example.com", List.of("203.0.113.5"));
    List<PbxTarget> t = new PbxResolver(z, "tls", new Random(1))
        .resolve(List.of(new PbxResolver.Entry("example.com", 5060, "primary")));
    assertEquals(List.of("203.0.113.5:5061"), hostPorts(t));
  }

  @Test
  void withoutSrvRecordsTheNamesAddressesAreUsedWithTheConfiguredPort() {
    Zone z = new Zone();
    z.a.put("pbx.example.com", List.of("192.0.2.9"));
    List<PbxTarget> t = new PbxResolver(z, "udp", new Random(1))
        .resolve(List.of(new PbxResolver.Entry("pbx.example.com", 5070, "primary")));
    assertEquals(List.of("192.0.2.9:5070"), hostPorts(t));
    assertEquals(List.of("SRV _sip._udp.pbx.example.com", "A pbx.example.com"), z.asked);
    z.srvFails = true; // a DNS server that does not answer SRV at all: the A records still count
    assertEquals(List.of("192.0.2.9:5070"), hostPorts(new PbxResolver(z, "udp", new Random(1))
        .resolve(List.of(new PbxResolver.Entry("pbx.example.com", 5070, "primary")))));
  }

  @Test
  void anIpLiteralOrASingleLabelNameAsksNoSrv() {
    Zone z = new Zone();
    z.a.put("pbxhost", List.of("10.0.0.5"));
    List<PbxTarget> t = new PbxResolver(z, "udp", new Random(1)).resolve(List.of(
        new PbxResolver.Entry("192.0.2.1", 5060, "primary"), new PbxResolver.Entry("pbxhost", 5062, "secondary")));
    assertEquals(List.of("192.0.2.1:5060", "10.0.0.5:5062"), hostPorts(t));
    assertEquals(List.of("A pbxhost"), z.asked);
  }

  @Test
  void primaryThenSecondaryWithoutRepeatsAndAnUnresolvableEntryIsSkipped() {
    Zone z = new Zone();
    z.a.put("a.example.com", List.of("192.0.2.1"));
    z.a.put("b.example.com", List.of("192.0.2.1", "192.0.2.2"));
    PbxResolver r = new PbxResolver(z, "udp", new Random(1));
    assertEquals(List.of("192.0.2.1:5060", "192.0.2.2:5060"), hostPorts(r.resolve(List.of(
        new PbxResolver.Entry("a.example.com", 5060, "primary"),
        new PbxResolver.Entry("b.example.com", 5060, "secondary")))));
    assertEquals(List.of("192.0.2.1:5060"), hostPorts(r.resolve(List.of(
        new PbxResolver.Entry("gone.example.com", 5060, "primary"),
        new PbxResolver.Entry("a.example.com", 5060, "secondary")))));
    assertEquals(List.of(), r.resolve(List.of(new PbxResolver.Entry("gone.example.com", 5060, "primary"))));
  }

  @Test
  void anEntryThatStopsResolvingKeepsItsLastGoodAddresses() {
    Zone z = new Zone();
    z.a.put("a.example.com", List.of("192.0.2.1"));
    z.a.put("b.example.com", List.of("192.0.2.2"));
    PbxResolver r = new PbxResolver(z, "udp", new Random(1));
    List<PbxResolver.Entry> both = List.of(new PbxResolver.Entry("a.example.com", 5060, "primary"),
        new PbxResolver.Entry("b.example.com", 5060, "secondary"));
    assertEquals(List.of("192.0.2.1:5060", "192.0.2.2:5060"), hostPorts(r.resolve(both)));
    z.a.remove("b.example.com"); // its DNS fails for a while
    z.a.put("a.example.com", List.of("192.0.2.11"));
    assertEquals(List.of("192.0.2.11:5060", "192.0.2.2:5060"), hostPorts(r.resolve(both)));
  }

  @Test
  void withinOnePriorityTheWeightsShareTheFirstPlaceAndARecordOfWeightZoneIsRarelyFirst() {
    List<PbxResolver.Srv> records = List.of(new PbxResolver.Srv(10, 60, 5060, "big"),
        new PbxResolver.Srv(10, 40, 5060, "small"), new PbxResolver.Srv(10, 0, 5060, "zero"),
        new PbxResolver.Srv(5, 0, 5060, "first"), new PbxResolver.Srv(30, 10, 5060, "."));
    Random random = new Random(42);
    Map<String, Integer> second = new HashMap<>();
    int rounds = 10_000;
    for (int i = 0; i < rounds; i++) {
      List<PbxResolver.Srv> o = PbxResolver.order(records, random);
      assertEquals(4, o.size(), "the \".\" target (service not offered) is dropped");
      assertEquals("first", o.get(0).target(), "the lowest priority comes first");
      second.merge(o.get(1).target(), 1, Integer::sum);
    }
    // RFC 2782: with running sums 0, 40, 100 over 0..100, "zero" wins 1/101, "small" 40/101, "big" 60/101.
    assertTrue(Math.abs(second.get("big") - rounds * 60 / 101) < rounds / 20, second.toString());
    assertTrue(Math.abs(second.get("small") - rounds * 40 / 101) < rounds / 20, second.toString());
    assertTrue(second.getOrDefault("zero", 0) < rounds / 30, second.toString());
  }

  @Test
  void anSrvAnswerIsReadFromItsTextForm() {
    assertEquals(new PbxResolver.Srv(10, 60, 5060, "pbx1.example.com"), PbxResolver.parse("10 60 5060 pbx1.example.com."));
    assertEquals(null, PbxResolver.parse("10 60 pbx1.example.com."));
    assertEquals(null, PbxResolver.parse("ten 60 5060 pbx1.example.com."));
  }

  @Test
  void theSystemResolverFindsLocalhostByItsARecordAndKeepsTheBindAddresssFamily() {
    List<PbxResolver.Entry> localhost = List.of(new PbxResolver.Entry("localhost", 5070, "primary"));
    assertEquals(List.of("127.0.0.1:5070"), hostPorts(PbxResolver.system("udp", "127.0.0.1").resolve(localhost)));
    assertTrue(hostPorts(PbxResolver.system("udp", "0.0.0.0").resolve(localhost)).contains("127.0.0.1:5070"));
  }
}
