package org.webphone.gateway.common;

/**
 * Stable failure codes: the {@code failureCode} of a failed event-bus reply and the {@code code} of a
 * WebSocket {@code Error} event. Numbers never change meaning; add new ones at the end of a block.
 */
public enum ErrorCode {
  // 1xx: the request itself
  BAD_JSON(100, "the frame is not a JSON object"),
  UNKNOWN_METHOD(101, "unknown method"),
  MISSING_FIELD(102, "a mandatory field is missing"),
  BAD_FIELD(103, "a field has the wrong type or value"),
  WRONG_STATE(104, "not allowed in the current state"),
  FRAME_TOO_LARGE(105, "frame too large"),
  RATE_LIMITED(106, "too many messages"),
  // 2xx: policy
  ORIGIN_REFUSED(200, "origin not allowed"),
  TOKEN_REFUSED(201, "missing, invalid or expired token"),
  NUMBER_REFUSED(202, "number not allowed by the dial policy"),
  CALL_LIMIT(203, "too many call attempts"),
  SESSION_LIMIT(204, "too many sessions"),
  // 3xx: resources
  NO_ACCOUNT(300, "Connection limit"),
  STALE_TOKEN(301, "lease is no longer current"),
  NOT_FOUND(302, "no such line, call or lease"),
  LINE_NOT_READY(303, "line is not registered"),
  LINE_BUSY(304, "line already has a call"),
  NO_PORT(305, "no free media port"),
  BAD_SDP(306, "SDP not acceptable"),
  UNKNOWN_AGENT(307, "no named line for this agent identity"),
  NOT_AN_AGENT(308, "only an agent's session (a named line) has this"),
  NO_QUORUM(309, "this node is cut off from the cluster: the pool refuses it"),
  // 5xx: the gateway
  INTERNAL(500, "internal error"),
  TIMEOUT(501, "timed out"),
  SHUTTING_DOWN(502, "gateway is shutting down");

  private final int code;
  private final String text;

  ErrorCode(int code, String text) {
    this.code = code;
    this.text = text;
  }

  public int code() {
    return code;
  }

  public String text() {
    return text;
  }

  public static ErrorCode of(int code) {
    for (ErrorCode c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return INTERNAL;
  }
}
