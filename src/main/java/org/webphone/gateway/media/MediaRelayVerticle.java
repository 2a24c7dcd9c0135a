package org.webphone.gateway.media;

import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.PbxSources;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IpRanges;
import org.webphone.gateway.media.dtls.DtlsHandshakePool;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.CandidateAddresses;
import org.webphone.gateway.media.ice.IceService;
import org.webphone.gateway.media.ice.IceTcpPort;
import org.webphone.gateway.media.rtp.RtcpMetrics;
import org.webphone.gateway.media.rtp.RtcpScheduler;
import org.webphone.gateway.media.rtp.RtpIoLoop;
import org.webphone.gateway.media.rtp.RtpPorts;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The media relay of a node: joins each call's browser WebRTC audio (ICE, DTLS-SRTP) to plain RTP toward
 * the PBX. The contract is the "Media relay" section of {@code docs/event-bus.md}; the design is
 * {@code docs/media.md}.
 *
 * <p>Threads: commands run on this verticle's event loop, which alone touches {@link #sessions}; anything
 * that starts or joins threads or may block (ICE agents, DTLS, closing a session) runs in
 * {@code executeBlocking}, and so do the port binds of a create without {@code answerLater}; a create with
 * {@code answerLater} binds its two RTP ports on the event loop (non-blocking system calls) to reply at once.
 * Packets never cross the event bus (see {@link MediaSession}).
 */
public final class MediaRelayVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(MediaRelayVerticle.class);

  private final Map<String, MediaSession> sessions = new HashMap<>();
  /** Calls whose create is in progress; a close that arrives meanwhile is remembered here. */
  private final Map<String, Boolean> creating = new HashMap<>();
  /** Calls whose last PBX SDP we sent was an offer still waiting for its answer. */
  private final Set<String> awaitingAnswer = new HashSet<>();
  private final Map<String, String> lastPbxOrigin = new HashMap<>();
  private final MediaCounters retired = new MediaCounters();
  private NodeMediaResources rt;
  private long timeoutNanos;
  private long holdTimeoutNanos;
  private long timer = -1;
  private Thread warmUp;
  private RtcpMetrics quality;
  private TrickledCandidates trickled;
  private AudioPaths paths;
  private final TrickledCandidates.Lookup mdnsLookup;

  public MediaRelayVerticle() {
    this(InetAddress::getByName);
  }

  /** With another resolver for mDNS candidates (tests: no mDNS responder runs in their namespace). */
  MediaRelayVerticle(TrickledCandidates.Lookup mdnsLookup) {
    this.mdnsLookup = mdnsLookup;
  }

  @Override
  public Future<?> start() {
    GatewayConfig cfg = GatewayConfig.from(config());
    timeoutNanos = cfg.getLong("media.timeoutSec") * 1_000_000_000L;
    holdTimeoutNanos = cfg.getLong("media.holdTimeoutSec") * 1_000_000_000L;
    IceService.configureIce4j();
    Context ctx = context;
    paths = new AudioPaths(vertx, context, cfg.getString("media.pathCodec"), this::emit);
    warmUp = new Thread(() -> {
      try {
        long t0 = System.nanoTime();
        SrtpKeys.warmUp();
        LOG.info("SRTP ready ({} ms warm-up)", (System.nanoTime() - t0) / 1_000_000);
      } catch (Exception e) {
        LOG.warn("SRTP warm-up failed: {}", e.toString());
      }
    }, "media-srtp-warmup");
    warmUp.setDaemon(true);
    warmUp.start();
    return vertx.executeBlocking(() -> {
      String bind = cfg.getString("media.bindAddress");
      IceService ice = new IceService(bind, cfg.getInt("media.webrtcPort"), candidateAddresses(cfg, bind),
          new DtlsHandshakePool.Limits(cfg.getInt("media.dtlsMaxHandshakes"),
              cfg.getInt("media.dtlsHandshakesPerAddress"), cfg.getInt("media.dtlsHelloTimeoutMs")));
      try {
        ice.listenTcp(cfg.getInt("media.iceTcpPort"), new IceTcpPort.Limits(cfg.getInt("media.iceTcpFirstStunTimeoutMs"),
            cfg.getInt("media.iceTcpConnectionsPerAddress")));
        RtpPorts ports = new RtpPorts(InetAddress.getByName(bind), cfg.getInt("media.rtpPortMin"),
            cfg.getInt("media.rtpPortMax"));
        RtpIoLoop loop = new RtpIoLoop("media-rtp-io");
        DtlsIdentity identity = DtlsIdentity.generate("webphone-" + config().getString("nodeId", "node"));
        return NodeMediaResources.builder().ice(ice).identity(identity).ports(ports).loop(loop)
            .announcedAddress(cfg.mediaAnnouncedAddress()).learnPbxAddress(cfg.getBoolean("media.learnPbxAddress"))
            .pbxSrtp(cfg.getBoolean("media.pbxSrtp")).pbxSrtpSuites(pbxSrtpSuites(cfg))
            .handshakeTimeoutMs(cfg.getInt("media.dtlsHandshakeTimeoutMs"))
            .events((sessionId, event) -> ctx.runOnContext(v -> emit(sessionId, event)))
            .rtcp(new RtcpScheduler("media-rtcp"), cfg.getLong("media.rtcpIntervalMs"))
            .aeadGcm(cfg.getBoolean("media.srtpAeadGcm")).pbxSources(pbxSources(cfg)).build();
      } catch (Exception e) {
        ice.close();
        throw e;
      }
    }).onSuccess(r -> {
      rt = r;
      paths.resources(r);
      quality = new RtcpMetrics(config().getString("nodeId"));
      var bus = vertx.eventBus();
      bus.<JsonObject>localConsumer(Addresses.MEDIA_CREATE, this::create);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_PBX_SDP, this::pbxSdp);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_BROWSER_OFFER, this::browserOffer);
      trickled = new TrickledCandidates(vertx, mdnsLookup, sessions::get, creating::containsKey);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_CANDIDATE, m -> trickled.handle(m));
      bus.<JsonObject>localConsumer(Addresses.MEDIA_DIRECTION, this::direction);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_DTMF, m -> MediaDtmf.handle(vertx, sessions, m));
      bus.<JsonObject>localConsumer(Addresses.MEDIA_CLOSE, this::close);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_PATH_OPEN, paths::open);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_PATH_CLOSE, paths::close);
      bus.<JsonObject>localConsumer(Addresses.MEDIA_PATH_ATTACH, m -> paths.attach(m, sessions.get(text(m.body(), Fields.CALL_ID))));
      bus.<JsonObject>localConsumer(Addresses.MEDIA_STATUS, this::status);
      timer = vertx.setPeriodic(500, t -> checkTimeouts());
      LOG.info("media relay on {}:{} (WebRTC), RTP {}..{}, fingerprint {}", cfg.getString("media.bindAddress"),
          r.ice().port(), cfg.getInt("media.rtpPortMin"), cfg.getInt("media.rtpPortMax"), r.identity().fingerprint());
    });
  }

  /** media.pbxSrtpSuites (checked by GatewayConfig); warns when SDES keys go over plain SIP by permission. */
  private static java.util.List<SdesCrypto.Suite> pbxSrtpSuites(GatewayConfig cfg) {
    if (cfg.getBoolean("media.pbxSrtp") && !"tls".equals(cfg.pbxTransport())) {
      LOG.warn("media.pbxSrtp over pbx.transport={} (media.pbxSrtpOverPlainSip): the SRTP keys in the SDP cross"
          + " the network in clear text", cfg.pbxTransport());
    }
    return SdesCrypto.suites(cfg.getArray("media.pbxSrtpSuites").stream().map(String::valueOf).toList());
  }

  /**
   * The addresses of the browsers' host candidates (worker thread: resolves names, lists interfaces); the node
   * does not start when none is reachable (media/ice/CandidateAddresses).
   */
  private static List<String> candidateAddresses(GatewayConfig cfg, String bind) throws java.io.IOException {
    InetAddress bindAddress = InetAddress.getByName(bind);
    List<String> chosen = CandidateAddresses.choose(CandidateAddresses.resolve(cfg.mediaCandidateAddresses()),
            bindAddress, CandidateAddresses.interfaces(), CandidateAddresses.ipv6Capable(bindAddress))
        .stream().map(CandidateAddresses::literal).toList();
    LOG.info("ICE host candidates at {}", chosen);
    return chosen;
  }

  /**
   * Where the PBX may send media from, for NAT learning (null when not learning): what the SIP verticle resolved
   * ({@link PbxSources}: it follows re-resolution and a secondary registrar); until it has said, pbx.allowedSources
   * as configured, else the PBX host when it is an IP address. No DNS here.
   */
  private java.util.function.Supplier<IpRanges> pbxSources(GatewayConfig cfg) {
    if (!cfg.getBoolean("media.learnPbxAddress")) {
      return null;
    }
    IpRanges configured = IpRanges.configuredPbxSources(cfg);
    InetAddress literal = IpRanges.literal(cfg.pbxHost());
    IpRanges fallback = !configured.isEmpty() ? configured
        : literal != null ? IpRanges.ofPbxAddresses(List.of(literal)) : null;
    return PbxSources.reader(vertx, fallback);
  }

  @Override
  public Future<?> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    var all = sessions.values().toArray(new MediaSession[0]);
    sessions.clear();
    NodeMediaResources r = rt;
    if (quality != null) {
      quality.close();
    }
    return vertx.executeBlocking(() -> {
      for (MediaSession s : all) {
        s.close();
      }
      paths.closeAll();
      if (r != null) {
        r.rtcp().close();
        r.loop().close();
        r.ice().close();
      }
      warmUp.join(5000);
      return null;
    });
  }

  // ------------------------------------------------------------------ commands

  private void create(Message<JsonObject> m) {
    JsonObject b = m.body();
    String callId = text(b, Fields.CALL_ID);
    String sessionId = text(b, Fields.SESSION_ID);
    String offerText = text(b, Fields.BROWSER_OFFER);
    if (callId == null || sessionId == null || (offerText == null && b.getValue(Fields.AUDIO_PATH) == null)) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.session.create needs callId, sessionId and browserOffer or audioPath");
      return;
    }
    if (sessions.containsKey(callId) || creating.containsKey(callId)) {
      m.fail(ErrorCode.WRONG_STATE.code(), "call " + callId + " already has media");
      return;
    }
    if (b.getValue(Fields.AUDIO_PATH) != null) {
      createOnPath(m, callId, sessionId);
      return;
    }
    MediaSdp.BrowserOffer offer;
    MediaSdp.PbxMedia pbxOffer = null;
    CallCodec codec;
    int browserTe;
    int pbxTe;
    java.util.List<CallCodec.Format> choices = null;
    try {
      offer = MediaSdp.parseBrowserOffer(offerText);
      if (b.getValue(Fields.PBX_OFFER) != null) {
        pbxOffer = MediaSdp.parsePbx(text(b, Fields.PBX_OFFER) == null ? "" : text(b, Fields.PBX_OFFER));
        codec = CodecNegotiation.forIncoming(offer, pbxOffer);
        browserTe = CallCodec.telephoneEvent(offer.formats(), codec.clockRate());
        pbxTe = browserTe >= 0 ? CallCodec.telephoneEvent(pbxOffer.formats(), codec.clockRate()) : -1;
        if (pbxOffer.savp() && pbxOffer.rtp() != null) {
          SdesCrypto.chooseFromOffer(pbxOffer.crypto());
        }
      } else {
        codec = CallCodec.g711(offer.g711().contains(MediaSdp.PCMU) ? MediaSdp.PCMU : MediaSdp.PCMA);
        browserTe = offer.telephoneEvent();
        pbxTe = browserTe >= 0 ? MediaSdp.PBX_TE_PT : -1;
        choices = CodecNegotiation.pbxChoices(offer, codec.pbxPt(), pbxTe);
      }
    } catch (IllegalArgumentException e) {
      LOG.info("call={} refused SDP: {}", callId, e.getMessage());
      m.fail(ErrorCode.BAD_SDP.code(), e.getMessage());
      return;
    }
    creating.put(callId, false);
    MediaSdp.PbxMedia pbx = pbxOffer;
    Negotiated neg = new Negotiated(codec, browserTe, pbxTe, choices);
    if (Boolean.TRUE.equals(b.getValue(Fields.ANSWER_LATER))) {
      createAnswerLater(m, callId, sessionId, neg, offer, pbx);
      return;
    }
    // Unordered: creates of different calls run side by side on the worker pool instead of queueing
    // behind each other (each builds an ICE agent); nothing here depends on another call's create.
    vertx.executeBlocking(() -> {
      MediaSession s = newSession(callId, sessionId, neg, offer, pbx);
      if (s != null) {
        try {
          s.replaceBrowserLeg(newLeg(s, offer));
        } catch (Exception e) {
          s.close();
          throw e;
        }
      }
      return s;
    }, false).onComplete(ar -> {
      if (ar.succeeded() && ar.result() != null) {
        published(m, ar.result(), pbx, offer, true);
        legInstalled(ar.result(), ar.result().browserLeg(), offer);
      } else {
        createFailed(m, callId, ar.cause());
      }
    });
  }

  /**
   * A create on the session's audio path: the call borrows the persistent browser leg (no ICE, no DTLS), only its
   * PBX side is new, and it has the path's one codec: an outgoing call offers the PBX only that codec, an incoming
   * offer without it is refused (306, which the SIP side answers with 488). The new call is the session's active one
   * (a first call, an accepted call waiting, a consult call), so the path carries it at once. Event loop only: binding the RTP pair
   * is non-blocking, as in {@link #createAnswerLater}.
   */
  private void createOnPath(Message<JsonObject> m, String callId, String sessionId) {
    AudioPaths.Path path = paths.get(text(m.body(), Fields.AUDIO_PATH));
    if (path == null || path.failed || !path.sessionId.equals(sessionId)) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no open audio path " + text(m.body(), Fields.AUDIO_PATH) + " of this session");
      return;
    }
    MediaSdp.PbxMedia pbx = null;
    CallCodec codec = path.codec;
    int pbxTe = path.browserTe >= 0 ? MediaSdp.PBX_TE_PT : -1;
    String pbxOffer = m.body().getValue(Fields.PBX_OFFER) == null ? null : m.body().getString(Fields.PBX_OFFER, "");
    try {
      if (pbxOffer != null) {
        pbx = MediaSdp.parsePbx(pbxOffer);
        CallCodec.Format f = pbx.rtp() == null ? null : CallCodec.find(CallCodec.audio(pbx.formats()), codec);
        if (f == null) {
          throw new IllegalArgumentException("the PBX offer lacks " + codec.label() + ", the audio path's codec");
        }
        codec = codec.withPbx(f);
        pbxTe = path.browserTe >= 0 ? CallCodec.telephoneEvent(pbx.formats(), codec.clockRate()) : -1;
        if (pbx.savp()) {
          SdesCrypto.chooseFromOffer(pbx.crypto());
        }
      }
    } catch (IllegalArgumentException e) {
      LOG.info("call={} refused SDP on audio path {}: {}", callId, path.id, e.getMessage());
      m.fail(ErrorCode.BAD_SDP.code(), e.getMessage());
      return;
    }
    RtpPorts.Pair ports = rt.ports().allocate();
    if (ports == null) {
      m.fail(ErrorCode.NO_PORT.code(), "no free RTP port pair in media.rtpPortMin..rtpPortMax");
      return;
    }
    MediaSession s = new MediaSession(callId, sessionId, rt, ports, path.toBrowser);
    s.negotiated(codec, path.browserTe, pbxTe);
    s.useSavp(pbx != null ? pbx.savp() : rt.pbxSrtp(), rt.pbxSrtpSuites());
    paths.carry(path, s); // a call already on the path (call waiting, consult) is held from now on
    path.counters.inc(MediaCounters.Name.pathAttached);
    creating.put(callId, false);
    published(m, s, pbx, null, false);
    LOG.info("call={} attached to audio path {} (no ICE, no DTLS)", callId, path.id);
  }

  /** A create that made no session: {@code cause} null means no free port pair. */
  private void createFailed(Message<JsonObject> m, String callId, Throwable cause) {
    creating.remove(callId);
    trickled.forget(callId);
    if (cause != null) {
      LOG.warn("call={} media create failed: {}", callId, cause.toString());
      m.fail(ErrorCode.INTERNAL.code(), "media create failed: " + cause.getMessage());
    } else {
      m.fail(ErrorCode.NO_PORT.code(), "no free RTP port pair in media.rtpPortMin..rtpPortMax");
    }
  }

  /**
   * A create with {@code answerLater}: the PBX side is made and published on this event loop, so the reply
   * (and with it the INVITE or the 200 OK) waits for no other thread: binding the call's two UDP ports is a
   * pair of non-blocking system calls (as Netty binds its own sockets on event loops) and the session is
   * plain objects. Only the browser leg's ICE agent (ice4j: its own STUN stack, threads) is built on a worker;
   * its answer follows as an event.
   */
  private void createAnswerLater(Message<JsonObject> m, String callId, String sessionId, Negotiated neg,
                                 MediaSdp.BrowserOffer offer, MediaSdp.PbxMedia pbx) {
    MediaSession s;
    try {
      s = newSession(callId, sessionId, neg, offer, pbx);
    } catch (RuntimeException e) {
      createFailed(m, callId, e);
      return;
    }
    if (s == null) {
      createFailed(m, callId, null);
      return;
    }
    published(m, s, pbx, offer, false);
    vertx.executeBlocking(() -> newLeg(s, offer), false).onComplete(ar -> browserLegMade(s, ar, offer));
  }

  /** What a create decided: the codec, telephone-event per leg, and what to offer the PBX (outgoing calls). */
  private record Negotiated(CallCodec codec, int browserTe, int pbxTe, java.util.List<CallCodec.Format> choices) {
  }

  /** The call's session with its RTP port pair bound, or null when no pair is free. */
  private MediaSession newSession(String callId, String sessionId, Negotiated neg, MediaSdp.BrowserOffer offer,
                                  MediaSdp.PbxMedia pbx) {
    RtpPorts.Pair ports = rt.ports().allocate();
    if (ports == null) {
      return null;
    }
    MediaSession s = new MediaSession(callId, sessionId, rt, ports);
    s.negotiated(neg.codec(), neg.browserTe(), neg.pbxTe());
    s.browserFormats(offer.formats());
    s.offerPbx(neg.choices());
    s.useSavp(pbx != null ? pbx.savp() : rt.pbxSrtp(), rt.pbxSrtpSuites());
    return s;
  }

  /**
   * On the event loop, once the session's PBX side exists: registers the session (unless a close came
   * meanwhile) and replies {@code pbxSdp}, with {@code browserAnswer} when the browser leg is already there.
   */
  private void published(Message<JsonObject> m, MediaSession s, MediaSdp.PbxMedia pbx,
                         MediaSdp.BrowserOffer offer, boolean withAnswer) {
    String callId = s.callId();
    boolean closeRequested = Boolean.TRUE.equals(creating.remove(callId));
    if (closeRequested) {
      closeOnWorker(s::close);
      m.fail(ErrorCode.NOT_FOUND.code(), "call " + callId + " was closed while its media was being created");
      return;
    }
    sessions.put(callId, s);
    s.startPbxLeg();
    String pbxSdp;
    if (pbx != null) {
      s.takePbxCrypto(pbx, false); // chosen and checked at create: cannot fail here
      s.applyPbx(pbx);
      lastPbxOrigin.put(callId, pbx.origin());
      pbxSdp = s.pbxSdp(pbx.direction());
    } else {
      awaitingAnswer.add(callId);
      pbxSdp = s.pbxSdp(null);
    }
    LOG.info("call={} media created: codec {} te {}, RTP port {}", callId, s.codec().label(),
        s.browserTe(), s.rtpPort());
    JsonObject reply = new JsonObject().put(Fields.PBX_SDP, pbxSdp);
    if (withAnswer) {
      reply.put(Fields.BROWSER_ANSWER, s.browserAnswer(offer, s.browserLeg()));
    }
    m.reply(reply);
  }

  /**
   * On the event loop, for a create with {@code answerLater}: installs the browser leg built after the
   * reply and sends the answer as a {@code media} event, or reports the leg's failure; a leg whose session
   * was closed meanwhile is closed.
   */
  private void browserLegMade(MediaSession s, AsyncResult<WebRtcLeg> made, MediaSdp.BrowserOffer offer) {
    boolean live = sessions.get(s.callId()) == s && !s.ended();
    if (made.failed()) {
      if (live) {
        LOG.warn("call={} browser leg failed: {}", s.callId(), made.cause().toString());
        s.markEnded();
        emit(s.sessionId(), s.event(SessionEvent.MEDIA_FAILED, "browser leg: " + made.cause().getMessage()));
      }
      return;
    }
    WebRtcLeg leg = made.result();
    if (!live || s.browserLeg() != null) {
      // Closed meanwhile, or a browser re-offer (media.session.browser-offer) already gave it a newer leg.
      closeOnWorker(leg::close);
      return;
    }
    s.replaceBrowserLeg(leg);
    emit(s.sessionId(), s.event(SessionEvent.MEDIA_ANSWER, null).put(Fields.SDP, s.browserAnswer(offer, leg)));
    legInstalled(s, leg, offer);
  }

  /**
   * On the event loop, once {@code leg} is the call's browser leg: the candidates trickled for it meanwhile, and
   * the offer's mDNS ({@code .local}) ones, which need a lookup, are added to it.
   */
  private void legInstalled(MediaSession s, WebRtcLeg leg, MediaSdp.BrowserOffer offer) {
    if (sessions.get(s.callId()) != s || leg == null) {
      return;
    }
    trickled.legReady(s.callId(), leg);
    for (var c : offer.candidates()) {
      if (c.isMdns()) {
        trickled.take(new JsonObject().put(Fields.CALL_ID, s.callId()).put(Fields.CANDIDATE, c.toSdpValue())
            .put(Fields.UFRAG, leg.remoteUfrag()));
      }
    }
  }

  /** Closes a session or leg that nobody else holds (blocking: joins DTLS, frees the ICE agent). */
  private void closeOnWorker(Runnable close) {
    vertx.executeBlocking(() -> {
      close.run();
      return null;
    }, false);
  }

  private WebRtcLeg newLeg(MediaSession s, MediaSdp.BrowserOffer offer) throws java.io.IOException {
    return new WebRtcLeg(s, rt, offer, new WebRtcLeg.Events() {
      @Override
      public void onConnected(WebRtcLeg leg) {
        context.runOnContext(v -> {
          if (sessions.get(s.callId()) == s && s.browserLeg() == leg) {
            emit(s.sessionId(), s.event(SessionEvent.MEDIA_CONNECTED, null));
          }
        });
      }

      @Override
      public void onIceMoved(WebRtcLeg leg, org.webphone.gateway.media.ice.IceLeg old) {
        // Freed whatever became of the session: the agent is nobody else's any more.
        context.runOnContext(v -> closeOnWorker(old::close));
      }

      @Override
      public void onFailed(WebRtcLeg leg, String reason) {
        context.runOnContext(v -> {
          if (sessions.get(s.callId()) == s && s.browserLeg() == leg) {
            s.markEnded();
            emit(s.sessionId(), s.event(SessionEvent.MEDIA_FAILED, reason));
          }
        });
      }
    });
  }

  private void pbxSdp(Message<JsonObject> m) {
    MediaSession s = session(m);
    if (s == null) {
      return;
    }
    MediaSdp.PbxMedia pbx;
    String callId = s.callId();
    String type = m.body().getString(Fields.TYPE);
    boolean isAnswer;
    CallCodec codec = s.codec();
    try {
      pbx = MediaSdp.parsePbx(text(m.body(), Fields.SDP));
      boolean repeat = pbx.origin() != null && pbx.origin().equals(lastPbxOrigin.get(callId));
      isAnswer = "answer".equals(type) || (type == null && (awaitingAnswer.contains(callId) || repeat));
      if (pbx.rtp() != null && isAnswer && s.pbxChoosing()) {
        codec = CodecNegotiation.fromAnswer(s.pbxChoices(), s.browserFormats(), pbx);
      } else if (pbx.rtp() != null) {
        CallCodec.Format f = CallCodec.find(CallCodec.audio(pbx.formats()), codec);
        if (f == null) {
          throw new IllegalArgumentException("the PBX SDP lacks the call's codec " + codec.label());
        }
        codec = codec.withPbx(f);
      }
      if (pbx.rtp() != null && pbx.savp() != s.savp()) {
        throw new IllegalArgumentException("the PBX SDP is " + (pbx.savp() ? "RTP/SAVP" : "RTP/AVP")
            + " but the call's PBX leg is " + (s.savp() ? "RTP/SAVP (media.pbxSrtp)" : "RTP/AVP"));
      }
      s.takePbxCrypto(pbx, isAnswer); // last: it installs keys once everything else is known to be good
    } catch (IllegalArgumentException e) {
      LOG.info("call={} refused PBX SDP: {}", callId, e.getMessage());
      m.fail(ErrorCode.BAD_SDP.code(), e.getMessage());
      return;
    }
    lastPbxOrigin.put(callId, pbx.origin());
    codecFromPbx(s, codec, pbx);
    s.applyPbx(pbx);
    if (isAnswer) {
      awaitingAnswer.remove(callId);
      m.reply(new JsonObject());
    } else {
      m.reply(new JsonObject().put(Fields.SDP, s.pbxSdp(pbx.direction())));
    }
  }

  /**
   * Takes the codec the PBX's SDP gives the call. When an answer fixes a codec other than the one the browser
   * leg was answered with, the browser must re-offer (no transcoding): a {@code renegotiate} media event asks
   * the page for an offer on the same PeerConnection; a browser leg not answered yet is simply answered with it.
   */
  private void codecFromPbx(MediaSession s, CallCodec codec, MediaSdp.PbxMedia pbx) {
    boolean choosing = s.pbxChoosing();
    if (pbx.rtp() == null || (!choosing && codec.equals(s.codec()))) {
      return;
    }
    int browserTe = CallCodec.telephoneEvent(s.browserFormats(), codec.clockRate());
    int pbxTe = browserTe >= 0 ? CallCodec.telephoneEvent(pbx.formats(), codec.clockRate()) : -1;
    if (!choosing) {
      s.negotiated(codec, s.browserPending() ? s.browserTe() : browserTe, pbxTe);
      return;
    }
    boolean switchBrowser = !codec.name().equals(s.codec().name()) && s.browserLeg() != null;
    CallCodec.Format offered = CallCodec.find(s.pbxChoices(), codec);
    s.pbxChose(codec, offered == null ? -1 : offered.pt(), browserTe, pbxTe, switchBrowser);
    LOG.info("call={} the PBX chose {}{}", s.callId(), codec.label(),
        switchBrowser ? ": asking the page to re-offer" : "");
    if (switchBrowser) {
      emit(s.sessionId(), s.event(SessionEvent.MEDIA_RENEGOTIATE, null).put(Fields.CODEC, codec.label()));
    }
  }

  private void browserOffer(Message<JsonObject> m) {
    MediaSession s = session(m);
    if (s == null) {
      return;
    }
    MediaSdp.BrowserOffer offer;
    CallCodec codec;
    try {
      offer = MediaSdp.parseBrowserOffer(text(m.body(), Fields.BROWSER_OFFER));
      codec = CodecNegotiation.reoffered(s.codec(), offer);
    } catch (IllegalArgumentException e) {
      m.fail(ErrorCode.BAD_SDP.code(), e.getMessage());
      return;
    }
    WebRtcLeg current = s.browserLeg();
    if (current != null && current.sameFingerprint(offer) && current.sameIceCredentials(offer)) {
      // Offer with unchanged ICE credentials and fingerprint (a codec, DTMF or direction change): the agent
      // and the DTLS association stay; the answer repeats our credentials, candidates and fingerprint.
      browserOnCodec(s, codec, offer);
      LOG.info("call={} browser re-offer without ICE restart: leg kept, codec {}", s.callId(), codec.label());
      m.reply(new JsonObject().put(Fields.BROWSER_ANSWER, s.browserAnswer(offer, current)));
      return;
    }
    if (current != null && current.sameFingerprint(offer)) {
      restartIce(m, s, current, offer, codec);
      return;
    }
    // A new fingerprint: a new DTLS association (a new RTCPeerConnection after a resume or a reload).
    vertx.executeBlocking(() -> newLeg(s, offer)).onComplete(ar -> {
      if (ar.failed()) {
        m.fail(ErrorCode.INTERNAL.code(), "browser leg rebuild failed: " + ar.cause().getMessage());
        return;
      }
      WebRtcLeg leg = ar.result();
      if (sessions.get(s.callId()) != s) {
        closeOnWorker(leg::close);
        m.fail(ErrorCode.NOT_FOUND.code(), "call " + s.callId() + " was closed meanwhile");
        return;
      }
      browserOnCodec(s, codec, offer);
      WebRtcLeg old = s.replaceBrowserLeg(leg);
      if (old != null) {
        closeOnWorker(old::close);
      }
      LOG.info("call={} browser leg rebuilt", s.callId());
      legInstalled(s, leg, offer);
      m.reply(new JsonObject().put(Fields.BROWSER_ANSWER, s.browserAnswer(offer, leg)));
    });
  }

  /**
   * New ICE credentials with the same fingerprint (and, as every accepted offer has, a browser that is the
   * DTLS client): an ICE restart inside the browser's RTCPeerConnection. A new agent is built on a worker;
   * the running one carries the audio until the new one completes ({@link WebRtcLeg#restartIce}).
   */
  private void restartIce(Message<JsonObject> m, MediaSession s, WebRtcLeg leg, MediaSdp.BrowserOffer offer,
                          CallCodec codec) {
    vertx.executeBlocking(() -> {
      leg.restartIce(offer);
      return null;
    }).onComplete(ar -> {
      if (sessions.get(s.callId()) != s || s.browserLeg() != leg) {
        m.fail(ErrorCode.NOT_FOUND.code(), "call " + s.callId() + " was closed or its leg replaced meanwhile");
        return;
      }
      if (ar.failed()) {
        m.fail(ErrorCode.INTERNAL.code(), "ICE restart failed: " + ar.cause().getMessage());
        return;
      }
      browserOnCodec(s, codec, offer);
      legInstalled(s, leg, offer); // candidates trickled for the restart's ufrag go to its new agent
      LOG.info("call={} ICE restart: new agent {} waits for the browser's checks", s.callId(), leg.localUfrag());
      m.reply(new JsonObject().put(Fields.BROWSER_ANSWER, s.browserAnswer(offer, leg)));
    });
  }

  /** The browser's (re-)offer answered on the call's codec: both directions pass through again. */
  private static void browserOnCodec(MediaSession s, CallCodec codec, MediaSdp.BrowserOffer offer) {
    s.browserFormats(offer.formats());
    s.negotiated(codec, CallCodec.telephoneEvent(offer.formats(), codec.clockRate()), s.pbxTe());
    s.browserOnCodec();
  }

  private void direction(Message<JsonObject> m) {
    MediaSession s = session(m);
    if (s == null) {
      return;
    }
    String d = text(m.body(), Fields.DIRECTION);
    if (d == null || !Set.of("sendrecv", "sendonly", "recvonly", "inactive").contains(d)) {
      m.fail(ErrorCode.BAD_FIELD.code(), "direction must be sendrecv, sendonly, recvonly or inactive");
      return;
    }
    s.setLocalDirection(d);
    awaitingAnswer.add(s.callId());
    m.reply(new JsonObject().put(Fields.SDP, s.pbxSdp(null)));
  }

  private void close(Message<JsonObject> m) {
    String callId = text(m.body(), Fields.CALL_ID);
    if (callId == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.session.close needs callId");
      return;
    }
    if (creating.containsKey(callId)) {
      creating.put(callId, true);
    }
    MediaSession s = sessions.remove(callId);
    if (s != null) {
      s.releaseBrowserLeg(); // a persistent leg relays nothing from now on and may take the next call
    }
    awaitingAnswer.remove(callId);
    trickled.forget(callId);
    lastPbxOrigin.remove(callId);
    if (s == null) {
      m.reply(new JsonObject().put(Fields.CALL_ID, callId));
      return;
    }
    vertx.executeBlocking(() -> {
      s.close();
      return null;
    }).onComplete(ar -> {
      s.counters().addTo(retired);
      quality.record(s.browserRtcp());
      quality.record(s.pbxRtcp());
      LOG.info("call={} media closed: quality browser leg {}, PBX leg {}; SRTP {}; {}", callId,
          s.browserRtcp().summary(), s.pbxRtcp().summary(), s.srtpProfile(), s.counters().toJson().encode());
      String reason = m.body().getString(Fields.REASON, SessionEvent.MEDIA_CLOSED);
      emit(s.sessionId(), s.event(SessionEvent.MEDIA_CLOSED, reason));
      m.reply(new JsonObject().put(Fields.CALL_ID, callId));
    });
  }

  private void status(Message<JsonObject> m) {
    MediaCounters total = new MediaCounters();
    retired.addTo(total);
    sessions.values().forEach(s -> s.counters().addTo(total));
    paths.addCounters(total);
    JsonObject r = new JsonObject()
        .put(Fields.SESSIONS, sessions.size())
        .put(Fields.CREATING, creating.size())
        .put(Fields.RTP_PORTS, rt.ports().inUse())
        .put(Fields.AGENTS, rt.ice().liveAgents())
        .put(Fields.DTLS_SESSIONS, rt.dtlsThreads().get())
        // The old name of dtlsSessions, from when every leg had a DTLS thread; kept for existing readers.
        .put(Fields.DTLS_THREADS, rt.dtlsThreads().get())
        .put(Fields.DTLS_HANDSHAKES, rt.ice().dtlsPool().running())
        .put(Fields.DTLS_WAITING, rt.ice().dtlsPool().waiting())
        .put(Fields.DTLS_HELLO_TIMERS, rt.ice().dtlsPool().timers())
        .put(Fields.DTLS_HELLO_TIMEOUTS, rt.ice().dtlsPool().helloTimeouts())
        .put(Fields.DTLS_POOL_THREADS, rt.ice().dtlsPool().threads())
        .put(Fields.STUN_UNKNOWN_UFRAG, rt.ice().unknownUfragRequests())
        .put(Fields.STUN_DROPPED, rt.ice().stunDropped())
        .put(Fields.ICE_ANSWERING, rt.ice().answeringLegs())
        .put(Fields.RTP_REGISTRATIONS, rt.loop().registrations())
        .put(Fields.RTCP_TASKS, rt.rtcp().liveTasks())
        .put(Fields.WEBRTC_PORT, rt.ice().port())
        .mergeIn(iceTcpStatus(rt.ice().tcp()))
        .put(Fields.AUDIO_PATHS, paths.count())
        .put(Fields.FINGERPRINT, rt.identity().fingerprint())
        .put(Fields.COUNTERS, total.toJson());
    String callId = m.body() == null ? null : text(m.body(), Fields.CALL_ID);
    if (callId != null && sessions.containsKey(callId)) {
      r.put(Fields.SESSION, sessions.get(callId).status());
    }
    m.reply(r);
  }

  // ------------------------------------------------------------------ helpers

  /** The ICE-TCP port's live counts and refusals (all 0, port 0, when it is off). */
  private static JsonObject iceTcpStatus(IceTcpPort t) {
    return new JsonObject().put(Fields.ICE_TCP_PORT, t == null ? 0 : t.port())
        .put(Fields.ICE_TCP_CONNECTIONS, t == null ? 0 : t.connections())
        .put(Fields.ICE_TCP_PENDING, t == null ? 0 : t.pending())
        .put(Fields.ICE_TCP_THREADS, t == null ? 0 : t.ice4jThreads() + t.readerThreads())
        .put(Fields.ICE_TCP_JUNK, t == null ? 0 : t.junk())
        .put(Fields.ICE_TCP_IDLE_CLOSED, t == null ? 0 : t.idleClosed())
        .put(Fields.ICE_TCP_OVER_CAP, t == null ? 0 : t.overCap());
  }

  private void checkTimeouts() {
    long now = System.nanoTime();
    for (MediaSession s : sessions.values()) {
      JsonObject e = s.checkTimeout(now, timeoutNanos, holdTimeoutNanos);
      if (e != null) {
        LOG.info("call={} media {}: {}", s.callId(), e.getString(Fields.STATE), e.getString(Fields.REASON));
        emit(s.sessionId(), e);
      }
    }
    paths.checkTimeouts(now, timeoutNanos);
  }

  private void emit(String sessionId, JsonObject event) {
    vertx.eventBus().send(Addresses.session(sessionId), event);
  }

  private MediaSession session(Message<JsonObject> m) {
    String callId = m.body() == null ? null : text(m.body(), Fields.CALL_ID);
    if (callId == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "callId is missing");
      return null;
    }
    MediaSession s = sessions.get(callId);
    if (s == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no media for call " + callId);
    }
    return s;
  }

  private static String text(JsonObject b, String key) {
    if (b == null) {
      return null;
    }
    Object v = b.getValue(key);
    return v instanceof String s && !s.isBlank() ? s : null;
  }
}
