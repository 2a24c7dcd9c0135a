package org.webphone.gateway.sip;

import gov.nist.core.ServerLogger;
import gov.nist.javax.sip.message.SIPMessage;
import java.util.Properties;
import javax.sip.SipStack;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * JAIN-SIP's message log (every SIP message in and out) at TRACE on logger {@code sip.wire}. The default
 * {@code ServerLog} writes files and needs log4j. Messages may carry digest responses but never passwords.
 */
public final class Slf4jServerLogger implements ServerLogger {
  private static final Logger WIRE = LoggerFactory.getLogger("sip.wire");

  public Slf4jServerLogger() {
  }

  static boolean wireEnabled() {
    return WIRE.isTraceEnabled();
  }

  @Override
  public void closeLogFile() {
  }

  @Override
  public void logMessage(SIPMessage message, String from, String to, boolean sender, long time) {
    if (WIRE.isTraceEnabled()) {
      WIRE.trace("{} {} -> {}\n{}", sender ? "sent" : "received", from, to, message);
    }
  }

  @Override
  public void logMessage(SIPMessage message, String from, String to, String status, boolean sender, long time) {
    logMessage(message, from, to, sender, time);
  }

  @Override
  public void logMessage(SIPMessage message, String from, String to, String status, boolean sender) {
    logMessage(message, from, to, sender, 0);
  }

  @Override
  public void logException(Exception ex) {
    WIRE.debug("SIP message exception", ex);
  }

  @Override
  public void setStackProperties(Properties stackProperties) {
  }

  @Override
  public void setSipStack(SipStack sipStack) {
  }
}
