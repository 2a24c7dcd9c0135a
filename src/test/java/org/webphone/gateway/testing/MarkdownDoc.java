package org.webphone.gateway.testing;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One page of docs/ read the way the doc tests need it: its sections, table rows, code blocks, the
 * {@code `code`} spans of its prose and the field names of the JSON skeletons written in them
 * ({@code {callId, sdp?, account: {...}}}). Plain text parsing: the doc tests decide what each part means.
 */
public final class MarkdownDoc {
  private static final Pattern CODE_SPAN = Pattern.compile("`([^`]+)`");

  private final List<String> lines;

  private MarkdownDoc(List<String> lines) {
    this.lines = lines;
  }

  /** The page {@code docs/<name>} of this checkout. */
  public static MarkdownDoc read(String name) throws IOException {
    return new MarkdownDoc(Files.readAllLines(Path.of(System.getProperty("project.basedir", "."), "docs", name)));
  }

  /** The lines of the section headed {@code ## title}, up to the next {@code ## }; fails if there is none. */
  public MarkdownDoc section(String title) {
    int start = lines.indexOf("## " + title);
    if (start < 0) {
      throw new AssertionError("the doc has no section '## " + title + "'");
    }
    int end = start + 1;
    while (end < lines.size() && !lines.get(end).startsWith("## ")) {
      end++;
    }
    return new MarkdownDoc(lines.subList(start + 1, end));
  }

  public List<String> lines() {
    return lines;
  }

  /** The cells of every table row ({@code | a | b |}), header and separator rows left out, trimmed. */
  public List<String[]> tableRows() {
    List<String[]> rows = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i);
      boolean header = i + 1 < lines.size() && lines.get(i + 1).startsWith("|---");
      if (!l.startsWith("| ") || l.startsWith("|---") || header) {
        continue;
      }
      // A `|` inside a code span is written \| and is not a cell boundary.
      String[] cells = l.substring(1, l.length() - (l.endsWith("|") ? 1 : 0)).split("(?<!\\\\)\\|");
      for (int c = 0; c < cells.length; c++) {
        cells[c] = cells[c].trim().replace("\\|", "|");
      }
      rows.add(cells);
    }
    return rows;
  }

  /** A numbered table ({@code | 100 | BAD_JSON | ... |}): number → second cell. */
  public Map<Integer, String> numberedRows() {
    Map<Integer, String> out = new TreeMap<>();
    for (String[] row : tableRows()) {
      out.put(Integer.parseInt(row[0]), row[1]);
    }
    return out;
  }

  /** The contents of every fenced block whose info string is {@code info} ("" for a block without one). */
  public List<List<String>> codeBlocks(String info) {
    List<List<String>> blocks = new ArrayList<>();
    boolean inBlock = false;
    List<String> current = null;
    for (String l : lines) {
      if (l.startsWith("```")) {
        if (!inBlock) {
          current = l.substring(3).trim().equals(info) ? new ArrayList<>() : null;
        } else if (current != null) {
          blocks.add(current);
        }
        inBlock = !inBlock;
      } else if (current != null && inBlock) {
        current.add(l);
      }
    }
    return blocks;
  }

  /**
   * Every JSON object of the {@code json} blocks, one per line or spread over several lines; a text that is
   * not JSON fails with the text.
   */
  public List<JsonObject> jsonExamples() {
    List<JsonObject> out = new ArrayList<>();
    for (List<String> block : codeBlocks("json")) {
      StringBuilder pending = new StringBuilder();
      for (String l : block) {
        pending.append(l).append('\n');
        if (depth(pending) == 0 && !pending.toString().isBlank()) {
          try {
            out.add(new JsonObject(pending.toString()));
          } catch (DecodeException e) {
            throw new AssertionError("not a JSON object in a json block: " + pending.toString().trim());
          }
          pending.setLength(0);
        }
      }
      if (!pending.toString().isBlank()) {
        throw new AssertionError("unbalanced JSON in a json block: " + pending.toString().trim());
      }
    }
    return out;
  }

  /** The code spans of {@code text}, in order. */
  public static List<String> codeSpans(String text) {
    List<String> spans = new ArrayList<>();
    Matcher m = CODE_SPAN.matcher(text);
    while (m.find()) {
      spans.add(m.group(1));
    }
    return spans;
  }

  /** The code spans of the whole page. */
  public List<String> codeSpans() {
    List<String> spans = new ArrayList<>();
    lines.forEach(l -> spans.addAll(codeSpans(l)));
    return spans;
  }

  /**
   * The top-level field names of the JSON skeletons among the code spans of {@code text}: in
   * {@code `{a, b?: "x", c: {d}}`} they are a, b?, c (a trailing {@code ?} marks an optional field); in
   * {@code `c: {d}`} it is c. Spans without a brace name no field.
   */
  public static Set<String> skeletonFields(String text) {
    Set<String> names = new LinkedHashSet<>();
    for (String span : codeSpans(text)) {
      if (!span.contains("{")) {
        continue;
      }
      String s = span.replaceAll("\"[^\"]*\"", "\"\"").trim();
      int wanted = s.startsWith("{") ? 1 : 0;
      int depth = 0;
      boolean expectKey = true;
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c == '{' || c == '[') {
          depth++;
          expectKey = depth == wanted;
        } else if (c == '}' || c == ']') {
          depth--;
        } else if (c == ',' && depth == wanted) {
          expectKey = true;
        } else if (expectKey && depth == wanted && Character.isJavaIdentifierStart(c)) {
          int j = i;
          while (j < s.length() && Character.isJavaIdentifierPart(s.charAt(j))) {
            j++;
          }
          names.add(s.substring(i, j) + (j < s.length() && s.charAt(j) == '?' ? "?" : ""));
          expectKey = false;
          i = j - 1;
        }
      }
    }
    return names;
  }

  /** Braces still open in {@code text}, not counting those inside JSON strings. */
  private static int depth(CharSequence text) {
    int depth = 0;
    boolean inString = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (inString) {
        if (c == '\\') {
          i++;
        } else if (c == '"') {
          inString = false;
        }
      } else if (c == '"') {
        inString = true;
      } else if (c == '{') {
        depth++;
      } else if (c == '}') {
        depth--;
      }
    }
    return depth;
  }
}
