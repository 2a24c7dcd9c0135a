package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallError;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;

/**
 * The call of one session (a line has at most one): the client's call methods, the SIP and media events
 * of the call, and the one rule that every ending, whoever causes it, sends the final state once and
 * calls {@code media.session.close}. Runs on the signalling event loop only, so no locks.
 */
final class CallControl {
  private static final Logger LOG = LoggerFactory.getLogger(CallControl.class);

  /** The owner's services the calls need. */
  interface Owner {
    String lineId();

    boolean isReady();

    void send(JsonObject frame);

    Replies replies();

    DialPolicy dialPolicy();

    /** Throws CALL_LIMIT when the session or its client IP made too many call attempts. */
    void countCallAttempt();

    boolean dtmfByInfo();

    /** The node's id, which also names its metrics registry. */
    String nodeId();
  }

  /** One call; {@code state} is the last state told to the browser. */
  static final class Call {
    final String id;
    final boolean incoming;
    final String pbxOffer;
    String state = CallState.Created.name();
    boolean answered;
    boolean accepting;
    boolean mediaCreated;
    /** sip.call.make or sip.call.accept has been requested: the SIP side knows the call. */
    boolean sipRequested;
    boolean inCallSent;

    Call(String id, boolean incoming, String pbxOffer) {
      this.id = id;
      this.incoming = incoming;
      this.pbxOffer = pbxOffer;
    }
  }

  private final Owner owner;
  private Call call;

  CallControl(Owner owner) {
    this.owner = owner;
  }

  Call current() {
    return call;
  }

  // ------------------------------------------------------------------ client methods

  Future<JsonObject> call(ClientFrame f) {
    long callNanos = System.nanoTime(); // start of the gateway's Call-to-INVITE time (SetupLatency)
    requireReady();
    if (call != null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "a call is already in progress");
    }
    String target = owner.dialPolicy().check(f.string("number"));
    owner.countCallAttempt();
    Call c = new Call("c-" + Randoms.uuid(), false, null);
    call = c;
    LOG.info("call={} line={} outgoing to {}", c.id, owner.lineId(), target);
    owner.replies().request(Addresses.MEDIA_CREATE, mediaCreate(c, f, null)).onComplete(ar -> {
      if (call != c) {
        closeMedia(c.id); // hung up while the media was being made
        return;
      }
      if (ar.failed()) {
        fail(c, ar.cause(), false);
        return;
      }
      mediaCreated(c, ar.result());
      c.sipRequested = true;
      JsonObject make = new JsonObject().put("lineId", owner.lineId()).put("callId", c.id).put("target", target)
          .put("sdp", ar.result().getString("pbxSdp")).put(SetupLatency.CALL_NANOS, callNanos);
      owner.replies().request(Addresses.SIP_CALL_MAKE, make).onFailure(e -> {
        if (call == c) {
          fail(c, e, false);
        }
      });
    });
    return Future.succeededFuture(new JsonObject().put("callId", c.id));
  }

  Future<JsonObject> hangUp(ClientFrame f) {
    Call c = requireCall(f.string("callId"));
    if (c.incoming && !c.answered && !c.accepting) {
      return reject(c);
    }
    LOG.info("call={} line={} hung up by the browser", c.id, owner.lineId());
    endAtSip(c);
    finish(c, c.answered ? CallState.Completed : CallState.Cancelled, null, null, null);
    return Future.succeededFuture(new JsonObject().put("callId", c.id));
  }

  Future<JsonObject> accept(ClientFrame f) {
    Call c = requireRinging(f.string("callId"), "accept");
    c.accepting = true;
    LOG.info("call={} line={} accepted by the browser", c.id, owner.lineId());
    // No pbxOffer for an offerless INVITE: the 200 OK then carries our offer.
    owner.replies().request(Addresses.MEDIA_CREATE, mediaCreate(c, f, c.pbxOffer)).onComplete(ar -> {
      if (call != c) {
        closeMedia(c.id);
        return;
      }
      if (ar.failed()) {
        fail(c, ar.cause(), true);
        return;
      }
      mediaCreated(c, ar.result());
      c.sipRequested = true;
      JsonObject acc = new JsonObject().put("lineId", owner.lineId()).put("callId", c.id)
          .put("sdp", ar.result().getString("pbxSdp"));
      owner.replies().request(Addresses.SIP_CALL_ACCEPT, acc).onFailure(e -> {
        if (call == c) {
          fail(c, e, true);
        }
      });
    });
    return Future.succeededFuture(new JsonObject().put("callId", c.id));
  }

  /**
   * The media for a call. {@code answerLater}: the relay replies with the PBX SDP as soon as the call's RTP
   * ports are bound, so the INVITE (or the 200 OK) leaves while it still builds the browser's ICE agent;
   * the browser's answer follows as a {@code media} event with state {@code answer} (see onMedia).
   */
  private JsonObject mediaCreate(Call c, ClientFrame f, String pbxOffer) {
    JsonObject create = new JsonObject().put("callId", c.id).put("sessionId", owner.lineId())
        .put("browserOffer", f.string("sdp")).put("answerLater", true);
    if (pbxOffer != null) {
      create.put("pbxOffer", pbxOffer);
    }
    return create;
  }

  private void mediaCreated(Call c, JsonObject reply) {
    c.mediaCreated = true;
    String browserAnswer = reply.getString("browserAnswer");
    if (browserAnswer != null) {
      owner.send(answer(c.id, browserAnswer));
    }
  }

  Future<JsonObject> reject(ClientFrame f) {
    return reject(requireRinging(f.string("callId"), "reject"));
  }

  private Future<JsonObject> reject(Call c) {
    LOG.info("call={} line={} rejected by the browser", c.id, owner.lineId());
    owner.replies().request(Addresses.SIP_CALL_REJECT, new JsonObject().put("lineId", owner.lineId())
        .put("callId", c.id)).onFailure(e -> LOG.warn("call={} line={} reject failed: {}", c.id, owner.lineId(),
        e.getMessage()));
    finish(c, CallState.Rejected, null, null, null);
    return Future.succeededFuture(new JsonObject().put("callId", c.id));
  }

  Future<JsonObject> hold(ClientFrame f, boolean hold) {
    Call c = requireAnswered(f.string("callId"));
    return owner.replies().request(Addresses.SIP_CALL_HOLD, new JsonObject().put("lineId", owner.lineId())
        .put("callId", c.id).put("hold", hold)).map(r -> new JsonObject().put("callId", c.id));
  }

  Future<JsonObject> dtmf(ClientFrame f) {
    Call c = requireAnswered(f.string("callId"));
    String digits = f.string("digits");
    Future<JsonObject> sent = owner.dtmfByInfo()
        ? owner.replies().request(Addresses.SIP_CALL_DTMF, new JsonObject().put("lineId", owner.lineId())
            .put("callId", c.id).put("digits", digits))
        : owner.replies().request(Addresses.MEDIA_DTMF, new JsonObject().put("callId", c.id).put("digits", digits));
    return sent.map(r -> new JsonObject().put("callId", c.id));
  }

  Future<JsonObject> transfer(ClientFrame f) {
    Call c = requireAnswered(f.string("callId"));
    String target = owner.dialPolicy().check(f.string("number"));
    owner.countCallAttempt();
    LOG.info("call={} line={} transfer to {}", c.id, owner.lineId(), target);
    return owner.replies().request(Addresses.SIP_CALL_TRANSFER, new JsonObject().put("lineId", owner.lineId())
        .put("callId", c.id).put("target", target)).map(r -> new JsonObject().put("callId", c.id));
  }

  /** A new browser offer for the running call (after a resume): rebuilds the browser leg only. */
  Future<JsonObject> offer(ClientFrame f) {
    Call c = requireCall(f.string("callId"));
    if (!c.mediaCreated) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the call has no media yet");
    }
    LOG.info("call={} line={} new browser offer", c.id, owner.lineId());
    return owner.replies().request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put("callId", c.id)
        .put("browserOffer", f.string("sdp"))).map(r -> {
          if (call == c) {
            owner.send(answer(c.id, r.getString("browserAnswer")));
          }
          return new JsonObject().put("callId", c.id);
        });
  }

  // ------------------------------------------------------------------ events from sip and media

  void onIncoming(JsonObject ev) {
    String id = ev.getString("callId");
    if (id == null) {
      return;
    }
    if (!owner.isReady() || call != null) {
      LOG.info("call={} line={} incoming call refused: line busy", id, owner.lineId());
      owner.replies().request(Addresses.SIP_CALL_REJECT, new JsonObject().put("lineId", owner.lineId())
          .put("callId", id).put("code", 486));
      return;
    }
    String sdp = ev.getString("sdp");
    Call c = new Call(id, true, sdp == null || sdp.isBlank() ? null : sdp);
    c.state = CallState.Ringing.name();
    call = c;
    LOG.info("call={} line={} incoming from {}", id, owner.lineId(), ev.getString("from"));
    owner.send(ServerEvent.call(ServerEvent.CALL_REQUEST, id).put("caller", ev.getString("from", ""))
        .put("displayName", ev.getString("displayName", "")));
  }

  void onCallState(JsonObject ev) {
    Call c = call;
    if (c == null || !c.id.equals(ev.getString("callId"))) {
      return; // a call already finished here (e.g. hung up by the browser)
    }
    CallState state;
    try {
      state = CallState.valueOf(ev.getString("state", ""));
    } catch (IllegalArgumentException e) {
      LOG.warn("call={} line={} unknown call state {}", c.id, owner.lineId(), ev.getString("state"));
      return;
    }
    Integer code = ev.getInteger("code");
    String reason = ev.getString("reason");
    if (state.isFinal()) {
      String error = ev.getString("error");
      if (error == null && state == CallState.Error) {
        error = CallError.UnknownError.name();
      }
      finish(c, state, error, code, reason);
      return;
    }
    if (state == CallState.InCall) {
      c.answered = true;
    }
    c.state = state.name();
    owner.send(callState(c, code, reason));
    if (state == CallState.InCall && !c.inCallSent) {
      c.inCallSent = true;
      owner.send(ServerEvent.call(ServerEvent.IN_CALL, c.id));
      if (!c.incoming) {
        // The SIP verticle's clock: session.<id> is a local consumer on the node that holds the line.
        SetupLatency.record(owner.nodeId(), SetupLatency.ANSWER_TO_INCALL,
            SetupLatency.stamp(ev, SetupLatency.ANSWER_NANOS));
      }
    }
  }

  void onMedia(JsonObject ev) {
    Call c = call;
    if (c == null || !c.id.equals(ev.getString("callId"))) {
      return;
    }
    String state = ev.getString("state", "");
    if (state.equals("answer")) {
      owner.send(answer(c.id, ev.getString("sdp")));
      return;
    }
    owner.send(ServerEvent.call(ServerEvent.MEDIA_STATE, c.id).put("state", state)
        .put("reason", ev.getString("reason")));
    if (state.equals("failed") || state.equals("timeout")) {
      LOG.warn("call={} line={} media {}: {}; hanging up", c.id, owner.lineId(), state, ev.getString("reason"));
      endAtSip(c);
      finish(c, CallState.Error, CallError.UnknownError.name(), null, "media " + state);
    }
  }

  void onOther(String kind, JsonObject ev) {
    Call c = call;
    if (c == null || !c.id.equals(ev.getString("callId"))) {
      return;
    }
    if (kind.equals("dtmf")) {
      owner.send(ServerEvent.call(ServerEvent.DTMF, c.id).put("digit", ev.getString("digit")));
    } else if (kind.equals("transfer")) {
      owner.send(ServerEvent.call(ServerEvent.TRANSFER, c.id).put("code", ev.getInteger("code"))
          .put("reason", ev.getString("reason")));
    }
  }

  /** Ends the call for a closing session: SIP ended, media closed. */
  Future<Void> endForClose() {
    Call c = call;
    if (c == null) {
      return Future.succeededFuture();
    }
    LOG.info("call={} line={} ended: the session closes", c.id, owner.lineId());
    Future<JsonObject> sip;
    if (c.incoming && !c.answered && !c.accepting) {
      sip = owner.replies().request(Addresses.SIP_CALL_REJECT, new JsonObject().put("lineId", owner.lineId())
          .put("callId", c.id));
    } else {
      sip = endAtSip(c);
    }
    finish(c, c.answered ? CallState.Completed : CallState.Cancelled, null, null, "session closed");
    return sip.<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }

  // ------------------------------------------------------------------ helpers

  private Future<JsonObject> endAtSip(Call c) {
    if (!c.sipRequested) {
      return Future.succeededFuture(); // no INVITE yet; the media create callback closes the media
    }
    Future<JsonObject> f = owner.replies().request(Addresses.SIP_CALL_HANGUP,
        new JsonObject().put("lineId", owner.lineId()).put("callId", c.id));
    f.onFailure(e -> LOG.warn("call={} line={} hang-up at SIP failed: {}", c.id, owner.lineId(), e.getMessage()));
    return f;
  }

  private void fail(Call c, Throwable cause, boolean rejectAtSip) {
    ProtocolException p = Replies.toProtocol("call", cause);
    LOG.warn("call={} line={} failed: {} {}", c.id, owner.lineId(), p.code(), p.getMessage());
    if (rejectAtSip) {
      owner.replies().request(Addresses.SIP_CALL_REJECT, new JsonObject().put("lineId", owner.lineId())
          .put("callId", c.id).put("code", p.code() == ErrorCode.BAD_SDP ? 488 : 500));
    }
    String error = p.code() == ErrorCode.NUMBER_REFUSED ? CallError.NotFound.name() : CallError.UnknownError.name();
    finish(c, CallState.Error, error, p.code().code(), p.getMessage());
  }

  /** The single ending path: error event (if any), final state, media closed, call forgotten. */
  private void finish(Call c, CallState state, String error, Integer code, String reason) {
    if (call != c) {
      return;
    }
    call = null;
    c.state = state.name();
    LOG.info("call={} line={} ended: {}{}", c.id, owner.lineId(), state, error == null ? "" : " (" + error + ")");
    if (error != null) {
      JsonObject e = ServerEvent.call(ServerEvent.CALL_ERROR, c.id).put("error", error);
      if (code != null) {
        e.put("code", code);
      }
      owner.send(e.put("reason", reason));
    }
    owner.send(callState(c, code, reason));
    closeMedia(c.id);
  }

  private void closeMedia(String callId) {
    owner.replies().request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", callId))
        .onFailure(e -> LOG.warn("call={} line={} media close failed: {}", callId, owner.lineId(), e.getMessage()));
  }

  private JsonObject callState(Call c, Integer code, String reason) {
    JsonObject e = ServerEvent.call(ServerEvent.CALL_STATE, c.id).put("state", c.state)
        .put("direction", c.incoming ? "in" : "out");
    if (code != null) {
      e.put("code", code);
    }
    if (reason != null) {
      e.put("reason", reason);
    }
    return e;
  }

  private static JsonObject answer(String callId, String sdp) {
    return ServerEvent.call(ServerEvent.ANSWER, callId).put("sdp", sdp);
  }

  private void requireReady() {
    if (!owner.isReady()) {
      throw new ProtocolException(ErrorCode.LINE_NOT_READY, "the line is not registered yet");
    }
  }

  private Call requireCall(String callId) {
    Call c = call;
    if (c == null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "there is no call");
    }
    if (callId != null && !callId.equals(c.id)) {
      throw new ProtocolException(ErrorCode.NOT_FOUND, "no call " + callId);
    }
    return c;
  }

  private Call requireRinging(String callId, String what) {
    Call c = call;
    if (c == null || !c.incoming || c.answered || c.accepting) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "no ringing incoming call to " + what);
    }
    if (!c.id.equals(callId)) {
      throw new ProtocolException(ErrorCode.NOT_FOUND, "no call " + callId);
    }
    return c;
  }

  private Call requireAnswered(String callId) {
    Call c = requireCall(callId);
    if (!c.answered) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the call is not answered");
    }
    return c;
  }
}
