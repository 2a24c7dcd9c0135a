package org.webphone.gateway.sip;

import org.webphone.gateway.common.CallError;
import org.webphone.gateway.common.CallState;

/**
 * How a final failure response to our INVITE is reported to the client: 486/600 Busy; 404/604/484
 * NotFound; 480/408/503 (and our own timeout) Unavailable; 603 Rejected; 487 Cancelled; any other
 * 4xx-6xx Error with UnknownError. The SIP code and reason are always kept alongside.
 */
record CallOutcome(CallState state, CallError error) {

  static CallOutcome of(int code) {
    return switch (code) {
      case 486, 600 -> new CallOutcome(CallState.Busy, null);
      case 404, 604, 484 -> new CallOutcome(CallState.Error, CallError.NotFound);
      case 480, 408, 503 -> new CallOutcome(CallState.Error, CallError.Unavailable);
      case 603 -> new CallOutcome(CallState.Rejected, null);
      case 487 -> new CallOutcome(CallState.Cancelled, null);
      default -> new CallOutcome(CallState.Error, CallError.UnknownError);
    };
  }
}
