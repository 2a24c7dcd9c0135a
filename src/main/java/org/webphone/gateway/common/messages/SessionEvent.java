package org.webphone.gateway.common.messages;

import static org.webphone.gateway.common.messages.Fields.ACCOUNT;
import static org.webphone.gateway.common.messages.Fields.ACCOUNT_ID;
import static org.webphone.gateway.common.messages.Fields.AGENT;
import static org.webphone.gateway.common.messages.Fields.ANSWER_NANOS;
import static org.webphone.gateway.common.messages.Fields.AUDIO_PATH;
import static org.webphone.gateway.common.messages.Fields.AUTO_ANSWER_MS;
import static org.webphone.gateway.common.messages.Fields.CALL_ID;
import static org.webphone.gateway.common.messages.Fields.CODE;
import static org.webphone.gateway.common.messages.Fields.CODEC;
import static org.webphone.gateway.common.messages.Fields.DIGIT;
import static org.webphone.gateway.common.messages.Fields.DIRECTION;
import static org.webphone.gateway.common.messages.Fields.DURATION_MS;
import static org.webphone.gateway.common.messages.Fields.DISPLAY_NAME;
import static org.webphone.gateway.common.messages.Fields.ERROR;
import static org.webphone.gateway.common.messages.Fields.FROM;
import static org.webphone.gateway.common.messages.Fields.LINE_ID;
import static org.webphone.gateway.common.messages.Fields.POSITION;
import static org.webphone.gateway.common.messages.Fields.REASON;
import static org.webphone.gateway.common.messages.Fields.SDP;
import static org.webphone.gateway.common.messages.Fields.SESSION_ID;
import static org.webphone.gateway.common.messages.Fields.SOURCE;
import static org.webphone.gateway.common.messages.Fields.STATE;
import static org.webphone.gateway.common.messages.Fields.TOKEN;

import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * The events sent to {@code session.<sessionId>} ({@link org.webphone.gateway.common.Addresses#SESSION}),
 * consumed by the session's {@code signalling.ClientSession}. Every body is {@code {"event": kind, ...fields}};
 * {@link #json()} starts one, {@link #of} reads the kind back. Examples: docs/event-bus.md.
 */
public enum SessionEvent {
  /** sip: the line's registration is now {@code state} (a {@code REG_*} value); code, reason: the PBX's answer. */
  REGISTRATION("registration", LINE_ID, STATE, CODE, REASON),
  /**
   * sip: an INVITE rings on the line; {@code sdp} is the PBX's offer, "" for an offerless INVITE; {@code autoAnswerMs}
   * when an INVITE from the PBX's allowed sources asks to be answered automatically (Answer-Mode, Call-Info, Alert-Info).
   */
  INCOMING("incoming", LINE_ID, CALL_ID, FROM, DISPLAY_NAME, SDP, AUTO_ANSWER_MS),
  /** sip: the call's new {@code CallState}; {@code error} with failures, {@code answerNanos} on an outgoing InCall. */
  CALL_STATE("callState", LINE_ID, CALL_ID, STATE, DIRECTION, CODE, REASON, ERROR, ANSWER_NANOS),
  /** sip (INFO) or media (RFC 4733, {@code source}): one digit the PBX sent. */
  DTMF("dtmf", CALL_ID, DIGIT, SOURCE, DURATION_MS),
  /**
   * sip: a transfer's progress: direction out, ours (the status line of the PBX's NOTIFY); direction in, the
   * far end's REFER being followed (100 when accepted, then the transfer target's final status).
   */
  TRANSFER("transfer", CALL_ID, CODE, REASON, DIRECTION),
  /**
   * media: the browser's answer ({@code state} answer, {@code sdp}), a request for the browser's re-offer
   * ({@code state} renegotiate, {@code codec} the PBX chose) or the media's state ({@code MEDIA_*}, reason); with
   * {@code audioPath} instead of {@code callId}: the state of the session's persistent browser leg.
   */
  MEDIA("media", CALL_ID, STATE, SDP, REASON, CODEC, AUDIO_PATH),
  /** pool: the waiting session's new place in line. */
  QUEUE("queue", SESSION_ID, POSITION),
  /** pool, sent as a request: an account granted from the waiting line; a reply {accepted: false} gives it back. */
  LEASE("lease", SESSION_ID, ACCOUNT_ID, TOKEN, ACCOUNT),
  /** pool: the cluster took this lease away; the session ends as for a lost line. */
  REVOKED("revoked", SESSION_ID, ACCOUNT_ID, TOKEN),
  /**
   * pool, sent as a request: another session of the same agent took this named line over; the session closes
   * (4003), and replies once its line has unregistered, so that the new session registers only after that.
   */
  TAKEN_OVER("takenOver", SESSION_ID, ACCOUNT_ID, TOKEN, AGENT);

  /** {@link #REGISTRATION} states. */
  public static final String REG_REGISTERING = "registering";
  public static final String REG_REGISTERED = "registered";
  public static final String REG_FAILED = "failed";
  public static final String REG_UNREGISTERING = "unregistering";
  public static final String REG_UNREGISTERED = "unregistered";
  /** {@link #MEDIA} states. */
  public static final String MEDIA_ANSWER = "answer";
  public static final String MEDIA_CONNECTED = "connected";
  /** The PBX chose a codec the browser leg was not answered with: the page must re-offer on its PeerConnection. */
  public static final String MEDIA_RENEGOTIATE = "renegotiate";
  public static final String MEDIA_FAILED = "failed";
  public static final String MEDIA_TIMEOUT = "timeout";
  public static final String MEDIA_CLOSED = "closed";
  /** {@link #DTMF} sources. */
  public static final String DTMF_INFO = "info";
  public static final String DTMF_RFC4733 = "rfc4733";
  /** {@link #CALL_STATE} directions (also the client's). */
  public static final String DIRECTION_IN = "in";
  public static final String DIRECTION_OUT = "out";

  private final String kind;
  private final List<String> fields;

  SessionEvent(String kind, String... fields) {
    this.kind = kind;
    this.fields = List.of(fields);
  }

  /** The value of {@code event}. */
  public String kind() {
    return kind;
  }

  /** Every field the event may carry besides {@code event}. */
  public List<String> fields() {
    return fields;
  }

  /** A new body of this kind, to which the producer adds its fields. */
  public JsonObject json() {
    return new JsonObject().put(Fields.EVENT, kind);
  }

  /** The kind of {@code body}, or null when it has none this enum knows. */
  public static SessionEvent of(JsonObject body) {
    Object kind = body == null ? null : body.getValue(Fields.EVENT);
    for (SessionEvent e : values()) {
      if (e.kind.equals(kind)) {
        return e;
      }
    }
    return null;
  }
}
