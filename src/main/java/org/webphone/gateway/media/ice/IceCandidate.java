package org.webphone.gateway.media.ice;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One {@code a=candidate} line of an SDP (RFC 8839), the fields ice4j needs, and the {@code ufrag} extension
 * attribute browsers add to trickled candidates (which ICE generation it belongs to), or null.
 */
public record IceCandidate(String foundation, int component, String transport, long priority, String ip, int port,
                           String type, String ufrag) {
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
  /** An mDNS host name as browsers make them (RFC 8828 / draft-ietf-mmusic-mdns-ice-candidates): a UUID. */
  private static final Pattern MDNS = Pattern.compile("[A-Za-z0-9-]{1,63}\\.local");

  /**
   * Parses the value after {@code a=candidate:}; also the whole line, or {@code RTCIceCandidate.candidate}
   * ({@code candidate:...}). Null when it is not a well-formed candidate.
   */
  public static IceCandidate parse(String value) {
    String v = value.trim();
    if (v.startsWith("a=")) {
      v = v.substring(2);
    }
    if (v.startsWith("candidate:")) {
      v = v.substring("candidate:".length());
    }
    String[] f = v.split("\\s+");
    if (f.length < 8 || !"typ".equals(f[6])) {
      return null;
    }
    String ufrag = null;
    for (int i = 8; i + 1 < f.length; i += 2) {
      if ("ufrag".equals(f[i])) {
        ufrag = f[i + 1];
      }
    }
    try {
      IceCandidate c = new IceCandidate(f[0], Integer.parseInt(f[1]), f[2].toLowerCase(Locale.ROOT),
          Long.parseLong(f[3]), f[4], Integer.parseInt(f[5]), f[7], ufrag);
      boolean known = switch (c.type) {
        case "host", "srflx", "prflx", "relay" -> true;
        default -> false;
      };
      return !known || c.component < 1 || c.component > 256 || c.port < 0 || c.port > 65535 || c.priority < 0
          || c.priority > 0xffffffffL ? null : c;
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /**
   * Whether the gateway can use it as it is: UDP, RTP component, an IPv4 literal (mDNS {@code .local} names
   * need {@link #withIp} first; TCP "port 9" candidates from Chrome are skipped; ice4j learns peer-reflexive
   * candidates anyway).
   */
  public boolean usable() {
    return usableExceptAddress() && IPV4.matcher(ip).matches();
  }

  /** An mDNS host candidate ({@code <uuid>.local}, Firefox and Safari hide host addresses so) the gateway could use once resolved. */
  public boolean isMdns() {
    return usableExceptAddress() && MDNS.matcher(ip).matches();
  }

  private boolean usableExceptAddress() {
    return component == 1 && "udp".equals(transport) && port > 0 && port < 65536;
  }

  /** The same candidate at a resolved address. */
  public IceCandidate withIp(String address) {
    return new IceCandidate(foundation, component, transport, priority, address, port, type, ufrag);
  }

  public String toSdpValue() {
    return foundation + " " + component + " " + transport + " " + priority + " " + ip + " " + port + " typ " + type;
  }
}
