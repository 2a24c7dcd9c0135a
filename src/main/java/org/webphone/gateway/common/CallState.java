package org.webphone.gateway.common;

/** The call states of the Ozeki webphone conventions (see the README's "Names"), sent to the browser verbatim in {@code OnCallStateChanged}. */
public enum CallState {
  Created, Setup, Error, Ringing, RingingWithEarlyMedia, LocalHeld, RemoteHeld, InCall, Completed, Rejected,
  Cancelled, Busy;

  /** True when the call is over and its resources must be freed. */
  public boolean isFinal() {
    return this == Error || this == Completed || this == Rejected || this == Cancelled || this == Busy;
  }
}
