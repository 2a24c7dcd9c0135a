package org.webphone.gateway.media;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Golden files under {@code src/test/resources/<dir>}: each one's first line is a {@code #} comment saying
 * where it came from, the rest is compared line by line. With {@code -Dgolden.update=true} a mismatching
 * expected file is rewritten (its first line kept) instead of failing, for a change meant to alter the output;
 * the rewritten files are then reviewed with {@code git diff} like code. Read from the source tree, not the
 * class path, so that an update lands where it is committed.
 */
final class GoldenFiles {
  static final String UPDATE_PROPERTY = "golden.update";
  private final Path dir;
  private final boolean update = Boolean.getBoolean(UPDATE_PROPERTY);

  GoldenFiles(String dir) {
    this.dir = Path.of(System.getProperty("basedir", "."), "src", "test", "resources", dir);
  }

  /** The file's content after its provenance line, with CRLF line ends as on the wire. */
  String input(String name) {
    return String.join("\r\n", body(name)) + "\r\n";
  }

  /**
   * Compares {@code actual} (CRLF or LF lines) with the expected file; a mismatch fails with a line diff, or
   * rewrites the file when updating. {@code provenance} is the first line written for a new file.
   */
  void assertMatches(String name, String actual, String provenance) {
    List<String> got = List.of(actual.split("\r?\n"));
    Path file = dir.resolve(name);
    List<String> want = Files.exists(file) ? body(name) : List.of();
    if (got.equals(want)) {
      return;
    }
    String diff = diff(want, got);
    if (update) {
      String first = Files.exists(file) ? read(file).get(0) : "# " + provenance;
      List<String> out = new ArrayList<>();
      out.add(first);
      out.addAll(got);
      try {
        Files.write(file, out, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      System.err.println("rewrote " + file + ":\n" + diff);
      return;
    }
    System.err.println(name + " differs (- expected, + actual):\n" + diff);
    throw new AssertionError(name + " differs from the golden file (- expected, + actual); if the change is"
        + " meant, rerun with -D" + UPDATE_PROPERTY + "=true and review the rewritten file:\n" + diff);
  }

  private List<String> body(String name) {
    List<String> lines = read(dir.resolve(name));
    if (lines.isEmpty() || !lines.get(0).startsWith("# ")) {
      throw new AssertionError(name + " must start with a '# ' line saying where it came from");
    }
    return lines.subList(1, lines.size());
  }

  private static List<String> read(Path file) {
    try {
      return Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A line diff from the longest common subsequence: unchanged lines indented, others marked - or +. */
  static String diff(List<String> want, List<String> got) {
    int[][] lcs = new int[want.size() + 1][got.size() + 1];
    for (int i = want.size() - 1; i >= 0; i--) {
      for (int j = got.size() - 1; j >= 0; j--) {
        lcs[i][j] = want.get(i).equals(got.get(j)) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    StringBuilder s = new StringBuilder();
    int i = 0;
    int j = 0;
    while (i < want.size() || j < got.size()) {
      if (i < want.size() && j < got.size() && want.get(i).equals(got.get(j))) {
        s.append("  ").append(want.get(i++)).append('\n');
        j++;
      } else if (i < want.size() && (j == got.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
        s.append("- ").append(want.get(i++)).append('\n');
      } else {
        s.append("+ ").append(got.get(j++)).append('\n');
      }
    }
    return s.toString();
  }
}
