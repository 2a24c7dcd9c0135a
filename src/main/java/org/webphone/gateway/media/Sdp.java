package org.webphone.gateway.media;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A parsed SDP (RFC 8866), just what the relay needs: session-level attributes and connection, and per
 * m-line its port, protocol, formats, connection and attributes. Parsing is lenient about line endings and
 * unknown lines, strict about what it reads: a malformed m= or c= line is an {@link IllegalArgumentException}.
 */
public final class Sdp {
  /** One m= section. */
  public static final class Media {
    public final String type;
    public final int port;
    public final String proto;
    public final List<String> formats;
    String connection;
    final List<String[]> attributes = new ArrayList<>();

    Media(String type, int port, String proto, List<String> formats) {
      this.type = type;
      this.port = port;
      this.proto = proto;
      this.formats = formats;
    }

    /** First value of {@code a=name:value} in this section, or null. */
    public String attr(String name) {
      for (String[] a : attributes) {
        if (a[0].equals(name)) {
          return a[1];
        }
      }
      return null;
    }

    public boolean has(String name) {
      return attr(name) != null;
    }

    public List<String> attrs(String name) {
      List<String> out = new ArrayList<>();
      for (String[] a : attributes) {
        if (a[0].equals(name)) {
          out.add(a[1]);
        }
      }
      return out;
    }

    /** The payload type whose rtpmap is {@code encoding} (e.g. "telephone-event/8000"), or -1. */
    public int payloadFor(String encoding) {
      for (String v : attrs("rtpmap")) {
        String[] f = v.split("\\s+", 2);
        if (f.length == 2 && f[1].toLowerCase(Locale.ROOT).startsWith(encoding.toLowerCase(Locale.ROOT))
            && formats.contains(f[0])) {
          try {
            return Integer.parseInt(f[0]);
          } catch (NumberFormatException e) {
            return -1;
          }
        }
      }
      return -1;
    }

    /** sendrecv, sendonly, recvonly or inactive (default sendrecv). */
    public String direction() {
      for (String[] a : attributes) {
        switch (a[0]) {
          case "sendrecv", "sendonly", "recvonly", "inactive" -> {
            return a[0];
          }
          default -> { }
        }
      }
      return null;
    }
  }

  private final List<String[]> sessionAttributes = new ArrayList<>();
  private String sessionConnection;
  private String origin;
  private final List<Media> media = new ArrayList<>();

  public static Sdp parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("empty SDP");
    }
    Sdp sdp = new Sdp();
    Media current = null;
    boolean sawVersion = false;
    for (String raw : text.split("\r?\n|\r")) {
      String line = raw.strip();
      if (line.length() < 2 || line.charAt(1) != '=') {
        continue;
      }
      char k = line.charAt(0);
      String v = line.substring(2);
      switch (k) {
        case 'v' -> sawVersion = true;
        case 'o' -> sdp.origin = v.trim();
        case 'm' -> {
          String[] f = v.split("\\s+");
          if (f.length < 4) {
            throw new IllegalArgumentException("bad m= line: " + v);
          }
          int port;
          try {
            port = Integer.parseInt(f[1].split("/")[0]);
          } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad port in m= line: " + v);
          }
          if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("bad port in m= line: " + v);
          }
          current = new Media(f[0], port, f[2], List.of(f).subList(3, f.length));
          sdp.media.add(current);
        }
        case 'c' -> {
          String[] f = v.split("\\s+");
          if (f.length < 3 || !"IN".equals(f[0])) {
            throw new IllegalArgumentException("bad c= line: " + v);
          }
          String addr = f[2].split("/")[0];
          if (current == null) {
            sdp.sessionConnection = addr;
          } else {
            current.connection = addr;
          }
        }
        case 'a' -> {
          int colon = v.indexOf(':');
          String[] a = colon < 0 ? new String[] {v, ""} : new String[] {v.substring(0, colon), v.substring(colon + 1)};
          (current == null ? sdp.sessionAttributes : current.attributes).add(a);
        }
        default -> { }
      }
    }
    if (!sawVersion) {
      throw new IllegalArgumentException("not an SDP (no v= line)");
    }
    return sdp;
  }

  /** The o= line's value (username, session id, version, ...), or null. */
  public String origin() {
    return origin;
  }

  public List<Media> media() {
    return media;
  }

  /** The first audio m-line, or null. */
  public Media audio() {
    for (Media m : media) {
      if ("audio".equals(m.type)) {
        return m;
      }
    }
    return null;
  }

  public String sessionAttr(String name) {
    for (String[] a : sessionAttributes) {
      if (a[0].equals(name)) {
        return a[1];
      }
    }
    return null;
  }

  /** An attribute of the m-line, falling back to the session level (ice-ufrag, fingerprint, setup...). */
  public String attr(Media m, String name) {
    String v = m.attr(name);
    return v != null ? v : sessionAttr(name);
  }

  /** The m-line's connection address, else the session's. */
  public String connection(Media m) {
    return m.connection != null ? m.connection : sessionConnection;
  }

  /** The m-line's direction, else the session's, else sendrecv. */
  public String direction(Media m) {
    String d = m.direction();
    if (d != null) {
      return d;
    }
    for (String[] a : sessionAttributes) {
      switch (a[0]) {
        case "sendrecv", "sendonly", "recvonly", "inactive" -> {
          return a[0];
        }
        default -> { }
      }
    }
    return "sendrecv";
  }
}
