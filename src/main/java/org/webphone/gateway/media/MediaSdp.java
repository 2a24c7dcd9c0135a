package org.webphone.gateway.media;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.webphone.gateway.media.ice.IceCandidate;

/**
 * What the relay reads from and writes into SDP. The browser leg is UDP/TLS/RTP/SAVPF with ICE, DTLS
 * ({@code a=setup:passive}: the gateway is the DTLS server), rtcp-mux and BUNDLE; the PBX leg is plain
 * RTP/AVP, or RTP/SAVP with the SDES lines of {@link SdesCrypto}. G.711 (PCMU 0, PCMA 8), G.722 and Opus are
 * relayed without transcoding ({@link CallCodec}), plus telephone-event at the codec's clock rate.
 * Every parse failure is an {@link IllegalArgumentException} whose message says what is wrong.
 */
public final class MediaSdp {
  static final int PCMU = 0;
  static final int PCMA = 8;
  /** telephone-event payload type we offer the PBX (the usual one). */
  static final int PBX_TE_PT = 101;

  private MediaSdp() {
  }

  /** The parts of the browser's offer the relay uses. */
  public record BrowserOffer(String ufrag, String pwd, String fingerprint, String mid, boolean bundle,
                             List<IceCandidate> candidates, List<CallCodec.Format> formats, Sdp sdp,
                             Sdp.Media audio) {
    /** The offered G.711 payload types (0, 8), in the offer's order. */
    public List<Integer> g711() {
      return MediaSdp.g711(formats);
    }

    /** The offered telephone-event/8000 payload type, or -1. */
    public int telephoneEvent() {
      return CallCodec.telephoneEvent(formats, 8000);
    }
  }

  /** The parts of a PBX description (offer or answer) the relay uses. */
  public record PbxMedia(InetSocketAddress rtp, List<CallCodec.Format> formats, String direction,
                         String origin, boolean savp, List<String> crypto, InetSocketAddress rtcp) {
    /** The G.711 payload types (0, 8) of the description, in its order. */
    public List<Integer> g711() {
      return MediaSdp.g711(formats);
    }

    /** The telephone-event/8000 payload type, or -1. */
    public int telephoneEvent() {
      return CallCodec.telephoneEvent(formats, 8000);
    }

    /** True when the PBX wants no media from us (hold, or a rejected/zero-port stream). */
    public boolean pbxReceives() {
      return rtp != null && ("sendrecv".equals(direction) || "recvonly".equals(direction));
    }

    public boolean pbxSends() {
      return rtp != null && ("sendrecv".equals(direction) || "sendonly".equals(direction));
    }
  }

  public static BrowserOffer parseBrowserOffer(String text) {
    Sdp sdp = Sdp.parse(text);
    Sdp.Media audio = sdp.audio();
    if (audio == null || audio.port == 0) {
      throw new IllegalArgumentException("the offer has no audio m-line");
    }
    if (!audio.proto.toUpperCase(Locale.ROOT).contains("TLS/RTP/SAVP")) {
      throw new IllegalArgumentException("the audio m-line is " + audio.proto + ", expected UDP/TLS/RTP/SAVPF");
    }
    String ufrag = sdp.attr(audio, "ice-ufrag");
    String pwd = sdp.attr(audio, "ice-pwd");
    if (ufrag == null || ufrag.isBlank() || pwd == null || pwd.isBlank()) {
      throw new IllegalArgumentException("the offer has no ice-ufrag/ice-pwd");
    }
    String fp = sdp.attr(audio, "fingerprint");
    if (fp == null || !fp.toLowerCase(Locale.ROOT).startsWith("sha-256 ")) {
      throw new IllegalArgumentException("the offer has no sha-256 fingerprint");
    }
    String setup = sdp.attr(audio, "setup");
    if (setup != null && !setup.equals("actpass") && !setup.equals("active")) {
      throw new IllegalArgumentException("a=setup:" + setup + " not supported (the gateway is the DTLS server)");
    }
    List<CallCodec.Format> formats = CallCodec.formats(audio);
    if (g711(formats).isEmpty()) {
      // Outgoing calls answer the browser on G.711 before the PBX picks the codec (docs/media.md).
      throw new IllegalArgumentException("the offer has neither PCMU nor PCMA");
    }
    List<IceCandidate> cands = new ArrayList<>();
    for (String c : audio.attrs("candidate")) {
      IceCandidate ic = IceCandidate.parse(c);
      if (ic != null && (ic.usable() || ic.isMdns())) { // .local names are resolved after the leg starts
        cands.add(ic);
      }
    }
    String group = sdp.sessionAttr("group");
    return new BrowserOffer(ufrag.trim(), pwd.trim(), fp.substring(8).trim(), audio.attr("mid"),
        group != null && group.startsWith("BUNDLE"), cands, formats, sdp, audio);
  }

  static List<Integer> g711(List<CallCodec.Format> formats) {
    List<Integer> out = new ArrayList<>();
    for (CallCodec.Format f : formats) {
      if (f.pt() == PCMU || f.pt() == PCMA) {
        out.add(f.pt());
      }
    }
    return out;
  }

  /** The PBX's RTCP address: {@code a=rtcp:<port> [IN IP4 <addr>]} (RFC 3605), else the RTP port + 1. */
  static InetSocketAddress rtcpAddress(String attr, InetSocketAddress rtp) {
    if (rtp == null) {
      return null;
    }
    if (attr != null) {
      String[] f = attr.trim().split("\\s+");
      try {
        int port = Integer.parseInt(f[0]);
        if (port > 0 && port < 65536) {
          if (f.length >= 4 && f[3].matches("[0-9.]+|[0-9a-fA-F:]+")) {
            return new InetSocketAddress(InetAddress.getByName(f[3]), port);
          }
          return new InetSocketAddress(rtp.getAddress(), port);
        }
      } catch (NumberFormatException | UnknownHostException ignored) {
        // a malformed a=rtcp falls back to the RFC 3550 convention below
      }
    }
    return new InetSocketAddress(rtp.getAddress(), rtp.getPort() + 1);
  }

  public static PbxMedia parsePbx(String text) {
    Sdp sdp = Sdp.parse(text);
    Sdp.Media audio = sdp.audio();
    if (audio == null) {
      throw new IllegalArgumentException("the PBX SDP has no audio m-line");
    }
    boolean savp = audio.proto.equalsIgnoreCase("RTP/SAVP") || audio.proto.equalsIgnoreCase("RTP/SAVPF");
    if (!savp && !audio.proto.equalsIgnoreCase("RTP/AVP") && !audio.proto.equalsIgnoreCase("RTP/AVPF")) {
      throw new IllegalArgumentException("the PBX audio is " + audio.proto + ", expected RTP/AVP or RTP/SAVP");
    }
    // Which crypto line is usable depends on what we offered: PbxLeg decides (SdesCrypto).
    List<String> crypto = savp ? audio.attrs("crypto") : List.of();
    String c = sdp.connection(audio);
    InetSocketAddress rtp = null;
    if (audio.port != 0 && c != null && !c.equals("0.0.0.0")) {
      if (!c.matches("[0-9.]+|[0-9a-fA-F:]+")) {
        throw new IllegalArgumentException("the PBX connection address must be an IP literal, got " + c);
      }
      try {
        rtp = new InetSocketAddress(InetAddress.getByName(c), audio.port);
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException("bad connection address " + c);
      }
    } else if (audio.port != 0 && c == null) {
      throw new IllegalArgumentException("the PBX SDP has no c= line");
    }
    String dir = sdp.direction(audio);
    if (c != null && c.equals("0.0.0.0") && dir.equals("sendrecv")) {
      dir = "inactive"; // RFC 2543 hold
    }
    return new PbxMedia(rtp, CallCodec.formats(audio), dir, sdp.origin(), savp, crypto,
        rtcpAddress(audio.attr("rtcp"), rtp));
  }

  /** The answer to the browser. */
  public static String browserAnswer(BrowserOffer offer, long sessionId, long version, String address, int port,
                                     String ufrag, String pwd, List<String> candidates, String fingerprint,
                                     CallCodec codec, int telephoneEvent, int ssrc) {
    StringBuilder s = new StringBuilder(1024);
    line(s, "v=0");
    line(s, "o=- " + sessionId + " " + version + " IN IP4 " + address);
    line(s, "s=-");
    line(s, "t=0 0");
    String mid = offer.mid();
    if (offer.bundle() && mid != null) {
      line(s, "a=group:BUNDLE " + mid);
    }
    for (Sdp.Media m : offer.sdp().media()) {
      if (m != offer.audio()) {
        // One audio stream only: other m-lines are refused (port 0), as RFC 3264 wants.
        line(s, "m=" + m.type + " 0 " + m.proto + " " + (m.formats.isEmpty() ? "0" : m.formats.get(0)));
        if (m.attr("mid") != null) {
          line(s, "a=mid:" + m.attr("mid"));
        }
        continue;
      }
      int pt = codec.browserPt();
      String fmts = pt + (telephoneEvent >= 0 ? " " + telephoneEvent : "");
      line(s, "m=audio " + port + " UDP/TLS/RTP/SAVPF " + fmts);
      line(s, "c=IN IP4 " + address);
      line(s, "a=ice-ufrag:" + ufrag);
      line(s, "a=ice-pwd:" + pwd);
      line(s, "a=fingerprint:sha-256 " + fingerprint);
      line(s, "a=setup:passive");
      if (mid != null) {
        line(s, "a=mid:" + mid);
      }
      line(s, "a=sendrecv");
      line(s, "a=rtcp-mux");
      line(s, "a=rtpmap:" + pt + " " + codec.label());
      if (codec.toBrowserFmtp() != null) {
        line(s, "a=fmtp:" + pt + " " + codec.toBrowserFmtp());
      }
      if (telephoneEvent >= 0) {
        line(s, "a=rtpmap:" + telephoneEvent + " telephone-event/" + codec.clockRate());
        line(s, "a=fmtp:" + telephoneEvent + " 0-15");
      }
      line(s, "a=ptime:20");
      line(s, "a=ssrc:" + Integer.toUnsignedString(ssrc) + " cname:webphone-gateway");
      for (String c : candidates) {
        line(s, "a=candidate:" + c);
      }
      line(s, "a=end-of-candidates");
    }
    return s.toString();
  }

  /**
   * An offer or answer toward the PBX with {@code formats} (audio and telephone-events, in preference order,
   * with their PBX-side payload types and the fmtp to write); {@code crypto} lines (ours) make it
   * RTP/SAVP, none RTP/AVP.
   */
  public static String pbxSdp(long sessionId, long version, String address, int port,
                              List<CallCodec.Format> formats, String direction, List<SdesCrypto.Line> crypto) {
    StringBuilder s = new StringBuilder(256);
    line(s, "v=0");
    line(s, "o=webphone " + sessionId + " " + version + " IN IP4 " + address);
    line(s, "s=webphone");
    line(s, "c=IN IP4 " + address);
    line(s, "t=0 0");
    StringBuilder pts = new StringBuilder();
    for (CallCodec.Format f : formats) {
      pts.append(pts.length() == 0 ? "" : " ").append(f.pt());
    }
    line(s, "m=audio " + port + (!crypto.isEmpty() ? " RTP/SAVP " : " RTP/AVP ") + pts);
    for (SdesCrypto.Line c : crypto) {
      line(s, "a=crypto:" + c.attribute());
    }
    for (CallCodec.Format f : formats) {
      line(s, "a=rtpmap:" + f.pt() + " " + f.rtpmap());
      if (f.name().equals(CallCodec.TELEPHONE_EVENT)) {
        line(s, "a=fmtp:" + f.pt() + " 0-16");
      } else if (f.fmtp() != null) {
        line(s, "a=fmtp:" + f.pt() + " " + f.fmtp());
      }
    }
    line(s, "a=ptime:20");
    line(s, "a=" + direction);
    return s.toString();
  }

  /** The direction that answers {@code offered} when we would like {@code ours}. */
  public static String answerDirection(String offered, String ours) {
    boolean weSend = !ours.equals("recvonly") && !ours.equals("inactive")
        && (offered.equals("sendrecv") || offered.equals("recvonly"));
    boolean weReceive = !ours.equals("sendonly") && !ours.equals("inactive")
        && (offered.equals("sendrecv") || offered.equals("sendonly"));
    return weSend && weReceive ? "sendrecv" : weSend ? "sendonly" : weReceive ? "recvonly" : "inactive";
  }

  private static void line(StringBuilder s, String l) {
    s.append(l).append("\r\n");
  }
}
