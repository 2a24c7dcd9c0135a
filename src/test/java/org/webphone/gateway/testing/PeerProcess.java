package org.webphone.gateway.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A real peer program (sipp, kamailio, baresip, chromedriver, a gateway node) started by a test and
 * stopped by PID, also when the test fails: use it in try-with-resources or close it in {@code @AfterEach}.
 * Its stdout and stderr go to {@code target/peers/<name>-<n>.log}, which a failing test names.
 */
public class PeerProcess implements AutoCloseable {
  private static final Path LOG_DIR = Path.of("target", "peers");
  private static int counter;

  private final String name;
  private final Process process;
  private final Path log;

  protected PeerProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code command}; the first word must be installed (see {@link #requireBinary}). */
  public static PeerProcess start(String name, List<String> command, Path workDir) throws IOException {
    requireBinary(command.get(0));
    Files.createDirectories(LOG_DIR);
    Path log;
    synchronized (PeerProcess.class) {
      log = LOG_DIR.resolve(name + "-" + (++counter) + ".log").toAbsolutePath();
    }
    ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command))
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    if (workDir != null) {
      pb.directory(workDir.toFile());
    }
    return new PeerProcess(name, pb.start(), log);
  }

  /**
   * Fails (JUnit assumption under a developer's run, hard failure under {@code WEBPHONE_REQUIRE_PEERS=true}
   * or CI) when a peer program is missing, so no test passes by skipping its peer silently in CI.
   */
  public static void requireBinary(String binary) {
    if (binary.contains("/") ? Files.isExecutable(Path.of(binary)) : onPath(binary)) {
      return;
    }
    String msg = binary + " is not installed: run bin/install-peers";
    boolean required = "true".equals(System.getenv("WEBPHONE_REQUIRE_PEERS")) || System.getenv("CI") != null;
    if (required) {
      throw new AssertionError(msg);
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(false, msg);
  }

  private static boolean onPath(String binary) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin";
    for (String dir : path.split(":")) {
      if (Files.isExecutable(Path.of(dir, binary))) {
        return true;
      }
    }
    return false;
  }

  public String name() {
    return name;
  }

  public long pid() {
    return process.pid();
  }

  public Process process() {
    return process;
  }

  public Path log() {
    return log;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  public String logText() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /** Waits until the log has a line matching {@code ready}; fails with the log's tail otherwise. */
  public void awaitLog(Predicate<String> ready, Duration timeout) throws InterruptedException {
    try {
      Eventually.until(timeout, name + " to log that it is ready", () -> {
        if (logText().lines().anyMatch(ready)) {
          return true;
        }
        if (!process.isAlive()) {
          throw new Eventually.Hopeless(name + " exited with " + process.exitValue() + " before it was ready");
        }
        return false;
      });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + ":\n" + tail(), e);
    }
  }

  /** Waits for the process to exit by itself; returns its exit code. */
  public int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError(name + " still running after " + timeout + ":\n" + tail());
    }
    return process.exitValue();
  }

  public String tail() {
    List<String> lines = logText().lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }

  /** SIGTERM, then SIGKILL after 5 s; the process and its children are gone when this returns. */
  @Override
  public void close() {
    List<ProcessHandle> children = process.descendants().toList();
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    for (ProcessHandle c : children) {
      c.destroyForcibly();
    }
  }
}
