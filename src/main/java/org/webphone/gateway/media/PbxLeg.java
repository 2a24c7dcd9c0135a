package org.webphone.gateway.media;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jitsi.srtp.SrtpErrorStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.config.IpRanges;
import org.webphone.gateway.media.MediaCounters.Name;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.RtcpLeg;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.RtpPorts;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The PBX side of a call: its RTP/RTCP port pair, the PBX's address (strict source, or learned once then
 * locked; only from a source that may be the PBX, see {@link #mayBeThePbx}), and optional SDES-SRTP (RTP/SAVP, RFC 4568). Stays for the whole call while browser legs come
 * and go.
 *
 * <p>SDES: our first offer carries one {@code a=crypto} per configured suite (tags 1.., a key each); the
 * PBX's answer must pick one of those tags ({@link SdesCrypto#checkAnswer}); a PBX offer gets its first line
 * we speak ({@link SdesCrypto#chooseFromOffer}). Later SDPs carry the agreed line only. Re-keying: when the
 * PBX's key changes, the receive side gets new contexts and our sending contexts run on (same key, ROC
 * continues); when the suite changes, both sides start over and we make a new key of our own, so no key is
 * ever used under two contexts.
 *
 * <p>Threads: {@link #send} runs on the browser→PBX thread (the WebRTC port's reader), {@link #sendOwn} on the
 * event loop (DTMF), reception on {@code media-rtp-io}; the address and keys are written by the event loop
 * and read through volatile fields.
 */
final class PbxLeg {
  private static final Logger LOG = LoggerFactory.getLogger(PbxLeg.class);
  private static final int READS_PER_WAKEUP = 32;

  /** Gets each RTP packet that passed the checks (decrypted when SRTP), on the rtp-io thread. */
  interface Receiver {
    void onRtp(PacketBuffer buf, int len, long nowNanos);
  }

  private final String callId;
  private final NodeMediaResources rt;
  private final RtpPorts.Pair ports;
  private final AtomicBoolean released = new AtomicBoolean();
  private final MediaCounters counters;
  private final Receiver receiver;
  private final PacketBuffer rx = new PacketBuffer();
  private final ByteBuffer rxView = ByteBuffer.wrap(rx.getBuffer());
  /** SRTP output; touched only by the browser→PBX thread. */
  private final PacketBuffer srtpOut = new PacketBuffer();
  private final ByteBuffer srtpOutView = ByteBuffer.wrap(srtpOut.getBuffer());
  private volatile boolean savp;
  private volatile SrtpKeys keys;
  /**
   * The keys a re-key replaced: packets under them may still be on their way, so they live until the new keys
   * authenticate a first packet from the PBX (closed then, on {@code media-rtp-io}), or until the leg closes.
   */
  private final java.util.concurrent.atomic.AtomicReference<SrtpKeys> retired =
      new java.util.concurrent.atomic.AtomicReference<>();
  private volatile InetSocketAddress remote;
  private volatile InetSocketAddress rtcpRemote;
  private final RtcpLeg rtcp;
  private volatile boolean learned;
  /** Written per packet with a release store (lazySet: no fence on x86, unlike a volatile write). */
  private final java.util.concurrent.atomic.AtomicLong lastRxNanos = new java.util.concurrent.atomic.AtomicLong();
  /** SDES state, event loop only: suites to offer, lines of our last offer, the agreed pair. */
  private List<SdesCrypto.Suite> offerSuites = List.of();
  private List<SdesCrypto.Line> lastOffered = List.of();
  private SdesCrypto.Line ours;
  private SdesCrypto.Line theirs;

  PbxLeg(String callId, NodeMediaResources rt, RtpPorts.Pair ports, MediaCounters counters, Receiver receiver,
         RtcpLeg rtcp) {
    this.callId = callId;
    this.rtcp = rtcp;
    this.rt = rt;
    this.ports = ports;
    this.counters = counters;
    this.receiver = receiver;
  }

  /** Starts reading both ports on the packet thread. */
  void start() {
    rt.loop().register(ports.rtp(), this::onReadable);
    rt.loop().register(ports.rtcp(), this::onReadable);
  }

  int port() {
    return ports.port();
  }

  /** RTP/SAVP with SDES keys offering {@code suites} in this order, or plain RTP/AVP; set once at create. */
  void useSavp(boolean savp, List<SdesCrypto.Suite> suites) {
    this.savp = savp;
    this.offerSuites = List.copyOf(suites);
  }

  boolean savp() {
    return savp;
  }

  /** The agreed SDES suite, or null (RTP/AVP, or no answer yet). */
  SdesCrypto.Suite srtpSuite() {
    SdesCrypto.Line l = ours;
    return savp && l != null ? l.suite() : null;
  }

  /**
   * Our a=crypto lines for the next SDP (event loop): none for RTP/AVP; in an offer, one per suite until a
   * suite is agreed and then the agreed line; in an answer, the line that answers the PBX's.
   */
  List<SdesCrypto.Line> cryptoLines(boolean offer) {
    if (!savp) {
      return List.of();
    }
    if (!offer && ours != null) {
      return List.of(ours);
    }
    if (ours != null) {
      lastOffered = List.of(ours);
    } else if (lastOffered.isEmpty()) {
      List<SdesCrypto.Line> lines = new ArrayList<>();
      for (SdesCrypto.Suite suite : offerSuites) {
        lines.add(new SdesCrypto.Line(lines.size() + 1, suite, newKey()));
      }
      lastOffered = List.copyOf(lines);
    }
    return lastOffered;
  }

  private static byte[] newKey() {
    byte[] k = new byte[SrtpKeys.SDES_KEY_LENGTH];
    Randoms.nextBytes(k);
    return k;
  }

  /**
   * Takes the crypto of a PBX answer or offer (event loop); throws {@link IllegalArgumentException} with the
   * reason, changing nothing, when it is unusable. A stream without an address and without a=crypto
   * (rejected, or hold written as port 0) keeps the current keys.
   */
  void takeCrypto(MediaSdp.PbxMedia pbx, boolean answer) {
    if (!savp || !pbx.savp() || (pbx.crypto().isEmpty() && pbx.rtp() == null)) {
      return;
    }
    SdesCrypto.Line their;
    SdesCrypto.Line mine;
    if (answer) {
      // Our last offer; or, when the PBX's offer came first, the SDP we answered it with (an offerless
      // re-INVITE is answered with that SDP again, and the ACK brings the PBX's answer to it).
      List<SdesCrypto.Line> offered = lastOffered.isEmpty() && ours != null ? List.of(ours) : lastOffered;
      their = SdesCrypto.checkAnswer(pbx.crypto(), offered);
      mine = offered.stream().filter(l -> l.tag() == their.tag()).findFirst().orElseThrow();
    } else {
      their = SdesCrypto.chooseFromOffer(pbx.crypto());
      // Our key stays while the suite does; a new suite gets a new key of ours.
      mine = new SdesCrypto.Line(their.tag(), their.suite(),
          ours != null && ours.suite() == their.suite() ? ours.key() : newKey());
    }
    boolean sameSending = ours != null && ours.suite() == mine.suite() && Arrays.equals(ours.key(), mine.key());
    boolean sameReceiving = theirs != null && theirs.suite() == their.suite() && Arrays.equals(theirs.key(), their.key());
    if (!sameSending || !sameReceiving) {
      SrtpKeys old = keys;
      keys = SrtpKeys.sdes(mine.suite().profile(), mine.key(), their.key(), sameSending ? old : null);
      if (old != null) {
        closeQuietly(retired.getAndSet(old)); // a re-key before the last one carried a packet: two back, unused
      }
      LOG.info("call={} PBX SRTP {} tag {}: {}", callId, mine.suite(), mine.tag(), old == null ? "keys installed"
          : sameSending ? "PBX re-keyed, our sending contexts kept" : "new suite or key, new contexts both ways");
    }
    ours = mine;
    theirs = their;
  }

  InetSocketAddress remote() {
    return remote;
  }

  /** Nanos of the last accepted packet, 0 before the first. */
  long lastRxNanos() {
    return lastRxNanos.get();
  }

  /** Takes the address of a PBX SDP (event loop); its crypto was taken by {@link #takeCrypto}. */
  void apply(MediaSdp.PbxMedia pbx) {
    if (pbx.rtp() != null && !pbx.rtp().equals(remote)) {
      remote = pbx.rtp();
      rtcpRemote = pbx.rtcp();
      learned = false;
    }
  }

  // ------------------------------------------------------------------ RTCP (the node's RTCP thread)

  /** True when an RTCP report can go out: the PBX address is known, and its key when SDES-SRTP. */
  boolean rtcpReady() {
    return rtcpRemote != null && (!savp || keys != null);
  }

  /** The keys for SRTCP (RFC 3711 with the SDES keys), or null for plain RTCP. */
  SrtpKeys rtcpKeys() {
    return savp ? keys : null;
  }

  /**
   * Strict source for RTCP as for RTP: exactly the PBX's RTCP address (a=rtcp, else RTP port + 1); a NATed
   * PBX (learnPbxAddress) may use any port of the address its RTP came from.
   */
  private boolean rtcpSourceOk(InetSocketAddress from) {
    InetSocketAddress r = rtcpRemote;
    return r != null && (rt.learnPbxAddress() ? from.getAddress().equals(r.getAddress()) : r.equals(from));
  }

  /** Sends one of our RTCP compound packets from the odd port to the PBX's RTCP address. */
  void sendRtcp(byte[] b, int off, int len) throws IOException {
    InetSocketAddress to = rtcpRemote;
    if (to != null) {
      ports.rtcp().send(ByteBuffer.wrap(b, off, len), to);
    }
  }

  /**
   * Sends a relayed RTP packet at offset 0 of {@code b} ({@code view} wraps {@code b}); on the browser→PBX
   * thread, allocation-free.
   */
  void send(byte[] b, int len, ByteBuffer view, InetSocketAddress to) {
    if (savp) {
      SrtpKeys k = keys;
      if (k == null || !srtpOut.load(b, 0, len) || !protect(k, srtpOut)) {
        counters.inc(Name.sendFailed);
        return;
      }
      sendRaw(srtpOutView, srtpOut.getLength(), to);
      return;
    }
    sendRaw(view, len, to);
  }

  /** Sends a packet the gateway made itself (DTMF); from any thread, allocates. */
  boolean sendOwn(byte[] b, int len) {
    InetSocketAddress to = remote;
    if (to == null) {
      return false;
    }
    if (savp) {
      SrtpKeys k = keys;
      PacketBuffer pb = new PacketBuffer();
      if (k == null || !pb.load(b, 0, len) || !protect(k, pb)) {
        return false;
      }
      sendRaw(ByteBuffer.wrap(pb.getBuffer()), pb.getLength(), to);
    } else {
      sendRaw(ByteBuffer.wrap(b), len, to);
    }
    return true;
  }

  private static boolean protect(SrtpKeys k, PacketBuffer buf) {
    try {
      return k.protect(buf) == SrtpErrorStatus.OK;
    } catch (GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  private void sendRaw(ByteBuffer view, int len, InetSocketAddress to) {
    view.clear().limit(len);
    try {
      ports.rtp().send(view, to);
      counters.inc(Name.toPbx);
    } catch (IOException e) {
      counters.inc(Name.sendFailed);
    }
  }

  /** On media-rtp-io: up to 32 datagrams per wake-up, each checked, decrypted and handed on. */
  private void onReadable(DatagramChannel ch) {
    boolean rtcp = ch == ports.rtcp();
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
      SocketAddress from;
      rxView.clear();
      try {
        from = ch.receive(rxView);
      } catch (IOException e) {
        return;
      }
      if (from == null) {
        return;
      }
      int len = rxView.position();
      byte[] b = rx.getBuffer();
      if (!Rtp.isRtpOrRtcp(b, 0, len)) {
        counters.inc(Name.pbxJunk);
        continue;
      }
      InetSocketAddress expected = remote;
      if (expected == null) {
        counters.inc(Name.pbxJunk);
        continue;
      }
      if (rtcp) {
        if (from instanceof InetSocketAddress f && rtcpSourceOk(f)) {
          counters.inc(Name.pbxRtcpIn);
          rx.set(len);
          this.rtcp.onRtcp(rx, System.nanoTime());
        } else {
          counters.inc(Name.pbxWrongSource);
        }
        continue;
      }
      if (!expected.equals(from)) {
        if (rt.learnPbxAddress() && !learned && from instanceof InetSocketAddress f && mayBeThePbx(f, expected)) {
          // NATed PBX: its first RTP decides, then the address is locked for the rest of the call.
          remote = f;
          rtcpRemote = new InetSocketAddress(f.getAddress(), f.getPort() + 1);
          learned = true;
          LOG.info("call={} PBX media address learned: {}", callId, f);
        } else {
          counters.inc(Name.pbxWrongSource);
          continue;
        }
      } else if (!learned) {
        learned = true; // once: a volatile write per packet would cost a fence each
      }
      if (savp) {
        len = unprotect(len);
        if (len < 0) {
          counters.inc(Name.pbxAuthFailed);
          continue;
        }
      }
      long now = System.nanoTime();
      lastRxNanos.lazySet(now);
      counters.inc(Name.pbxIn);
      receiver.onRtp(rx, len, now);
    }
  }

  /**
   * Whether a packet from {@code f} may be the NATed PBX's first: from the PBX's addresses
   * ({@code pbx.allowedSources}) or the SDP's connection address, or from the SDP's port (a NAT that keeps
   * ports). Anything else is a stranger spraying the port before the PBX's first packet; learning it would
   * hand the call's audio to the stranger.
   */
  private boolean mayBeThePbx(InetSocketAddress f, InetSocketAddress signalled) {
    IpRanges sources = rt.pbxSources() == null ? null : rt.pbxSources().get();
    return f.getPort() == signalled.getPort() || f.getAddress().equals(signalled.getAddress())
        || (sources != null && sources.contains(f.getAddress()));
  }

  private int unprotect(int len) {
    SrtpKeys k = keys;
    rx.set(len);
    try {
      if (k == null || k.unprotect(rx) != SrtpErrorStatus.OK) {
        return -1;
      }
      if (retired.get() != null) {
        closeQuietly(retired.getAndSet(null)); // the PBX sends under the new keys: the old ones are done
      }
      return rx.getLength();
    } catch (GeneralSecurityException | RuntimeException e) {
      return -1;
    }
  }

  /** How many SDES key sets this leg holds: 0 (none yet, or closed), 1, or 2 from a re-key until it carried a packet. */
  int srtpKeySets() {
    return (keys != null ? 1 : 0) + (retired.get() != null ? 1 : 0);
  }

  private static void closeQuietly(SrtpKeys k) {
    if (k != null) {
      k.close();
    }
  }

  /**
   * Closes the ports (the selector drops their registrations) and gives the pair back; blocking-free,
   * idempotent (a second release could free the pair after another call got it).
   */
  void close() {
    if (released.compareAndSet(false, true)) {
      rt.ports().release(ports);
      // A packet still being handled with these keys fails to decrypt and is dropped; nothing else uses them.
      SrtpKeys k = keys;
      keys = null;
      closeQuietly(k);
      closeQuietly(retired.getAndSet(null));
    }
  }
}
