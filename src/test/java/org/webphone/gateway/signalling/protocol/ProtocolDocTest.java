package org.webphone.gateway.signalling.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.MarkdownDoc;

/**
 * Keeps docs/protocol.md true: its method headings and their skeletons are {@link ClientMethod}'s parameter
 * table, its event table is {@link ServerEventFields#OF}, its error table is {@link ErrorCode}, each both ways,
 * and every JSON example is a frame the code could send or accept.
 */
class ProtocolDocTest {
  /** {@code "name": <type; meaning; mandatory|optional>} in a skeleton. */
  private static final Pattern SKELETON_FIELD = Pattern.compile("\"(\\w+)\"\\s*:\\s*<([^>]*)>");
  private static final Pattern METHOD_NAME = Pattern.compile("\"method\"\\s*:\\s*\"(\\w+)\"");

  /** method → field → mandatory, from the {@code ### } headings and the skeleton blocks under them. */
  private static Map<String, Map<String, Boolean>> documentedMethods() throws Exception {
    Map<String, Map<String, Boolean>> methods = new TreeMap<>();
    boolean inBlock = false;
    boolean inSkeleton = false;
    String method = null;
    for (String l : MarkdownDoc.read("protocol.md").section("Client frames (methods)").lines()) {
      if (l.startsWith("### ")) {
        String title = l.substring(4).split(" — ")[0];
        for (String name : title.split(" / ")) {
          methods.put(name.trim(), new TreeMap<>());
        }
        method = null;
      } else if (l.startsWith("```")) {
        inBlock = !inBlock;
        inSkeleton = inBlock && l.equals("```"); // a skeleton block has no info string; examples are json
      } else if (inSkeleton && !methods.isEmpty()) {
        Matcher name = METHOD_NAME.matcher(l);
        if (name.find()) {
          method = name.group(1);
        }
        Matcher f = SKELETON_FIELD.matcher(l);
        while (f.find() && method != null) {
          String spec = f.group(2).trim();
          boolean mandatory = spec.endsWith("mandatory");
          if (!mandatory && !spec.contains("optional")) {
            throw new AssertionError(method + "." + f.group(1) + " says neither mandatory nor optional: " + spec);
          }
          methods.computeIfAbsent(method, k -> new TreeMap<>()).put(f.group(1), mandatory);
        }
      }
    }
    return methods;
  }

  private static Map<String, Map<String, Boolean>> codeMethods() {
    Map<String, Map<String, Boolean>> methods = new TreeMap<>();
    for (ClientMethod m : ClientMethod.values()) {
      Map<String, Boolean> fields = new TreeMap<>();
      m.fields().forEach(f -> fields.put(f.name(), f.mandatory()));
      methods.put(m.name(), fields);
    }
    return methods;
  }

  @Test
  void everyMethodIsDocumentedWithItsFieldsAndTheDocNamesNoOther() throws Exception {
    assertEquals(List.of(), differences(codeMethods(), documentedMethods()),
        "docs/protocol.md, '## Client frames (methods)': a '### Name' heading per ClientMethod and a skeleton"
            + " \"field\": <type; meaning; mandatory|optional> per parameter");
  }

  /** event → field → always (false: optional, written {@code name?}), from the event table. */
  private static Map<String, Map<String, Boolean>> documentedEvents() throws Exception {
    Map<String, Map<String, Boolean>> events = new TreeMap<>();
    for (String[] row : MarkdownDoc.read("protocol.md").section("Server events").tableRows()) {
      String name = MarkdownDoc.codeSpans(row[0]).get(0);
      // Fields are the code spans outside parentheses and braces; inside them are values and sub-fields.
      String top = row[1].replaceAll("\\([^)]*\\)", "").replaceAll("\\{[^}]*}", "");
      Map<String, Boolean> fields = new TreeMap<>();
      for (String f : MarkdownDoc.codeSpans(top)) {
        fields.put(f.replace("?", ""), !f.endsWith("?"));
      }
      events.put(name, fields);
    }
    return events;
  }

  private static Map<String, Map<String, Boolean>> codeEvents() {
    Map<String, Map<String, Boolean>> events = new TreeMap<>();
    ServerEventFields.OF.forEach((event, shape) -> {
      Map<String, Boolean> fields = new TreeMap<>();
      shape.always().forEach(f -> fields.put(f, true));
      shape.optional().forEach(f -> fields.put(f, false));
      events.put(event, fields);
    });
    return events;
  }

  @Test
  void everyServerEventIsDocumentedWithItsFieldsAndTheDocNamesNoOther() throws Exception {
    assertEquals(List.of(), differences(codeEvents(), documentedEvents()),
        "docs/protocol.md, '## Server events': a row | `Name` | `field`, `optional?` | meaning | per entry of"
            + " ServerEventFields.OF");
  }

  /** What differs between two tables of name → field → mandatory, as sentences. */
  private static List<String> differences(Map<String, Map<String, Boolean>> code,
      Map<String, Map<String, Boolean>> doc) {
    List<String> out = new ArrayList<>();
    Set<String> names = new TreeSet<>(code.keySet());
    names.addAll(doc.keySet());
    for (String name : names) {
      Map<String, Boolean> c = code.get(name);
      Map<String, Boolean> d = doc.get(name);
      if (c == null || d == null) {
        out.add(name + ": " + (c == null ? "documented but not in the code" : "in the code but not documented"));
        continue;
      }
      Set<String> fields = new TreeSet<>(c.keySet());
      fields.addAll(d.keySet());
      for (String f : fields) {
        if (!c.containsKey(f) || !d.containsKey(f)) {
          out.add(name + "." + f + ": " + (c.containsKey(f) ? "in the code but not documented"
              : "documented but not in the code"));
        } else if (!c.get(f).equals(d.get(f))) {
          out.add(name + "." + f + ": " + (c.get(f) ? "mandatory" : "optional") + " in the code, "
              + (d.get(f) ? "mandatory" : "optional") + " in the doc");
        }
      }
    }
    return out;
  }

  /** "x: in A, not in B" for every name in only one of the two sets. */
  static List<String> onlyInOne(Set<String> a, Set<String> b, String aName, String bName) {
    List<String> out = new ArrayList<>();
    a.stream().filter(x -> !b.contains(x)).sorted().forEach(x -> out.add(x + ": in " + aName + ", not in " + bName));
    b.stream().filter(x -> !a.contains(x)).sorted().forEach(x -> out.add(x + ": in " + bName + ", not in " + aName));
    return out;
  }

  @Test
  void everyEventNameOfServerEventHasItsFields() throws Exception {
    Set<String> names = new TreeSet<>();
    for (Field f : ServerEvent.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class && !f.getName().startsWith("REG_")) {
        names.add((String) f.get(null));
      }
    }
    assertEquals(List.of(), onlyInOne(names, ServerEventFields.OF.keySet(), "ServerEvent", "ServerEventFields.OF"),
        "every event constant of ServerEvent needs its entry in ServerEventFields.OF");
  }

  @Test
  void theErrorTableIsErrorCode() throws Exception {
    Set<String> code = new TreeSet<>();
    for (ErrorCode c : ErrorCode.values()) {
      code.add(c.code() + " " + c.name());
    }
    Set<String> documented = new TreeSet<>();
    MarkdownDoc.read("protocol.md").section("Errors").numberedRows()
        .forEach((n, name) -> documented.add(n + " " + name));
    assertEquals(List.of(), onlyInOne(code, documented, "ErrorCode", "the doc"),
        "docs/protocol.md, '## Errors': a row | code | NAME | when | per ErrorCode");
  }

  @Test
  void everyJsonExampleIsAFrameTheCodeSendsOrAccepts() throws Exception {
    List<String> problems = new ArrayList<>();
    List<JsonObject> examples = MarkdownDoc.read("protocol.md").jsonExamples();
    for (JsonObject ex : examples) {
      if (ex.containsKey(ClientFrame.METHOD) && !ex.containsKey(ServerEventFields.EVENT)) {
        problems.addAll(clientFrameProblems(ex));
      } else if (ex.containsKey(ServerEventFields.EVENT)) {
        problems.addAll(serverFrameProblems(ex));
      } else {
        problems.add("neither a client nor a server frame: " + ex.encode());
      }
    }
    assertEquals(List.of(), problems, "docs/protocol.md has JSON examples the code would not send or accept");
    assertEquals(true, examples.size() > 20, "the examples were not found: " + examples.size());
  }

  private static List<String> clientFrameProblems(JsonObject ex) {
    ClientMethod m = ClientMethod.byName(ex.getString(ClientFrame.METHOD));
    if (m == null) {
      return List.of("unknown method in " + ex.encode());
    }
    List<String> problems = new ArrayList<>();
    Set<String> allowed = new HashSet<>(Set.of(ClientFrame.METHOD, ClientFrame.REF));
    for (org.webphone.gateway.signalling.protocol.Field f : m.fields()) {
      allowed.add(f.name());
      if (f.mandatory() && !ex.containsKey(f.name())) {
        problems.add(m + " lacks " + f.name() + ": " + ex.encode());
      }
    }
    ex.fieldNames().stream().filter(k -> !allowed.contains(k))
        .forEach(k -> problems.add(m + " has no field " + k + ": " + ex.encode()));
    return problems;
  }

  private static List<String> serverFrameProblems(JsonObject ex) {
    String event = ex.getString(ServerEventFields.EVENT);
    ServerEventFields.Shape shape = ServerEventFields.OF.get(event);
    if (shape == null) {
      return List.of("unknown event in " + ex.encode());
    }
    List<String> problems = new ArrayList<>();
    shape.always().stream().filter(f -> !ex.containsKey(f))
        .forEach(f -> problems.add(event + " lacks " + f + ": " + ex.encode()));
    ex.fieldNames().stream()
        .filter(k -> !k.equals(ServerEventFields.EVENT) && !shape.always().contains(k) && !shape.optional().contains(k))
        .forEach(k -> problems.add(event + " has no field " + k + ": " + ex.encode()));
    if (event.equals(ServerEvent.ERROR) && ex.getValue(ServerEventFields.CODE) instanceof Integer code
        && !ErrorCode.of(code).name().equals(ex.getString(ServerEventFields.NAME))) {
      problems.add("error " + code + " is " + ErrorCode.of(code).name() + ": " + ex.encode());
    }
    return problems;
  }
}
