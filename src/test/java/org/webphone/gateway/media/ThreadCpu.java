package org.webphone.gateway.media;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/** CPU time of the JVM's threads grouped by name (digits folded), for the benchmark's report. */
final class ThreadCpu {
  private ThreadCpu() {
  }

  /**
   * Every thread of the process, JVM-internal ones (GC, JIT) included, from /proc/self/task: the kernel's
   * name (15 characters) and utime + stime.
   */
  static Map<String, Long> byGroup() {
    Map<String, Long> m = new HashMap<>();
    File[] tasks = new File("/proc/self/task").listFiles();
    if (tasks == null) {
      return m;
    }
    for (File t : tasks) {
      try {
        String stat = Files.readString(t.toPath().resolve("stat"), StandardCharsets.US_ASCII);
        String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        m.merge(name.replaceAll("[0-9a-f]*[0-9][0-9a-f]*", "#"),
            LoadRelay.procCpuNanos(t.toPath().resolve("stat").toString()), Long::sum);
      } catch (IOException | RuntimeException gone) {
        // the thread ended meanwhile
      }
    }
    return m;
  }

  /** Groups that used at least 1 % of a core in the window, largest first, as "name=% of a core". */
  static String diff(Map<String, Long> a, Map<String, Long> b, double wallSeconds) {
    TreeMap<Long, String> sorted = new TreeMap<>();
    b.forEach((k, v) -> {
      long d = v - a.getOrDefault(k, 0L);
      if (d > wallSeconds * 1e7) {
        sorted.put(-d * 1000 - sorted.size(), k);
      }
    });
    StringBuilder s = new StringBuilder();
    sorted.forEach((negD, k) -> s.append(k).append('=')
        .append(String.format("%.1f%%", 100.0 * (-negD / 1000) / 1e9 / wallSeconds)).append(' '));
    return s.toString().trim();
  }
}
