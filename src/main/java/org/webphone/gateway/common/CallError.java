package org.webphone.gateway.common;

/** The call errors of the Ozeki webphone conventions (see the README's "Names"), sent to the browser verbatim in {@code OnCallErrorOccurred}. */
public enum CallError {
  NotFound, Unavailable, UnknownError
}
