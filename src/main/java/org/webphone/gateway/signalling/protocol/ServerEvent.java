package org.webphone.gateway.signalling.protocol;

import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.ErrorCode;

/**
 * Builders of the server frames of {@code docs/protocol.md}. Every frame is {@code {"event": <name>, ...}};
 * every frame about a call has {@code callId}.
 */
public final class ServerEvent {
  public static final String SESSION = "OnSession";
  /** Fresh TURN credentials, every half lifetime ({@code ice.turnCredentialTtlSec}) while the session lives. */
  public static final String ICE_SERVERS = "OnIceServers";
  public static final String REGISTRATION = "OnRegistrationStateChanged";
  public static final String READY = "OnSetReadyStatus";
  public static final String CALL_REQUEST = "OnCallRequest";
  public static final String IN_CALL = "OnInCall";
  public static final String CALL_STATE = "OnCallStateChanged";
  public static final String CALL_ERROR = "OnCallErrorOccurred";
  public static final String ANSWER = "Answer";
  public static final String MEDIA_STATE = "OnMediaStateChanged";
  public static final String RENEGOTIATE = "OnRenegotiate";
  public static final String DTMF = "OnDtmfReceived";
  public static final String TRANSFER = "OnTransferStateChanged";
  /** The session's audio path: {audioPath, state (connected, failed, closed), reason?}. */
  public static final String AUDIO_PATH = "OnAudioPath";
  public static final String ACK = "Ack";
  public static final String PONG = "Pong";
  public static final String ERROR = "Error";
  public static final String CLOSED = "OnSessionClosed";
  /** An agent's availability (Available, Busy, WrapUp) changed: by the agent, after a call, or at wrap-up's end. */
  public static final String AVAILABILITY = "OnAvailabilityChanged";

  /** Registration states as the browser sees them. */
  public static final String REG_REGISTERING = "Registering";
  public static final String REG_REGISTERED = "Registered";
  public static final String REG_FAILED = "Failed";
  public static final String REG_UNREGISTERED = "Unregistered";
  public static final String REG_CONNECTION_LIMIT = "Connection limit";
  /** The pool's waiting line (pool.waitingLine): no account yet, {@code position} in line. */
  public static final String REG_WAITING = "Waiting";

  private ServerEvent() {
  }

  public static JsonObject of(String event) {
    return new JsonObject().put(ServerEventFields.EVENT, event);
  }

  public static JsonObject call(String event, String callId) {
    return of(event).put(ServerEventFields.CALL_ID, callId);
  }

  public static JsonObject error(ErrorCode code, String message, Object ref, String method) {
    JsonObject e = of(ERROR).put(ServerEventFields.CODE, code.code()).put(ServerEventFields.NAME, code.name())
        .put(ServerEventFields.MESSAGE, message);
    if (ref != null) {
      e.put(ServerEventFields.REF, ref);
    }
    if (method != null) {
      e.put(ServerEventFields.METHOD, method);
    }
    return e;
  }

  public static JsonObject registration(String state, Integer code, String reason) {
    JsonObject e = of(REGISTRATION).put(ServerEventFields.STATE, state);
    if (code != null) {
      e.put(ServerEventFields.CODE, code);
    }
    if (reason != null) {
      e.put(ServerEventFields.REASON, reason);
    }
    return e;
  }

  public static JsonObject ready(boolean ready) {
    return of(READY).put(ServerEventFields.READY, ready);
  }
}
