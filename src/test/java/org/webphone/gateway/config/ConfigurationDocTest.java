package org.webphone.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Keeps docs/configuration.md true: every key of default-config.json has a row there with its real
 * default and its environment variable, and the doc names no key that does not exist.
 */
class ConfigurationDocTest {
  private static final Path DOC = Path.of(System.getProperty("project.basedir", "."), "docs", "configuration.md");

  /** key → cells of its table row ({@code | `key` | `default` | `VAR` | meaning |}). */
  private static Map<String, String[]> rows() throws Exception {
    Map<String, String[]> rows = new HashMap<>();
    for (String line : Files.readAllLines(DOC)) {
      if (!line.startsWith("| `")) {
        continue;
      }
      String[] cells = line.substring(1).split(" \\| ", 4);
      rows.put(strip(cells[0]), cells);
    }
    return rows;
  }

  private static String strip(String cell) {
    String s = cell.trim();
    return s.startsWith("`") && s.endsWith("`") ? s.substring(1, s.length() - 1) : s;
  }

  @Test
  void everyKeyIsDocumentedWithItsTrueDefaultAndItsEnvironmentVariable() throws Exception {
    Map<String, String[]> rows = rows();
    JsonObject defaults = GatewayConfig.defaults();
    List<String> problems = new ArrayList<>();
    for (String key : GatewayConfig.leafKeys(defaults, "")) {
      String[] cells = rows.get(key);
      if (cells == null || cells.length < 4) {
        problems.add(key + ": no row | `key` | `default` | `VAR` | meaning |");
        continue;
      }
      Object documented = Json.decodeValue(strip(cells[1]));
      Object actual = GatewayConfig.getPath(defaults, key);
      if (!Json.encode(actual).equals(Json.encode(documented))) {
        problems.add(key + ": documented default " + strip(cells[1]) + " but the default is " + Json.encode(actual));
      }
      if (!strip(cells[2]).equals(GatewayConfig.envName(key))) {
        problems.add(key + ": documented variable " + strip(cells[2]) + " but it is " + GatewayConfig.envName(key));
      }
      if (cells[3].isBlank()) {
        problems.add(key + ": no meaning given");
      }
    }
    assertEquals(List.of(), problems, "docs/configuration.md is out of step with default-config.json");
  }

  @Test
  void theDocumentNamesNoKeyThatDoesNotExist() throws Exception {
    List<String> keys = GatewayConfig.leafKeys(GatewayConfig.defaults(), "");
    List<String> stale = rows().keySet().stream().filter(k -> !keys.contains(k)).sorted().toList();
    assertTrue(stale.isEmpty(), "docs/configuration.md documents keys that do not exist: " + stale);
  }
}
