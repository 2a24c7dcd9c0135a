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
 * a new DTLS association) is a new instance while the session's PBX leg stays.
 *
 * <p>ICE restart ({@link #restartIce}, RFC 8839 section 4.4.1.1.1): ice4j agents cannot be restarted in place,
 * so the restart's offer gets a new agent (a new ufrag on the shared port) beside the running one. Media and
 * DTLS keep using the running agent's pair until the new agent completes; then its selected pair carries
 * them (DTLS and SRTP contexts are the leg's, not the agent's: no new handshake, RFC 8842 section 5) and the
 * old agent is handed to {@link Events#onIceMoved} to be freed. If the new agent fails, the leg fails.
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

    /** An ICE restart completed; {@code old} (the replaced agent) is the callee's to close on a worker. */
    void onIceMoved(WebRtcLeg leg, IceLeg old);
  }

  /** One agent's callbacks; {@code ice} is set once its constructor returned. */
  private final class Path implements IceLeg.Listener {
    volatile IceLeg ice;
    /** COMPLETED arrived before {@link #ice} was set (guarded by the leg). */
    boolean completedEarly;

    @Override
    public void onState(IceProcessingState state) {
      LOG.debug("call={} ICE {}", callId, state);
      if (state == IceProcessingState.COMPLETED) {
        completed(this);
      } else if (state == IceProcessingState.FAILED) {
        failed(this);
      }
    }

    @Override
    public void onPacket(byte[] b, int off, int len, InetSocketAddress from, boolean tcp) {
      receive(ice, b, off, len, from, tcp);
    }
  }

  private final String callId;
  /** The call this leg carries; null between the calls of a persistent leg (audio path), which then relays nothing. */
  private volatile MediaSession session;
  private final MediaCounters counters;
  private final NodeMediaResources rt;
  private final Events events;
  private final DtlsLeg dtls;
  /** The agent whose selected pair carries media and DTLS. */
  private volatile IceLeg ice;
  /** A restart's agent until it completes (written under the leg's lock). */
  private volatile IceLeg next;
  private final long createdNanos = System.nanoTime();
  private final PacketBuffer rx = new PacketBuffer();
  private final ByteBuffer rxView = ByteBuffer.wrap(rx.getBuffer());
  /** Wraps the array last sent from; only the PBX-side packet thread sends media. */
  private ByteBuffer txView;
  private volatile SrtpKeys keys;
  private volatile boolean closed;
  /** The browser's ICE credentials and certificate fingerprint as its latest accepted offer states them. */
  private volatile String remoteUfrag;
  private volatile String remotePwd;
  private final String remoteFingerprint;

  /** Builds the agent and starts ICE; blocking, call from a worker. */
  WebRtcLeg(MediaSession session, NodeMediaResources rt, MediaSdp.BrowserOffer offer, Events events)
      throws IOException {
    this(session.callId(), session, session.counters(), rt, offer, events);
  }

  /**
   * A leg named {@code id} counting into {@code counters}; {@code session} null for a persistent leg (an audio path),
   * which calls {@link #attach} later. Blocking, call from a worker.
   */
  WebRtcLeg(String id, MediaSession session, MediaCounters counters, NodeMediaResources rt,
            MediaSdp.BrowserOffer offer, Events events) throws IOException {
    this.callId = id;
    this.session = session;
    this.counters = counters;
    this.rt = rt;
    this.events = events;
    this.remoteUfrag = offer.ufrag();
    this.remotePwd = offer.pwd();
    this.remoteFingerprint = offer.fingerprint();
    this.dtls = new DtlsLeg(callId, rt.identity(), offer.fingerprint(), rt.handshakeTimeoutMs(), rt.dtlsThreads(),
        rt.aeadGcm(), rt.ice().dtlsPool(), this::sendRaw,
        new DtlsLeg.Listener() {
          @Override
          public void onConnected(SrtpKeys k) {
            if (closed) {
              return;
            }
            counters.inc(Name.dtlsConnected);
            keys = k;
            events.onConnected(WebRtcLeg.this);
          }

          @Override
          public void onFailed(String reason) {
            events.onFailed(WebRtcLeg.this, reason);
          }
        });
    Path first = new Path();
    this.ice = new IceLeg(rt.ice(), offer.ufrag(), offer.pwd(), offer.candidates(), first);
    synchronized (this) {
      first.ice = ice;
      if (first.completedEarly) {
        completed(first);
      }
    }
  }

  /**
   * Starts an ICE restart for {@code offer} (new ICE credentials, same fingerprint): a new agent beside the
   * running one, which keeps carrying media until the new one completes. A restart still pending is
   * replaced (its agent freed here). Blocking (the agent harvests and starts its threads), call from a worker.
   */
  void restartIce(MediaSdp.BrowserOffer offer) throws IOException {
    Path path = new Path();
    IceLeg fresh = new IceLeg(rt.ice(), offer.ufrag(), offer.pwd(), offer.candidates(), path);
    IceLeg drop;
    synchronized (this) {
      if (closed) {
        drop = fresh;
      } else {
        drop = next;
        next = fresh;
        path.ice = fresh;
        remoteUfrag = offer.ufrag();
        remotePwd = offer.pwd();
        if (path.completedEarly) {
          completed(path);
        }
      }
    }
    if (drop != null) {
      drop.close();
    }
    if (closed) {
      throw new IOException("the leg was closed during the ICE restart");
    }
  }

  /** On an ice4j agent thread: the first agent starts DTLS; a restart's agent takes over media and DTLS. */
  private synchronized void completed(Path path) {
    IceLeg done = path.ice;
    if (done == null) {
      path.completedEarly = true;
      return;
    }
    if (closed) {
      return;
    }
    if (done == next) {
      IceLeg old = ice;
      ice = done;
      next = null;
      counters.inc(Name.iceRestarts);
      LOG.info("call={} ICE restart completed: media and DTLS moved to {}", callId, done.selectedRemote());
      events.onIceMoved(this, old);
    }
    if (done == ice) {
      dtls.start(done.selectedRemote());
    }
  }

  /** On an ice4j agent thread: only the agent that decides the leg's fate fails it. */
  private void failed(Path path) {
    IceLeg f = path.ice;
    boolean decides;
    synchronized (this) {
      // While a restart is pending, its agent decides (the running one failing is why the browser restarted).
      decides = !closed && f != null && (f == next || (f == ice && next == null));
    }
    if (decides) {
      events.onFailed(this, f.consentLost() ? "ICE consent lost" : f == ice ? "ICE failed" : "ICE restart failed");
    }
  }

  /**
   * Whether {@code offer} keeps this leg's ICE session: the same ufrag and password (RFC 8839 section 4.4.1.1:
   * an offer that changes either restarts ICE).
   */
  boolean sameIceCredentials(MediaSdp.BrowserOffer offer) {
    return offer.ufrag().equals(remoteUfrag) && offer.pwd().equals(remotePwd);
  }

  /** Whether {@code offer} keeps this leg's DTLS association (RFC 8842 section 5: same certificate fingerprint). */
  boolean sameFingerprint(MediaSdp.BrowserOffer offer) {
    return offer.fingerprint().equalsIgnoreCase(remoteFingerprint);
  }

  /** The agent the latest offer was answered with: a pending restart's, else the running one. */
  private IceLeg latest() {
    IceLeg n = next;
    return n != null ? n : ice;
  }

  String localUfrag() {
    return latest().localUfrag();
  }

  String localPassword() {
    return latest().localPassword();
  }

  List<String> localCandidateLines() {
    return latest().localCandidateLines();
  }

  /** The browser's ICE ufrag this leg answers. */
  /** The browser's ufrag of the latest accepted offer: a pending restart's, else the running agent's. */
  String remoteUfrag() {
    return latest().remoteUfrag();
  }

  /**
   * A candidate the browser trickled, for the agent of the latest offer (a pending ICE restart's new agent, else
   * the running one); blocking (ice4j's locks), from a worker. False: that agent's ICE is already done.
   */
  boolean addRemoteCandidate(IceCandidate c) {
    return !closed && latest().addRemoteCandidate(c);
  }

  boolean connected() {
    return keys != null;
  }

  /** Attaches a call to a persistent leg (null: detaches it); from then on packets go to that call's session. */
  void attach(MediaSession s) {
    session = s;
  }

  MediaSession attached() {
    return session;
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

  /**
   * On the WebRTC port's reader for this browser's address (or ice4j's receive thread, or the ICE-TCP port's
   * thread when {@code tcp}); never blocks. {@code via} is the agent the datagram was routed to (null before
   * its constructor returned).
   */
  private void receive(IceLeg via, byte[] b, int off, int len, InetSocketAddress from, boolean tcp) {
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
    // Media is accepted from an address that passed a connectivity check of the agent it came through, or of
    // the running agent (an ICE restart from the same address routes the address to the restart's agent
    // before it completes): see IceLeg, "which pair carries media".
    IceLeg running = ice;
    boolean viaRunning = via == null || via == running || !via.accepts(from, tcp);
    if (viaRunning && !running.accepts(from, tcp)) {
      counters.inc(Name.browserWrongSource);
      return;
    }
    SrtpKeys k = keys;
    if (k == null) {
      counters.inc(Name.browserEarly);
      return;
    }
    MediaSession s = session;
    if (Rtp.isRtcp(b, off)) {
      counters.inc(Name.browserRtcpIn);
      if (s != null && rx.load(b, off, len)) {
        s.fromBrowserRtcp(rx);
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
    if (viaRunning) {
      // Authenticated SRTP: the browser sends on the pair it selected, so media to it follows (a pending
      // restart's agent takes over at its own COMPLETED instead).
      running.latch(from, tcp);
    }
    if (s == null) {
      counters.inc(Name.pathIdleDropped); // between calls: decrypted above so SRTP's rollover state stays right
      return;
    }
    counters.inc(Name.browserIn);
    s.fromBrowser(rx.getBuffer(), rx.getLength(), rxView);
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
   * frees the ICE agents (a restart's too) and the keys; blocking, call from a worker. An agent replaced by a
   * restart was handed to {@link Events#onIceMoved} and is freed there.
   */
  @Override
  public void close() {
    IceLeg pending;
    synchronized (this) {
      closed = true;
      pending = next;
      next = null;
    }
    dtls.close();
    ice.close();
    if (pending != null) {
      pending.close();
    }
    // Not closed explicitly: a packet thread may be inside protect/unprotect right now, and jitsi-srtp's
    // native cipher contexts are freed by their Cleaner once unreachable.
    keys = null;
  }
}
