package org.webphone.gateway.sip;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.random.RandomGenerator;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.IpRanges;

/**
 * Where the PBX is: turns the configured registrars ({@code pbx.host}/{@code pbx.port}, then
 * {@code pbx.secondaryHost}/{@code pbx.secondaryPort}) into an ordered list of {@link PbxTarget}s, the first
 * one preferred. RFC 3263 in the part a registrar client needs: an IP literal is used as it is; a name with a
 * dot is first looked up as SRV ({@code _sip._udp.}, {@code _sip._tcp.} or {@code _sips._tcp.} by
 * transport) and its records are ordered by priority, then by weight (RFC 2782's weighted random pick), each
 * record's target giving its A/AAAA addresses with the record's port; without SRV records (or for a single
 * label such as {@code localhost}) the name's A/AAAA addresses with the configured port.
 *
 * <p>Blocking (DNS): call {@link #resolve} on a worker thread only, one call at a time (PbxWatch sees to it).
 * Remembers each entry's last good answer; owns nothing that needs freeing.
 */
final class PbxResolver {
  private static final Logger LOG = LoggerFactory.getLogger(PbxResolver.class);

  /** One configured registrar: a host (IP literal or name) and the port to use when no SRV record gives one. */
  record Entry(String host, int port, String role) {
  }

  /** One SRV record (RFC 2782). */
  record Srv(int priority, int weight, int port, String target) {
  }

  /** The DNS lookups the resolver makes; a test gives its own table. */
  interface Dns {
    /** SRV records of {@code name}; empty when it has none. */
    List<Srv> srv(String name) throws NamingException;

    /** A and AAAA addresses of {@code host}. */
    List<InetAddress> addresses(String host) throws UnknownHostException;
  }

  private final Dns dns;
  private final String transport;
  private final RandomGenerator random;
  /** Each entry's last successful resolution: a DNS failure keeps it. */
  private final Map<Entry, List<PbxTarget>> lastGood = new ConcurrentHashMap<>();
  /** The address family the SIP stack can send to (that of its bind address), or null for both. */
  private final Class<? extends InetAddress> family;

  PbxResolver(Dns dns, String transport, RandomGenerator random) {
    this(dns, transport, random, null);
  }

  private PbxResolver(Dns dns, String transport, RandomGenerator random, Class<? extends InetAddress> family) {
    this.dns = dns;
    this.transport = transport;
    this.random = random;
    this.family = family;
  }

  /**
   * The system's resolver: SRV through JNDI's DNS provider (the servers of /etc/resolv.conf), A/AAAA by
   * InetAddress, keeping only addresses of {@code bindAddress}'s family (a stack bound to an IPv4 address
   * cannot send to an IPv6 one) unless it is a wildcard or a name.
   */
  static PbxResolver system(String transport, String bindAddress) {
    InetAddress bind = IpRanges.literal(bindAddress);
    Class<? extends InetAddress> family = bind == null || bind.isAnyLocalAddress() ? null : bind.getClass();
    return new PbxResolver(new SystemDns(), transport, RandomGenerator.getDefault(), family);
  }

  private boolean usable(InetAddress a) {
    return family == null || family.isInstance(a);
  }

  /** The SRV name asked for {@code domain} over this transport. */
  static String srvName(String transport, String domain) {
    return switch (transport) {
      case "tls" -> "_sips._tcp." + domain;
      case "tcp" -> "_sip._tcp." + domain;
      default -> "_sip._udp." + domain;
    };
  }

  /**
   * The targets of every entry, in order (an entry's own order from SRV priority and weight), without
   * repeats. An entry that does not resolve now keeps what it resolved to last time (logged); one that never
   * resolved is skipped. The caller decides what an empty list means.
   */
  List<PbxTarget> resolve(List<Entry> entries) {
    List<PbxTarget> out = new ArrayList<>();
    for (Entry e : entries) {
      List<PbxTarget> found;
      try {
        found = resolve(e);
        lastGood.put(e, found);
      } catch (UnknownHostException | NamingException ex) {
        found = lastGood.getOrDefault(e, List.of());
        LOG.warn("PBX {} {} does not resolve: {}{}", e.role(), e.host(), ex.toString(),
            found.isEmpty() ? "" : "; keeping " + found);
      }
      for (PbxTarget t : found) {
        if (!out.contains(t)) {
          out.add(t);
        }
      }
    }
    return out;
  }

  private List<PbxTarget> resolve(Entry e) throws UnknownHostException, NamingException {
    InetAddress literal = IpRanges.literal(e.host());
    if (literal != null) {
      return List.of(new PbxTarget(literal.getHostAddress(), e.port(), e.role() + " " + e.host()));
    }
    List<PbxTarget> out = new ArrayList<>();
    List<Srv> records = e.host().contains(".") ? srvOrEmpty(srvName(transport, e.host())) : List.of();
    if (records.isEmpty()) {
      for (InetAddress a : dns.addresses(e.host())) {
        if (usable(a)) {
          out.add(new PbxTarget(a.getHostAddress(), e.port(), e.role() + " " + e.host()));
        }
      }
      if (out.isEmpty()) {
        throw new UnknownHostException(e.host() + " has no address of the SIP stack's family");
      }
      return out;
    }
    for (Srv s : order(records, random)) {
      try {
        for (InetAddress a : dns.addresses(s.target())) {
          if (usable(a)) {
            out.add(new PbxTarget(a.getHostAddress(), s.port(), e.role() + " SRV " + s.target()));
          }
        }
      } catch (UnknownHostException ex) {
        LOG.warn("PBX {} SRV target {} does not resolve: {}", e.role(), s.target(), ex.toString());
      }
    }
    if (out.isEmpty()) {
      throw new UnknownHostException("no SRV target of " + srvName(transport, e.host()) + " resolves");
    }
    return out;
  }

  /** SRV records, or none when the lookup fails (no DNS server, NXDOMAIN): the name's A records are then used. */
  private List<Srv> srvOrEmpty(String name) {
    try {
      return dns.srv(name);
    } catch (NamingException ex) {
      LOG.debug("no SRV records for {}: {}", name, ex.toString());
      return List.of();
    }
  }

  /**
   * RFC 2782's order: lowest priority first; within a priority, repeatedly pick a record at random with
   * probability proportional to its weight (records of weight 0 have a small chance, and come first in the
   * running sum as the RFC asks). A target of "." (the service is not offered) is dropped.
   */
  static List<Srv> order(List<Srv> records, RandomGenerator random) {
    List<Srv> sorted = new ArrayList<>(records.stream().filter(r -> !".".equals(r.target()) && !r.target().isEmpty())
        .sorted(Comparator.comparingInt(Srv::priority)).toList());
    List<Srv> out = new ArrayList<>();
    int i = 0;
    while (i < sorted.size()) {
      int prio = sorted.get(i).priority();
      List<Srv> group = new ArrayList<>();
      while (i < sorted.size() && sorted.get(i).priority() == prio) {
        group.add(sorted.get(i++));
      }
      group.sort(Comparator.comparingInt(Srv::weight)); // the zero weights first
      while (!group.isEmpty()) {
        int total = group.stream().mapToInt(Srv::weight).sum();
        int pick = total == 0 ? 0 : random.nextInt(total + 1);
        int sum = 0;
        int chosen = group.size() - 1;
        for (int k = 0; k < group.size(); k++) {
          sum += group.get(k).weight();
          if (sum >= pick) {
            chosen = k;
            break;
          }
        }
        out.add(group.remove(chosen));
      }
    }
    return out;
  }

  /** JNDI's DNS provider for SRV, with short timeouts (it runs on a worker, but a start must not hang). */
  private static final class SystemDns implements Dns {
    @Override
    public List<Srv> srv(String name) throws NamingException {
      Hashtable<String, String> env = new Hashtable<>();
      env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
      env.put("com.sun.jndi.dns.timeout.initial", "500");
      env.put("com.sun.jndi.dns.timeout.retries", "2");
      DirContext ctx = new InitialDirContext(env);
      try {
        Attribute a = ctx.getAttributes(name, new String[] {"SRV"}).get("SRV");
        List<Srv> out = new ArrayList<>();
        if (a == null) {
          return out;
        }
        NamingEnumeration<?> values = a.getAll();
        while (values.hasMore()) {
          Srv s = parse(String.valueOf(values.next()));
          if (s != null) {
            out.add(s);
          }
        }
        return out;
      } finally {
        ctx.close();
      }
    }

    @Override
    public List<InetAddress> addresses(String host) throws UnknownHostException {
      return List.of(InetAddress.getAllByName(host));
    }
  }

  /** {@code "10 60 5060 pbx1.example.com."} → a record; null when it is not four fields. */
  static Srv parse(String text) {
    String[] f = text.trim().split("\\s+");
    if (f.length != 4) {
      return null;
    }
    try {
      String target = f[3].endsWith(".") && f[3].length() > 1 ? f[3].substring(0, f[3].length() - 1) : f[3];
      return new Srv(Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]), target);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
