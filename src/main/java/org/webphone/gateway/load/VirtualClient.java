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

/**
 * One virtual browser: a session opened over the bus ({@code signalling.session.open}) that receives the
 * WebSocket protocol's server frames on its own events address and sends client frames to its commands
 * address. At most one call at a time, as in the browser. Runs on the load run's context only.
 */
final class VirtualClient {
  private static final Logger LOG = LoggerFactory.getLogger(VirtualClient.class);

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
    consumer = vertx.eventBus().consumer(events, m -> onFrame(m.body()));
    consumer.completion()
        .compose(x -> vertx.eventBus().<JsonObject>request(Addresses.SIGNALLING_OPEN,
            new JsonObject().put("events", events), requestOptions))
        .onSuccess(reply -> {
          sessionId = reply.body().getString("sessionId");
          commands = reply.body().getString("commands");
        })
        .onFailure(e -> registrationFailed("open refused: " + reason(e)));
  }

  private void onFrame(JsonObject f) {
    String event = f.getString("event", "");
    switch (event) {
      case "OnSetReadyStatus" -> {
        if (phase == Phase.OPENING && Boolean.TRUE.equals(f.getBoolean("ready"))) {
          phase = Phase.READY;
          run.clientReady(this, (System.nanoTime() - openedNanos) / 1e6);
        }
      }
      case "OnRegistrationStateChanged" -> {
        String state = f.getString("state", "");
        if (phase == Phase.OPENING && (state.equals("Connection limit") || state.equals("Failed"))) {
          registrationFailed(state + (f.getValue("code") != null ? " " + f.getValue("code") : ""));
        }
      }
      case "OnSessionClosed" -> {
        if (phase == Phase.OPENING) {
          registrationFailed("session closed: " + f.getString("reason"));
        } else if (phase == Phase.CALLING) {
          endCall(null, "session closed: " + f.getString("reason"));
          phase = Phase.GONE;
        } else {
          phase = Phase.GONE;
        }
        run.clientGone(this);
      }
      case "OnCallRequest" -> onCallRequest(f);
      case "OnCallErrorOccurred" -> {
        if (isCurrent(f)) {
          lastError = f.getString("error");
        }
      }
      case "OnInCall" -> {
        if (isCurrent(f)) {
          onInCall();
        }
      }
      case "OnCallStateChanged" -> {
        if (!isCurrent(f)) {
          return;
        }
        CallState state;
        try {
          state = CallState.valueOf(f.getString("state", ""));
        } catch (IllegalArgumentException e) {
          return;
        }
        if (state == CallState.InCall) {
          onInCall();
        } else if (state.isFinal()) {
          endCall(state, failureName(state, f));
        }
      }
      default -> {
        // Answer, OnMediaStateChanged, OnSession, Registering...: nothing to count; a media failure ends
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
    String error = f.getString("error", lastError);
    Object code = f.getValue("code");
    String reason = f.getString("reason");
    return state.name() + (error != null ? "/" + error : "") + (code != null ? " " + code
        : reason != null && reason.length() <= 24 ? " (" + reason + ")" : "");
  }

  /** A frame about the call in progress (the Ack with its callId may come after the first events). */
  private boolean isCurrent(JsonObject f) {
    if (phase != Phase.CALLING) {
      return false;
    }
    String id = f.getString("callId");
    if (id == null || id.equals(previousCallId)) {
      return false;
    }
    if (callId == null) {
      callId = id;
    }
    return id.equals(callId);
  }

  private void registrationFailed(String reason) {
    if (phase == Phase.OPENING) {
      phase = Phase.GONE;
      run.clientFailed(this, reason);
    }
  }

  // ------------------------------------------------------------------ calls

  /** Places a call (call mode). The client must be READY. */
  void call(String number) {
    long attempt = beginCall(null);
    JsonObject frame = new JsonObject().put("method", "Call").put("number", number).put("sdp", SyntheticOffer.create());
    vertx.eventBus().<JsonObject>request(commands, frame, requestOptions).onComplete(ar -> acked(attempt, ar));
  }

  private void onCallRequest(JsonObject f) {
    if (phase != Phase.READY || !run.acceptingIncoming()) {
      return; // busy or finishing: the gateway rejects/ends it, nothing counted here
    }
    long attempt = beginCall(f.getString("callId"));
    JsonObject frame = new JsonObject().put("method", "Accept").put("callId", callId).put("sdp", SyntheticOffer.create());
    vertx.eventBus().<JsonObject>request(commands, frame, requestOptions).onComplete(ar -> acked(attempt, ar));
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
        callId = ar.result().body().getString("callId");
      }
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
    // Without a callId yet (no Ack, no event) HangUp ends the session's one current call.
    JsonObject frame = new JsonObject().put("method", "HangUp");
    if (callId != null) {
      frame.put("callId", callId);
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

  /** The call is over: counted once (completed, cut or failed by reason); the client is idle again. */
  private void endCall(CallState state, String reason) {
    if (phase != Phase.CALLING) {
      return;
    }
    cancelTimer();
    boolean completed = state == CallState.Completed && inCall && failReason == null;
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
  }

  /** Ends the session (hang up, unregister, return the lease on the gateway side) and stops listening. */
  io.vertx.core.Future<Void> close() {
    cancelTimer();
    phase = Phase.GONE;
    io.vertx.core.Future<Void> closed = sessionId == null ? io.vertx.core.Future.succeededFuture()
        : vertx.eventBus().request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId", sessionId),
            requestOptions).<Void>mapEmpty().recover(e -> io.vertx.core.Future.succeededFuture());
    return closed.eventually(() -> consumer == null ? io.vertx.core.Future.succeededFuture() : consumer.unregister());
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
