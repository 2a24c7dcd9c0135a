package org.webphone.gateway.load;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.ClientWebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * One browser of the set-up bench ({@link WsSetupBench}): a real WebSocket session at {@code /ws} (Hello, lease,
 * registration) that places one call at a time with a {@link MediaLeg}'s offer, as the page does, and stamps
 * what the page would see: the {@code Call} written, its {@code Ack}, the {@code Answer}, {@code InCall} and the
 * first echoed audio packet. Runs on the bench's context only (the leg's own threads are LoadMedia's).
 */
final class WsCaller {
  /** A call is held at least until its first echo, this long after InCall at most. */
  private static final long AUDIO_WAIT_MS = 5000;
  private static final long PING_MS = 25_000;
  /** -Dwsbench.trace=true: every frame received, on stderr. */
  private static final boolean TRACE = Boolean.getBoolean("wsbench.trace");
  /** The stamps of one call (System.nanoTime of this JVM; -1 = not seen); what {@link #call} completes with. */
  static final class Trace {
    long written = -1;
    long ack = -1;
    long answer = -1;
    long inCall = -1;
    long firstAudio = -1;
    String failure;

    double ms(long stamp) {
      return stamp < 0 ? Double.NaN : (stamp - written) / 1e6;
    }
  }

  private final Vertx vertx;
  private final LoadMedia media;
  private ClientWebSocket ws;
  private Promise<Void> ready;
  private int ref;
  private long ping = -1;
  private boolean closed;
  /** {@link #close} was called: the socket's end is ours, not news. */
  private boolean closing;
  private Consumer<String> onLost;
  // the call in progress, else null
  private Trace trace;
  private MediaLeg leg;
  private String callId;
  private Promise<Trace> done;
  private long holdMs;
  private long timer = -1;
  private boolean hangUpSent;

  WsCaller(Vertx vertx, LoadMedia media) {
    this.vertx = vertx;
    this.media = media;
  }

  /**
   * Opens the socket, says Hello and completes once the line is registered and ready for calls; {@code onLost}
   * runs once if the socket closes later without {@link #close} (the gateway closed it, or the connection broke).
   */
  Future<Void> open(WebSocketClient client, String host, int port, long timeoutMs, Consumer<String> onLost) {
    this.onLost = onLost;
    ready = Promise.promise();
    ws = client.webSocket();
    ws.textMessageHandler(t -> onFrame(new JsonObject(t)));
    ws.closeHandler(x -> {
      closed = true;
      vertx.cancelTimer(ping);
      String why = "socket closed (" + ws.closeStatusCode() + " " + ws.closeReason() + ")";
      ready.tryFail(why);
      end(why);
      if (!closing && onLost != null) {
        onLost.accept(why);
      }
    });
    // As the page: a Ping every 25 s keeps the session and its connection from counting as idle.
    ping = vertx.setPeriodic(PING_MS, x -> send(new JsonObject().put("method", "Ping")));
    long t = vertx.setTimer(timeoutMs, x -> ready.tryFail("line not ready within " + timeoutMs + " ms"));
    ws.connect(new WebSocketConnectOptions().setHost(host).setPort(port).setURI("/ws"))
        .onSuccess(x -> send(new JsonObject().put("method", "Hello")))
        .onFailure(ready::tryFail);
    return ready.future().onComplete(x -> vertx.cancelTimer(t));
  }

  /** A fresh browser with its offer, made before the call (the page has its offer before it writes Call). */
  Future<MediaLeg> prepare() {
    return media.open();
  }

  /**
   * Writes {@code Call} with the leg's offer now; completes when the call ended (held {@code holdMs} after
   * InCall and hung up, or failed, bounded by {@code timeoutMs}) with its stamps.
   */
  Future<Trace> call(MediaLeg l, String number, long holdMs, long timeoutMs) {
    trace = new Trace();
    leg = l;
    callId = null;
    hangUpSent = false;
    this.holdMs = holdMs;
    done = Promise.promise();
    timer = vertx.setTimer(timeoutMs, x -> {
      timer = -1;
      fail("no InCall within " + timeoutMs + " ms");
    });
    trace.written = System.nanoTime();
    send(new JsonObject().put("method", ClientMethod.Call.name()).put("number", number).put("sdp", l.offer));
    return done.future();
  }

  /** The socket is open (the gateway did not close it). */
  boolean open() {
    return !closed;
  }

  Future<Void> close() {
    closing = true;
    vertx.cancelTimer(ping);
    return ws == null ? Future.succeededFuture() : ws.close().recover(e -> Future.succeededFuture());
  }

  private void send(JsonObject frame) {
    ws.writeTextMessage(frame.put("ref", ++ref).encode());
  }

  private void onFrame(JsonObject f) {
    long now = System.nanoTime();
    if (TRACE) {
      System.err.println(System.identityHashCode(this) + " < " + f.encode());
    }
    String event = f.getString("event", "");
    if (event.equals(ServerEvent.READY) && f.getBoolean(ServerEventFields.READY, false)) {
      ready.tryComplete();
      return;
    }
    if (event.equals(ServerEvent.CLOSED)) {
      ready.tryFail("session closed: " + f.getString(ServerEventFields.REASON));
      return;
    }
    if (trace == null) {
      return;
    }
    String id = f.getString(ServerEventFields.CALL_ID);
    if (event.equals(ServerEvent.ACK) && ClientMethod.Call.name().equals(f.getString("method"))) {
      trace.ack = now;
      callId = id;
    } else if (event.equals(ServerEvent.ERROR) && ClientMethod.Call.name().equals(f.getString("method"))) {
      end("refused " + f.getString("name"));
    } else if (id == null || callId != null && !id.equals(callId)) {
      return; // a late event of an earlier call
    } else if (event.equals(ServerEvent.ANSWER) && trace.answer < 0) {
      trace.answer = now;
      MediaLeg l = leg;
      media.connect(l, f.getString(ServerEventFields.SDP)).onComplete(ar -> {
        if (l != leg) {
          return;
        }
        if (ar.failed()) {
          fail("media connect failed: " + ar.cause());
        } else {
          startAudio();
        }
      });
    } else if (event.equals(ServerEvent.IN_CALL) || event.equals(ServerEvent.CALL_STATE)
        && CallState.InCall.name().equals(f.getString(ServerEventFields.STATE))) {
      if (trace.inCall < 0) {
        trace.inCall = now;
        startAudio();
        cancelTimer();
        long until = now + TimeUnit.MILLISECONDS.toNanos(Math.max(holdMs, AUDIO_WAIT_MS));
        timer = vertx.setTimer(Math.max(1, holdMs), x -> {
          timer = -1;
          hangUpOnceHeard(until);
        });
      }
    } else if (event.equals(ServerEvent.CALL_STATE) && isFinal(f.getString(ServerEventFields.STATE))) {
      end(trace.inCall >= 0 && hangUpSent ? null : "ended " + f.getString(ServerEventFields.STATE)
          + " " + f.getValue(ServerEventFields.CODE, ""));
    }
  }

  private static boolean isFinal(String state) {
    try {
      return CallState.valueOf(state).isFinal();
    } catch (IllegalArgumentException | NullPointerException e) {
      return false;
    }
  }

  private void startAudio() {
    if (leg != null && leg.connected && trace.inCall >= 0) {
      media.startSending(leg);
    }
  }

  /** Hangs up once the first echo came back, or at {@code untilNanos} without one (then the call fails). */
  private void hangUpOnceHeard(long untilNanos) {
    if (leg == null || leg.firstAudioNanos.get() >= 0 || System.nanoTime() > untilNanos) {
      hangUp();
      return;
    }
    timer = vertx.setTimer(10, x -> {
      timer = -1;
      hangUpOnceHeard(untilNanos);
    });
  }

  private void fail(String why) {
    if (trace != null && trace.failure == null) {
      trace.failure = why;
    }
    hangUp();
  }

  private void hangUp() {
    if (trace == null || hangUpSent) {
      return;
    }
    hangUpSent = true;
    cancelTimer();
    if (leg != null) {
      leg.stopSending();
    }
    JsonObject frame = new JsonObject().put("method", ClientMethod.HangUp.name());
    if (callId != null) {
      frame.put(ClientMethod.Fields.CALL_ID_OPT.name(), callId);
    }
    send(frame);
    // Whether or not the final state comes, the call is over for this browser after 5 s.
    timer = vertx.setTimer(5000, x -> {
      timer = -1;
      end(trace != null && trace.failure == null ? "no final state after HangUp" : null);
    });
  }

  /** The call is over: its stamps (and failure, if any) go to whoever placed it; the browser is closed. */
  private void end(String failure) {
    if (trace == null) {
      return;
    }
    cancelTimer();
    Trace t = trace;
    if (failure != null && t.failure == null) {
      t.failure = failure;
    }
    if (leg != null) {
      t.firstAudio = leg.firstAudioNanos.get();
      if (t.failure == null && t.firstAudio < 0) {
        t.failure = "no echoed audio";
      }
      media.close(leg);
    }
    trace = null;
    leg = null;
    Promise<Trace> p = done;
    done = null;
    p.complete(t);
  }

  private void cancelTimer() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }
}
