package org.webphone.gateway.sip;

import gov.nist.javax.sip.message.SIPMessage;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sip.header.Header;
import javax.sip.message.Request;

/**
 * Reads whether an incoming INVITE asks to be answered automatically, and after how long:
 * <ul>
 *   <li>RFC 5373 {@code Answer-Mode: Auto} or {@code Priv-Answer-Mode: Auto} (at once);</li>
 *   <li>{@code Call-Info: <uri>;answer-after=N} (N seconds; Snom, Yealink, Grandstream, FreeSWITCH's intercom);</li>
 *   <li>the common {@code Alert-Info} forms: {@code info=alert-autoanswer} (Polycom), {@code info=intercom},
 *       {@code Auto Answer}, {@code Ring Answer}, and {@code answer-after=N} or {@code delay=N} on them.</li>
 * </ul>
 * The headers prove nothing about who sent them: the caller counts them only from the PBX's allowed sources and
 * only for a session that opted in (docs/sip.md, "Auto-answer"). A PBX that relays a customer's INVITE must strip
 * these headers from outside calls, or a customer could open an agent's microphone.
 *
 * <p>Pure function of the request; any thread.
 */
final class AutoAnswerRequest {
  /** The longest delay an INVITE may ask for; more is read as this. */
  static final int MAX_MS = 60_000;
  private static final Pattern AFTER = Pattern.compile("(?:answer-after|delay)\\s*=\\s*\"?(\\d{1,6})");
  private static final Pattern ALERT = Pattern.compile("alert-autoanswer|autoanswer|auto[ -]answer|ring[ -]answer"
      + "|info\\s*=\\s*\"?intercom");

  private AutoAnswerRequest() {
  }

  /** The delay in ms the INVITE asks to be answered after, or null when it does not ask. */
  static Integer delayMs(Request req) {
    for (String v : values(req, "Answer-Mode", "Priv-Answer-Mode")) {
      if (v.trim().toLowerCase(Locale.ROOT).startsWith("auto")) {
        return 0;
      }
    }
    for (String v : values(req, "Call-Info")) {
      Matcher m = AFTER.matcher(v.toLowerCase(Locale.ROOT));
      if (v.toLowerCase(Locale.ROOT).contains("answer-after") && m.find()) {
        return cap(m.group(1));
      }
    }
    for (String v : values(req, "Alert-Info")) {
      String low = v.toLowerCase(Locale.ROOT);
      if (ALERT.matcher(low).find()) {
        Matcher m = AFTER.matcher(low);
        return m.find() ? cap(m.group(1)) : 0;
      }
    }
    return null;
  }

  private static int cap(String seconds) {
    return (int) Math.min(MAX_MS, Long.parseLong(seconds) * 1000L);
  }

  /**
   * The values of the headers named {@code names}, parsed or not: JAIN-SIP keeps an Alert-Info it could not parse
   * (Polycom's bare {@code info=alert-autoanswer} has no URI) among the unrecognised headers.
   */
  private static List<String> values(Request req, String... names) {
    List<String> out = new ArrayList<>();
    for (String name : names) {
      Iterator<?> it = req.getHeaders(name);
      while (it != null && it.hasNext()) {
        Object h = it.next();
        String text = h instanceof Header hd ? hd.toString() : String.valueOf(h);
        int colon = text.indexOf(':');
        out.add((colon >= 0 ? text.substring(colon + 1) : text).trim());
      }
    }
    if (req instanceof SIPMessage sm) {
      Iterator<String> raw = sm.getUnrecognizedHeaders();
      while (raw != null && raw.hasNext()) {
        String line = raw.next();
        int colon = line.indexOf(':');
        for (String name : names) {
          if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase(name)) {
            out.add(line.substring(colon + 1).trim());
          }
        }
      }
    }
    return out;
  }
}
