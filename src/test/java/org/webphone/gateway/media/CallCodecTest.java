package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

/** How the relay reads a peer's formats and which Opus parameters it passes on (RFC 7587). */
class CallCodecTest {
  private static List<CallCodec.Format> formats(String mline, String... attrs) {
    return CallCodec.formats(Sdp.parse("v=0\r\nc=IN IP4 127.0.0.1\r\n" + mline + "\r\na=" + String.join("\r\na=", attrs)
        + "\r\n").audio());
  }

  @Test
  void opusWithoutItsChannelCountIsStillOpusButAWrongClockOrChannelCountIsNot() {
    List<CallCodec.Format> f = formats("m=audio 1 RTP/AVP 96 97 98 9 0",
        "rtpmap:96 opus/48000", "rtpmap:97 opus/16000/2", "rtpmap:98 OPUS/48000/1");
    assertEquals(List.of("96 opus/48000/2", "9 G722/8000", "0 PCMU/8000"),
        f.stream().map(x -> x.pt() + " " + x.rtpmap()).toList());
  }

  @Test
  void unknownEncodingsAndBadPayloadTypesAreLeftOut() {
    List<CallCodec.Format> f = formats("m=audio 1 RTP/AVP 18 abc 200 101 8",
        "rtpmap:18 G729/8000", "rtpmap:101 telephone-event/8000");
    assertEquals(List.of("101 telephone-event/8000", "8 PCMA/8000"),
        f.stream().map(x -> x.pt() + " " + x.rtpmap()).toList());
    assertEquals(101, CallCodec.telephoneEvent(f, 8000));
    assertEquals(-1, CallCodec.telephoneEvent(f, 48000));
  }

  @Test
  void opusParametersRfc7587DoesNotAllowAreDroppedAndTheRestKept() {
    assertEquals("useinbandfec=1;maxaveragebitrate=40000;minptime=10",
        CallCodec.sanitizedFmtp("opus", "maxplaybackrate=abc; stereo=2;useinbandfec=1;maxaveragebitrate=40000;"
            + "x-vendor=7;minptime=10;cbr=yes;usedtx"));
    assertEquals("maxplaybackrate=16000;stereo=0", CallCodec.sanitizedFmtp("opus", "maxplaybackrate=16000;stereo=0"));
    assertNull(CallCodec.sanitizedFmtp("opus", "stereo=2;maxplaybackrate=99999999"));
    assertNull(CallCodec.sanitizedFmtp("PCMU", "annexb=no"), "no fmtp passed for the other codecs");
  }

  @Test
  void aCallsLabelAndClockFollowItsEncoding() {
    CallCodec opus = CallCodec.of(new CallCodec.Format(111, "opus", 48000, 2, "minptime=10"),
        new CallCodec.Format(107, "opus", 48000, 2, "stereo=0"));
    assertEquals("opus/48000/2", opus.label());
    assertEquals(48, opus.unitsPerMs());
    assertEquals(111, opus.browserPt());
    assertEquals(107, opus.pbxPt());
    assertEquals("stereo=0", opus.toBrowserFmtp());
    assertEquals("minptime=10", opus.toPbxFmtp());
    assertEquals(8, CallCodec.g711(8).unitsPerMs());
    assertEquals("PCMA/8000", CallCodec.g711(8).label());
  }
}
