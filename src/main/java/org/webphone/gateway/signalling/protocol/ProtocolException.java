package org.webphone.gateway.signalling.protocol;

import org.webphone.gateway.common.ErrorCode;

/** A client frame refused with a stable {@link ErrorCode}; becomes an {@code Error} event (or a failed bus reply). */
public final class ProtocolException extends RuntimeException {
  private final ErrorCode code;

  public ProtocolException(ErrorCode code, String message) {
    super(message, null, false, false);
    this.code = code;
  }

  public ErrorCode code() {
    return code;
  }
}
