package org.webphone.gateway.common;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Set;

/**
 * A web origin (RFC 6454) as a browser sends it in {@code Origin}: {@code scheme://host[:port]}, http or https
 * only. Parsed once so that a configured {@code https://Shop.example:443} and the {@code https://shop.example}
 * a browser sends compare equal; {@link #toString()} is that normal form (lower case, default port left out).
 */
public record WebOrigin(String scheme, String host, int port) {
  private static final Set<String> LOOPBACK = Set.of("localhost", "127.0.0.1", "[::1]");

  /**
   * The origin in {@code text}, or null when it is not one: another scheme, {@code null} (what sandboxed
   * frames and file pages send), a path, query, fragment or user info.
   */
  public static WebOrigin parse(String text) {
    if (text == null || text.length() > 256) {
      return null;
    }
    URI u;
    try {
      u = new URI(text.trim());
    } catch (URISyntaxException e) {
      return null;
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      return null;
    }
    if (u.getHost() == null || u.getRawUserInfo() != null || u.getRawQuery() != null || u.getRawFragment() != null
        || (u.getRawPath() != null && !u.getRawPath().isEmpty())) {
      return null;
    }
    int port = u.getPort() == -1 ? defaultPort(scheme) : u.getPort();
    return new WebOrigin(scheme, u.getHost().toLowerCase(Locale.ROOT), port);
  }

  private static int defaultPort(String scheme) {
    return scheme.equals("https") ? 443 : 80;
  }

  /** localhost, 127.0.0.1 or [::1]: a page only this machine's browser can be on. */
  public boolean isLoopback() {
    return LOOPBACK.contains(host);
  }

  @Override
  public String toString() {
    return scheme + "://" + host + (port == defaultPort(scheme) ? "" : ":" + port);
  }
}
