package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallError;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * The calls of one session: the active call and at most one other (a call waiting while it rings, a held call
 * after Accept or Swap, the customer held while its agent consults), the client's call methods (a method without
 * {@code callId} acts on the active call), the SIP and media events of the calls, and the one rule that every
 * ending, whoever causes it, sends the final state once and calls {@code media.session.close}; when the active
 * call ends, the other becomes the active one (as it is: held, or still ringing). Runs on the signalling event
 * loop only, so no locks.
 */
final class CallControl {
  private static final Logger LOG = LoggerFactory.getLogger(CallControl.class);

  /** The owner's services the calls need. */
  interface Owner {
    String lineId();

    boolean isReady();

    void send(JsonObject frame);

    VerticleRequests replies();

    DialPolicy dialPolicy();

    /** Throws CALL_LIMIT when the session or its client IP made too many call attempts. */
    void countCallAttempt();

    boolean dtmfByInfo();

    /** The node's id, which also names its metrics registry. */
    String nodeId();

    /** The line's call ended ({@code answered}: it had been answered); an agent's wrap-up may start. */
    default void callEnded(boolean answered) {
    }

    /** The session's audio path and auto-answer choice. */
    AudioPathControl audioPath();

    /** A timer on the session's event loop (at least 1 ms). */
    long setTimer(long delayMs, Runnable action);

    void cancelTimer(long id);
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
    /**
     * The browser offered and its {@code Answer} has not gone out yet (the relay builds the ICE agent while the
     * INVITE or 200 OK is under way). InCall waits for it in {@link #heldInCall}: a page told InCall before it has
     * the answer shows a call it cannot hear yet, and the page's set-up ends at whichever comes last anyway.
     */
    boolean answerPending;
    JsonObject heldInCall;
    /** The auto-answer timer while it runs, else -1; cancelled by the call's end. */
    long autoAnswerTimer = -1;
    /** An agent's consult call: the session's other call is the customer it may be transferred to. */
    boolean consult;
    /** An incoming call's caller (its From user), for a page that comes back while it rings. */
    String caller = "";
    /** The call rides the session's audio path (its media was created without an sdp). */
    boolean onPath;

    Call(String id, boolean incoming, String pbxOffer) {
      this.id = id;
      this.incoming = incoming;
      this.pbxOffer = pbxOffer;
    }
  }

  private final Owner owner;
  /** The active call (or the only one). */
  private Call call;
  /** The session's second call (ringing, held, or the consult call's customer), or null; only beside {@link #call}. */
  private Call other;

  CallControl(Owner owner) {
    this.owner = owner;
  }

  Call current() {
    return call;
  }

  /**
   * Every call of the session as a page that comes back (resume, takeover) needs it: {callId, state, direction,
   * caller?, waiting?, consult?}, the active call first. A waiting call still rings; an answered one needs an Offer.
   */
  JsonArray describe() {
    JsonArray all = new JsonArray();
    for (Call c : new Call[] {call, other}) {
      if (c == null) {
        continue;
      }
      JsonObject d = new JsonObject().put(ServerEventFields.CALL_ID, c.id).put(ServerEventFields.STATE, c.state)
          .put(ServerEventFields.DIRECTION, c.incoming ? SessionEvent.DIRECTION_IN : SessionEvent.DIRECTION_OUT);
      if (c.incoming) {
        d.put(ServerEventFields.CALLER, c.caller);
      }
      if (c == other && c.incoming && !c.answered && !c.accepting) {
        d.put(ServerEventFields.WAITING, true);
      }
      if (c.consult) {
        d.put(ServerEventFields.CONSULT, true);
      }
      all.add(d);
    }
    return all;
  }

  /** Whether {@code c} is still one of the session's calls (not ended, not replaced). */
  private boolean has(Call c) {
    return c != null && (c == call || c == other);
  }

  // ------------------------------------------------------------------ client methods

  Future<JsonObject> call(ClientFrame f) {
    long callNanos = System.nanoTime(); // start of the gateway's Call-to-INVITE time (SetupLatency)
    requireReady();
    if (call != null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "a call is already in progress");
    }
    String target = owner.dialPolicy().check(f.string(ClientMethod.Fields.NUMBER));
    String sdp = browserOfferOrPath(f);
    owner.countCallAttempt();
    Call c = new Call("c-" + Randoms.uuid(), false, null);
    c.answerPending = sdp != null;
    call = c;
    LOG.info("call={} line={} outgoing to {}", c.id, owner.lineId(), target);
    place(c, target, sdp, callNanos);
    return Future.succeededFuture(ack(c));
  }

  /** Media for the outgoing call {@code c}, then its INVITE (sip.call.make). */
  private void place(Call c, String target, String sdp, long callNanos) {
    owner.replies().request(Addresses.MEDIA_CREATE, mediaCreate(c, sdp, null)).onComplete(ar -> {
      if (!has(c)) {
        closeMedia(c.id); // hung up while the media was being made
        return;
      }
      if (ar.failed()) {
        fail(c, ar.cause(), false);
        return;
      }
      mediaCreated(c, ar.result());
      c.sipRequested = true;
      JsonObject make = new JsonObject().put(Fields.LINE_ID, owner.lineId()).put(Fields.CALL_ID, c.id)
          .put(Fields.TARGET, target).put(Fields.SDP, ar.result().getString(Fields.PBX_SDP))
          .put(Fields.CALL_NANOS, callNanos).put(Fields.SECOND, c.consult);
      owner.replies().request(Addresses.SIP_CALL_MAKE, make).onFailure(e -> {
        if (VerticleRequests.timedOut(e)) {
          undoAtSip(c.id); // the INVITE may still leave: it must not outlive the call the browser was told ended
        }
        if (has(c)) {
          fail(c, e, false);
        }
      });
    });
  }

  Future<JsonObject> hangUp(ClientFrame f) {
    Call c = requireCall(f.string(ClientMethod.Fields.CALL_ID));
    if (c.incoming && !c.answered && !c.accepting) {
      return reject(c);
    }
    LOG.info("call={} line={} hung up by the browser", c.id, owner.lineId());
    endAtSip(c);
    finish(c, c.answered ? CallState.Completed : CallState.Cancelled, null, null, null);
    return Future.succeededFuture(ack(c));
  }

  Future<JsonObject> accept(ClientFrame f) {
    Call c = requireRinging(f.string(ClientMethod.Fields.CALL_ID), "accept");
    String sdp = browserOfferOrPath(f);
    if (c == other) {
      // A call waiting: the active call is held (its far end gets the hold re-INVITE) and the waiting one becomes active.
      Call first = call;
      other = first;
      call = c;
      holdAtSip(first, true);
    }
    return accept(c, sdp, "the browser");
  }

  /** Accepts the ringing call {@code c} with the browser's offer, or on the audio path when {@code sdp} is null. */
  private Future<JsonObject> accept(Call c, String sdp, String by) {
    c.accepting = true;
    c.answerPending = sdp != null;
    cancelAutoAnswer(c);
    LOG.info("call={} line={} accepted by {}", c.id, owner.lineId(), by);
    // No pbxOffer for an offerless INVITE: the 200 OK then carries our offer.
    owner.replies().request(Addresses.MEDIA_CREATE, mediaCreate(c, sdp, c.pbxOffer)).onComplete(ar -> {
      if (!has(c)) {
        closeMedia(c.id);
        return;
      }
      if (ar.failed()) {
        fail(c, ar.cause(), true);
        return;
      }
      mediaCreated(c, ar.result());
      c.sipRequested = true;
      JsonObject acc = new JsonObject().put(Fields.LINE_ID, owner.lineId()).put(Fields.CALL_ID, c.id)
          .put(Fields.SDP, ar.result().getString(Fields.PBX_SDP));
      owner.replies().request(Addresses.SIP_CALL_ACCEPT, acc).onFailure(e -> {
        boolean late = VerticleRequests.timedOut(e);
        if (late) {
          undoAtSip(c.id); // the 200 OK may still leave: a hang-up ends the call in whichever phase it is
        }
        if (has(c)) {
          fail(c, e, !late);
        }
      });
    });
    return Future.succeededFuture(ack(c));
  }

  /**
   * The media for a call. {@code answerLater}: the relay replies with the PBX SDP as soon as the call's RTP
   * ports are bound, so the INVITE (or the 200 OK) leaves while it still builds the browser's ICE agent;
   * the browser's answer follows as a {@code media} event with state {@code answer} (see onMedia).
   */
  private JsonObject mediaCreate(Call c, String sdp, String pbxOffer) {
    JsonObject create = new JsonObject().put(Fields.CALL_ID, c.id).put(Fields.SESSION_ID, owner.lineId())
        .put(Fields.ANSWER_LATER, true);
    if (sdp != null) {
      create.put(Fields.BROWSER_OFFER, sdp);
    } else {
      c.onPath = true; // the path carries the call from its create on (a call already on it is held there)
      create.put(Fields.AUDIO_PATH, owner.audioPath().openPath()); // checked by browserOfferOrPath
    }
    if (pbxOffer != null) {
      create.put(Fields.PBX_OFFER, pbxOffer);
    }
    return create;
  }

  /** The frame's sdp; null when the call goes on the session's audio path; 101 when there is neither. */
  private String browserOfferOrPath(ClientFrame f) {
    String sdp = f.string(ClientMethod.Fields.SDP_OPT);
    if (sdp == null && owner.audioPath().openPath() == null) {
      throw new ProtocolException(ErrorCode.MISSING_FIELD, f.method() + " needs sdp (the session has no audio path)");
    }
    return sdp;
  }

  /**
   * The audio path follows the active call: when {@code call} rides the path, the path carries it (media.path.attach)
   * and the session's other call on the path is held there, relaying nothing. After Swap, and after the active call
   * ended (the remaining call becomes the active one); Accept of a call waiting and Consult need nothing: the new
   * call's create attaches it.
   */
  private void pathFollowsActive() {
    Call c = call;
    String path = owner.audioPath().openPath();
    if (c == null || !c.onPath || !c.mediaCreated || path == null) {
      return;
    }
    owner.replies().request(Addresses.MEDIA_PATH_ATTACH, new JsonObject().put(Fields.AUDIO_PATH, path)
        .put(Fields.CALL_ID, c.id)).onFailure(e ->
            LOG.warn("call={} line={} audio path not moved to it: {}", c.id, owner.lineId(), e.getMessage()));
  }

  private void mediaCreated(Call c, JsonObject reply) {
    c.mediaCreated = true;
    String browserAnswer = reply.getString(Fields.BROWSER_ANSWER);
    if (browserAnswer != null) {
      answerSent(c, browserAnswer);
    }
  }

  /** The browser's answer goes out, then the InCall that waited for it (see {@link Call#answerPending}). */
  private void answerSent(Call c, String sdp) {
    owner.send(answer(c.id, sdp));
    c.answerPending = false;
    JsonObject held = c.heldInCall;
    c.heldInCall = null;
    if (held != null) {
      onCallState(held);
    }
  }

  Future<JsonObject> reject(ClientFrame f) {
    return reject(requireRinging(f.string(ClientMethod.Fields.CALL_ID), "reject"));
  }

  private Future<JsonObject> reject(Call c) {
    LOG.info("call={} line={} rejected by the browser", c.id, owner.lineId());
    owner.replies().request(Addresses.SIP_CALL_REJECT, sipCall(c.id)).onFailure(e ->
        LOG.warn("call={} line={} reject failed: {}", c.id, owner.lineId(), e.getMessage()));
    finish(c, CallState.Rejected, null, null, null);
    return Future.succeededFuture(ack(c));
  }

  Future<JsonObject> hold(ClientFrame f, boolean hold) {
    Call c = requireAnswered(f.string(ClientMethod.Fields.CALL_ID));
    return owner.replies().request(Addresses.SIP_CALL_HOLD, sipCall(c.id).put(Fields.HOLD, hold)).map(r -> ack(c));
  }

  Future<JsonObject> dtmf(ClientFrame f) {
    Call c = requireAnswered(f.string(ClientMethod.Fields.CALL_ID));
    String digits = f.string(ClientMethod.Fields.DIGITS);
    Future<JsonObject> sent = owner.dtmfByInfo()
        ? owner.replies().request(Addresses.SIP_CALL_DTMF, sipCall(c.id).put(Fields.DIGITS, digits))
        : owner.replies().request(Addresses.MEDIA_DTMF,
            new JsonObject().put(Fields.CALL_ID, c.id).put(Fields.DIGITS, digits));
    return sent.map(r -> ack(c));
  }

  Future<JsonObject> transfer(ClientFrame f) {
    Call c = requireAnswered(f.string(ClientMethod.Fields.CALL_ID));
    String target = owner.dialPolicy().check(f.string(ClientMethod.Fields.NUMBER));
    owner.countCallAttempt();
    LOG.info("call={} line={} transfer to {}", c.id, owner.lineId(), target);
    return owner.replies().request(Addresses.SIP_CALL_TRANSFER, sipCall(c.id).put(Fields.TARGET, target))
        .map(r -> ack(c));
  }

  /**
   * Attended transfer, first step: the active answered call (the customer) is held and a consult call to
   * {@code number} (dial policy applied) is placed on the same line; it becomes the active call. Acked with the
   * consult call's {callId}.
   */
  Future<JsonObject> consult(ClientFrame f) {
    long callNanos = System.nanoTime();
    requireReady();
    Call customer = requireAnswered(f.string(ClientMethod.Fields.CALL_ID_OPT));
    if (other != null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the session already has a second call");
    }
    String target = owner.dialPolicy().check(f.string(ClientMethod.Fields.NUMBER));
    String sdp = browserOfferOrPath(f);
    owner.countCallAttempt();
    Call c = new Call("c-" + Randoms.uuid(), false, null);
    c.consult = true;
    other = customer;
    call = c;
    LOG.info("call={} line={} consult to {} (customer call={} held)", c.id, owner.lineId(), target, customer.id);
    holdAtSip(customer, true);
    place(c, target, sdp, callNanos);
    return Future.succeededFuture(ack(c));
  }

  /**
   * Attended transfer, last step: REFER to the customer with Replaces naming the consult call's dialog
   * (sip.call.transfer {replaces}); both calls then end at SIP (the customer's on the NOTIFY 200, the consult
   * call by the consultee's BYE). Acked with the customer's {callId} once the REFER is accepted.
   */
  Future<JsonObject> completeTransfer(ClientFrame f) {
    Call consult = requireConsult();
    Call customer = consult == call ? other : call;
    if (!consult.answered || customer == null || !customer.answered) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the consult call is not answered yet");
    }
    LOG.info("call={} line={} attended transfer to the consult call={}", customer.id, owner.lineId(), consult.id);
    return owner.replies().request(Addresses.SIP_CALL_TRANSFER, sipCall(customer.id).put(Fields.REPLACES, consult.id))
        .map(r -> ack(customer));
  }

  /** Attended transfer given up: the consult call is hung up and the customer taken off hold (its {callId}). */
  Future<JsonObject> cancelTransfer(ClientFrame f) {
    Call consult = requireConsult();
    Call customer = consult == call ? other : call;
    LOG.info("call={} line={} consult call={} cancelled", customer.id, owner.lineId(), consult.id);
    endAtSip(consult);
    finish(consult, consult.answered ? CallState.Completed : CallState.Cancelled, null, null, null);
    if (customer.answered) {
      holdAtSip(customer, false);
    }
    return Future.succeededFuture(ack(customer));
  }

  /** Two answered calls: the active one is held, the held one resumed and made active (its {callId}). */
  Future<JsonObject> swap(ClientFrame f) {
    Call held = other;
    if (held == null || call == null || !call.answered || !held.answered) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "swap needs two answered calls");
    }
    Call active = call;
    LOG.info("call={} line={} swapped with call={}", held.id, owner.lineId(), active.id);
    holdAtSip(active, true);
    holdAtSip(held, false);
    call = held;
    other = active;
    pathFollowsActive();
    return Future.succeededFuture(ack(held));
  }

  /** Hold or resume {@code c} at SIP unless it is already so; a refusal leaves the call as its state says. */
  private void holdAtSip(Call c, boolean hold) {
    if (!c.answered || hold == CallState.LocalHeld.name().equals(c.state)) {
      return;
    }
    owner.replies().request(Addresses.SIP_CALL_HOLD, sipCall(c.id).put(Fields.HOLD, hold)).onFailure(e ->
        LOG.warn("call={} line={} {} failed: {}", c.id, owner.lineId(), hold ? "hold" : "resume", e.getMessage()));
  }

  private Call requireConsult() {
    Call c = call != null && call.consult ? call : other != null && other.consult ? other : null;
    if (c == null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "there is no consult call");
    }
    return c;
  }

  /**
   * A new browser offer for the running call: the media relay keeps the leg (same ICE credentials and
   * fingerprint), restarts ICE keeping the DTLS association (new credentials), or builds a new leg (new
   * fingerprint); the SIP leg is never touched. A refused offer (306) leaves the call as it was.
   */
  Future<JsonObject> offer(ClientFrame f) {
    Call c = requireCall(f.string(ClientMethod.Fields.CALL_ID));
    if (!c.mediaCreated) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the call has no media yet");
    }
    LOG.info("call={} line={} new browser offer", c.id, owner.lineId());
    return owner.replies().request(Addresses.MEDIA_BROWSER_OFFER, new JsonObject().put(Fields.CALL_ID, c.id)
        .put(Fields.BROWSER_OFFER, f.string(ClientMethod.Fields.SDP))).map(r -> {
          if (has(c)) {
            owner.send(answer(c.id, r.getString(Fields.BROWSER_ANSWER)));
          }
          return ack(c);
        });
  }

  /**
   * Trickle ICE: a browser candidate for the call's browser leg. Acked with {callId, added, reason?}; an unusable
   * or unresolvable one is acked as not added (the call goes on), a malformed one refused with 103.
   */
  Future<JsonObject> candidate(ClientFrame f) {
    Call c = requireCall(f.string(ClientMethod.Fields.CALL_ID));
    JsonObject body = new JsonObject().put(Fields.CALL_ID, c.id)
        .put(Fields.CANDIDATE, f.string(ClientMethod.Fields.CANDIDATE));
    if (f.string(ClientMethod.Fields.UFRAG_OPT) != null) {
      body.put(Fields.UFRAG, f.string(ClientMethod.Fields.UFRAG_OPT));
    }
    return owner.replies().request(Addresses.MEDIA_CANDIDATE, body).map(r -> {
      JsonObject ack = ack(c).put(ServerEventFields.ADDED, r.getBoolean(Fields.ADDED));
      return r.getString(Fields.REASON) == null ? ack : ack.put(ServerEventFields.REASON, r.getString(Fields.REASON));
    });
  }

  // ------------------------------------------------------------------ events from sip and media

  void onIncoming(JsonObject ev) {
    String id = ev.getString(Fields.CALL_ID);
    if (id == null) {
      return;
    }
    // A call waiting: only beside one answered call.
    boolean waiting = call != null && other == null && call.answered;
    if (!owner.isReady() || call != null && !waiting) {
      LOG.info("call={} line={} incoming call refused: line busy", id, owner.lineId());
      owner.replies().request(Addresses.SIP_CALL_REJECT, sipCall(id).put(Fields.CODE, 486));
      return;
    }
    String sdp = ev.getString(Fields.SDP);
    Call c = new Call(id, true, sdp == null || sdp.isBlank() ? null : sdp);
    c.state = CallState.Ringing.name();
    c.caller = ev.getString(Fields.FROM, "");
    if (waiting) {
      other = c;
      LOG.info("call={} line={} call waiting from {} beside call={}", id, owner.lineId(), ev.getString(Fields.FROM),
          call.id);
      owner.send(ServerEvent.call(ServerEvent.CALL_REQUEST, id)
          .put(ServerEventFields.CALLER, ev.getString(Fields.FROM, ""))
          .put(ServerEventFields.DISPLAY_NAME, ev.getString(Fields.DISPLAY_NAME, ""))
          .put(ServerEventFields.WAITING, true));
      return;
    }
    call = c;
    LOG.info("call={} line={} incoming from {}", id, owner.lineId(), ev.getString(Fields.FROM));
    JsonObject request = ServerEvent.call(ServerEvent.CALL_REQUEST, id)
        .put(ServerEventFields.CALLER, ev.getString(Fields.FROM, ""))
        .put(ServerEventFields.DISPLAY_NAME, ev.getString(Fields.DISPLAY_NAME, ""));
    Integer after = owner.audioPath().autoAnswerAfter(ev.getInteger(Fields.AUTO_ANSWER_MS));
    if (after != null) {
      request.put(ServerEventFields.AUTO_ANSWER, true).put(ServerEventFields.ANSWER_AFTER_MS, after);
      c.autoAnswerTimer = owner.setTimer(Math.max(1, after), () -> {
        c.autoAnswerTimer = -1;
        if (call == c && !c.accepting && !c.answered && owner.audioPath().openPath() != null) {
          accept(c, null, "auto-answer after " + after + " ms");
        }
      });
    }
    owner.send(request);
  }

  private void cancelAutoAnswer(Call c) {
    if (c.autoAnswerTimer >= 0) {
      owner.cancelTimer(c.autoAnswerTimer);
      c.autoAnswerTimer = -1;
    }
  }

  void onCallState(JsonObject ev) {
    Call c = ofEvent(ev);
    if (c == null) {
      return; // a call already finished here (e.g. hung up by the browser)
    }
    CallState state;
    try {
      state = CallState.valueOf(ev.getString(Fields.STATE, ""));
    } catch (IllegalArgumentException e) {
      LOG.warn("call={} line={} unknown call state {}", c.id, owner.lineId(), ev.getString(Fields.STATE));
      return;
    }
    Integer code = ev.getInteger(Fields.CODE);
    String reason = ev.getString(Fields.REASON);
    if (state.isFinal()) {
      String error = ev.getString(Fields.ERROR);
      if (error == null && state == CallState.Error) {
        error = CallError.UnknownError.name();
      }
      finish(c, state, error, code, reason);
      return;
    }
    if (state == CallState.InCall) {
      c.answered = true;
      if (c.answerPending && !c.inCallSent) {
        // Bounded: the answer comes, or the relay's failure or media timeout ends the call.
        c.heldInCall = ev;
        return;
      }
    }
    c.state = state.name();
    owner.send(callState(c, code, reason));
    if (state == CallState.InCall && !c.inCallSent) {
      c.inCallSent = true;
      owner.send(ServerEvent.call(ServerEvent.IN_CALL, c.id));
      if (!c.incoming) {
        // The SIP verticle's clock: session.<id> is a local consumer on the node that holds the line.
        SetupLatency.record(owner.nodeId(), SetupLatency.ANSWER_TO_INCALL,
            SetupLatency.stamp(ev, Fields.ANSWER_NANOS));
      }
    }
  }

  void onMedia(JsonObject ev) {
    Call c = ofEvent(ev);
    if (c == null) {
      return;
    }
    String state = ev.getString(Fields.STATE, "");
    if (state.equals(SessionEvent.MEDIA_ANSWER)) {
      answerSent(c, ev.getString(Fields.SDP));
      return;
    }
    if (state.equals(SessionEvent.MEDIA_RENEGOTIATE)) {
      LOG.info("call={} line={} the PBX chose {}: asking the page for a new offer", c.id, owner.lineId(),
          ev.getString(Fields.CODEC));
      owner.send(ServerEvent.call(ServerEvent.RENEGOTIATE, c.id)
          .put(ServerEventFields.CODEC, ev.getString(Fields.CODEC)));
      return;
    }
    owner.send(ServerEvent.call(ServerEvent.MEDIA_STATE, c.id).put(ServerEventFields.STATE, state)
        .put(ServerEventFields.REASON, ev.getString(Fields.REASON)));
    if (state.equals(SessionEvent.MEDIA_FAILED) || state.equals(SessionEvent.MEDIA_TIMEOUT)) {
      LOG.warn("call={} line={} media {}: {}; hanging up", c.id, owner.lineId(), state, ev.getString(Fields.REASON));
      endAtSip(c);
      finish(c, CallState.Error, CallError.UnknownError.name(), null, "media " + state);
    }
  }

  void onDtmf(JsonObject ev) {
    Call c = ofEvent(ev);
    if (c != null) {
      JsonObject e = ServerEvent.call(ServerEvent.DTMF, c.id).put(ServerEventFields.DIGIT, ev.getString(Fields.DIGIT));
      if (ev.getValue(Fields.DURATION_MS) != null) {
        e.put(ServerEventFields.DURATION_MS, ev.getValue(Fields.DURATION_MS));
      }
      owner.send(e);
    }
  }

  void onTransfer(JsonObject ev) {
    Call c = ofEvent(ev);
    if (c != null) {
      owner.send(ServerEvent.call(ServerEvent.TRANSFER, c.id).put(ServerEventFields.CODE, ev.getInteger(Fields.CODE))
          .put(ServerEventFields.REASON, ev.getString(Fields.REASON))
          .put(ServerEventFields.DIRECTION, ev.getString(Fields.DIRECTION, SessionEvent.DIRECTION_OUT)));
    }
  }

  /** The session's call the event is about, else null (an event of a call that already ended here). */
  private Call ofEvent(JsonObject ev) {
    return byId(ev.getString(Fields.CALL_ID));
  }

  private Call byId(String id) {
    return call != null && call.id.equals(id) ? call : other != null && other.id.equals(id) ? other : null;
  }

  /** Ends the calls for a closing session: SIP ended, media closed. */
  Future<Void> endForClose() {
    Call second = other;
    Future<Void> first = endForClose(call);
    return second == null ? first : Future.join(first, endForClose(second)).mapEmpty();
  }

  private Future<Void> endForClose(Call c) {
    if (c == null) {
      return Future.succeededFuture();
    }
    LOG.info("call={} line={} ended: the session closes", c.id, owner.lineId());
    Future<JsonObject> sip;
    if (c.incoming && !c.answered && !c.accepting) {
      sip = owner.replies().request(Addresses.SIP_CALL_REJECT, sipCall(c.id));
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
    Future<JsonObject> f = owner.replies().request(Addresses.SIP_CALL_HANGUP, sipCall(c.id));
    f.onFailure(e -> LOG.warn("call={} line={} hang-up at SIP failed: {}", c.id, owner.lineId(), e.getMessage()));
    return f;
  }

  /**
   * Hangs up a call whose sip.call.make or sip.call.accept timed out: the SIP side handles its requests in
   * order, so the hang-up finds the call made (or its make still checking the lease) and ends it.
   */
  private void undoAtSip(String callId) {
    owner.replies().request(Addresses.SIP_CALL_HANGUP, sipCall(callId)).onFailure(e ->
        LOG.warn("call={} line={} undoing a timed-out make failed: {}", callId, owner.lineId(), e.getMessage()));
  }

  private void fail(Call c, Throwable cause, boolean rejectAtSip) {
    ProtocolException p = VerticleRequests.toProtocol("call", cause);
    LOG.warn("call={} line={} failed: {} {}", c.id, owner.lineId(), p.code(), p.getMessage());
    if (rejectAtSip) {
      owner.replies().request(Addresses.SIP_CALL_REJECT,
          sipCall(c.id).put(Fields.CODE, p.code() == ErrorCode.BAD_SDP ? 488 : 500));
    }
    String error = p.code() == ErrorCode.NUMBER_REFUSED ? CallError.NotFound.name() : CallError.UnknownError.name();
    finish(c, CallState.Error, error, p.code().code(), p.getMessage());
  }

  /** The single ending path: error event (if any), final state, media closed, call forgotten. */
  private void finish(Call c, CallState state, String error, Integer code, String reason) {
    if (!has(c)) {
      return;
    }
    boolean promoted = c == call && other != null;
    if (c == call) {
      call = other;
    }
    other = null;
    cancelAutoAnswer(c);
    c.state = state.name();
    LOG.info("call={} line={} ended: {}{}", c.id, owner.lineId(), state, error == null ? "" : " (" + error + ")");
    if (error != null) {
      JsonObject e = ServerEvent.call(ServerEvent.CALL_ERROR, c.id).put(ServerEventFields.ERROR, error);
      if (code != null) {
        e.put(ServerEventFields.CODE, code);
      }
      owner.send(e.put(ServerEventFields.REASON, reason));
    }
    owner.send(callState(c, code, reason));
    closeMedia(c.id);
    if (promoted) {
      pathFollowsActive(); // the remaining call has the path again (still held at SIP until Unhold)
    }
    if (call == null) {
      owner.callEnded(c.answered); // the session's last call: an agent's wrap-up may start
    }
  }

  private void closeMedia(String callId) {
    owner.replies().request(Addresses.MEDIA_CLOSE, new JsonObject().put(Fields.CALL_ID, callId))
        .onFailure(e -> LOG.warn("call={} line={} media close failed: {}", callId, owner.lineId(), e.getMessage()));
  }

  private JsonObject callState(Call c, Integer code, String reason) {
    JsonObject e = ServerEvent.call(ServerEvent.CALL_STATE, c.id).put(ServerEventFields.STATE, c.state)
        .put(ServerEventFields.DIRECTION, c.incoming ? SessionEvent.DIRECTION_IN : SessionEvent.DIRECTION_OUT);
    if (code != null) {
      e.put(ServerEventFields.CODE, code);
    }
    if (reason != null) {
      e.put(ServerEventFields.REASON, reason);
    }
    return e;
  }

  private static JsonObject answer(String callId, String sdp) {
    return ServerEvent.call(ServerEvent.ANSWER, callId).put(ServerEventFields.SDP, sdp);
  }

  /** The body of a sip.call.* command about {@code callId} on this session's line. */
  private JsonObject sipCall(String callId) {
    return new JsonObject().put(Fields.LINE_ID, owner.lineId()).put(Fields.CALL_ID, callId);
  }

  /** The acknowledgement of a call method: {callId}. */
  private static JsonObject ack(Call c) {
    return new JsonObject().put(ServerEventFields.CALL_ID, c.id);
  }

  private void requireReady() {
    if (!owner.isReady()) {
      throw new ProtocolException(ErrorCode.LINE_NOT_READY, "the line is not registered yet");
    }
  }

  /** The call {@code callId} names, or the active call when it is null. */
  private Call requireCall(String callId) {
    if (call == null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "there is no call");
    }
    Call c = callId == null ? call : byId(callId);
    if (c == null) {
      throw new ProtocolException(ErrorCode.NOT_FOUND, "no call " + callId);
    }
    return c;
  }

  private Call requireRinging(String callId, String what) {
    Call c = other != null && other.id.equals(callId) ? other : call;
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
