package org.webphone.gateway.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * deploy/webphone.service's ExecStart as systemd runs it: {@code $NAME} words replaced by the words of that variable
 * in deploy/webphone.env (the unit's EnvironmentFile, split at spaces as systemd does for an unbraced {@code $NAME}).
 * Tests start nodes with exactly this command, only its paths replaced ({@link #withPaths}), so the documented
 * command is the tested one.
 */
record DeployUnit(List<String> execStart) {

  static DeployUnit read(Path deployDir) throws IOException {
    Map<String, String> env = new HashMap<>();
    for (String l : Files.readAllLines(deployDir.resolve("webphone.env"))) {
      String t = l.trim();
      if (!t.isEmpty() && !t.startsWith("#")) {
        int eq = t.indexOf('=');
        if (eq <= 0) {
          throw new IOException("webphone.env: not NAME=value: " + l);
        }
        env.put(t.substring(0, eq), t.substring(eq + 1));
      }
    }
    String line = Files.readAllLines(deployDir.resolve("webphone.service")).stream()
        .filter(l -> l.startsWith("ExecStart=")).findFirst()
        .orElseThrow(() -> new IOException("webphone.service has no ExecStart="));
    List<String> words = new ArrayList<>();
    for (String w : line.substring("ExecStart=".length()).trim().split("\\s+")) {
      if (w.startsWith("$")) {
        String value = env.get(w.substring(1));
        if (value == null) {
          throw new IOException("webphone.service uses " + w + ", which webphone.env does not set");
        }
        words.addAll(List.of(value.trim().split("\\s+")));
      } else {
        words.add(w);
      }
    }
    return new DeployUnit(List.copyOf(words));
  }

  /** {@code command} with each word that is a key of {@code paths} replaced; every key must occur. */
  static List<String> withPaths(List<String> command, Map<String, String> paths) {
    List<String> out = new ArrayList<>();
    for (String w : command) {
      out.add(paths.getOrDefault(w, w));
    }
    for (String p : paths.keySet()) {
      if (!command.contains(p)) {
        throw new AssertionError("the unit's ExecStart has no " + p + ": " + command);
      }
    }
    return out;
  }
}
