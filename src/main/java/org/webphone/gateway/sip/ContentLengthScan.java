package org.webphone.gateway.sip;

/**
 * Watches a TCP byte stream for {@code Content-Length} lines above a cap, before JAIN-SIP's NIO parser sees
 * the bytes. That parser (1.3.0-91, {@code NioPipelineParser}) allocates {@code new byte[Content-Length]}
 * for the body as soon as the headers end, unbounded: {@code Content-Length: 2147483647} throws an
 * {@link OutOfMemoryError} on the selector thread, which ends TCP for everyone; 100000000 holds 100 MB per
 * connection. The check mirrors how that parser reads the value: a line (bare {@code \r} are dropped) that
 * starts with {@code content-length} in any case, one separator character, optional blanks, then the number.
 *
 * <p>Every line is checked, bodies included: a body line that looks like a huge Content-Length header is
 * refused too, which no legitimate SIP body contains. Anything other than ASCII digits and trailing blanks
 * in the value is refused ({@code Integer.parseInt} would also take {@code +}, {@code -} and non-ASCII
 * digits). The decision is made before the chunk that would complete a bad value is handed on, so the parser
 * never holds more than a prefix whose value is within the cap.
 *
 * <p>One instance per connection, used by one thread at a time (the NIO selector thread).
 */
final class ContentLengthScan {
  private static final String NAME = "content-length";

  private final long max;
  /** Characters of the current line seen so far (bare CR not counted); saturates. */
  private int column;
  /** The line so far matches "content-length" (while column <= its length). */
  private boolean nameMatches = true;
  private boolean inValue;
  private boolean valueEnded;
  private long value;

  ContentLengthScan(long max) {
    this.max = max;
  }

  /** False when {@code bytes} carry a Content-Length above the cap or one the parser would misread. */
  boolean accept(byte[] bytes) {
    for (byte b : bytes) {
      if (!accept((char) (b & 0xff))) {
        return false;
      }
    }
    return true;
  }

  private boolean accept(char c) {
    if (c == '\r') {
      return true;
    }
    if (c == '\n') {
      column = 0;
      nameMatches = true;
      inValue = false;
      valueEnded = false;
      value = 0;
      return true;
    }
    int col = column;
    if (column < Integer.MAX_VALUE) {
      column++;
    }
    if (!nameMatches) {
      return true;
    }
    if (col < NAME.length()) {
      nameMatches = Character.toLowerCase(c) == NAME.charAt(col);
      return true;
    }
    if (col == NAME.length()) {
      return true; // the one character the parser skips (normally ':')
    }
    if (c == ' ' || c == '\t' || c < ' ') {
      valueEnded = inValue;
      return true;
    }
    if (c < '0' || c > '9' || valueEnded) {
      return false;
    }
    inValue = true;
    value = value * 10 + (c - '0');
    return value <= max;
  }
}
