package org.webphone.gateway.media;

import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicInteger;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.IceService;
import org.webphone.gateway.media.rtp.RtpIoLoop;
import org.webphone.gateway.media.rtp.RtpPorts;

/**
 * What all sessions of a node share: the single ICE port, the DTLS identity, the RTP port range, the PBX-side
 * packet thread, the settings, and the way back to the event loop for events.
 */
record MediaRuntime(IceService ice, DtlsIdentity identity, RtpPorts ports, RtpIoLoop loop, String announcedAddress,
                    boolean learnPbxAddress, boolean pbxSrtp, int handshakeTimeoutMs, Events events,
                    AtomicInteger dtlsThreads) {

  /** Delivers a session event ({@code {event:"media", ...}}); safe to call from any thread. */
  interface Events {
    void emit(String sessionId, JsonObject event);
  }
}
