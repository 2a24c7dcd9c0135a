package org.webphone.gateway.config;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The STUN and TURN servers the page's RTCPeerConnection is given ({@code ice.servers}), checked at start:
 * {@code stun:host[:port]}, {@code turn:host[:port][?transport=udp|tcp]} and
 * {@code turns:host[:port][?transport=tcp]} (RFC 7064, RFC 7065; TURN over DTLS is not offered, browsers do not
 * speak it). A TURN URL needs {@code ice.turnSecret}, the shared secret of the TURN server's
 * {@code use-auth-secret}, from which the node mints each session's short-lived credentials; STUN needs none.
 * Immutable; built from the config at start and read on the signalling event loop.
 */
public final class IceServerUrls {
  /** One server URL, as the browser gets it ({@code text}) and its parts. */
  public record Url(String text, String scheme, String host, int port, String transport) {
    public boolean isTurn() {
      return !scheme.equals("stun");
    }
  }

  /** Above this the page would spend its gathering time on servers it never needs. */
  static final int MAX_SERVERS = 16;
  static final int MIN_SECRET_CHARS = 16;
  private static final Pattern URL = Pattern.compile(
      "^(stun|turn|turns):(\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:\\?transport=([a-z]+))?$");
  private static final Pattern HOST_NAME = Pattern.compile(
      "^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$");
  private static final Pattern SECRET = Pattern.compile("^[\\x21-\\x7e]+$");

  private final List<Url> urls;
  private final long ttlSec;

  private IceServerUrls(List<Url> urls, long ttlSec) {
    this.urls = List.copyOf(urls);
    this.ttlSec = ttlSec;
  }

  /** The validated {@code ice.*} keys; a {@link ConfigException} naming the key for the first bad one. */
  public static IceServerUrls fromConfig(GatewayConfig cfg) {
    List<Url> urls = new ArrayList<>();
    var list = cfg.getArray("ice.servers");
    if (list.size() > MAX_SERVERS) {
      throw new ConfigException("ice.servers", "at most " + MAX_SERVERS + " URLs, got " + list.size());
    }
    for (int i = 0; i < list.size(); i++) {
      urls.add(parse("ice.servers[" + i + "]", list.getValue(i)));
    }
    long ttl = cfg.getLong("ice.turnCredentialTtlSec");
    if (ttl < 2 || ttl > 86400) {
      throw new ConfigException("ice.turnCredentialTtlSec", "must be 2..86400, got " + ttl);
    }
    String secret = cfg.getString("ice.turnSecret");
    boolean turn = urls.stream().anyMatch(Url::isTurn);
    if (turn && secret.isEmpty()) {
      throw new ConfigException("ice.turnSecret", "ice.servers has a TURN URL: set the TURN server's shared secret"
          + " (coturn's static-auth-secret) so the node can mint credentials");
    }
    // The value is never echoed: a config error line must not carry the secret into a log.
    if (!secret.isEmpty() && (secret.length() < MIN_SECRET_CHARS || !SECRET.matcher(secret).matches())) {
      throw new ConfigException("ice.turnSecret", "must be blank or at least " + MIN_SECRET_CHARS
          + " printable characters without spaces");
    }
    return new IceServerUrls(urls, ttl);
  }

  /** One URL of {@code ice.servers}, checked part by part. */
  static Url parse(String key, Object value) {
    if (!(value instanceof String s)) {
      throw new ConfigException(key, "must be a string such as \"turn:turn.example.com:3478?transport=udp\"");
    }
    Matcher m = URL.matcher(s);
    if (!m.matches()) {
      throw new ConfigException(key, "must be stun:host[:port], turn:host[:port][?transport=udp|tcp] or"
          + " turns:host[:port][?transport=tcp], got \"" + s + "\"");
    }
    String scheme = m.group(1);
    String host = m.group(2);
    if (!host.startsWith("[") && !HOST_NAME.matcher(host).matches()) {
      throw new ConfigException(key, "bad host \"" + host + "\" in \"" + s + "\"");
    }
    int port = scheme.equals("turns") ? 5349 : 3478;
    if (m.group(3) != null) {
      port = Integer.parseInt(m.group(3));
      if (port < 1 || port > 65535) {
        throw new ConfigException(key, "port must be 1..65535 in \"" + s + "\"");
      }
    }
    String transport = m.group(4);
    if (transport != null) {
      if (scheme.equals("stun")) {
        throw new ConfigException(key, "a stun: URL takes no transport, got \"" + s + "\"");
      }
      if (scheme.equals("turns") ? !transport.equals("tcp") : !transport.equals("udp") && !transport.equals("tcp")) {
        throw new ConfigException(key, "transport must be " + (scheme.equals("turns") ? "tcp" : "udp or tcp")
            + " for " + scheme + ":, got \"" + s + "\"");
      }
    } else {
      transport = scheme.equals("stun") ? "udp" : scheme.equals("turns") ? "tcp" : "udp";
    }
    return new Url(s, scheme, host, port, transport);
  }

  public List<Url> urls() {
    return urls;
  }

  public boolean hasTurn() {
    return urls.stream().anyMatch(Url::isTurn);
  }

  /** How long a minted credential is valid, seconds. */
  public long ttlSec() {
    return ttlSec;
  }
}
