package org.webphone.gateway.load;

import java.security.SecureRandom;
import org.webphone.gateway.common.Randoms;

/**
 * A browser-like WebRTC offer (UDP/TLS/RTP/SAVPF, PCMU/PCMA, ICE credentials, a DTLS fingerprint) for
 * calls without media: it is what the gateway's media verticle accepts, but no ICE check will ever come,
 * so the gateway ends such a call after {@code media.timeoutSec} ("media failed"). Hold times of load
 * runs without media must stay below that.
 *
 * <p>No candidates on purpose: the gateway then never sends STUN checks toward a port nobody owns.
 */
final class SyntheticOffer {
  private static final String ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  private SyntheticOffer() {
  }

  static String create() {
    StringBuilder fp = new StringBuilder();
    byte[] digest = new byte[32];
    Randoms.nextBytes(digest);
    for (int i = 0; i < digest.length; i++) {
      fp.append(i == 0 ? "" : ":").append(String.format("%02X", digest[i] & 0xff));
    }
    SecureRandom random = Randoms.secure();
    long sessionId = random.nextLong() & Long.MAX_VALUE;
    long ssrc = random.nextInt() & 0xffffffffL;
    return "v=0\r\n"
        + "o=- " + sessionId + " 2 IN IP4 127.0.0.1\r\n"
        + "s=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
        + "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n"
        + "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
        + "a=ice-ufrag:" + random(8) + "\r\n"
        + "a=ice-pwd:" + random(24) + "\r\n"
        + "a=ice-options:trickle\r\n"
        + "a=fingerprint:sha-256 " + fp + "\r\n"
        + "a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
        + "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        + "a=rtpmap:126 telephone-event/8000\r\n"
        + "a=ssrc:" + ssrc + " cname:load\r\n";
  }

  private static String random(int n) {
    StringBuilder sb = new StringBuilder(n);
    SecureRandom random = Randoms.secure();
    for (int i = 0; i < n; i++) {
      sb.append(ICE_CHARS.charAt(random.nextInt(ICE_CHARS.length())));
    }
    return sb.toString();
  }
}
