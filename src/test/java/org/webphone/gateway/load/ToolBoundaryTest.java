package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The boundary of the shipped tools the README's "How it is built" draws: the load tool ({@code load/}) and
 * the synthetic browser ({@code media/client/}) are used by no gateway class, and import only the parts of
 * the gateway their rule allows. Read from the source's import lines, like the doc tests read the docs.
 */
class ToolBoundaryTest {
  private static final Path MAIN = Path.of(System.getProperty("project.basedir", "."),
      "src", "main", "java", "org", "webphone", "gateway");
  private static final Pattern IMPORT = Pattern.compile("^import (?:static )?org\\.webphone\\.gateway\\.([\\w.]+);",
      Pattern.MULTILINE);

  /** What {@code load/} may import besides itself (see {@link #within}). */
  private static final List<String> LOAD_MAY_USE = List.of("common.", "config.", "signalling.protocol.",
      "media.client.", "media.rtp.", "GatewayNode");
  /** What {@code media/client/} may import besides itself: media's wire-level parts, never a verticle or a leg. */
  private static final List<String> CLIENT_MAY_USE = List.of("media.rtp.", "media.dtls.", "media.ice.", "media.Sdp");

  @Test
  void noGatewayClassUsesTheLoadToolOrTheSyntheticBrowser() throws IOException {
    List<String> wrong = new ArrayList<>();
    for (Path file : sources()) {
      String pkg = packageOf(file);
      for (String imported : imports(file)) {
        boolean tool = imported.startsWith("load.") || imported.startsWith("media.client.");
        boolean fromTool = pkg.equals("load") || pkg.equals("media.client");
        if (tool && !fromTool) {
          wrong.add(MAIN.relativize(file) + " imports " + imported);
        }
      }
    }
    assertEquals(List.of(), wrong, "the gateway must run without its tools");
  }

  @Test
  void theToolsImportOnlyWhatTheirBoundaryAllows() throws IOException {
    List<String> wrong = new ArrayList<>();
    int seen = 0;
    for (Path file : sources()) {
      String pkg = packageOf(file);
      List<String> allowed = pkg.equals("load") ? LOAD_MAY_USE : pkg.equals("media.client") ? CLIENT_MAY_USE : null;
      if (allowed == null) {
        continue;
      }
      seen++;
      for (String imported : imports(file)) {
        if (!imported.startsWith(pkg + ".") && allowed.stream().noneMatch(rule -> within(imported, rule))) {
          wrong.add(MAIN.relativize(file) + " imports " + imported);
        }
      }
    }
    assertTrue(seen > 5, "found the tools' sources under " + MAIN + " (" + seen + " files)");
    assertEquals(List.of(), wrong, "a tool reaches past its boundary (README, How it is built)");
  }

  /** A rule ending in a dot is a package and its subpackages; any other rule is one class (and its members). */
  private static boolean within(String imported, String rule) {
    return rule.endsWith(".") ? imported.startsWith(rule) : imported.equals(rule) || imported.startsWith(rule + ".");
  }

  private static List<Path> sources() throws IOException {
    try (Stream<Path> s = Files.walk(MAIN)) {
      return s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
    }
  }

  /** The file's package below org.webphone.gateway, dotted ("" for the top). */
  private static String packageOf(Path file) {
    Path dir = MAIN.relativize(file).getParent();
    return dir == null ? "" : dir.toString().replace(file.getFileSystem().getSeparator(), ".");
  }

  private static List<String> imports(Path file) throws IOException {
    Matcher m = IMPORT.matcher(Files.readString(file));
    List<String> out = new ArrayList<>();
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }
}
