package org.webphone.gateway.signalling;

import java.util.HashSet;
import java.util.Set;
import org.webphone.gateway.common.WebOrigin;
import org.webphone.gateway.config.GatewayConfig;

/**
 * Which web pages may use this gateway, decided on the {@code Origin} header alone and never on {@code Host}:
 * a DNS-rebinding page sends {@code Origin} and {@code Host} both {@code evil.example:PORT}, so a
 * "same origin as Host" rule lets it in.
 * <ul>
 *   <li>WebSocket: an origin in {@code http.allowedOrigins} or equal to {@code http.publicOrigin}; with
 *       neither configured, only a page on this machine at the node's own port (localhost, 127.0.0.1,
 *       [::1]), so the README's demo works and nothing else does;</li>
 *   <li>CORS on the page's scripts and assets: the origins of {@code http.allowedOrigins} only (the
 *       gateway's own pages need none).</li>
 * </ul>
 * Immutable after construction: safe on any thread.
 */
final class OriginPolicy {
  private final Set<String> listed = new HashSet<>();
  private final boolean anyOrigin;
  private final String publicOrigin;
  private final int nodePort;

  OriginPolicy(GatewayConfig cfg) {
    boolean any = false;
    for (Object o : cfg.getArray("http.allowedOrigins")) {
      if ("*".equals(o)) {
        any = true;
      } else {
        listed.add(WebOrigin.parse((String) o).toString());
      }
    }
    anyOrigin = any;
    String p = cfg.getString("http.publicOrigin");
    publicOrigin = p.isBlank() ? null : WebOrigin.parse(p).toString();
    nodePort = cfg.getInt("http.port");
  }

  /** May a page of {@code origin} (the header's value, not null) open the WebSocket? */
  boolean allowsWebSocket(String origin) {
    WebOrigin o = WebOrigin.parse(origin);
    if (o == null) {
      return anyOrigin;
    }
    String key = o.toString();
    if (anyOrigin || listed.contains(key) || key.equals(publicOrigin)) {
      return true;
    }
    return listed.isEmpty() && publicOrigin == null && o.isLoopback() && o.port() == nodePort;
  }

  /** The value of {@code Access-Control-Allow-Origin} for a request from {@code origin}, or null for none. */
  String corsOrigin(String origin) {
    WebOrigin o = WebOrigin.parse(origin);
    if (o == null) {
      return null;
    }
    return anyOrigin || listed.contains(o.toString()) ? origin : null;
  }
}
