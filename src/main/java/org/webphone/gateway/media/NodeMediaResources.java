package org.webphone.gateway.media;

import io.vertx.core.json.JsonObject;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import org.webphone.gateway.config.IpRanges;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.IceService;
import org.webphone.gateway.media.rtp.RtcpScheduler;
import org.webphone.gateway.media.rtp.RtpIoLoop;
import org.webphone.gateway.media.rtp.RtpPorts;

/**
 * The media resources and settings of one node, which all its sessions share: the single ICE port, the DTLS
 * identity, the RTP port range, the PBX-side packet thread, the RTCP thread, the settings, and the way back to
 * the event loop for events. Built with {@link #builder()}; {@link MediaRelayVerticle} creates it at start and
 * closes the ICE port, packet thread and RTCP thread at stop, sessions only borrow them.
 *
 * @param ice                the node's WebRTC port and ICE agents' harvester
 * @param identity           the DTLS certificate whose fingerprint every browser answer carries
 * @param ports              the PBX-side RTP/RTCP port pairs
 * @param loop               the {@code media-rtp-io} thread reading the PBX side
 * @param announcedAddress   the address written into both legs' SDP
 * @param learnPbxAddress    send to where the PBX's RTP comes from rather than to its SDP address
 * @param pbxSrtp            offer the PBX RTP/SAVP with SDES keys instead of RTP/AVP
 * @param handshakeTimeoutMs how long a browser's DTLS handshake may take
 * @param events             where sessions deliver their events
 * @param dtlsThreads        the node's live DTLS sessions (named after the thread each once had; {@code media.status}
 *                           reports it as {@code dtlsSessions} and {@code dtlsThreads})
 * @param rtcp               the node's RTCP timer, or null for no RTCP reports (packet-path tests)
 * @param rtcpIntervalMs     nominal RTCP report interval
 * @param aeadGcm            offer AEAD_AES_128_GCM (RFC 7714) to browsers that offer it, before AES-CM
 * @param pbxSources         where the PBX may send from now (the SIP side's {@code PbxSources}), read from any thread:
 *                           with learnPbxAddress, a first packet from there may be learned; null (or a null
 *                           result): none beyond the SDP's address and port
 * @param pbxSrtpSuites      the SDES suites we offer the PBX, in our order of preference
 */
record NodeMediaResources(IceService ice, DtlsIdentity identity, RtpPorts ports, RtpIoLoop loop,
                          String announcedAddress, boolean learnPbxAddress, boolean pbxSrtp, int handshakeTimeoutMs,
                          Events events, AtomicInteger dtlsThreads, RtcpScheduler rtcp, long rtcpIntervalMs,
                          boolean aeadGcm, java.util.function.Supplier<IpRanges> pbxSources, java.util.List<SdesCrypto.Suite> pbxSrtpSuites) {

  /** Delivers a session event ({@code {event:"media", ...}}); safe to call from any thread. */
  interface Events {
    void emit(String sessionId, JsonObject event);
  }

  /**
   * A builder whose defaults suit packet-path tests and benchmarks: no ICE port, identity, packet thread or
   * RTCP timer, loopback address, plain RTP toward the PBX, no GCM, a 1 s handshake, events dropped.
   */
  static Builder builder() {
    return new Builder();
  }

  /** Collects the named parts; {@link #build()} checks the ones no session can do without. */
  static final class Builder {
    private IceService ice;
    private DtlsIdentity identity;
    private RtpPorts ports;
    private RtpIoLoop loop;
    private String announcedAddress = "127.0.0.1";
    private boolean learnPbxAddress;
    private boolean pbxSrtp;
    private int handshakeTimeoutMs = 1000;
    private Events events = (sessionId, event) -> { };
    private AtomicInteger dtlsThreads = new AtomicInteger();
    private RtcpScheduler rtcp;
    private long rtcpIntervalMs = 5000;
    private boolean aeadGcm;
    private java.util.function.Supplier<IpRanges> pbxSources;
    private java.util.List<SdesCrypto.Suite> pbxSrtpSuites = java.util.List.of(SdesCrypto.Suite.values());

    private Builder() {
    }

    Builder ice(IceService ice) {
      this.ice = ice;
      return this;
    }

    Builder identity(DtlsIdentity identity) {
      this.identity = identity;
      return this;
    }

    Builder ports(RtpPorts ports) {
      this.ports = ports;
      return this;
    }

    Builder loop(RtpIoLoop loop) {
      this.loop = loop;
      return this;
    }

    Builder announcedAddress(String announcedAddress) {
      this.announcedAddress = announcedAddress;
      return this;
    }

    Builder learnPbxAddress(boolean learnPbxAddress) {
      this.learnPbxAddress = learnPbxAddress;
      return this;
    }

    Builder pbxSrtp(boolean pbxSrtp) {
      this.pbxSrtp = pbxSrtp;
      return this;
    }

    Builder handshakeTimeoutMs(int handshakeTimeoutMs) {
      this.handshakeTimeoutMs = handshakeTimeoutMs;
      return this;
    }

    Builder events(Events events) {
      this.events = events;
      return this;
    }

    Builder dtlsThreads(AtomicInteger dtlsThreads) {
      this.dtlsThreads = dtlsThreads;
      return this;
    }

    Builder rtcp(RtcpScheduler rtcp, long intervalMs) {
      this.rtcp = rtcp;
      this.rtcpIntervalMs = intervalMs;
      return this;
    }

    Builder aeadGcm(boolean aeadGcm) {
      this.aeadGcm = aeadGcm;
      return this;
    }

    Builder pbxSources(java.util.function.Supplier<IpRanges> pbxSources) {
      this.pbxSources = pbxSources;
      return this;
    }

    Builder pbxSrtpSuites(java.util.List<SdesCrypto.Suite> suites) {
      this.pbxSrtpSuites = java.util.List.copyOf(suites);
      return this;
    }

    NodeMediaResources build() {
      return new NodeMediaResources(ice, identity, Objects.requireNonNull(ports, "ports"), loop,
          Objects.requireNonNull(announcedAddress, "announcedAddress"), learnPbxAddress, pbxSrtp,
          handshakeTimeoutMs, Objects.requireNonNull(events, "events"),
          Objects.requireNonNull(dtlsThreads, "dtlsThreads"), rtcp, rtcpIntervalMs, aeadGcm, pbxSources,
          pbxSrtpSuites);
    }
  }
}
