package org.webphone.gateway.media;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The relay under test in {@link MediaLoadBenchmark}: our media verticle in process, or rtpengine driven over
 * its ng protocol. Each call joins one synthetic browser's WebRTC offer to one plain-RTP PBX answer.
 */
interface LoadRelay extends AutoCloseable {
  /** Clock ticks of /proc/&lt;pid&gt;/stat (CLK_TCK, 100 on Linux x86-64 and arm64). */
  long TICK_NANOS = 10_000_000L;

  String name();

  /** Sets up one call; returns the SDP answer for the browser. */
  String open(String callId, String browserOffer, String pbxAnswer) throws Exception;

  void close(String callId) throws Exception;

  /** CPU time (user + system) spent by the relay so far, in ns. */
  long cpuNanos() throws IOException;

  /** Resident memory of the relay's own process in bytes; -1 when it runs in the benchmark's JVM. */
  default long rssBytes() throws IOException {
    return -1;
  }

  /** VmRSS of a process, in bytes. */
  static long rssOf(int pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"), StandardCharsets.US_ASCII)) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    return -1;
  }

  /** One line on what {@link #cpuNanos} counts, for the report. */
  String cpuScope();

  /**
   * Extra figures on the measured window (path counters, JVM threads), given the state at its start and the
   * generator's counts of the window.
   */
  default String windowDetails(Object start, long sent, long echoed, long received) throws Exception {
    return "";
  }

  /** State at the window's start for {@link #windowDetails}. */
  default Object windowStart() throws Exception {
    return null;
  }

  @Override
  void close() throws Exception;

  /** utime + stime of a process (or of a task: /proc/self/task/TID) from its stat file, in ns. */
  static long procCpuNanos(String statPath) throws IOException {
    String s = Files.readString(Path.of(statPath), StandardCharsets.US_ASCII);
    // The command name in parentheses may contain spaces: count fields after the last ')'.
    String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
    // f[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * TICK_NANOS;
  }
}
