package org.webphone.gateway.sip;

/**
 * One place requests can be sent to: an IP literal and a port, and where it came from ({@code "primary
 * pbx.example.com"}, {@code "secondary SRV pbx2.example.com"}) for the log and the status. Equal by address
 * and port only, so a re-resolution that finds the same address keeps it current.
 */
record PbxTarget(String address, int port, String origin) {
  @Override
  public boolean equals(Object o) {
    return o instanceof PbxTarget t && t.address.equals(address) && t.port == port;
  }

  @Override
  public int hashCode() {
    return address.hashCode() * 31 + port;
  }

  /** The address as a SIP URI's host: IPv6 in brackets. */
  String uriHost() {
    return address.contains(":") ? "[" + address + "]" : address;
  }

  /** {@code address:port}, IPv6 in brackets. */
  String hostPort() {
    return uriHost() + ":" + port;
  }

  @Override
  public String toString() {
    return hostPort() + " (" + origin + ")";
  }
}
