package org.webphone.gateway.common;

import java.util.regex.Pattern;

/**
 * What a node id may be ({@code node.id}, and the owner named by a resume token {@code <nodeId>.<random>}): 1 to
 * {@value #MAX_LENGTH} letters, digits, {@code -} and {@code _}. Node ids become parts of bus addresses
 * ({@code signalling.node.<id>.resume}, {@code gateway.node.<id>}), log lines and metric tags; a dot, a space or a
 * very long id would make another address, a forged log line or an unbounded tag, so an id is checked here before
 * any of that is built from it. Stateless; any thread.
 */
public final class NodeIds {
  public static final int MAX_LENGTH = 40;
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9_-]{1," + MAX_LENGTH + "}");

  private NodeIds() {
  }

  public static boolean valid(String id) {
    return id != null && VALID.matcher(id).matches();
  }

  /** Null when {@code id} is a valid node id, otherwise the sentence saying what is wrong with it. */
  public static String problem(String id) {
    if (id == null || id.isEmpty()) {
      return "a node id must not be empty";
    }
    if (id.length() > MAX_LENGTH) {
      return "a node id has at most " + MAX_LENGTH + " characters (this one has " + id.length() + ")";
    }
    return valid(id) ? null : "a node id may hold only letters, digits, '-' and '_'";
  }
}
