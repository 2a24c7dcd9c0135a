package org.webphone.gateway.common;

/** The seed's call errors, sent to the browser verbatim in {@code OnCallErrorOccurred}. */
public enum CallError {
  NotFound, Unavailable, UnknownError
}
