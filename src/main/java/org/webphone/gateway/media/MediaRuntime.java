package org.webphone.gateway.media;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicInteger;
import org.webphone.gateway.config.IpRanges;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.IceService;
import org.webphone.gateway.media.rtp.RtcpScheduler;
import org.webphone.gateway.media.rtp.RtpIoLoop;
import org.webphone.gateway.media.rtp.RtpPorts;

/**
 * What all sessions of a node share: the single ICE port, the DTLS identity, the RTP port range, the PBX-side
 * packet thread, the RTCP thread, the settings, and the way back to the event loop for events.
 *
 * @param rtcp           the node's RTCP timer, or null for no RTCP reports (packet-path tests)
 * @param rtcpIntervalMs nominal RTCP report interval
 * @param aeadGcm        offer AEAD_AES_128_GCM (RFC 7714) to browsers that offer it, before AES-CM
 * @param pbxSources     where the PBX may send from ({@code pbx.allowedSources}): with learnPbxAddress, a first
 *                       packet from there may be learned; null: none beyond the SDP's address and port
 */
record MediaRuntime(IceService ice, DtlsIdentity identity, RtpPorts ports, RtpIoLoop loop, String announcedAddress,
                    boolean learnPbxAddress, boolean pbxSrtp, int handshakeTimeoutMs, Events events,
                    AtomicInteger dtlsThreads, RtcpScheduler rtcp, long rtcpIntervalMs, boolean aeadGcm,
                    IpRanges pbxSources) {

  /** Without RTCP and GCM (packet-path tests and benchmarks). */
  MediaRuntime(IceService ice, DtlsIdentity identity, RtpPorts ports, RtpIoLoop loop, String announcedAddress,
               boolean learnPbxAddress, boolean pbxSrtp, int handshakeTimeoutMs, Events events,
               AtomicInteger dtlsThreads) {
    this(ice, identity, ports, loop, announcedAddress, learnPbxAddress, pbxSrtp, handshakeTimeoutMs, events,
        dtlsThreads, null, 5000, false, null);
  }

  /** Delivers a session event ({@code {event:"media", ...}}); safe to call from any thread. */
  interface Events {
    void emit(String sessionId, JsonObject event);
  }
}
