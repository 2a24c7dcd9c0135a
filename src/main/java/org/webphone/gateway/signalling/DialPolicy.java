package org.webphone.gateway.signalling;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * What a browser may dial (the defence against toll fraud through a public webphone), checked before any
 * SIP is sent: {@code dial.maxLength}, then the characters, then {@code dial.blockedPrefixes}, then
 * {@code dial.allow} (whole-number regular expressions; an empty list allows every number not blocked).
 */
public final class DialPolicy {
  private static final Pattern DIALABLE = Pattern.compile("\\+?[0-9*#]+");
  private static final Pattern SEPARATORS = Pattern.compile("[\\s().\\-/]");

  private final List<Pattern> allow = new ArrayList<>();
  private final List<String> blocked = new ArrayList<>();
  private final int maxLength;

  public DialPolicy(GatewayConfig cfg) {
    for (Object o : cfg.getArray("dial.allow")) {
      allow.add(Pattern.compile((String) o));
    }
    for (Object o : cfg.getArray("dial.blockedPrefixes")) {
      blocked.add((String) o);
    }
    maxLength = cfg.getInt("dial.maxLength");
  }

  /**
   * Returns the number to dial (visual separators removed) or throws {@link ProtocolException} with
   * {@link ErrorCode#NUMBER_REFUSED} and a reason the page can show.
   */
  public String check(String raw) {
    String n = SEPARATORS.matcher(raw == null ? "" : raw).replaceAll("");
    if (n.isEmpty()) {
      throw new ProtocolException(ErrorCode.NUMBER_REFUSED, "the number is empty");
    }
    if (n.length() > maxLength) {
      throw new ProtocolException(ErrorCode.NUMBER_REFUSED, "the number is longer than " + maxLength + " digits");
    }
    if (!DIALABLE.matcher(n).matches()) {
      throw new ProtocolException(ErrorCode.NUMBER_REFUSED, "the number may only have digits, *, # and a leading +");
    }
    for (String p : blocked) {
      if (!p.isEmpty() && n.startsWith(p)) {
        throw new ProtocolException(ErrorCode.NUMBER_REFUSED, "numbers starting with " + p + " are blocked");
      }
    }
    if (!allow.isEmpty() && allow.stream().noneMatch(p -> p.matcher(n).matches())) {
      throw new ProtocolException(ErrorCode.NUMBER_REFUSED, "this number may not be called from the web phone");
    }
    return n;
  }
}
