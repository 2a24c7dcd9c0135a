package org.webphone.gateway.signalling.protocol;

import java.util.regex.Pattern;

/**
 * One parameter of a client method: name, JSON type, mandatory or not, and for strings a pattern and a
 * maximum length. The table in {@link ClientMethod} is the single place parameters are checked.
 */
public record Field(String name, Type type, boolean mandatory, Pattern pattern, int maxLength) {
  public enum Type { STRING, BOOLEAN, NUMBER }

  public static Field string(String name, boolean mandatory, String regex, int maxLength) {
    return new Field(name, Type.STRING, mandatory, regex == null ? null : Pattern.compile(regex), maxLength);
  }

  public static Field number(String name, boolean mandatory) {
    return new Field(name, Type.NUMBER, mandatory, null, 0);
  }

  public static Field bool(String name, boolean mandatory) {
    return new Field(name, Type.BOOLEAN, mandatory, null, 0);
  }
}
