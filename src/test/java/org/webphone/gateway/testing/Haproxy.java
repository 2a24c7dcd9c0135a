package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A real HAProxy (Debian {@code haproxy}) in front of gateway nodes, started by a test from a configuration
 * file (the project's {@code deploy/} example, or one a test writes) and stopped by PID. Its runtime API
 * listens on a Unix socket the test owns ({@code stats socket} is appended to the configuration's
 * {@code global} section), so a test can drain a server ({@code set server be/a state drain}) and read
 * which server served what ({@code show stat}).
 *
 * <p>Runs in the calling test's thread; {@link #close} stops the process (SIGTERM, then SIGKILL).
 */
public final class Haproxy implements AutoCloseable {
  private final PeerProcess process;
  private final Path socket;

  private Haproxy(PeerProcess process, Path socket) {
    this.process = process;
    this.socket = socket;
  }

  /**
   * Starts {@code haproxy -db -f <config>} inside {@code host} (null: in the test's own namespace), with the
   * runtime API socket added; returns once the socket answers.
   */
  public static Haproxy start(NetnsBed.Host host, String config, Path dir) throws IOException, InterruptedException {
    PeerProcess.requireBinary("haproxy");
    Files.createDirectories(dir);
    Path socket = dir.resolve("haproxy.sock").toAbsolutePath();
    Files.deleteIfExists(socket);
    Path cfg = dir.resolve("haproxy.cfg");
    Files.writeString(cfg, withStatsSocket(config, socket));
    PeerProcess check = PeerProcess.start("haproxy-check", command(host, List.of("haproxy", "-c", "-f", cfg.toString())), dir);
    if (check.awaitExit(Duration.ofSeconds(10)) != 0) {
      throw new IOException("haproxy refused " + cfg + ":\n" + check.tail());
    }
    PeerProcess p = PeerProcess.start("haproxy", command(host, List.of("haproxy", "-db", "-f", cfg.toString())), dir);
    Haproxy h = new Haproxy(p, socket);
    try {
      Eventually.until(Duration.ofSeconds(10), "haproxy's runtime API to answer", () -> {
        if (!p.isAlive()) {
          throw new Eventually.Hopeless("haproxy exited:\n" + p.tail());
        }
        try {
          return h.command("show info").contains("Pid:");
        } catch (IOException e) {
          return false;
        }
      });
    } catch (RuntimeException | AssertionError | InterruptedException e) {
      h.close();
      throw e;
    }
    return h;
  }

  private static List<String> command(NetnsBed.Host host, List<String> command) {
    return host == null ? command : host.inside(command);
  }

  /** The configuration with {@code stats socket <socket> level admin} as the first line of {@code global}. */
  static String withStatsSocket(String config, Path socket) {
    String line = "    stats socket " + socket + " mode 600 level admin\n";
    int global = config.indexOf("global");
    if (global < 0) {
      return "global\n" + line + config;
    }
    int eol = config.indexOf('\n', global);
    return config.substring(0, eol + 1) + line + config.substring(eol + 1);
  }

  /** Sends one runtime API command (e.g. {@code set server gateways/a state drain}); returns its answer. */
  public String command(String command) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ch.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII)));
      ch.shutdownOutput();
      ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
      List<byte[]> parts = new ArrayList<>();
      int total = 0;
      while (ch.read(buf) >= 0) {
        if (!buf.hasRemaining()) {
          parts.add(java.util.Arrays.copyOf(buf.array(), buf.position()));
          total += buf.position();
          buf.clear();
        }
      }
      byte[] all = new byte[total + buf.position()];
      int at = 0;
      for (byte[] part : parts) {
        System.arraycopy(part, 0, all, at, part.length);
        at += part.length;
      }
      System.arraycopy(buf.array(), 0, all, at, buf.position());
      return new String(all, StandardCharsets.UTF_8);
    }
  }

  /** {@code set server <backend>/<server> state <ready|drain|maint>}. */
  public void setServerState(String backend, String server, String state) throws IOException {
    String answer = command("set server " + backend + "/" + server + " state " + state);
    if (!answer.isBlank()) {
      throw new IOException("haproxy refused to set " + backend + "/" + server + " " + state + ": " + answer.trim());
    }
  }

  /** The health-check status HAProxy holds for a server ({@code UP}, {@code DOWN}, {@code MAINT}, ...). */
  public String serverStatus(String backend, String server) throws IOException {
    return stat(backend, server, "status");
  }

  /**
   * One column of {@code show stat} for a server, by the name in its header line: e.g. {@code status},
   * {@code check_status} ({@code L7OK} once a health check passed), {@code stot} (sessions it served).
   */
  public String stat(String backend, String server, String column) throws IOException {
    List<String> rows = command("show stat").lines().toList();
    if (rows.isEmpty() || !rows.get(0).startsWith("# ")) {
      throw new IOException("haproxy's show stat has no header: " + rows);
    }
    int index = List.of(rows.get(0).substring(2).split(",", -1)).indexOf(column);
    if (index < 0) {
      throw new IOException("no column " + column + " in haproxy's stats");
    }
    for (String row : rows.subList(1, rows.size())) {
      String[] f = row.split(",", -1);
      if (f.length > index && f[0].equals(backend) && f[1].equals(server)) {
        return f[index];
      }
    }
    throw new IOException("no server " + backend + "/" + server + " in haproxy's stats");
  }

  public PeerProcess process() {
    return process;
  }

  @Override
  public void close() {
    process.close();
  }
}
