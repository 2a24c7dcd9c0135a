package org.webphone.gateway.media;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which codec a call uses, decided without transcoding (docs/media.md, "Codecs"). Incoming calls: the first
 * format of the PBX's offer the browser also offered, before the browser is answered. Outgoing calls: the
 * browser is answered on G.711 at once; our offer to the PBX lists the browser's Opus and G.722 first, then
 * that G.711, and the PBX's answer decides; a wideband answer makes the page re-offer on the same
 * PeerConnection. Pure functions of the SDPs; the verticle's event loop calls them.
 */
final class CodecNegotiation {
  private CodecNegotiation() {
  }

  /** The codec both an incoming call's PBX offer and the browser's offer have, in the PBX's order. */
  static CallCodec forIncoming(MediaSdp.BrowserOffer browser, MediaSdp.PbxMedia pbx) {
    List<CallCodec.Format> browserAudio = CallCodec.audio(browser.formats());
    for (CallCodec.Format p : CallCodec.audio(pbx.formats())) {
      CallCodec.Format b = CallCodec.find(browserAudio, p);
      if (b != null) {
        return CallCodec.of(b, p);
      }
    }
    throw new IllegalArgumentException("no common codec: the PBX offers " + names(pbx.formats())
        + ", the browser " + names(browser.formats()));
  }

  /**
   * What an outgoing call offers the PBX: the browser's Opus (its payload type, its fmtp cut to RFC 7587's
   * parameters) and G.722, then the call's G.711 {@code g711}, then telephone-event at 48 kHz (for Opus, as
   * the browser offered it) and at 8 kHz ({@code te8k}, -1 for none).
   */
  static List<CallCodec.Format> pbxChoices(MediaSdp.BrowserOffer browser, int g711, int te8k) {
    List<CallCodec.Format> out = new ArrayList<>();
    List<CallCodec.Format> audio = CallCodec.audio(browser.formats());
    boolean opus = false;
    for (String name : List.of(CallCodec.OPUS, CallCodec.G722)) {
      for (CallCodec.Format f : audio) {
        if (f.name().equals(name)) {
          out.add(new CallCodec.Format(f.pt(), f.name(), f.clockRate(), f.channels(),
              CallCodec.sanitizedFmtp(f.name(), f.fmtp())));
          opus |= name.equals(CallCodec.OPUS);
          break;
        }
      }
    }
    CallCodec g = CallCodec.g711(g711);
    out.add(new CallCodec.Format(g711, g.name(), 8000, 1, null));
    int te48k = opus ? CallCodec.telephoneEvent(browser.formats(), 48000) : -1;
    if (te48k >= 0) {
      out.add(new CallCodec.Format(te48k, CallCodec.TELEPHONE_EVENT, 48000, 1, null));
    }
    if (te8k >= 0) {
      out.add(new CallCodec.Format(freePt(te8k, out), CallCodec.TELEPHONE_EVENT, 8000, 1, null));
    }
    return out;
  }

  /** {@code wanted} unless a format of {@code taken} uses it, else the first free dynamic payload type. */
  private static int freePt(int wanted, List<CallCodec.Format> taken) {
    Set<Integer> used = new HashSet<>();
    taken.forEach(f -> used.add(f.pt()));
    if (!used.contains(wanted)) {
      return wanted;
    }
    for (int pt = 96; pt < 128; pt++) {
      if (!used.contains(pt)) {
        return pt;
      }
    }
    throw new IllegalStateException("no free dynamic payload type");
  }

  /**
   * The codec the PBX's answer picked among {@code offered}: its first audio format we offered (RFC 3264
   * section 6.1: the answer's formats are a subset of the offer's), with the browser's payload type for it.
   */
  static CallCodec fromAnswer(List<CallCodec.Format> offered, List<CallCodec.Format> browserFormats,
                              MediaSdp.PbxMedia answer) {
    for (CallCodec.Format p : CallCodec.audio(answer.formats())) {
      CallCodec.Format ours = CallCodec.find(offered, p);
      CallCodec.Format b = ours == null ? null : CallCodec.find(CallCodec.audio(browserFormats), p);
      if (b != null) {
        return CallCodec.of(b, p);
      }
    }
    throw new IllegalArgumentException("the PBX answered " + names(answer.formats()) + ", none of the offered "
        + names(offered));
  }

  /** The browser leg's new offer for the call's {@code codec} (a re-offer, a resume): its payload type for it. */
  static CallCodec reoffered(CallCodec codec, MediaSdp.BrowserOffer offer) {
    CallCodec.Format b = CallCodec.find(CallCodec.audio(offer.formats()), codec);
    if (b == null) {
      throw new IllegalArgumentException("the new offer lacks the call's codec " + codec.label());
    }
    return codec.withBrowser(b);
  }

  private static String names(List<CallCodec.Format> formats) {
    List<CallCodec.Format> audio = CallCodec.audio(formats);
    return audio.isEmpty() ? "no codec we relay"
        : audio.stream().map(CallCodec.Format::rtpmap).collect(Collectors.joining(", "));
  }
}
