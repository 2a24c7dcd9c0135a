package org.webphone.gateway.signalling.protocol;

import java.util.List;
import java.util.Map;

/**
 * The fields of the server events of docs/protocol.md: their names, written by every producer as these
 * constants, and which ones each event of {@link ServerEvent} carries ({@link #OF}). ProtocolDocTest compares
 * {@link #OF} with the doc's event table and every JSON example, both ways.
 */
public final class ServerEventFields {
  public static final String EVENT = "event";
  public static final String CALL_ID = "callId";
  public static final String SESSION_ID = "sessionId";
  public static final String RESUME_TOKEN = "resumeToken";
  public static final String RESUMED = "resumed";
  public static final String RESUME_GRACE_SEC = "resumeGraceSec";
  /** RTCConfiguration.iceServers for the page: [{urls, username?, credential?}], TURN credentials fresh. */
  public static final String ICE_SERVERS = "iceServers";
  /** In OnSession after a resume: {callId, state, direction} of the call that survived. */
  public static final String CALL = "call";
  /** OnSession after a resume or takeover: every call of the session, the active one first. */
  public static final String CALLS = "calls";
  /** In OnSession's {@code calls}: an agent's consult call (its customer is the other call). */
  public static final String CONSULT = "consult";
  public static final String STATE = "state";
  public static final String POSITION = "position";
  public static final String CODE = "code";
  public static final String REASON = "reason";
  public static final String READY = "ready";
  public static final String CALLER = "caller";
  public static final String DISPLAY_NAME = "displayName";
  public static final String SDP = "sdp";
  public static final String CODEC = "codec";
  public static final String DIRECTION = "direction";
  public static final String ERROR = "error";
  public static final String DIGIT = "digit";
  public static final String DURATION_MS = "durationMs";
  public static final String REF = "ref";
  public static final String METHOD = "method";
  public static final String REGISTERED = "registered";
  public static final String NAME = "name";
  public static final String MESSAGE = "message";
  /** In the Ack of Candidate: whether the candidate went to the call's ICE agent. */
  public static final String ADDED = "added";
  /** In OnSession: the agent identity of a named line (an access token's sub). */
  public static final String AGENT = "agent";
  /** In OnAvailabilityChanged: when wrap-up ends, epoch milliseconds. */
  public static final String UNTIL_MS = "untilMs";
  public static final String AUDIO_PATH = "audioPath";
  /** OnCallRequest: the gateway answers this call by itself after {@link #ANSWER_AFTER_MS} (auto-answer). */
  public static final String AUTO_ANSWER = "autoAnswer";
  public static final String ANSWER_AFTER_MS = "answerAfterMs";
  /** OnCallRequest: a call waiting (the session is in another call; Accept holds that one). */
  public static final String WAITING = "waiting";

  /** The fields an event always carries and the ones it may carry. */
  public record Shape(List<String> always, List<String> optional) {
    static Shape of(String... always) {
      return new Shape(List.of(always), List.of());
    }

    Shape optional(String... optional) {
      return new Shape(always, List.of(optional));
    }
  }

  /** Every server event (a {@link ServerEvent} name) → its fields besides {@code event}. */
  public static final Map<String, Shape> OF = Map.ofEntries(
      Map.entry(ServerEvent.SESSION, Shape.of(SESSION_ID, RESUME_TOKEN, RESUMED, RESUME_GRACE_SEC, ICE_SERVERS)
          .optional(CALL, CALLS, AGENT)),
      Map.entry(ServerEvent.ICE_SERVERS, Shape.of(ICE_SERVERS)),
      Map.entry(ServerEvent.REGISTRATION, Shape.of(STATE).optional(POSITION, CODE, REASON)),
      Map.entry(ServerEvent.READY, Shape.of(READY)),
      Map.entry(ServerEvent.CALL_REQUEST, Shape.of(CALL_ID, CALLER, DISPLAY_NAME).optional(AUTO_ANSWER, ANSWER_AFTER_MS, WAITING)),
      Map.entry(ServerEvent.ANSWER, Shape.of(CALL_ID, SDP)),
      Map.entry(ServerEvent.CALL_STATE, Shape.of(CALL_ID, STATE, DIRECTION).optional(CODE, REASON)),
      Map.entry(ServerEvent.IN_CALL, Shape.of(CALL_ID)),
      Map.entry(ServerEvent.CALL_ERROR, Shape.of(CALL_ID, ERROR).optional(CODE, REASON)),
      Map.entry(ServerEvent.MEDIA_STATE, Shape.of(CALL_ID, STATE).optional(REASON)),
      Map.entry(ServerEvent.RENEGOTIATE, Shape.of(CALL_ID, CODEC)),
      Map.entry(ServerEvent.DTMF, Shape.of(CALL_ID, DIGIT).optional(DURATION_MS)),
      Map.entry(ServerEvent.TRANSFER, Shape.of(CALL_ID, CODE, REASON, DIRECTION)),
      Map.entry(ServerEvent.AUDIO_PATH, Shape.of(AUDIO_PATH, STATE).optional(REASON)),
      Map.entry(ServerEvent.ACK, Shape.of(METHOD).optional(REF, CALL_ID, SESSION_ID, RESUMED, ADDED, REASON, AUDIO_PATH,
          SDP)),
      Map.entry(ServerEvent.PONG, Shape.of(REGISTERED, CALL_ID).optional(REF)),
      Map.entry(ServerEvent.ERROR, Shape.of(CODE, NAME, MESSAGE).optional(REF, METHOD)),
      Map.entry(ServerEvent.CLOSED, Shape.of(REASON)),
      Map.entry(ServerEvent.AVAILABILITY, Shape.of(STATE, REASON).optional(UNTIL_MS)));

  private ServerEventFields() {
  }
}
