package org.webphone.gateway.sip;

import gov.nist.core.StackLogger;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes JAIN-SIP's own logging to SLF4J. Without it the stack loads log4j 1.x, which is not on our
 * class path (the RI declares it "provided"). Named in the stack property
 * {@code gov.nist.javax.sip.STACK_LOGGER}; JAIN-SIP instantiates it by reflection.
 */
public final class Slf4jStackLogger implements StackLogger {
  private static final Logger LOG = LoggerFactory.getLogger("gov.nist.javax.sip");

  public Slf4jStackLogger() {
  }

  @Override
  public void logStackTrace() {
    // stack traces of the stack's own call paths are noise at our log levels
  }

  @Override
  public void logStackTrace(int traceLevel) {
  }

  @Override
  public int getLineCount() {
    return 0;
  }

  @Override
  public void logException(Throwable ex) {
    LOG.warn("SIP stack exception", ex);
  }

  @Override
  public void logDebug(String message) {
    LOG.debug(message);
  }

  @Override
  public void logDebug(String message, Exception ex) {
    LOG.debug(message, ex);
  }

  @Override
  public void logTrace(String message) {
    LOG.trace(message);
  }

  @Override
  public void logFatalError(String message) {
    LOG.error(message);
  }

  @Override
  public void logError(String message) {
    LOG.error(message);
  }

  @Override
  public boolean isLoggingEnabled() {
    return LOG.isInfoEnabled();
  }

  @Override
  public boolean isLoggingEnabled(int level) {
    if (level == TRACE_MESSAGES && Slf4jServerLogger.wireEnabled()) {
      return true; // JAIN-SIP asks this level before handing each message to the server logger
    }
    if (level >= TRACE_TRACE) {
      return LOG.isTraceEnabled();
    }
    if (level >= TRACE_DEBUG) {
      return LOG.isDebugEnabled();
    }
    if (level >= TRACE_INFO) {
      return LOG.isInfoEnabled();
    }
    if (level >= TRACE_WARN) {
      return LOG.isWarnEnabled();
    }
    return LOG.isErrorEnabled();
  }

  /**
   * The stack reports a malformed datagram as an error with the whole packet and a stack trace; one
   * short line is enough (the datagram is dropped and nothing else happens).
   */
  @Override
  public void logError(String message, Exception ex) {
    String m = message == null ? "" : message;
    LOG.warn("{}: {}", m.length() > 120 ? m.substring(0, 120) + "..." : m, String.valueOf(ex));
  }

  @Override
  public void logWarning(String message) {
    LOG.warn(message);
  }

  @Override
  public void logInfo(String message) {
    LOG.debug(message); // the stack's "info" is chatty (every message processed); ours is for the call's life
  }

  @Override
  public void disableLogging() {
  }

  @Override
  public void enableLogging() {
  }

  @Override
  public void setBuildTimeStamp(String buildTimeStamp) {
  }

  @Override
  public void setStackProperties(Properties stackProperties) {
  }

  @Override
  public String getLoggerName() {
    return LOG.getName();
  }
}
