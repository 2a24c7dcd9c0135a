package org.webphone.gateway.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.messages.BusMessage;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.testing.MarkdownDoc;

/**
 * Keeps docs/event-bus.md true: every address it names exists in {@link Addresses} (those with an id matched
 * against its {@link Addresses.Pattern}s), every address of the code is named there, the tables' bodies and
 * replies are {@link BusMessage}'s fields, and the session-event examples are {@link SessionEvent}'s, each
 * both ways.
 */
class EventBusDocTest {
  private static final Set<String> AREAS = Set.of("pool", "sip", "media", "signalling", "gateway", "session");

  private static List<String> staticAddresses() throws Exception {
    List<String> out = new ArrayList<>();
    for (Field f : Addresses.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        out.add((String) f.get(null));
      }
    }
    return out;
  }

  private static List<Addresses.Pattern> patterns() throws Exception {
    List<Addresses.Pattern> out = new ArrayList<>();
    for (Field f : Addresses.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == Addresses.Pattern.class) {
        out.add((Addresses.Pattern) f.get(null));
      }
    }
    return out;
  }

  /**
   * The addresses the doc names: code spans that start with an area ({@code pool.}, {@code sip.}, ...) and are
   * lowercase outside an id and not a configuration key or a file; {@code sip.line.open/close} is two addresses,
   * {@code sip.call.*} a prefix.
   */
  private static Set<String> documentedAddresses() throws Exception {
    Set<String> keys = configKeys();
    Set<String> out = new TreeSet<>();
    for (String span : MarkdownDoc.read("event-bus.md").codeSpans()) {
      int dot = span.indexOf('.');
      // Addresses are lowercase outside their id; pool.AccountPoolVerticle is a class, docs/pool.md a file.
      boolean lowercase = span.replaceAll("<[^>]*>", "").equals(span.replaceAll("<[^>]*>", "").toLowerCase());
      if (dot < 0 || !AREAS.contains(span.substring(0, dot)) || keys.contains(span) || span.endsWith(".md")
          || !lowercase || span.contains(" ") && !span.contains("<")) {
        continue;
      }
      String[] parts = span.split("/");
      String stem = parts[0].substring(0, parts[0].lastIndexOf('.') + 1);
      out.add(parts[0]);
      for (int i = 1; i < parts.length; i++) {
        out.add(stem + parts[i]);
      }
    }
    return out;
  }

  /** Every key of the default configuration, dotted ({@code pool.waitingLine}): the doc names some of them. */
  private static Set<String> configKeys() throws Exception {
    try (InputStream in = EventBusDocTest.class.getResourceAsStream("/default-config.json")) {
      Set<String> keys = new TreeSet<>();
      flatten(new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8)), "", keys);
      return keys;
    }
  }

  private static void flatten(JsonObject o, String prefix, Set<String> keys) {
    for (String k : o.fieldNames()) {
      keys.add(prefix + k);
      if (o.getValue(k) instanceof JsonObject child) {
        flatten(child, prefix + k + ".", keys);
      }
    }
  }

  @Test
  void everyAddressOfTheDocExistsInTheCode() throws Exception {
    List<String> addresses = staticAddresses();
    List<Addresses.Pattern> patterns = patterns();
    List<String> unknown = new ArrayList<>();
    for (String a : documentedAddresses()) {
      boolean known = a.endsWith("*")
          ? addresses.stream().anyMatch(x -> x.startsWith(a.substring(0, a.length() - 1)))
          : addresses.contains(a) || patterns.stream().anyMatch(p -> p.matches(a));
      if (!known) {
        unknown.add(a);
      }
    }
    assertEquals(List.of(), unknown, "docs/event-bus.md names addresses that are not in common/Addresses");
  }

  @Test
  void everyAddressOfTheCodeIsDocumented() throws Exception {
    Set<String> documented = documentedAddresses();
    List<String> missing = new ArrayList<>();
    staticAddresses().stream().filter(a -> !documented.contains(a)).forEach(missing::add);
    for (Addresses.Pattern p : patterns()) {
      if (documented.stream().noneMatch(d -> d.contains("<") && p.matches(d))) {
        missing.add(p.toString());
      }
    }
    assertEquals(List.of(), missing, "common/Addresses has addresses that docs/event-bus.md does not name");
  }

  @Test
  void everyAddressHasItsMessageDefinitionAndNoOther() throws Exception {
    Set<String> code = new TreeSet<>(staticAddresses());
    patterns().forEach(p -> code.add(p.toString()));
    Set<String> defined = new TreeSet<>();
    for (BusMessage m : BusMessage.values()) {
      defined.add(m.address());
    }
    List<String> problems = new ArrayList<>();
    code.stream().filter(a -> !defined.contains(a)).forEach(a -> problems.add(a + ": no BusMessage"));
    defined.stream().filter(a -> !code.contains(a)).forEach(a -> problems.add(a + ": a BusMessage but no address"));
    assertEquals(List.of(), problems, "every address of common/Addresses needs one constant of BusMessage");
  }

  /**
   * Every table row of an address: its body column lists exactly {@link BusMessage#body()} and its reply column
   * exactly {@link BusMessage#reply()} (the top-level names of the {@code {...}} skeletons, optional or not).
   */
  @Test
  void theTablesListTheFieldsOfEachBodyAndReply() throws Exception {
    Map<String, String> problems = new TreeMap<>();
    int rows = 0;
    for (String[] row : MarkdownDoc.read("event-bus.md").tableRows()) {
      List<String> spans = MarkdownDoc.codeSpans(row[0]);
      BusMessage m = spans.isEmpty() ? null : message(spans.get(0));
      if (m == null || row.length < 3) {
        continue;
      }
      rows++;
      Set<String> body = names(MarkdownDoc.skeletonFields(row[1]));
      if (!body.equals(new TreeSet<>(m.body()))) {
        problems.put(m + " body", "doc " + body + ", code " + new TreeSet<>(m.body()));
      }
      Set<String> reply = names(MarkdownDoc.skeletonFields(row[2]));
      if (!reply.equals(new TreeSet<>(m.reply()))) {
        problems.put(m + " reply", "doc " + reply + ", code " + new TreeSet<>(m.reply()));
      }
    }
    assertEquals(Map.of(), problems, "docs/event-bus.md's tables and common/messages/BusMessage differ");
    assertEquals(true, rows >= 25, "the address tables were not found: " + rows + " rows");
  }

  /** The message of a table's address; an id is matched whatever the doc calls it ({@code <id>}, {@code <nodeId>}). */
  private static BusMessage message(String address) {
    String key = address.replaceAll("<[^>]*>", "<>");
    for (BusMessage m : BusMessage.values()) {
      if (m.address().replaceAll("<[^>]*>", "<>").equals(key)) {
        return m;
      }
    }
    return null;
  }

  private static Set<String> names(Set<String> skeleton) {
    return skeleton.stream().map(n -> n.replace("?", "")).collect(Collectors.toCollection(TreeSet::new));
  }

  /** The same table as docs/protocol.md's errors, which ProtocolDocTest holds to {@link ErrorCode}. */
  @Test
  void theFailureCodeTableIsTheProtocolsErrorTable() throws Exception {
    assertEquals(MarkdownDoc.read("protocol.md").section("Errors").numberedRows(),
        MarkdownDoc.read("event-bus.md").section("Failure codes").numberedRows(),
        "docs/event-bus.md, '## Failure codes': a row | code | NAME | meaning | per ErrorCode");
  }

  /** The JSON examples of events to {@code session.<sessionId>}: together they show every field of each kind. */
  @Test
  void theSessionEventExamplesShowExactlyTheFieldsOfEachKind() throws Exception {
    Map<String, Set<String>> shown = new TreeMap<>();
    List<String> problems = new ArrayList<>();
    for (JsonObject ex : MarkdownDoc.read("event-bus.md").jsonExamples()) {
      SessionEvent kind = SessionEvent.of(ex);
      if (kind == null) {
        problems.add("no session event: " + ex.encode());
        continue;
      }
      Set<String> keys = new TreeSet<>(ex.fieldNames());
      keys.remove(Fields.EVENT);
      shown.computeIfAbsent(kind.kind(), k -> new TreeSet<>()).addAll(keys);
    }
    Map<String, Set<String>> code = new TreeMap<>();
    for (SessionEvent e : SessionEvent.values()) {
      code.put(e.kind(), new TreeSet<>(e.fields()));
    }
    assertEquals(List.of(), problems, "docs/event-bus.md: json blocks hold session events only");
    assertEquals(code, shown, "docs/event-bus.md's session-event examples and common/messages/SessionEvent differ");
  }
}
