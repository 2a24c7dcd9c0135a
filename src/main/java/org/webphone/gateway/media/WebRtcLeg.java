package org.webphone.gateway.media;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.List;
import org.ice4j.ice.IceProcessingState;
import org.jitsi.srtp.SrtpErrorStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.media.MediaCounters.Name;
import org.webphone.gateway.media.dtls.DtlsLeg;
import org.webphone.gateway.media.ice.IceCandidate;
import org.webphone.gateway.media.ice.IceLeg;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The browser side of a call: ICE agent, DTLS server and SRTP keys. Replaceable: a rebuilt leg (page reload,
 * ICE restart) is a new instance while the session's PBX leg stays.
 *
 * <p>Packet path from the browser, on the WebRTC port's reader for this browser and without blocking: demultiplex
 * (RFC 7983), DTLS records to the leg's queue, SRTP checked against the selected pair, decrypted in the
 * leg's reusable buffer and handed to {@link MediaSession#fromBrowser} which sends it on to the PBX.
 */
final class WebRtcLeg implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(WebRtcLeg.class);

  interface Events {
    void onConnected(WebRtcLeg leg);

    void onFailed(WebRtcLeg leg, String reason);
  }

  private final String callId;
  private final MediaSession session;
  private final MediaCounters counters;
  private final DtlsLeg dtls;
  private final IceLeg ice;
  private final long createdNanos = System.nanoTime();
  private final PacketBuffer rx = new PacketBuffer();
  private final ByteBuffer rxView = ByteBuffer.wrap(rx.getBuffer());
  /** Wraps the array last sent from; only the PBX-side packet thread sends media. */
  private ByteBuffer txView;
  private volatile SrtpKeys keys;
  private volatile boolean closed;

  /** Builds the agent and starts ICE; blocking, call from a worker. */
  WebRtcLeg(MediaSession session, NodeMediaResources rt, MediaSdp.BrowserOffer offer, Events events)
      throws IOException {
    this.callId = session.callId();
    this.session = session;
    this.counters = session.counters();
    this.dtls = new DtlsLeg(callId, rt.identity(), offer.fingerprint(), rt.handshakeTimeoutMs(), rt.dtlsThreads(),
        rt.aeadGcm(), rt.ice().dtlsPool(), this::sendRaw,
        new DtlsLeg.Listener() {
          @Override
          public void onConnected(SrtpKeys k) {
            if (closed) {
              return;
            }
            keys = k;
            events.onConnected(WebRtcLeg.this);
          }

          @Override
          public void onFailed(String reason) {
            events.onFailed(WebRtcLeg.this, reason);
          }
        });
    this.ice = new IceLeg(rt.ice(), offer.ufrag(), offer.pwd(), offer.candidates(), new IceLeg.Listener() {
      @Override
      public void onState(IceProcessingState state) {
        LOG.debug("call={} ICE {}", callId, state);
        if (state == IceProcessingState.COMPLETED) {
          dtls.start(ice.selectedRemote());
        } else if (state == IceProcessingState.FAILED && !closed) {
          events.onFailed(WebRtcLeg.this, "ICE failed");
        }
      }

      @Override
      public void onPacket(byte[] b, int off, int len, InetSocketAddress from) {
        receive(b, off, len, from);
      }
    });
  }

  String localUfrag() {
    return ice.localUfrag();
  }

  String localPassword() {
    return ice.localPassword();
  }

  List<String> localCandidateLines() {
    return ice.localCandidateLines();
  }

  /** The browser's ICE ufrag this leg answers. */
  String remoteUfrag() {
    return ice.remoteUfrag();
  }

  /** A candidate the browser trickled; blocking (ice4j's locks), from a worker. False: ICE already done. */
  boolean addRemoteCandidate(IceCandidate c) {
    return !closed && ice.addRemoteCandidate(c);
  }

  boolean connected() {
    return keys != null;
  }

  long createdNanos() {
    return createdNanos;
  }

  InetSocketAddress selectedRemote() {
    return ice.selectedRemote();
  }

  private void sendRaw(byte[] data, int off, int len) throws IOException {
    ice.send(data, off, len);
  }

  /** The SRTP/SRTCP keys once DTLS is done, else null. */
  SrtpKeys keys() {
    return keys;
  }

  /** Sends an SRTCP packet on the selected pair (the node's RTCP thread). */
  void sendRtcp(byte[] b, int off, int len) throws IOException {
    if (!closed) {
      ice.send(b, off, len);
    }
  }

  /** On the WebRTC port's reader for this browser's address (or ice4j's receive thread); never blocks. */
  private void receive(byte[] b, int off, int len, InetSocketAddress from) {
    if (closed) {
      return;
    }
    if (Rtp.isDtls(b, off, len)) {
      dtls.offer(b, off, len);
      return;
    }
    if (!Rtp.isRtpOrRtcp(b, off, len)) {
      counters.inc(Name.browserJunk);
      return;
    }
    if (!ice.isSelected(from)) {
      counters.inc(Name.browserWrongSource);
      return;
    }
    SrtpKeys k = keys;
    if (k == null) {
      counters.inc(Name.browserEarly);
      return;
    }
    if (Rtp.isRtcp(b, off)) {
      counters.inc(Name.browserRtcpIn);
      if (rx.load(b, off, len)) {
        session.fromBrowserRtcp(rx);
      }
      return;
    }
    if (!rx.load(b, off, len)) {
      counters.inc(Name.browserJunk);
      return;
    }
    SrtpErrorStatus status;
    try {
      status = k.unprotect(rx);
    } catch (GeneralSecurityException | RuntimeException e) {
      status = SrtpErrorStatus.FAIL;
    }
    if (status != SrtpErrorStatus.OK) {
      counters.inc(Name.browserAuthFailed);
      return;
    }
    counters.inc(Name.browserIn);
    session.fromBrowser(rx.getBuffer(), rx.getLength(), rxView);
  }

  /** Encrypts the RTP in {@code buf} and sends it; on the PBX-side packet thread only. */
  boolean sendToBrowser(PacketBuffer buf) {
    SrtpKeys k = keys;
    if (k == null || closed) {
      return false;
    }
    try {
      if (k.protect(buf) != SrtpErrorStatus.OK) {
        return false;
      }
      ByteBuffer view = txView;
      if (view == null || view.array() != buf.getBuffer()) {
        view = ByteBuffer.wrap(buf.getBuffer());
        txView = view;
      }
      view.clear().position(buf.getOffset()).limit(buf.getOffset() + buf.getLength());
      if (!ice.sendMedia(view)) {
        counters.inc(Name.sendFailed);
        return false;
      }
      return true;
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      counters.inc(Name.sendFailed);
      return false;
    }
  }

  /**
   * Ends DTLS (a handshake still running on the node's DTLS handshake pool is woken and waited for, bounded),
   * frees the ICE agent and the keys; blocking, call from a worker.
   */
  @Override
  public void close() {
    closed = true;
    dtls.close();
    ice.close();
    // Not closed explicitly: a packet thread may be inside protect/unprotect right now, and jitsi-srtp's
    // native cipher contexts are freed by their Cleaner once unreachable.
    keys = null;
  }
}
