package org.webphone.gateway.media.ice;

/** One {@code a=candidate} line of an SDP (RFC 8839), the fields ice4j needs. */
public record IceCandidate(String foundation, int component, String transport, long priority, String ip, int port,
                           String type) {

  /** Parses the value after {@code a=candidate:}; null when the line is not a well-formed candidate. */
  public static IceCandidate parse(String value) {
    String[] f = value.trim().split("\\s+");
    if (f.length < 8 || !"typ".equals(f[6])) {
      return null;
    }
    try {
      return new IceCandidate(f[0], Integer.parseInt(f[1]), f[2].toLowerCase(java.util.Locale.ROOT),
          Long.parseLong(f[3]), f[4], Integer.parseInt(f[5]), f[7]);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /**
   * Whether the gateway can use it: UDP, RTP component, an IPv4 literal (mDNS {@code .local} names and
   * TCP "port 9" candidates from Chrome are skipped; ice4j learns peer-reflexive candidates anyway).
   */
  public boolean usable() {
    return component == 1 && "udp".equals(transport) && port > 0 && port < 65536
        && ip.matches("\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}");
  }

  public String toSdpValue() {
    return foundation + " " + component + " " + transport + " " + priority + " " + ip + " " + port + " typ " + type;
  }
}
