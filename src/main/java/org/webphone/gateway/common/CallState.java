package org.webphone.gateway.common;

/** The seed's call states, sent to the browser verbatim in {@code OnCallStateChanged}. */
public enum CallState {
  Created, Setup, Error, Ringing, RingingWithEarlyMedia, LocalHeld, RemoteHeld, InCall, Completed, Rejected,
  Cancelled, Busy;

  /** True when the call is over and its resources must be freed. */
  public boolean isFinal() {
    return this == Error || this == Completed || this == Rejected || this == Cancelled || this == Busy;
  }
}
