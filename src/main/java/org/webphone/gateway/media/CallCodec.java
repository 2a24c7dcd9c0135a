package org.webphone.gateway.media;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The audio codec of one call, passed through without transcoding: the payload type each leg uses for it
 * (a browser's Opus is often 111 while a PBX's is 107 or 96), the encoding as {@code a=rtpmap} names it, its
 * RTP clock rate (the unit of every timestamp of the call: Opus 48 000, G.722 8 000 by RFC 3551's historic
 * rule, G.711 8 000) and the {@code a=fmtp} parameters to write toward each leg (what that leg's peer asked
 * to receive, since the other peer is who receives it). Immutable; the session swaps the whole record.
 */
public record CallCodec(String name, int clockRate, int channels, int browserPt, int pbxPt, String toBrowserFmtp,
                        String toPbxFmtp) {
  static final String PCMU = "PCMU";
  static final String PCMA = "PCMA";
  static final String G722 = "G722";
  static final String OPUS = "opus";
  static final String TELEPHONE_EVENT = "telephone-event";

  /** One format of an m-line: its payload type, encoding name, clock, channels and fmtp (null when none). */
  public record Format(int pt, String name, int clockRate, int channels, String fmtp) {
    /** {@code opus/48000/2}, {@code PCMU/8000}: the rtpmap value (RFC 4566 section 6). */
    public String rtpmap() {
      return name + "/" + clockRate + (channels > 1 ? "/" + channels : "");
    }

    boolean sameEncoding(Format o) {
      return name.equalsIgnoreCase(o.name) && clockRate == o.clockRate && channels == o.channels;
    }
  }

  /** A call on a G.711 payload type both legs share (the static 0 or 8). */
  static CallCodec g711(int pt) {
    return new CallCodec(pt == MediaSdp.PCMA ? PCMA : PCMU, 8000, 1, pt, pt, null, null);
  }

  /** The codec of {@code browser} (a format of the browser's SDP) and {@code pbx} (of the PBX's), same encoding. */
  static CallCodec of(Format browser, Format pbx) {
    return new CallCodec(canonical(browser.name()), browser.clockRate(), browser.channels(), browser.pt(), pbx.pt(),
        sanitizedFmtp(browser.name(), pbx.fmtp()), sanitizedFmtp(browser.name(), browser.fmtp()));
  }

  /** The same encoding with other payload types or fmtp (a re-offer of either leg). */
  CallCodec withBrowser(Format browser) {
    return new CallCodec(name, clockRate, channels, browser.pt(), pbxPt, toBrowserFmtp,
        sanitizedFmtp(name, browser.fmtp()));
  }

  CallCodec withPbx(Format pbx) {
    return new CallCodec(name, clockRate, channels, browserPt, pbx.pt(), sanitizedFmtp(name, pbx.fmtp()), toPbxFmtp);
  }

  /** {@code opus/48000/2}: what the page and {@code media.status} show. */
  public String label() {
    return name + "/" + clockRate + (channels > 1 ? "/" + channels : "");
  }

  /** Timestamp units per millisecond (8 for G.711 and G.722, 48 for Opus). */
  public int unitsPerMs() {
    return clockRate / 1000;
  }

  boolean wideband() {
    return !name.equals(PCMU) && !name.equals(PCMA);
  }

  boolean sameEncoding(Format f) {
    return name.equalsIgnoreCase(f.name()) && clockRate == f.clockRate() && channels == f.channels();
  }

  // ------------------------------------------------------------------ reading formats

  /**
   * The formats of an m-line the relay can pass through (PCMU, PCMA, G722, opus) and telephone-events, in the
   * m-line's order. A format with no rtpmap is known only when static (0, 8, 9); an opus rtpmap must be
   * {@code opus/48000/2} (RFC 7587 section 7); {@code opus/48000} without the channel count is read as
   * {@code /2}, being the only form RFC 7587 defines; any other clock or channel count is not Opus we can
   * relay and is left out, as is every encoding we do not relay.
   */
  static List<Format> formats(Sdp.Media m) {
    Map<String, String> maps = new LinkedHashMap<>();
    for (String v : m.attrs("rtpmap")) {
      String[] f = v.trim().split("\\s+", 2);
      if (f.length == 2) {
        maps.putIfAbsent(f[0], f[1].trim());
      }
    }
    Map<String, String> fmtps = new LinkedHashMap<>();
    for (String v : m.attrs("fmtp")) {
      String[] f = v.trim().split("\\s+", 2);
      if (f.length == 2) {
        fmtps.putIfAbsent(f[0], f[1].trim());
      }
    }
    List<Format> out = new ArrayList<>();
    for (String token : m.formats) {
      int pt;
      try {
        pt = Integer.parseInt(token);
      } catch (NumberFormatException e) {
        continue;
      }
      if (pt < 0 || pt > 127) {
        continue;
      }
      Format f = format(pt, maps.get(token), fmtps.get(token));
      if (f != null) {
        out.add(f);
      }
    }
    return out;
  }

  private static Format format(int pt, String rtpmap, String fmtp) {
    if (rtpmap == null) {
      return switch (pt) {
        case MediaSdp.PCMU -> new Format(pt, PCMU, 8000, 1, null);
        case MediaSdp.PCMA -> new Format(pt, PCMA, 8000, 1, null);
        case 9 -> new Format(pt, G722, 8000, 1, null);
        default -> null;
      };
    }
    String[] p = rtpmap.split("/");
    int clock;
    int channels;
    try {
      clock = p.length > 1 ? Integer.parseInt(p[1].trim()) : -1;
      channels = p.length > 2 ? Integer.parseInt(p[2].trim()) : 1;
    } catch (NumberFormatException e) {
      return null;
    }
    String name = canonical(p[0].trim());
    return switch (name) {
      case PCMU, PCMA, G722 -> clock == 8000 && channels == 1 ? new Format(pt, name, clock, 1, fmtp) : null;
      case OPUS -> clock == 48000 && (channels == 2 || p.length == 2) ? new Format(pt, OPUS, 48000, 2, fmtp) : null;
      case TELEPHONE_EVENT -> clock > 0 ? new Format(pt, TELEPHONE_EVENT, clock, 1, fmtp) : null;
      default -> null;
    };
  }

  private static String canonical(String name) {
    for (String known : List.of(PCMU, PCMA, G722, OPUS, TELEPHONE_EVENT)) {
      if (known.equalsIgnoreCase(name)) {
        return known;
      }
    }
    return name;
  }

  /** The audio formats of {@code formats} (no telephone-event). */
  static List<Format> audio(List<Format> formats) {
    return formats.stream().filter(f -> !f.name().equals(TELEPHONE_EVENT)).toList();
  }

  /** The telephone-event payload type at {@code clockRate} in {@code formats}, or -1. */
  static int telephoneEvent(List<Format> formats, int clockRate) {
    for (Format f : formats) {
      if (f.name().equals(TELEPHONE_EVENT) && f.clockRate() == clockRate) {
        return f.pt();
      }
    }
    return -1;
  }

  /** The first of {@code formats} with the encoding of {@code codec}, or null. */
  static Format find(List<Format> formats, CallCodec codec) {
    for (Format f : formats) {
      if (codec.sameEncoding(f)) {
        return f;
      }
    }
    return null;
  }

  static Format find(List<Format> formats, Format like) {
    for (Format f : formats) {
      if (f.sameEncoding(like)) {
        return f;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ fmtp

  /**
   * The fmtp to pass on: for Opus only the parameters RFC 7587 section 6.1 defines, each with a value it
   * allows (a peer's {@code maxplaybackrate=abc} or {@code stereo=2} is dropped, as section 6.1 lets a
   * receiver ignore what it does not understand); the other codecs have none we need.
   */
  static String sanitizedFmtp(String name, String fmtp) {
    if (fmtp == null || !OPUS.equalsIgnoreCase(name)) {
      return null;
    }
    StringBuilder out = new StringBuilder();
    for (String param : fmtp.split(";")) {
      String[] kv = param.trim().split("=", 2);
      if (kv.length != 2) {
        continue;
      }
      String key = kv[0].trim().toLowerCase(Locale.ROOT);
      String value = kv[1].trim();
      if (validOpusParameter(key, value)) {
        out.append(out.length() == 0 ? "" : ";").append(key).append('=').append(value);
      }
    }
    return out.length() == 0 ? null : out.toString();
  }

  private static boolean validOpusParameter(String key, String value) {
    return switch (key) {
      case "stereo", "sprop-stereo", "cbr", "useinbandfec", "usedtx" -> value.equals("0") || value.equals("1");
      case "maxplaybackrate", "sprop-maxcapturerate" -> inRange(value, 8000, 48000);
      case "maxaveragebitrate" -> inRange(value, 6000, 510000);
      case "minptime", "maxptime", "ptime" -> inRange(value, 3, 120);
      default -> false;
    };
  }

  private static boolean inRange(String value, int min, int max) {
    if (!value.matches("[0-9]{1,7}")) {
      return false;
    }
    int v = Integer.parseInt(value);
    return v >= min && v <= max;
  }
}
