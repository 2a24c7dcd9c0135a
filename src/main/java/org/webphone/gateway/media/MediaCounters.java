package org.webphone.gateway.media;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Packet counters of one session (and, summed, of the node). The hot counters have a single writer thread (the
 * direction's packet thread), so an increment is an uncontended atomic add with no allocation. Each counter has a
 * cache line of its own: the two directions' threads increment a session's counters on every packet, and counters
 * sharing a line would move it between the cores on each of them (false sharing).
 */
public final class MediaCounters {
  /** Counter names, in the order of {@link #toJson()}. */
  public enum Name {
    /** SRTP from the browser, authenticated and decrypted. */
    browserIn,
    /** SRTCP from the browser (counted, not relayed: the PBX leg has its own RTCP). */
    browserRtcpIn,
    /** SRTP that failed authentication or the replay check; never relayed. */
    browserAuthFailed,
    /** Media before DTLS finished (nothing can be decrypted yet). */
    browserEarly,
    /** Datagrams that are neither STUN, DTLS nor RTP. */
    browserJunk,
    /** Media not from the ICE-selected pair. */
    browserWrongSource,
    /** RTP relayed to the PBX. */
    toPbx,
    /** RTP received from the PBX's address. */
    pbxIn,
    /** RTCP received on the PBX leg's odd port. */
    pbxRtcpIn,
    /** RTP from an address other than the PBX's (dropped: no bleed, no injection). */
    pbxWrongSource,
    /** Datagrams on the PBX port that are not RTP, or arrive before the PBX address is known. */
    pbxJunk,
    /** SRTP relayed to the browser. */
    toBrowser,
    /** Sends that failed (no valid ICE pair, socket error). */
    sendFailed,
    /** Payload types the other leg did not negotiate (CN, Opus...). */
    unsupportedPayload,
    /** DTMF packets (RFC 4733) generated toward the PBX. */
    dtmfSent,
    /** DTLS records dropped because the handshake queue was full. */
    dtlsDropped,
    /** SDES-SRTP from the PBX that failed authentication or the replay check; never relayed. */
    pbxAuthFailed,
    /** RTCP compound packets (SR or RR, SDES, BYE at the end) we sent, both legs. */
    rtcpOut,
    /** Received RTCP packets of types we do not interpret (APP, XR, feedback...): skipped. */
    rtcpIgnored,
    /** Received RTCP that was malformed or failed SRTCP authentication/replay: dropped. */
    rtcpBad,
    /** DTLS handshakes completed with the browser (one per DTLS association; an ICE restart adds none). */
    dtlsConnected,
    /** ICE restarts completed: the DTLS association moved onto a new agent's selected pair. */
    iceRestarts,
    /** Calls attached to a persistent browser leg (audio path): no new ICE or DTLS for them. */
    pathAttached,
    /** Browser RTP on a persistent leg between calls: decrypted (keeps SRTP's rollover state) and dropped. */
    pathIdleDropped
  }

  /** Longs per counter: 8 × 8 bytes, a 64-byte cache line each (the array's header only shifts them all). */
  private static final int STRIDE = 8;
  private static final Name[] NAMES = Name.values();
  private final AtomicLongArray values = new AtomicLongArray(NAMES.length * STRIDE + STRIDE);

  private static int slot(Name n) {
    return (n.ordinal() + 1) * STRIDE;
  }

  public void inc(Name n) {
    values.incrementAndGet(slot(n));
  }

  public long get(Name n) {
    return values.get(slot(n));
  }

  public void addTo(MediaCounters total) {
    for (Name n : NAMES) {
      total.values.addAndGet(slot(n), values.get(slot(n)));
    }
  }

  public JsonObject toJson() {
    JsonObject j = new JsonObject();
    for (Name n : NAMES) {
      j.put(n.name(), values.get(slot(n)));
    }
    return j;
  }
}
