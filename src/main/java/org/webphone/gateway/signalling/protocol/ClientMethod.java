package org.webphone.gateway.signalling.protocol;

import java.util.List;

/**
 * The client methods of the WebSocket protocol ({@code docs/protocol.md}) with their parameter tables.
 * The Ozeki webphone's names are kept (README, "Names") ({@code Call, HangUp, Accept, Reject}); the rest are additions.
 *
 * <p>Every frame is {@code {"method": <name>, "ref": <string|number, optional, echoed in Ack/Error>, ...}}.
 */
public enum ClientMethod {
  /** Place a call: {number, sdp (the browser's WebRTC offer; without it, on the session's audio path)}. */
  Call(Fields.NUMBER, Fields.SDP_OPT),
  /** End the call (default: the active one): CANCEL or BYE; on a ringing incoming call, the same as Reject. */
  HangUp(Fields.CALL_ID_OPT),
  /** Answer the ringing incoming call with the browser's offer: {callId, sdp (without it: on the audio path)}. */
  Accept(Fields.CALL_ID, Fields.SDP_OPT),
  /** Decline the ringing incoming call (also a call waiting): {callId}. */
  Reject(Fields.CALL_ID),
  /** Send DTMF digits during a call: {callId, digits}. */
  SendDTMF(Fields.CALL_ID, Fields.DIGITS),
  /** Put the call on hold: {callId}. */
  Hold(Fields.CALL_ID),
  /** Take the call off hold: {callId}. */
  Unhold(Fields.CALL_ID),
  /** Blind transfer to another number (the dial policy applies): {callId, number}. */
  Transfer(Fields.CALL_ID, Fields.NUMBER),
  /**
   * Attended transfer: hold the active call (the customer) and call {@code number} on the same line (the dial policy
   * applies): {callId? (the customer; default the active call), number, sdp (the consult call's own browser leg;
   * without it, on the session's audio path)}; acked with the consult call's {callId}.
   */
  Consult(Fields.CALL_ID_OPT, Fields.NUMBER, Fields.SDP_OPT),
  /** Transfer the held customer to the answered consult call (REFER with Replaces): {}; acked with the customer's {callId}. */
  CompleteTransfer(),
  /** Hang up the consult call and take the customer off hold: {}; acked with the customer's {callId}. */
  CancelTransfer(),
  /** Hold the active call and resume the held one, which becomes active: {}; acked with its {callId}. */
  Swap(),
  /** A new browser offer for the current call (after Resume, or an ICE restart): {callId, sdp}. */
  Offer(Fields.CALL_ID, Fields.SDP),
  /**
   * Trickle ICE: one of the browser's candidates for the call's current offer, as gathered
   * ({@code RTCIceCandidate.candidate} or an {@code a=candidate} line), or {@code "end-of-candidates"}:
   * {callId, candidate, sdpMid?, sdpMLineIndex?, usernameFragment?}.
   */
  Candidate(Fields.CALL_ID, Fields.CANDIDATE, Fields.SDP_MID_OPT, Fields.SDP_MLINE_INDEX_OPT, Fields.UFRAG_OPT),
  /** Take back a session whose WebSocket dropped: {token}. */
  Resume(Fields.RESUME_TOKEN),
  /**
   * Open the session's persistent audio path (an agent's browser leg kept between calls): {sdp, autoAnswer?,
   * autoAnswerDelayMs?}; acked with {audioPath, sdp (the answer)}, its state follows as OnAudioPath.
   */
  AudioPath(Fields.SDP, Fields.AUTO_ANSWER_OPT, Fields.AUTO_ANSWER_DELAY_OPT),
  /** Keep-alive; answered with Pong. */
  Ping(),
  /** The first frame of every WebSocket, before anything is leased: {token?, resume?} (not over the bus). */
  Hello(Fields.ACCESS_TOKEN_OPT, Fields.RESUME_OPT),
  /** An agent's availability (named lines only): {state: Available|Busy|WrapUp}. */
  SetAvailability(Fields.AVAILABILITY);

  private final List<Field> fields;

  ClientMethod(Field... fields) {
    this.fields = List.of(fields);
  }

  public List<Field> fields() {
    return fields;
  }

  /** The method of this name, or null. */
  public static ClientMethod byName(String name) {
    for (ClientMethod m : values()) {
      if (m.name().equals(name)) {
        return m;
      }
    }
    return null;
  }

  /**
   * Shared parameter definitions (an enum cannot refer to its own static fields in constructors); handlers read
   * a frame's fields by these names.
   */
  public static final class Fields {
    public static final Field CALL_ID = Field.string("callId", true, "[A-Za-z0-9._:@-]{1,128}", 128);
    public static final Field CALL_ID_OPT = Field.string("callId", false, "[A-Za-z0-9._:@-]{1,128}", 128);
    // Characters only; the length limit and what may be dialled is the dial policy's job (dial.*).
    public static final Field NUMBER = Field.string("number", true, null, 256);
    public static final Field SDP = Field.string("sdp", true, null, 60_000);
    public static final Field SDP_OPT = Field.string("sdp", false, null, 60_000);
    public static final Field AUTO_ANSWER_OPT = Field.bool("autoAnswer", false);
    public static final Field AUTO_ANSWER_DELAY_OPT = Field.number("autoAnswerDelayMs", false);
    public static final Field DIGITS = Field.string("digits", true, "[0-9A-D*#]{1,32}", 32);
    /** A trickled candidate: printable ASCII, as RFC 8839's candidate-attribute is. */
    public static final Field CANDIDATE = Field.string("candidate", true, "[\\x20-\\x7e]{1,1024}", 1024);
    public static final Field SDP_MID_OPT = Field.string("sdpMid", false, "[A-Za-z0-9_.-]{1,32}", 32);
    public static final Field SDP_MLINE_INDEX_OPT = Field.number("sdpMLineIndex", false);
    /** The ICE ufrag (generation) of a trickled candidate: ice-chars (RFC 8839). */
    public static final Field UFRAG_OPT = Field.string("usernameFragment", false, "[A-Za-z0-9+/]{1,256}", 256);
    /** Resume's resume token. */
    public static final Field RESUME_TOKEN = Field.string("token", true, "[A-Za-z0-9_.-]{16,200}", 200);
    /** Hello's access token (auth.tokenSecret). */
    public static final Field ACCESS_TOKEN_OPT = Field.string("token", false, "[A-Za-z0-9_.-]{1,2048}", 2048);
    /** SetAvailability's state; anything else is BAD_FIELD. */
    public static final Field AVAILABILITY = Field.string("state", true, "Available|Busy|WrapUp", 16);
    /** Hello's resume token. */
    public static final Field RESUME_OPT = Field.string("resume", false, "[A-Za-z0-9_.-]{16,200}", 200);

    private Fields() {
    }
  }
}
