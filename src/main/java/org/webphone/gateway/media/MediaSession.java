package org.webphone.gateway.media;

import io.vertx.core.json.JsonObject;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.media.MediaCounters.Name;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.RtcpLeg;
import org.webphone.gateway.media.rtp.RtcpScheduler;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.RtpPorts;
import org.webphone.gateway.media.rtp.SrtpKeys;
import org.webphone.gateway.media.rtp.StreamRewriter;

/**
 * The media of one call: a replaceable {@link WebRtcLeg} toward the browser and a {@link PbxLeg} that stays
 * for the whole call, relaying its codec ({@link CallCodec}: G.711, G.722 or Opus) both ways without
 * transcoding: payload types mapped, SSRC, sequence numbers and timestamps kept continuous per direction
 * ({@link StreamRewriter}) on the codec's RTP clock, DTMF, hold, timeouts.
 *
 * <p>Threads: browser→PBX runs on the WebRTC port's reader of the browser's address ({@link #fromBrowser});
 * PBX→browser on the node's
 * {@code media-rtp-io} thread ({@link #relayToBrowser}, called by the PBX leg); negotiation state is
 * written by the verticle's event loop and read by the packet threads through volatile fields. Neither
 * packet path allocates or blocks.
 */
final class MediaSession {
  private static final Logger LOG = LoggerFactory.getLogger(MediaSession.class);

  private final String callId;
  private final String sessionId;
  private final NodeMediaResources rt;
  private final MediaCounters counters = new MediaCounters();
  private final StreamRewriter toPbx = new StreamRewriter(ThreadLocalRandom.current().nextInt());
  /** Shared with the persistent leg when the call borrows one, so the browser sees one stream across calls. */
  private final StreamRewriter toBrowser;
  private final long sdpSessionId = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE / 2);
  private final long createdNanos = System.nanoTime();

  private final PbxLeg pbx;
  /** RTCP terminated per leg (the legs rewrite SSRC/seq/ts, so each side gets reports about what it sees). */
  private final RtcpLeg browserRtcp;
  private final RtcpLeg pbxRtcp;
  private RtcpScheduler.Handle browserRtcpTask;
  private RtcpScheduler.Handle pbxRtcpTask;
  private volatile String profileAtClose;
  private volatile WebRtcLeg browser;
  /** The browser leg is a persistent one (an audio path): detached, never closed, when this call ends. */
  private volatile boolean borrowed;
  private volatile boolean sendToPbx;
  private volatile int browserTe = -1;
  private volatile int pbxTe = -1;
  /** Written per packet with a release store (lazySet: no fence on x86, unlike a volatile write). */
  private final java.util.concurrent.atomic.AtomicLong lastBrowserNanos = new java.util.concurrent.atomic.AtomicLong();
  private volatile boolean closed;
  private volatile CallCodec codec = CallCodec.g711(MediaSdp.PCMU);
  /**
   * True from the PBX's answer choosing a codec the browser leg was not answered with until the browser's
   * re-offer is answered with it: meanwhile neither direction can be passed through, so both are dropped.
   */
  private volatile boolean browserPending;
  /**
   * The payload type our offer gave the codec when the PBX's answer gave it another: RFC 3264 section 5.1 has
   * each side send with the numbers the other's SDP uses, so the PBX may send with ours; -1 when the same.
   */
  private volatile int pbxOfferedPt = -1;
  /** The codec the browser leg was answered with, while {@link #browserPending}. */
  private volatile CallCodec browserWas;
  /** What our first offer to the PBX lists (outgoing calls), until its answer fixes the codec; else null. */
  private java.util.List<CallCodec.Format> pbxChoices;
  private java.util.List<CallCodec.Format> browserFormats = java.util.List.of();
  private long browserVersion;
  private long pbxVersion;
  private String localDirection = "sendrecv";
  private String pbxDirection = "sendrecv";
  private boolean ended;
  /** Only the rtp-io thread touches these. */
  private boolean dtmfEndSeen;
  private long lastDtmfEndTs;
  private static final String DTMF_DIGITS = "0123456789*#ABCD";

  MediaSession(String callId, String sessionId, NodeMediaResources rt, RtpPorts.Pair ports) {
    this(callId, sessionId, rt, ports, new StreamRewriter(ThreadLocalRandom.current().nextInt()));
  }

  /** With the stream toward the browser continued from {@code toBrowser} (a persistent leg's). */
  MediaSession(String callId, String sessionId, NodeMediaResources rt, RtpPorts.Pair ports, StreamRewriter toBrowser) {
    this.toBrowser = toBrowser;
    this.callId = callId;
    this.sessionId = sessionId;
    this.rt = rt;
    this.browserRtcp = new RtcpLeg("browser", toBrowser.ssrc(), "webphone-gateway", rt.rtcpIntervalMs(),
        new BrowserRtcpTransport(), this::rtcpEvent);
    this.pbxRtcp = new RtcpLeg("pbx", toPbx.ssrc(), "webphone-gateway", rt.rtcpIntervalMs(),
        new PbxRtcpTransport(), this::rtcpEvent);
    this.pbx = new PbxLeg(callId, rt, ports, counters, this::relayToBrowser, pbxRtcp);
  }

  /** Makes the PBX leg RTP/SAVP with SDES keys (RFC 4568) or plain RTP/AVP; set once at create. */
  void useSavp(boolean savp, java.util.List<SdesCrypto.Suite> offeredSuites) {
    pbx.useSavp(savp, offeredSuites);
  }

  /** Checks and takes the PBX's a=crypto (answer or offer); throws, changing nothing, when it is unusable. */
  void takePbxCrypto(MediaSdp.PbxMedia desc, boolean answer) {
    pbx.takeCrypto(desc, answer);
  }

  boolean savp() {
    return pbx.savp();
  }

  String callId() {
    return callId;
  }

  String sessionId() {
    return sessionId;
  }

  MediaCounters counters() {
    return counters;
  }

  int rtpPort() {
    return pbx.port();
  }

  /** Starts reading the PBX leg's ports on the packet thread. */
  void startPbxLeg() {
    pbx.start();
    if (rt.rtcp() != null && !closed) {
      browserRtcpTask = rt.rtcp().start(browserRtcp);
      pbxRtcpTask = rt.rtcp().start(pbxRtcp);
    }
  }

  // ------------------------------------------------------------------ negotiation (event loop)

  /**
   * The call's codec and telephone-event payload types per leg (at the codec's clock). Every timestamp
   * computation of the call follows the codec's clock from here: jitter and SR timestamps of both RTCP legs,
   * the rewriters' continuation, DTMF durations.
   */
  void negotiated(CallCodec codec, int browserTe, int pbxTe) {
    this.codec = codec;
    browserRtcp.stats().jitterPayloadType(codec.browserPt(), codec.clockRate());
    pbxRtcp.stats().jitterPayloadType(codec.pbxPt(), codec.clockRate());
    browserRtcp.stats().sentClockRate(codec.clockRate());
    pbxRtcp.stats().sentClockRate(codec.clockRate());
    synchronized (toPbx) {
      toPbx.clockRate(codec.clockRate());
    }
    toBrowser.clockRate(codec.clockRate());
    this.browserTe = browserTe;
    this.pbxTe = pbxTe;
  }

  CallCodec codec() {
    return codec;
  }

  /** The formats of the browser's latest offer (a codec the PBX picks is looked up there). */
  void browserFormats(java.util.List<CallCodec.Format> formats) {
    browserFormats = formats;
  }

  java.util.List<CallCodec.Format> browserFormats() {
    return browserFormats;
  }

  java.util.List<CallCodec.Format> pbxChoices() {
    return pbxChoices;
  }

  /** Lists {@code choices} in our offers to the PBX until {@link #pbxChose} (outgoing calls). */
  void offerPbx(java.util.List<CallCodec.Format> choices) {
    pbxChoices = choices;
  }

  /** Whether our offer to the PBX still lists several codecs (its answer has not fixed one). */
  boolean pbxChoosing() {
    return pbxChoices != null;
  }

  /**
   * The PBX's answer fixed the codec: our later offers list only it; {@code browserPending} says whether the
   * browser leg must be re-offered onto it first.
   */
  void pbxChose(CallCodec chosen, int offeredPt, int browserTe, int pbxTe, boolean browserPending) {
    pbxOfferedPt = offeredPt == chosen.pbxPt() ? -1 : offeredPt;
    pbxChoices = null;
    browserWas = codec;
    this.browserPending = browserPending;
    negotiated(chosen, browserTe, pbxTe);
  }

  /** The browser leg now speaks the call's codec (its re-offer was answered). */
  void browserOnCodec() {
    browserPending = false;
  }

  boolean browserPending() {
    return browserPending;
  }

  int pbxTe() {
    return pbxTe;
  }

  int browserTe() {
    return browserTe;
  }

  /** Installs a (new) browser leg; returns the old one for the caller to close on a worker. */
  WebRtcLeg replaceBrowserLeg(WebRtcLeg leg) {
    WebRtcLeg old = browser;
    browser = leg;
    return old;
  }

  WebRtcLeg browserLeg() {
    return browser;
  }

  /** Carries this call on a persistent browser leg (no new ICE or DTLS); the leg outlives the call. */
  void borrowBrowserLeg(WebRtcLeg leg) {
    borrowed = true;
    browser = leg;
    attachBrowserLeg();
  }

  /**
   * Makes this call the one its persistent leg carries (event loop): the session's other call on the same leg, if
   * any, is detached and so relays nothing either way (it is on hold). The browser timeout counts from now.
   */
  void attachBrowserLeg() {
    lastBrowserNanos.set(System.nanoTime());
    browser.attach(this);
  }

  /** Whether this call borrows a persistent leg that carries another call now (or none): it relays nothing. */
  boolean detachedFromLeg() {
    WebRtcLeg leg = browser;
    return borrowed && leg != null && leg.attached() != this;
  }

  /** Stops this call's packets on its persistent leg at once (event loop); the leg relays nothing until the next call. */
  void releaseBrowserLeg() {
    WebRtcLeg leg = browser;
    if (borrowed && leg != null && leg.attached() == this) {
      leg.attach(null);
    }
  }

  String browserAnswer(MediaSdp.BrowserOffer offer, WebRtcLeg leg) {
    return MediaSdp.browserAnswer(offer, sdpSessionId, ++browserVersion, rt.announcedAddress(), rt.ice().port(),
        leg.localUfrag(), leg.localPassword(), leg.localCandidateLines(), rt.identity().fingerprint(),
        browserCodec(), browserTe, toBrowser.ssrc());
  }

  /** What the browser leg is answered with: the call's codec, or G.711 while a re-offer is pending. */
  private CallCodec browserCodec() {
    return browserPending ? browserWas : codec;
  }

  /** Our SDP toward the PBX with the current local direction (offer, or answer to {@code offered}). */
  String pbxSdp(String offeredDirection) {
    String dir = offeredDirection == null ? localDirection : MediaSdp.answerDirection(offeredDirection, localDirection);
    java.util.List<CallCodec.Format> formats = pbxChoices;
    if (formats == null) {
      CallCodec c = codec;
      CallCodec.Format f = new CallCodec.Format(c.pbxPt(), c.name(), c.clockRate(), c.channels(), c.toPbxFmtp());
      formats = pbxTe < 0 ? java.util.List.of(f) : java.util.List.of(f,
          new CallCodec.Format(pbxTe, CallCodec.TELEPHONE_EVENT, c.clockRate(), 1, null));
    }
    return MediaSdp.pbxSdp(sdpSessionId, ++pbxVersion, rt.announcedAddress(), pbx.port(), formats, dir,
        pbx.cryptoLines(offeredDirection == null));
  }

  /** Takes the PBX's description (answer or offer): where to send, whether to send, its DTMF type. */
  void applyPbx(MediaSdp.PbxMedia desc) {
    int te = CallCodec.telephoneEvent(desc.formats(), codec.clockRate());
    if (te >= 0) {
      pbxTe = te;
    } else if (pbxTe >= 0 && desc.rtp() != null) {
      pbxTe = -1;
    }
    pbxDirection = desc.direction();
    pbx.apply(desc);
    updateSending();
    LOG.info("call={} PBX media {} {} codec {}", callId, pbx.remote(), pbxDirection, codec.label());
  }

  void setLocalDirection(String direction) {
    localDirection = direction;
    updateSending();
  }

  private void updateSending() {
    boolean pbxReceives = pbxDirection.equals("sendrecv") || pbxDirection.equals("recvonly");
    boolean weSend = localDirection.equals("sendrecv") || localDirection.equals("sendonly");
    sendToPbx = pbxReceives && weSend;
  }

  boolean onHold() {
    return !localDirection.equals("sendrecv") || !pbxDirection.equals("sendrecv");
  }

  // ------------------------------------------------------------------ browser → PBX (WebRTC port reader)

  /** A decrypted RTP packet from the browser at offset 0 of {@code b}; {@code view} wraps {@code b}. */
  void fromBrowser(byte[] b, int len, ByteBuffer view) {
    long now = System.nanoTime();
    lastBrowserNanos.lazySet(now);
    browserRtcp.stats().received(b, 0, now);
    InetSocketAddress to = pbx.remote();
    if (!sendToPbx || to == null || closed) {
      return;
    }
    len = Rtp.stripExtensions(b, 0, len);
    if (len < 0) {
      counters.inc(Name.browserJunk);
      return;
    }
    int pt = Rtp.payloadType(b, 0);
    CallCodec c = codec;
    if (browserPending) {
      counters.inc(Name.unsupportedPayload);
      return;
    }
    if (pt == c.browserPt()) {
      if (c.pbxPt() != pt) {
        Rtp.setPayloadType(b, 0, c.pbxPt());
      }
    } else {
      int te = pbxTe;
      if (pt == browserTe && te >= 0) {
        Rtp.setPayloadType(b, 0, te);
      } else {
        counters.inc(Name.unsupportedPayload);
        return;
      }
    }
    synchronized (toPbx) {
      toPbx.rewrite(b, 0, now);
      pbxRtcp.stats().sent(b, 0, len, now);
    }
    pbx.send(b, len, view, to);
  }

  // ------------------------------------------------------------------ PBX → browser (media-rtp-io thread)

  /** An accepted (and decrypted) RTP packet from the PBX, at offset 0 of {@code buf}. */
  private void relayToBrowser(PacketBuffer buf, int len, long now) {
    byte[] b = buf.getBuffer();
    pbxRtcp.stats().received(b, 0, now);
    WebRtcLeg leg = browser;
    if (leg == null || closed || detachedFromLeg()) {
      return; // a persistent leg carries the session's active call only (released at the call's end, or held)
    }
    len = Rtp.stripExtensions(b, 0, len);
    if (len < 0) {
      counters.inc(Name.pbxJunk);
      return;
    }
    int pt = Rtp.payloadType(b, 0);
    CallCodec c = codec;
    if ((pt == c.pbxPt() || pt == pbxOfferedPt) && !browserPending) {
      if (c.browserPt() != pt) {
        Rtp.setPayloadType(b, 0, c.browserPt());
      }
    } else {
      int te = browserTe;
      if (pt == pbxTe && pt >= 0) {
        noteDtmfFromPbx(b, len);
      }
      if (pt == pbxTe && te >= 0 && !browserPending) {
        Rtp.setPayloadType(b, 0, te);
      } else {
        counters.inc(Name.unsupportedPayload);
        return;
      }
    }
    toBrowser.rewrite(b, 0, now);
    buf.set(len);
    if (leg.sendToBrowser(buf)) {
      counters.inc(Name.toBrowser);
      browserRtcp.stats().sent(buf.getBuffer(), 0, len, now);
    }
  }

  /**
   * Reports a digit the PBX sends (RFC 4733) once, when its first end packet arrives; the event is
   * relayed to the browser as well. On the rtp-io thread; allocates only per digit.
   */
  private void noteDtmfFromPbx(byte[] b, int len) {
    if (len < Rtp.HEADER + 4 || (b[Rtp.HEADER + 1] & 0x80) == 0) {
      return;
    }
    long ts = Rtp.timestamp(b, 0);
    if (dtmfEndSeen && ts == lastDtmfEndTs) {
      return;
    }
    dtmfEndSeen = true;
    lastDtmfEndTs = ts;
    int event = b[Rtp.HEADER] & 0xFF;
    if (event < DTMF_DIGITS.length()) {
      // The duration counts units of the telephone-event's clock, the codec's (RFC 4733 section 2.5.1.1).
      int duration = ((b[Rtp.HEADER + 2] & 0xFF) << 8) | (b[Rtp.HEADER + 3] & 0xFF);
      rt.events().emit(sessionId, SessionEvent.DTMF.json().put(Fields.CALL_ID, callId)
          .put(Fields.DIGIT, String.valueOf(DTMF_DIGITS.charAt(event)))
          .put(Fields.SOURCE, SessionEvent.DTMF_RFC4733)
          .put(Fields.DURATION_MS, duration * 1000L / codec.clockRate()));
    }
  }

  // ------------------------------------------------------------------ DTMF toward the PBX (event loop)

  /** Sends one RFC 4733 packet for {@code event}; {@code first} sets the marker bit. */
  boolean sendDtmfPacket(int event, long timestamp, int duration, boolean first, boolean end) {
    int te = pbxTe;
    if (pbx.remote() == null || te < 0 || closed) {
      return false;
    }
    byte[] b = new byte[16];
    b[0] = (byte) 0x80;
    b[1] = (byte) ((first ? 0x80 : 0) | te);
    b[12] = (byte) event;
    b[13] = (byte) ((end ? 0x80 : 0) | 10);
    b[14] = (byte) (duration >>> 8);
    b[15] = (byte) duration;
    synchronized (toPbx) {
      Rtp.setSsrc(b, 0, toPbx.ssrc());
      Rtp.setSeq(b, 0, toPbx.nextOwnSeq());
      Rtp.setTimestamp(b, 0, timestamp);
      pbxRtcp.stats().sent(b, 0, 16, System.nanoTime());
    }
    if (!pbx.sendOwn(b, 16)) {
      return false;
    }
    counters.inc(Name.dtmfSent);
    return true;
  }

  long dtmfTimestamp() {
    synchronized (toPbx) {
      return toPbx.timestampAt(System.nanoTime());
    }
  }

  // ------------------------------------------------------------------ timeouts (event loop)

  /** Checks the legs once; returns an event to send when media stopped, at most once per session. */
  JsonObject checkTimeout(long now, long timeoutNanos, long holdTimeoutNanos) {
    if (ended || closed) {
      return null;
    }
    WebRtcLeg leg = browser;
    String reason = null;
    String state = SessionEvent.MEDIA_TIMEOUT;
    long secs = timeoutNanos / 1_000_000_000L;
    if (leg != null && !leg.connected() && now - leg.createdNanos() > timeoutNanos) {
      reason = "browser media (ICE/DTLS) not connected within " + secs + " s";
      state = SessionEvent.MEDIA_FAILED;
    } else if (leg != null && leg.connected() && !detachedFromLeg()
        && now - Math.max(lastBrowserNanos.get(), Math.max(leg.createdNanos(), createdNanos)) > timeoutNanos) {
      reason = "no media from the browser for " + secs + " s";
    } else {
      long pbxLast = pbx.lastRxNanos();
      long limit = onHold() ? holdTimeoutNanos : timeoutNanos;
      if (pbxLast != 0 && now - pbxLast > limit) {
        reason = "no RTP from the PBX for " + limit / 1_000_000_000L + " s";
      }
    }
    if (reason == null) {
      return null;
    }
    ended = true;
    return event(state, reason);
  }

  JsonObject event(String state, String reason) {
    JsonObject e = SessionEvent.MEDIA.json().put(Fields.CALL_ID, callId).put(Fields.STATE, state);
    if (reason != null) {
      e.put(Fields.REASON, reason);
    }
    return e;
  }

  void markEnded() {
    ended = true;
  }

  /** Whether the call's media was reported failed or timed out (the session waits for its close). */
  boolean ended() {
    return ended;
  }

  JsonObject status() {
    return new JsonObject().put("callId", callId).put("sessionId", sessionId).put("rtpPort", pbx.port())
        .put("pbxAddress", pbx.remote() == null ? null
            : pbx.remote().getAddress().getHostAddress() + ":" + pbx.remote().getPort())
        .put("browserConnected", browser != null && browser.connected())
        .put("codec", codec.label()).put("codecPending", browserPending)
        .put("hold", onHold()).put("pbxSrtp", pbx.savp())
        .put("pbxSrtpSuite", pbx.srtpSuite() == null ? null : pbx.srtpSuite().name())
        .put("pbxSrtpKeySets", pbx.srtpKeySets())
        .put("srtpProfile", srtpProfile())
        .put("quality", quality())
        .put("ageMs", (System.nanoTime() - createdNanos) / 1_000_000)
        .put("counters", counters.toJson());
  }

  // ------------------------------------------------------------------ RTCP

  /** SRTCP from the browser (rtcp-mux), in the leg's receive buffer; on the WebRTC port's reader. */
  void fromBrowserRtcp(PacketBuffer buf) {
    browserRtcp.onRtcp(buf, System.nanoTime());
  }

  /** The SRTP protection profile the current browser leg negotiated, or null before DTLS is done. */
  String srtpProfile() {
    if (closed) {
      return profileAtClose;
    }
    WebRtcLeg leg = browser;
    SrtpKeys k = leg == null ? null : leg.keys();
    return k == null ? null : k.profile().name();
  }

  private void rtcpEvent(RtcpLeg.Event e) {
    switch (e) {
      case SENT -> counters.inc(Name.rtcpOut);
      case IGNORED -> counters.inc(Name.rtcpIgnored);
      case BAD -> counters.inc(Name.rtcpBad);
      case SEND_FAILED -> counters.inc(Name.sendFailed);
      default -> {
      }
    }
  }

  RtcpLeg browserRtcp() {
    return browserRtcp;
  }

  RtcpLeg pbxRtcp() {
    return pbxRtcp;
  }

  /** Per-leg call quality: what we measured on the stream each leg receives, what its peer reported. */
  JsonObject quality() {
    return new JsonObject().put("browser", browserRtcp.toJson()).put("pbx", pbxRtcp.toJson());
  }

  private final class BrowserRtcpTransport implements RtcpLeg.Transport {
    @Override
    public boolean ready() {
      WebRtcLeg leg = browser;
      return leg != null && leg.connected() && !closed && !detachedFromLeg(); // one call's reports on a shared leg
    }

    @Override
    public SrtpKeys keys() {
      WebRtcLeg leg = browser;
      return leg == null ? null : leg.keys();
    }

    @Override
    public void send(byte[] b, int off, int len) throws java.io.IOException {
      WebRtcLeg leg = browser;
      if (leg != null) {
        leg.sendRtcp(b, off, len);
      }
    }
  }

  private final class PbxRtcpTransport implements RtcpLeg.Transport {
    @Override
    public boolean ready() {
      return pbx.rtcpReady() && !closed;
    }

    @Override
    public SrtpKeys keys() {
      return pbx.rtcpKeys();
    }

    @Override
    public void send(byte[] b, int off, int len) throws java.io.IOException {
      pbx.sendRtcp(b, off, len);
    }
  }

  /**
   * Frees the browser leg and the ports; blocking (waits, bounded, for the leg's DTLS handshake if one is still
   * running on the node's handshake pool), call from a worker. Idempotent.
   */
  void close() {
    if (closed) {
      return;
    }
    stopRtcp();
    profileAtClose = srtpProfile();
    closed = true;
    WebRtcLeg leg = browser;
    releaseBrowserLeg();
    browser = null;
    if (leg != null && !borrowed) {
      leg.close();
    }
    pbx.close();
  }

  /** Takes both legs off the RTCP timer and sends each peer its BYE (RFC 3550 6.6) while the legs still can. */
  private void stopRtcp() {
    if (browserRtcpTask != null) {
      browserRtcpTask.stop();
      pbxRtcpTask.stop();
    }
    if (rt.rtcp() != null) {
      long now = System.nanoTime();
      if (!borrowed) { // the browser's stream goes on with the next call on the same leg
        browserRtcp.bye(now);
      }
      pbxRtcp.bye(now);
    }
  }
}
