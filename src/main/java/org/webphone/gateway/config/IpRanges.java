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
 * A list of IP addresses and CIDR blocks ({@code 203.0.113.7}, {@code 10.0.0.0/8}, {@code 2001:db8::/32}),
 * the form of {@code pbx.allowedSources}. Immutable, so any thread may ask {@link #contains}.
 */
public final class IpRanges {
  /** Only IP literals: a host name here would make {@link InetAddress#getByName} do DNS. */
  private static final Pattern LITERAL = Pattern.compile("^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$");

  private record Block(byte[] network, int prefix, String text) {
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
   * Parses IP literals and CIDR blocks.
   *
   * @throws IllegalArgumentException naming the first entry that is neither
   */
  public static IpRanges parse(List<String> entries) {
    List<Block> blocks = new ArrayList<>();
    for (String raw : entries) {
      String e = raw == null ? "" : raw.trim();
      if (!LITERAL.matcher(e).matches() || (!e.contains(".") && !e.contains(":"))) {
        throw new IllegalArgumentException("\"" + raw + "\" is not an IP address or CIDR block");
      }
      int slash = e.indexOf('/');
      byte[] net;
      try {
        net = InetAddress.getByName(slash < 0 ? e : e.substring(0, slash)).getAddress();
      } catch (UnknownHostException ex) {
        throw new IllegalArgumentException("\"" + raw + "\" is not an IP address or CIDR block");
      }
      int prefix = slash < 0 ? net.length * 8 : Integer.parseInt(e.substring(slash + 1));
      if (prefix > net.length * 8) {
        throw new IllegalArgumentException("\"" + raw + "\": prefix longer than the address");
      }
      blocks.add(new Block(net, prefix, e));
    }
    return new IpRanges(blocks);
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
    List<String> configured = new ArrayList<>();
    cfg.getArray("pbx.allowedSources").forEach(o -> configured.add(String.valueOf(o)));
    if (!configured.isEmpty()) {
      return parse(configured);
    }
    List<String> own = new ArrayList<>();
    InetAddress[] resolved;
    try {
      resolved = InetAddress.getAllByName(cfg.pbxHost());
    } catch (UnknownHostException e) {
      throw new UnknownHostException("PBX host " + cfg.pbxHost() + " does not resolve and pbx.allowedSources is"
          + " empty: nobody could call in (set pbx.allowedSources, or fix the name)");
    }
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
