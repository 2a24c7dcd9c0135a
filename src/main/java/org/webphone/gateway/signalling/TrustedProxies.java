package org.webphone.gateway.signalling;

import io.vertx.core.json.JsonArray;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.webphone.gateway.config.IpRanges;

/**
 * {@code http.trustedProxies}: which peers may tell us the client's address in {@code X-Forwarded-For}.
 * Empty (the default) means none: the client is the TCP peer, and the header, which anyone can write, is
 * ignored. When the peer is a trusted proxy, the client is the right-most address of the header that is not
 * itself a trusted proxy (the left-most entries are the client's own claims and prove nothing). Immutable.
 */
final class TrustedProxies {
  private final IpRanges proxies;

  TrustedProxies(JsonArray list) {
    List<String> entries = new ArrayList<>();
    list.forEach(o -> entries.add((String) o));
    proxies = IpRanges.parse(entries);
  }

  /** The address the per-address limits count: {@code peer}, or the forwarded client behind a trusted proxy. */
  String clientOf(String peer, String forwardedFor) {
    if (proxies.isEmpty() || forwardedFor == null || !trusted(IpRanges.literal(peer))) {
      return peer;
    }
    String[] hops = forwardedFor.split(",");
    String client = peer;
    for (int i = hops.length - 1; i >= 0; i--) {
      InetAddress a = IpRanges.literal(hops[i]);
      if (a == null) {
        // Not an address: our proxy wrote only the right-most entries, so nothing left of here is reliable.
        return client;
      }
      client = a.getHostAddress();
      if (!trusted(a)) {
        return client;
      }
    }
    return client;
  }

  private boolean trusted(InetAddress a) {
    return proxies.contains(a); // false for null: not an address
  }
}
