package org.webphone.gateway.load;

import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * One virtual browser: a session opened over the bus ({@code signalling.session.open}) that receives the
 * WebSocket protocol's server frames on its own events address and sends client frames to its commands
 * address. At most one call at a time, as in the browser. Runs on the load run's context only.
 */
final class VirtualClient {
  private static final Logger LOG = LoggerFactory.getLogger(VirtualClient.class);
  /** With media, the packets stop this long before the hang-up, so the last echoes are back in time. */
  private static final long DRAIN_MS = 100;
  private static final long REOPEN_RETRY_MS = 250;

  enum Phase { NEW, OPENING, READY, CALLING, GONE }

  private final LoadRun run;
  private final Vertx vertx;
  private final String events;
  private final DeliveryOptions requestOptions;
  private MessageConsumer<JsonObject> consumer;
  private Phase phase = Phase.NEW;
  private String sessionId;
  private String commands;
  private long openedNanos;

  // the current call
  private String callId;
  private String previousCallId;
  private long callSeq;
  private long callNanos;
  private boolean inCall;
  private boolean hangUpSent;
  private boolean cut;
  private String failReason;
  private String lastError;
  private long callTimer = -1;
  /** The Call/Accept frame went out (with media it waits for the browser's offer). */
  private boolean frameSent;
  // the current call's audio (--media), else null
  private MediaLeg leg;
  private long mediaTimer = -1;
  /** Opening again after the gateway closed the session ({@link #reopen}). */
  private boolean comingBack;
  private int generation;

  VirtualClient(LoadRun run, Vertx vertx, String events, long requestTimeoutMs) {
    this.run = run;
    this.vertx = vertx;
    this.events = events;
    this.requestOptions = new DeliveryOptions().setSendTimeout(requestTimeoutMs);
  }

  Phase phase() {
    return phase;
  }

  String sessionId() {
    return sessionId;
  }

  /** Subscribes to its events address first, then opens the session, so no frame is missed. */
  void open() {
    phase = Phase.OPENING;
    openedNanos = System.nanoTime();
    openOn(events);
  }

  private void openOn(String address) {
    consumer = vertx.eventBus().consumer(address, m -> onFrame(m.body()));
    consumer.completion()
        .compose(x -> vertx.eventBus().<JsonObject>request(Addresses.SIGNALLING_OPEN,
            new JsonObject().put(Fields.EVENTS, address), requestOptions))
        .onSuccess(reply -> {
          if (phase == Phase.GONE) {
            // The run ended while this open was under way: the session is not wanted.
            vertx.eventBus().request(Addresses.SIGNALLING_CLOSE,
                new JsonObject().put(Fields.SESSION_ID, reply.body().getString(Fields.SESSION_ID)));
            return;
          }
          sessionId = reply.body().getString(Fields.SESSION_ID);
          commands = reply.body().getString(Fields.COMMANDS);
        })
        .onFailure(e -> registrationFailed("open refused: " + reason(e)));
  }

  /** Opening again after the gateway closed the session (its node drains): not yet back among the idle clients. */
  boolean comingBack() {
    return comingBack && phase == Phase.OPENING || phase == Phase.NEW;
  }

  /**
   * The gateway closed this registered session (e.g. moved it off a draining node): open a new one, as the page
   * reconnects, on a new events address (a late frame of the old session must not reach the new one). Retried
   * every {@link #REOPEN_RETRY_MS} while the run goes on.
   */
  private void reopen() {
    if (run.finishingRun()) {
      phase = Phase.GONE;
      run.clientGone(this);
      return;
    }
    comingBack = true;
    phase = Phase.OPENING;
    sessionId = null;
    commands = null;
    MessageConsumer<JsonObject> old = consumer;
    consumer = null;
    (old == null ? io.vertx.core.Future.<Void>succeededFuture() : old.unregister()).onComplete(x -> {
      if (phase == Phase.OPENING) {
        openOn(events + ".r" + (++generation));
      }
    });
  }

  private void onFrame(JsonObject f) {
    String event = f.getString(ServerEventFields.EVENT, "");
    switch (event) {
      case ServerEvent.READY -> {
        if (phase == Phase.OPENING && Boolean.TRUE.equals(f.getBoolean(ServerEventFields.READY))) {
          phase = Phase.READY;
          if (comingBack) {
            comingBack = false;
            run.clientBack(this);
          } else {
            run.clientReady(this, (System.nanoTime() - openedNanos) / 1e6);
          }
        }
      }
      case ServerEvent.REGISTRATION -> {
        String state = f.getString(ServerEventFields.STATE, "");
        if (phase == Phase.OPENING
            && (state.equals(ServerEvent.REG_CONNECTION_LIMIT) || state.equals(ServerEvent.REG_FAILED))) {
          registrationFailed(state + (f.getValue(ServerEventFields.CODE) != null
              ? " " + f.getValue(ServerEventFields.CODE) : ""));
        }
      }
      case ServerEvent.CLOSED -> {
        if (phase == Phase.OPENING) {
          registrationFailed("session closed: " + f.getString(ServerEventFields.REASON));
          if (!comingBack) {
            run.clientGone(this);
          }
          return;
        }
        if (phase == Phase.CALLING) {
          if (inCall) {
            endCall(null, "session closed: " + f.getString(ServerEventFields.REASON));
          } else {
            notPlaced();
          }
        }
        if (phase != Phase.GONE) {
          reopen();
        }
      }
      case ServerEvent.CALL_REQUEST -> onCallRequest(f);
      case ServerEvent.CALL_ERROR -> {
        if (isCurrent(f)) {
          lastError = f.getString(ServerEventFields.ERROR);
        }
      }
      case ServerEvent.IN_CALL -> {
        if (isCurrent(f)) {
          onInCall();
        }
      }
      case ServerEvent.CALL_STATE -> {
        if (!isCurrent(f)) {
          return;
        }
        CallState state;
        try {
          state = CallState.valueOf(f.getString(ServerEventFields.STATE, ""));
        } catch (IllegalArgumentException e) {
          return;
        }
        if (state == CallState.InCall) {
          onInCall();
        } else if (state.isFinal()) {
          endCall(state, failureName(state, f));
        }
      }
      case ServerEvent.ANSWER -> {
        if (isCurrent(f) && leg != null) {
          onAnswer(leg, f.getString(ServerEventFields.SDP));
        }
      }
      default -> {
        // OnMediaStateChanged, OnSession, Registering...: nothing to count; a media failure ends
        // the call with a final OnCallStateChanged, counted there.
      }
    }
  }

  /**
   * A failure's bucket in the summary: state, error and SIP/gateway code (e.g. {@code Busy/Unavailable 486},
   * {@code Error/UnknownError 305}); short fixed reasons (e.g. "media failed") when there is no code.
   */
  private String failureName(CallState state, JsonObject f) {
    if (state == CallState.Completed) {
      return state.name();
    }
    String error = f.getString(ServerEventFields.ERROR, lastError);
    Object code = f.getValue(ServerEventFields.CODE);
    String reason = f.getString(ServerEventFields.REASON);
    return state.name() + (error != null ? "/" + error : "") + (code != null ? " " + code
        : reason != null && reason.length() <= 24 ? " (" + reason + ")" : "");
  }

  /** A frame about the call in progress (the Ack with its callId may come after the first events). */
  private boolean isCurrent(JsonObject f) {
    if (phase != Phase.CALLING) {
      return false;
    }
    String id = f.getString(ServerEventFields.CALL_ID);
    if (id == null || id.equals(previousCallId)) {
      return false;
    }
    if (callId == null) {
      callId = id;
    }
    return id.equals(callId);
  }

  private void registrationFailed(String reason) {
    if (phase == Phase.OPENING && comingBack) {
      LOG.debug("line={} reopen failed ({}); again in {} ms", sessionId, reason, REOPEN_RETRY_MS);
      phase = Phase.NEW;
      vertx.setTimer(REOPEN_RETRY_MS, t -> {
        if (phase == Phase.NEW) {
          reopen();
        }
      });
      return;
    }
    if (phase == Phase.OPENING) {
      phase = Phase.GONE;
      run.clientFailed(this, reason);
    }
  }

  // ------------------------------------------------------------------ calls

  /** Places a call (call mode). The client must be READY. */
  void call(String number) {
    long attempt = beginCall(null);
    if (run.media() == null) {
      frameSent = true;
      vertx.eventBus().<JsonObject>request(commands, callFrame(number, SyntheticOffer.create()), requestOptions)
          .onComplete(ar -> acked(attempt, ar));
      return;
    }
    withLeg(attempt, sdp -> {
      callNanos = System.nanoTime(); // as in the page: the call starts once the browser's offer is ready
      vertx.eventBus().<JsonObject>request(commands, callFrame(number, sdp), requestOptions)
          .onComplete(ar -> acked(attempt, ar));
    });
  }

  private void onCallRequest(JsonObject f) {
    if (phase != Phase.READY || !run.acceptingIncoming()) {
      return; // busy or finishing: the gateway rejects/ends it, nothing counted here
    }
    long attempt = beginCall(f.getString(ServerEventFields.CALL_ID));
    if (run.media() == null) {
      frameSent = true;
      vertx.eventBus().<JsonObject>request(commands, acceptFrame(SyntheticOffer.create()), requestOptions)
          .onComplete(ar -> acked(attempt, ar));
      return;
    }
    // As the page does: the browser always offers, in Accept too; the gateway's Answer event follows.
    withLeg(attempt, sdp -> {
      vertx.eventBus().<JsonObject>request(commands, acceptFrame(sdp), requestOptions)
          .onComplete(ar -> acked(attempt, ar));
    });
  }

  private static JsonObject callFrame(String number, String sdp) {
    return ClientFrame.build(ClientMethod.Call).put(ClientMethod.Fields.NUMBER.name(), number)
        .put(ClientMethod.Fields.SDP.name(), sdp);
  }

  private JsonObject acceptFrame(String sdp) {
    return ClientFrame.build(ClientMethod.Accept).put(ClientMethod.Fields.CALL_ID.name(), callId)
        .put(ClientMethod.Fields.SDP.name(), sdp);
  }

  // ------------------------------------------------------------------ media (--media)

  /** Makes the call's browser off the event loop, then sends the frame with its offer if the call is still on. */
  private void withLeg(long attempt, java.util.function.Consumer<String> send) {
    run.media().open().onComplete(ar -> {
      boolean current = phase == Phase.CALLING && attempt == callSeq && !hangUpSent;
      if (ar.failed()) {
        LOG.debug("line={} no browser for the call: {}", sessionId, ar.cause().toString());
        if (current) {
          endCall(null, "media_setup_failed");
        }
        return;
      }
      if (!current) {
        run.media().close(ar.result());
        return;
      }
      leg = ar.result();
      frameSent = true;
      send.accept(leg.offer);
    });
  }

  /** The gateway's answer: ICE and DTLS start at once (while the far end may still ring). */
  private void onAnswer(MediaLeg l, String sdp) {
    if (l.connectStarted || sdp == null) {
      return;
    }
    l.connectStarted = true;
    run.media().connect(l, sdp).onComplete(ar -> {
      if (l != leg) {
        return; // that call is over
      }
      if (ar.failed()) {
        LOG.debug("call={} line={} media connect failed: {}", callId, sessionId, ar.cause().toString());
        if (failReason == null) {
          failReason = "media_connect_failed";
        }
        hangUp();
      } else {
        startAudio();
      }
    });
  }

  /** Packets flow once the call is answered and the browser is connected, whichever comes last. */
  private void startAudio() {
    if (leg != null && inCall && leg.connected && !hangUpSent && phase == Phase.CALLING) {
      run.media().startSending(leg);
    }
  }

  /** Holds an answered call with audio: packets until shortly before the hang-up; no echo in time fails it. */
  private void holdWithMedia(long holdMs) {
    MediaLeg l = leg;
    l.inCallNanos = System.nanoTime();
    startAudio();
    long drain = Math.min(DRAIN_MS, holdMs / 4);
    callTimer = vertx.setTimer(Math.max(1, holdMs - drain), t -> {
      callTimer = -1;
      l.stopSending();
      callTimer = vertx.setTimer(Math.max(1, drain), t2 -> {
        callTimer = -1;
        hangUp();
      });
    });
    mediaTimer = vertx.setTimer(run.options().mediaTimeoutMs(), t -> {
      mediaTimer = -1;
      if (l == leg && l.received.get() == 0 && !hangUpSent) {
        failReason = "no_media";
        hangUp();
      }
    });
  }

  private void acked(long attempt, io.vertx.core.AsyncResult<io.vertx.core.eventbus.Message<JsonObject>> ar) {
    if (phase != Phase.CALLING || attempt != callSeq) {
      return; // that call already ended (its events can overtake the Ack)
    }
    if (ar.succeeded()) {
      if (run.stats().measured(callNanos)) {
        run.stats().ackMs.add((System.nanoTime() - callNanos) / 1e6);
      }
      if (callId == null) {
        callId = ar.result().body().getString(ServerEventFields.CALL_ID);
      }
    } else if (!inCall && movedAway(ar.cause())) {
      // The node drains (or the session just moved): the call was never placed; the session's close follows.
      notPlaced();
      phase = Phase.NEW;
      vertx.setTimer(REOPEN_RETRY_MS, t -> {
        if (phase == Phase.NEW) {
          reopen(); // no close frame came (the commands consumer was already gone)
        }
      });
    } else {
      endCall(null, "refused " + reason(ar.cause()));
    }
  }

  private long beginCall(String id) {
    callSeq++;
    phase = Phase.CALLING;
    callId = id;
    callNanos = System.nanoTime();
    inCall = false;
    hangUpSent = false;
    frameSent = false;
    cut = false;
    failReason = null;
    lastError = null;
    run.callStarted();
    callTimer = vertx.setTimer(run.options().setupTimeoutMs(), t -> {
      callTimer = -1;
      if (!inCall) {
        failReason = "setup timeout";
        hangUp();
      }
    });
    return callSeq;
  }

  private void onInCall() {
    if (inCall) {
      return;
    }
    inCall = true;
    if (run.stats().measured(callNanos)) {
      run.stats().setupMs.add((System.nanoTime() - callNanos) / 1e6);
    }
    cancelTimer();
    if (leg != null) {
      holdWithMedia(Math.max(1, run.options().holdMs()));
      return;
    }
    callTimer = vertx.setTimer(Math.max(1, run.options().holdMs()), t -> {
      callTimer = -1;
      hangUp();
    });
  }

  /** Hangs up the call in progress because the run ends: it counts as cut, not as completed or failed. */
  void cut() {
    if (phase == Phase.CALLING) {
      cut = true;
      hangUp();
    }
  }

  /** Hangs up the call in progress; its final state frame then ends it here. Bounded by a timer. */
  void hangUp() {
    if (phase != Phase.CALLING || hangUpSent) {
      return;
    }
    hangUpSent = true;
    cancelTimer();
    if (leg != null) {
      leg.stopSending();
    }
    if (!frameSent) {
      // Its browser is still being made: the gateway knows of no call yet, so it is over here and now.
      endCall(null, failReason != null ? failReason : "hung up before the offer was ready");
      return;
    }
    // Without a callId yet (no Ack, no event) HangUp ends the session's one current call.
    JsonObject frame = ClientFrame.build(ClientMethod.HangUp);
    if (callId != null) {
      frame.put(ClientMethod.Fields.CALL_ID_OPT.name(), callId);
    }
    vertx.eventBus().request(commands, frame, requestOptions);
    // Whether or not the gateway confirms, the call is over for this client after this long.
    long attempt = callSeq;
    callTimer = vertx.setTimer(run.options().setupTimeoutMs(), t -> {
      callTimer = -1;
      if (phase == Phase.CALLING && attempt == callSeq) {
        endCall(null, failReason != null ? failReason : "no final state after HangUp");
      }
    });
  }

  /** A refusal that means "this node drains, open a session elsewhere": SHUTTING_DOWN, or its commands are gone. */
  private static boolean movedAway(Throwable e) {
    return e instanceof ReplyException re && (re.failureType() == io.vertx.core.eventbus.ReplyFailure.NO_HANDLERS
        || re.failureType() == io.vertx.core.eventbus.ReplyFailure.RECIPIENT_FAILURE
        && re.failureCode() == ErrorCode.SHUTTING_DOWN.code());
  }

  /** The call attempt never reached a call (its session moves): not counted; the run places it again. */
  private void notPlaced() {
    if (phase != Phase.CALLING) {
      return;
    }
    cancelTimer();
    if (leg != null) {
      run.media().close(leg);
      leg = null;
    }
    previousCallId = callId;
    callId = null;
    phase = Phase.READY;
    run.callNotPlaced();
  }

  /** The call is over: counted once (completed, cut or failed by reason); the client is idle again. */
  private void endCall(CallState state, String reason) {
    if (phase != Phase.CALLING) {
      return;
    }
    cancelTimer();
    if (inCall && !hangUpSent && !cut && failReason == null && run.options().mode().equals("call")) {
      // Our calls end when we hang up (the benchmark's far end never does): the gateway side ended this one.
      failReason = "ended_by_gateway";
      run.stats().endedByGateway++;
    }
    boolean completed = state == CallState.Completed && inCall && failReason == null;
    if (leg != null) {
      if (completed && leg.received.get() == 0) {
        completed = false; // answered and ended, but not one packet of audio came back
        failReason = "no_media";
      }
      if (completed && !cut) {
        run.stats().mediaCall(leg);
      }
      run.media().close(leg);
      leg = null;
    }
    if (!completed && LOG.isDebugEnabled()) {
      LOG.debug("call={} line={} failed: {}", callId, sessionId, failReason != null ? failReason : reason);
    }
    previousCallId = callId;
    callId = null;
    phase = Phase.READY;
    run.callEnded(this, completed, cut, failReason != null ? failReason : reason);
  }

  private void cancelTimer() {
    if (callTimer >= 0) {
      vertx.cancelTimer(callTimer);
      callTimer = -1;
    }
    if (mediaTimer >= 0) {
      vertx.cancelTimer(mediaTimer);
      mediaTimer = -1;
    }
  }

  /** Ends the session (hang up, unregister, return the lease on the gateway side) and stops listening. */
  io.vertx.core.Future<Void> close() {
    cancelTimer();
    phase = Phase.GONE;
    if (leg != null) {
      run.media().close(leg);
      leg = null;
    }
    io.vertx.core.Future<Void> closed = sessionId == null ? io.vertx.core.Future.succeededFuture()
        : closeSession(sessionId).recover(e -> io.vertx.core.Future.succeededFuture());
    return closed.eventually(() -> consumer == null ? io.vertx.core.Future.succeededFuture() : consumer.unregister());
  }

  /** {@code signalling.session.close}: whichever node the bus picks passes it to the session's owner. */
  private io.vertx.core.Future<Void> closeSession(String id) {
    return vertx.eventBus().request(Addresses.SIGNALLING_CLOSE, new JsonObject().put(Fields.SESSION_ID, id),
        requestOptions).mapEmpty();
  }

  static String reason(Throwable e) {
    if (e instanceof ReplyException re) {
      return switch (re.failureType()) {
        case TIMEOUT -> "TIMEOUT (no reply)";
        case NO_HANDLERS -> "NO_HANDLERS (no gateway on the bus)";
        default -> ErrorCode.of(re.failureCode()).name();
      };
    }
    return e.getClass().getSimpleName();
  }
}
