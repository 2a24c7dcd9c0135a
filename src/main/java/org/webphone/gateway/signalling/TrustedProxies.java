package org.webphone.gateway.signalling;

import io.vertx.core.json.JsonArray;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.webphone.gateway.common.Cidr;

/**
 * {@code http.trustedProxies}: which peers may tell us the client's address in {@code X-Forwarded-For}.
 * Empty (the default) means none: the client is the TCP peer, and the header, which anyone can write, is
 * ignored. When the peer is a trusted proxy, the client is the right-most address of the header that is not
 * itself a trusted proxy (the left-most entries are the client's own claims and prove nothing). Immutable.
 */
final class TrustedProxies {
  private final List<Cidr> proxies = new ArrayList<>();

  TrustedProxies(JsonArray list) {
    for (Object o : list) {
      proxies.add(Cidr.parse((String) o));
    }
  }

  /** The address the per-address limits count: {@code peer}, or the forwarded client behind a trusted proxy. */
  String clientOf(String peer, String forwardedFor) {
    if (proxies.isEmpty() || forwardedFor == null || !trusted(Cidr.literal(peer))) {
      return peer;
    }
    String[] hops = forwardedFor.split(",");
    String client = peer;
    for (int i = hops.length - 1; i >= 0; i--) {
      InetAddress a = Cidr.literal(hops[i]);
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
    if (a == null) {
      return false;
    }
    for (Cidr c : proxies) {
      if (c.contains(a)) {
        return true;
      }
    }
    return false;
  }
}
