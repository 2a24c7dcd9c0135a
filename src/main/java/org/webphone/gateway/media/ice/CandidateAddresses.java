package org.webphone.gateway.media.ice;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which addresses the gateway's host candidates carry (one {@code typ host} candidate each, all on the WebRTC
 * port): the announced addresses when any are configured ({@code media.announcedAddress} and
 * {@code media.announcedAddresses}, e.g. a NAT's public address, one per interface), else the bind address, or
 * with a wildcard bind the host's interface addresses. Never an address a browser cannot reach: not a
 * wildcard, multicast or link-local address, no loopback beside a routable one, and IPv6 only when the node
 * can carry it (see {@link #ipv6Capable}). Pure and static; {@link #resolve} and {@link #interfaces} block
 * (name lookups), so callers run them on a worker at start.
 */
public final class CandidateAddresses {
  private CandidateAddresses() {
  }

  /**
   * The candidate addresses, in order (the first gets the highest priority).
   *
   * @param announced  the configured announced addresses, resolved, in configuration order (may be empty)
   * @param bind       {@code media.bindAddress}, resolved
   * @param interfaces the host's interface addresses, used only when nothing is announced and bind is a wildcard
   * @param ipv6       whether IPv6 candidates can work ({@link #ipv6Capable})
   * @throws IllegalArgumentException when no address is left (the node would offer browsers nothing to reach)
   */
  public static List<InetAddress> choose(List<InetAddress> announced, InetAddress bind, List<InetAddress> interfaces,
                                         boolean ipv6) {
    List<InetAddress> from = !announced.isEmpty() ? announced
        : bind.isAnyLocalAddress() ? interfaces : List.of(bind);
    Set<InetAddress> kept = new LinkedHashSet<>();
    for (InetAddress a : from) {
      if (!a.isAnyLocalAddress() && !a.isMulticastAddress() && !a.isLinkLocalAddress()
          && (ipv6 || !(a instanceof Inet6Address))) {
        kept.add(a);
      }
    }
    if (kept.stream().anyMatch(a -> !a.isLoopbackAddress())) {
      kept.removeIf(InetAddress::isLoopbackAddress);
    }
    if (kept.isEmpty()) {
      throw new IllegalArgumentException("no address a browser could reach among " + from
          + (ipv6 ? "" : " (IPv6 needs media.bindAddress \"::\" and a JVM without java.net.preferIPv4Stack=true)"));
    }
    return List.copyOf(kept);
  }

  /**
   * Whether an IPv6 candidate can work: the JVM is not IPv4-only ({@code -Djava.net.preferIPv4Stack=true}, which
   * the launchers set) and the WebRTC port is bound on {@code ::} or an IPv6 address.
   */
  public static boolean ipv6Capable(InetAddress bind) {
    return !Boolean.getBoolean("java.net.preferIPv4Stack") && bind instanceof Inet6Address;
  }

  /** Resolves configured names and literals; blocking for names. */
  public static List<InetAddress> resolve(List<String> names) throws UnknownHostException {
    List<InetAddress> out = new ArrayList<>();
    for (String n : names) {
      if (!n.isBlank()) {
        out.add(InetAddress.getByName(n.trim()));
      }
    }
    return out;
  }

  /** The addresses of the host's interfaces that are up; loopback included (the caller drops it beside others). */
  public static List<InetAddress> interfaces() {
    List<InetAddress> out = new ArrayList<>();
    try {
      for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        if (ni.isUp()) {
          out.addAll(Collections.list(ni.getInetAddresses()));
        }
      }
    } catch (SocketException e) {
      // no interface list: only what is announced or bound can be offered
    }
    return out;
  }

  /** The textual form written into a candidate line (no scope id, no brackets). */
  public static String literal(InetAddress a) {
    String s = a.getHostAddress();
    int pct = s.indexOf('%');
    return pct < 0 ? s : s.substring(0, pct);
  }
}
