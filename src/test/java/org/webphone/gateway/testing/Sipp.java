package org.webphone.gateway.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A SIPp instance running one scenario of {@code src/test/resources/sipp/} on a free loopback port, for one
 * call ({@code -m 1}) unless told otherwise. Stopped by PID in {@link #close()}.
 *
 * <pre>
 * try (Sipp uas = Sipp.uas("uas-answer.xml", "-rtp_echo")) {
 *   ... point the gateway at uas.port() ...
 *   uas.awaitSuccess(Duration.ofSeconds(10));   // exit code 0 = every scenario step passed
 * }
 * </pre>
 * Its screen output, {@code -trace_err} and {@code -trace_msg} files are kept in
 * {@code target/peers/sipp-<port>/} and quoted when {@link #awaitSuccess} fails.
 */
public final class Sipp implements AutoCloseable {
  private final PeerProcess process;
  private final int port;
  private final Path dir;
  private final int mediaPort;

  private Sipp(PeerProcess process, int port, Path dir, int mediaPort) {
    this.process = process;
    this.port = port;
    this.dir = dir;
    this.mediaPort = mediaPort;
  }

  /** The RTP port SIPp puts in its SDP as [media_port] (where {@code -rtp_echo} echoes); 0 if given by the caller. */
  public int mediaPort() {
    return mediaPort;
  }

  /** A server-side scenario (registrar, UAS): waits for requests on its port. */
  public static Sipp uas(String scenario, String... extraArgs) throws IOException, InterruptedException {
    return start(scenario, null, List.of(extraArgs));
  }

  /** A client-side scenario sending to {@code remote} ("127.0.0.1:port"). */
  public static Sipp uac(String scenario, String remote, String... extraArgs) throws IOException, InterruptedException {
    return start(scenario, remote, List.of(extraArgs));
  }

  /** The general form; {@code remote} may be null. Returns once SIPp has bound its SIP port. */
  public static Sipp start(String scenario, String remote, List<String> extraArgs)
      throws IOException, InterruptedException {
    // The ports are free when picked, but another process on the machine may take one before SIPp binds it:
    // SIPp then exits at once with "Address already in use", and a fresh pick is the cure.
    for (int attempt = 1; ; attempt++) {
      try {
        return startOnce(scenario, remote, extraArgs);
      } catch (PortTakenException e) {
        if (attempt == 3) {
          throw new AssertionError("SIPp could not bind its ports three times:\n" + e.getMessage());
        }
      }
    }
  }

  private static final class PortTakenException extends Exception {
    PortTakenException(String diagnostics) {
      super(diagnostics);
    }
  }

  /**
   * A server-side scenario run inside {@code host} of a {@link NetnsBed}, on its address {@code ip} (SIPp's
   * SIP and media addresses), for a gateway node running in the same bed.
   */
  public static Sipp uasIn(NetnsBed.Host host, String ip, String scenario, String... extraArgs)
      throws IOException, InterruptedException {
    try {
      return startOnce(host, ip, scenario, null, List.of(extraArgs));
    } catch (PortTakenException e) {
      throw new AssertionError("SIPp could not bind its ports in " + host.name() + ":\n" + e.getMessage());
    }
  }

  private static Sipp startOnce(String scenario, String remote, List<String> extraArgs)
      throws IOException, InterruptedException, PortTakenException {
    return startOnce(null, "127.0.0.1", scenario, remote, extraArgs);
  }

  private static Sipp startOnce(NetnsBed.Host host, String ip, String scenario, String remote, List<String> extraArgs)
      throws IOException, InterruptedException, PortTakenException {
    Path file = scenarioDir().resolve(scenario);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("no SIPp scenario " + file);
    }
    int port = Ports.free();
    // A directory of its own: SIPp names its trace files by scenario and PID, so a directory per port kept an
    // earlier run's traces on the same port, and traceCount counted their messages too (a flaky registrar test).
    Path peers = Files.createDirectories(Path.of("target", "peers").toAbsolutePath());
    Path dir = Files.createTempDirectory(peers, "sipp-" + port + "-");
    List<String> cmd = new ArrayList<>();
    cmd.add("sipp");
    if (remote != null) {
      cmd.add(remote);
    }
    cmd.addAll(List.of("-sf", file.toString(), "-i", ip, "-p", Integer.toString(port),
        "-timer_resol", "10", "-nostdin", "-trace_err", "-trace_msg", "-timeout", "60", "-timeout_error"));
    if (!extraArgs.contains("-m")) {
      cmd.addAll(List.of("-m", "1"));
    }
    int mediaPort = 0;
    if (!extraArgs.contains("-mp")) {
      // SIPp always binds a media port (6000 by default, and +2): never share it with a parallel test.
      // p..p+3: SIPp binds audio on p and video on p+2 (RTCP next to each).
      mediaPort = Ports.freeRange(4);
      cmd.addAll(List.of("-mp", Integer.toString(mediaPort)));
    }
    cmd.addAll(extraArgs);
    PeerProcess p = PeerProcess.start("sipp-" + scenario.replace(".xml", ""), host == null ? cmd : host.inside(cmd), dir);
    Sipp s = new Sipp(p, port, dir, mediaPort);
    try {
      s.awaitBound(Duration.ofSeconds(10));
    } catch (AssertionError e) {
      s.close();
      if (p.logText().contains("Address already in use")) {
        throw new PortTakenException(e.getMessage());
      }
      throw e;
    }
    return s;
  }

  static Path scenarioDir() {
    return Path.of(System.getProperty("project.basedir", "."), "src", "test", "resources", "sipp");
  }

  public int port() {
    return port;
  }

  /** {@code 127.0.0.1:port}, for a remote argument or a config value. */
  public String address() {
    return "127.0.0.1:" + port;
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Waits for SIPp to end by itself and fails, quoting its logs, unless it ended with exit code 0. */
  public void awaitSuccess(Duration timeout) throws InterruptedException {
    int code = process.awaitExit(timeout);
    if (code != 0) {
      throw new AssertionError("SIPp " + process.name() + " exited with " + code + "\n" + diagnostics());
    }
  }

  /**
   * Waits until SIPp's message trace holds at least {@code count} lines starting with {@code lineStart}
   * (e.g. "REGISTER" for requests received or sent, "SIP/2.0 200" for responses): progress that the
   * scenario itself cannot report to the test.
   */
  public void awaitTrace(String lineStart, int count, Duration timeout) throws InterruptedException {
    try {
      Eventually.await(timeout, count + " lines starting with " + lineStart + " in SIPp's trace", () -> {
        long n = traceCount(lineStart);
        if (n < count && !process.isAlive()) {
          throw new Eventually.Hopeless("SIPp ended with " + n + " lines starting with " + lineStart
              + ", wanted " + count);
        }
        return n;
      }, n -> n >= count);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\n" + diagnostics(), e);
    }
  }

  /** Lines of the message trace starting with {@code lineStart}. */
  public long traceCount(String lineStart) {
    try (Stream<Path> files = Files.list(dir)) {
      long n = 0;
      for (Path f : files.filter(f -> f.getFileName().toString().endsWith("_messages.log")).toList()) {
        n += Files.readAllLines(f).stream().filter(l -> l.startsWith(lineStart)).count();
      }
      return n;
    } catch (IOException | java.io.UncheckedIOException e) {
      return 0;
    }
  }

  /** SIPp's whole message trace (every message sent and received), e.g. to read the tags of a dialog. */
  public String messageTrace() {
    StringBuilder sb = new StringBuilder();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(f -> f.getFileName().toString().endsWith("_messages.log")).sorted().toList()) {
        sb.append(Files.readString(f));
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      sb.append("(trace unreadable: ").append(e).append(')');
    }
    return sb.toString();
  }

  /**
   * The messages of the trace that SIPp received whose first line starts with {@code start} (e.g. "INVITE ",
   * "REFER ", "NOTIFY "), in the order received, each from its first line to its end.
   */
  public List<String> received(String start) {
    List<String> out = new ArrayList<>();
    for (String block : messageTrace().split("\n-{20,}[^\n]*\n")) {
      int body = block.indexOf("\n\n");
      if (block.contains("message received") && body >= 0) {
        String message = block.substring(body).strip();
        if (message.startsWith(start)) {
          out.add(message);
        }
      }
    }
    return out;
  }

  /**
   * How many values of header {@code name} (or its compact form {@code compact}, may be null) {@code message}
   * carries, over all its header lines: a line holds several when they are separated by commas outside
   * {@code <>} and quotes (RFC 3261 7.3.1).
   */
  public static int headerValues(String message, String name, String compact) {
    int n = 0;
    for (String line : message.split("\r?\n")) {
      if (line.isEmpty()) {
        break; // the body
      }
      int colon = line.indexOf(':');
      String h = colon < 0 ? "" : line.substring(0, colon).trim();
      if (!h.equalsIgnoreCase(name) && !h.equalsIgnoreCase(compact == null ? name : compact)) {
        continue;
      }
      n++;
      boolean inAngle = false;
      boolean inQuote = false;
      for (char c : line.substring(colon + 1).toCharArray()) {
        if (c == '"') {
          inQuote = !inQuote;
        } else if (!inQuote && (c == '<' || c == '>')) {
          inAngle = c == '<';
        } else if (c == ',' && !inAngle && !inQuote) {
          n++;
        }
      }
    }
    return n;
  }

  /**
   * Each of the {@code count} requests starting with {@code start} that SIPp received carries exactly one Contact
   * value (a request of a dialog has the stack's Contact already: the gateway's must replace it, not be added).
   */
  public void assertOneContact(String start, int count) {
    List<String> requests = received(start);
    if (requests.size() != count) {
      throw new AssertionError(count + " requests starting with " + start + " expected, got " + requests.size()
          + ":\n" + messageTrace());
    }
    for (String r : requests) {
      if (headerValues(r, "Contact", "m") != 1) {
        throw new AssertionError("not one Contact value:\n" + r);
      }
    }
  }

  /**
   * The REFER this SIPp (an attended transfer's customer) received names the consult call to {@code number} that
   * {@code consultee} (a SIPp UAS) answered: {@code Refer-To: <sip:number@...?Replaces=<Call-ID>%3Bto-tag%3D<the
   * consultee's tag>%3Bfrom-tag%3D<the gateway's tag>>} (RFC 5589), checked against the consultee's own trace.
   */
  public void assertReplacesNames(Sipp consultee, String number) {
    String refer = messageTrace();
    java.util.regex.Matcher r = java.util.regex.Pattern.compile("Refer-To: *<sip:" + number
        + "@[^?>]+\\?Replaces=([^>;]+?)%3Bto-tag%3D([^%>;]+)%3Bfrom-tag%3D([^%>;]+)>").matcher(refer);
    if (!r.find()) {
      throw new AssertionError("the REFER names no consult dialog: " + refer);
    }
    String consultInvite = consultee.messageTrace();
    String callId = java.net.URLDecoder.decode(r.group(1), java.nio.charset.StandardCharsets.UTF_8);
    if (!consultInvite.contains("Call-ID: " + callId + "\n") && !consultInvite.contains("Call-ID: " + callId + "\r")) {
      throw new AssertionError("Replaces carries the consult call's Call-ID " + callId + ":\n" + consultInvite);
    }
    if (!consultInvite.contains(";tag=" + r.group(2))) {
      throw new AssertionError("to-tag is the consultee's tag " + r.group(2) + ":\n" + consultInvite);
    }
    if (!java.util.regex.Pattern.compile("From: [^\\r\\n]*;tag=" + java.util.regex.Pattern.quote(r.group(3)))
        .matcher(consultInvite).find()) {
      throw new AssertionError("from-tag is our tag of the consult INVITE " + r.group(3) + ":\n" + consultInvite);
    }
  }

  /** Screen output and the error/message traces, for failure messages. */
  public String diagnostics() {
    StringBuilder sb = new StringBuilder(process.tail());
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.sorted().toList()) {
        String name = f.getFileName().toString();
        if (name.endsWith("_errors.log") || name.endsWith("_messages.log")) {
          String text = Files.readString(f);
          sb.append("\n--- ").append(name).append('\n')
              .append(text.length() > 6000 ? text.substring(text.length() - 6000) : text);
        }
      }
    } catch (IOException e) {
      sb.append("\n(traces unreadable: ").append(e).append(')');
    }
    return sb.toString();
  }

  private void awaitBound(Duration timeout) throws InterruptedException {
    try {
      Eventually.until(timeout, "SIPp to bind port " + port, () -> {
        if (!process.isAlive()) {
          throw new Eventually.Hopeless("SIPp exited at start");
        }
        // The UDP table of SIPp's own network namespace (a bed's host may not be the test's).
        return udpBound(Path.of("/proc", String.valueOf(process.pid()), "net", "udp"), port);
      });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + ":\n" + diagnostics(), e);
    }
  }

  /** Reads the kernel's UDP table instead of probing with a bind, which could race with SIPp's own bind. */
  static boolean udpBound(int port) {
    return udpBound(Path.of("/proc/net/udp"), port);
  }

  static boolean udpBound(Path table, int port) {
    String hex = String.format(":%04X ", port);
    try {
      return Files.readAllLines(table).stream().anyMatch(l -> l.contains(hex)
          && l.trim().split("\\s+")[1].endsWith(hex.trim()));
    } catch (IOException e) {
      return true;
    }
  }

  @Override
  public void close() {
    process.close();
  }
}
