package org.webphone.gateway.common;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/**
 * An IP address or a CIDR block ({@code 10.0.0.0/8}, {@code 2001:db8::/32}) from the configuration, and the
 * test whether an address is inside it. Only literals are parsed: a host name is refused, so that no DNS
 * lookup ever happens on a hot path or at a packet's say-so. Immutable.
 */
public record Cidr(byte[] network, int prefix) {
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");

  /** Parses {@code "ip"} or {@code "ip/prefix"}; throws IllegalArgumentException with a readable reason. */
  public static Cidr parse(String text) {
    String s = text == null ? "" : text.trim();
    int slash = s.indexOf('/');
    InetAddress a = literal(slash < 0 ? s : s.substring(0, slash));
    if (a == null) {
      throw new IllegalArgumentException("not an IP address or CIDR block: \"" + text + "\"");
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
        throw new IllegalArgumentException("bad prefix length in \"" + text + "\" (0.." + bits + ")");
      }
    }
    return new Cidr(a.getAddress(), prefix);
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
    if (!IPV4.matcher(t).matches() && !IPV6.matcher(t).matches()) {
      return null;
    }
    try {
      return InetAddress.getByName(t); // a literal: no lookup
    } catch (UnknownHostException e) {
      return null;
    }
  }

  /** True when {@code a} is inside this block (an IPv4 address never matches an IPv6 block, and back). */
  public boolean contains(InetAddress a) {
    byte[] b = a.getAddress();
    if (b.length != network.length) {
      return false;
    }
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (b[i] != network[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (b[full] & mask) == (network[full] & mask);
  }
}
