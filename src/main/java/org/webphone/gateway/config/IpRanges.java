package org.webphone.gateway.config;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A list of IP addresses and CIDR blocks ({@code 203.0.113.7}, {@code 10.0.0.0/8}, {@code 2001:db8::/32},
 * {@code [::1]}), the form of {@code pbx.allowedSources} and {@code http.trustedProxies}, and the test
 * whether an address is inside one of them. Only literals are parsed: a host name is refused, so that no DNS
 * lookup ever happens on a hot path or at a packet's say-so. Immutable, so any thread may ask
 * {@link #contains}.
 */
public final class IpRanges implements io.vertx.core.shareddata.Shareable {
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");

  private record Block(byte[] network, int prefix, String text) {
    /** True when {@code a} is inside this block (an IPv4 address never matches an IPv6 block, and back). */
    boolean contains(byte[] a) {
      if (a.length != network.length) {
        return false;
      }
      int full = prefix / 8;
      for (int i = 0; i < full; i++) {
        if (a[i] != network[i]) {
          return false;
        }
      }
      int rest = prefix % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xff << (8 - rest)) & 0xff;
      return (a[full] & mask) == (network[full] & mask);
    }
  }

  private final List<Block> blocks;

  private IpRanges(List<Block> blocks) {
    this.blocks = List.copyOf(blocks);
  }

  /**
   * Parses IP literals and CIDR blocks ({@code "ip"} or {@code "ip/prefix"}).
   *
   * @throws IllegalArgumentException naming the first entry that is neither, with a readable reason
   */
  public static IpRanges parse(List<String> entries) {
    List<Block> blocks = new ArrayList<>();
    for (String raw : entries) {
      blocks.add(block(raw));
    }
    return new IpRanges(blocks);
  }

  private static Block block(String raw) {
    String s = raw == null ? "" : raw.trim();
    int slash = s.indexOf('/');
    InetAddress a = literal(slash < 0 ? s : s.substring(0, slash));
    if (a == null) {
      throw new IllegalArgumentException("\"" + raw + "\" is not an IP address or CIDR block");
    }
    int bits = a.getAddress().length * 8;
    int prefix = bits;
    if (slash >= 0) {
      try {
        prefix = Integer.parseInt(s.substring(slash + 1));
      } catch (NumberFormatException e) {
        prefix = -1;
      }
      if (prefix < 0 || prefix > bits) {
        throw new IllegalArgumentException("bad prefix length in \"" + raw + "\" (0.." + bits + ")");
      }
    }
    return new Block(a.getAddress(), prefix, s);
  }

  /** The address of an IP literal (IPv4, IPv6, bracketed IPv6), or null when {@code s} is anything else. */
  public static InetAddress literal(String s) {
    if (s == null) {
      return null;
    }
    String t = s.trim();
    if (t.startsWith("[") && t.endsWith("]")) {
      t = t.substring(1, t.length() - 1);
    }
    try {
      if (IPV4.matcher(t).matches()) {
        // Built from its four numbers: InetAddress.getByName would take "999.1.1.1" for a host name and look it up.
        String[] parts = t.split("\\.");
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
          int v = Integer.parseInt(parts[i]);
          if (v > 255) {
            return null;
          }
          b[i] = (byte) v;
        }
        return InetAddress.getByAddress(b);
      }
      // With a ':' it can only be read as an IPv6 literal, never looked up.
      return IPV6.matcher(t).matches() ? InetAddress.getByName(t) : null;
    } catch (UnknownHostException e) {
      return null;
    }
  }

  public boolean contains(InetAddress a) {
    if (a == null) {
      return false;
    }
    byte[] b = a.getAddress();
    for (Block k : blocks) {
      if (k.contains(b)) {
        return true;
      }
    }
    return false;
  }

  public boolean isEmpty() {
    return blocks.isEmpty();
  }

  @Override
  public String toString() {
    return blocks.stream().map(Block::text).toList().toString();
  }

  /**
   * Where the PBX may send SIP and media from: {@code pbx.allowedSources}; when empty, the address of
   * {@code pbx.host} (in demo mode the embedded demo PBX's bind address; a wildcard bind address means this
   * host's own addresses). Blocking (a host name is looked up): call it on a worker thread.
   *
   * @throws UnknownHostException when the default is needed and the PBX host does not resolve
   */
  public static IpRanges pbxSources(GatewayConfig cfg) throws UnknownHostException {
    IpRanges configured = configuredPbxSources(cfg);
    if (!configured.isEmpty()) {
      return configured;
    }
    InetAddress[] resolved;
    try {
      resolved = InetAddress.getAllByName(cfg.pbxHost());
    } catch (UnknownHostException e) {
      throw new UnknownHostException("PBX host " + cfg.pbxHost() + " does not resolve and pbx.allowedSources is"
          + " empty: nobody could call in (set pbx.allowedSources, or fix the name)");
    }
    return ofPbxAddresses(List.of(resolved));
  }

  /** {@code pbx.allowedSources} as configured (validated at load), empty when not set; no DNS. */
  public static IpRanges configuredPbxSources(GatewayConfig cfg) {
    List<String> configured = new ArrayList<>();
    cfg.getArray("pbx.allowedSources").forEach(o -> configured.add(String.valueOf(o)));
    return parse(configured);
  }

  /**
   * The PBX's resolved addresses as sources; a wildcard address (a demo PBX bound to 0.0.0.0) stands for this
   * host's own addresses.
   */
  public static IpRanges ofPbxAddresses(List<InetAddress> resolved) {
    List<String> own = new ArrayList<>();
    for (InetAddress a : resolved) {
      if (a.isAnyLocalAddress()) {
        own.addAll(localAddresses());
      } else {
        own.add(a.getHostAddress());
      }
    }
    return parse(own);
  }

  private static List<String> localAddresses() {
    List<String> out = new ArrayList<>(List.of("127.0.0.0/8", "::1"));
    try {
      for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        nif.inetAddresses().forEach(a -> out.add(a.getHostAddress().replaceFirst("%.*$", "")));
      }
    } catch (SocketException e) {
      // loopback alone is still a safe default
    }
    return out;
  }
}
