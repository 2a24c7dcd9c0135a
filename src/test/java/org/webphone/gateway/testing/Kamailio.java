package org.webphone.gateway.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Kamailio as the test PBX: registrar and record-routing proxy with digest authentication (MD5, qop=auth)
 * for the given accounts, kept in an htable (no database), on UDP and TCP of one free loopback port.
 * Stopped by PID in {@link #close()}.
 *
 * <pre>
 * try (Kamailio pbx = Kamailio.start(Map.of("1000", "secret-1000", "1001", "secret-1001"))) {
 *   ... pbx.host=127.0.0.1, pbx.port=pbx.port() ...
 * }
 * </pre>
 * Its configuration is {@code src/test/resources/kamailio/registrar-proxy.cfg}; the generated copy and the
 * log are in {@code target/peers/kamailio-<host>-<port>/}.
 */
public final class Kamailio implements AutoCloseable {
  private static final Pattern SAFE = Pattern.compile("^[A-Za-z0-9._-]{1,64}$");
  private static final List<String> MODULE_DIRS = List.of("/usr/lib/x86_64-linux-gnu/kamailio/modules",
      "/usr/lib/aarch64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/lib64/kamailio/modules");

  private final PeerProcess process;
  private final String host;
  private final int port;

  private Kamailio(PeerProcess process, String host, int port) {
    this.process = process;
    this.host = host;
    this.port = port;
  }

  /** Starts Kamailio with these accounts (user name → password); returns once it listens. */
  public static Kamailio start(Map<String, String> accounts) throws IOException, InterruptedException {
    return start(accounts, Map.of());
  }

  /**
   * Starts Kamailio with these accounts and static routes: a call to a number of {@code routes} (e.g.
   * "700") is relayed to that loopback port (e.g. a SIPp UAS) instead of a registered contact.
   */
  public static Kamailio start(Map<String, String> accounts, Map<String, Integer> routes)
      throws IOException, InterruptedException {
    return start(accounts, routes, "127.0.0.1", Ports.free());
  }

  /**
   * Starts Kamailio listening on {@code host} (a loopback address such as 127.0.0.2: all of 127/8 is local on
   * Linux) and {@code port}; starting it again on the same ones after {@link #close()} brings "the same" PBX
   * back (with no registrations: it keeps them in memory).
   */
  public static Kamailio start(Map<String, String> accounts, Map<String, Integer> routes, String host, int port)
      throws IOException, InterruptedException {
    PeerProcess.requireBinary("kamailio");
    StringBuilder routeLines = new StringBuilder();
    for (Map.Entry<String, Integer> r : routes.entrySet()) {
      if (!SAFE.matcher(r.getKey()).matches()) {
        throw new IllegalArgumentException("route numbers must be plain tokens");
      }
      routeLines.append("  if ($rU == \"").append(r.getKey()).append("\") {\n    $du = \"sip:127.0.0.1:")
          .append(r.getValue()).append("\";\n    t_relay();\n    exit;\n  }\n");
    }
    StringBuilder users = new StringBuilder();
    for (Map.Entry<String, String> a : accounts.entrySet()) {
      if (!SAFE.matcher(a.getKey()).matches() || !SAFE.matcher(a.getValue()).matches()) {
        throw new IllegalArgumentException("account names and passwords must be plain tokens for the test config");
      }
      users.append("  $sht(users=>").append(a.getKey()).append(") = \"").append(a.getValue()).append("\";\n");
    }
    String mpath = MODULE_DIRS.stream().filter(d -> Files.isDirectory(Path.of(d))).findFirst()
        .orElseThrow(() -> new AssertionError("kamailio modules not found in " + MODULE_DIRS));
    Path dir = Path.of("target", "peers", "kamailio-" + host + "-" + port).toAbsolutePath();
    Files.createDirectories(dir);
    Path template = Path.of(System.getProperty("project.basedir", "."), "src", "test", "resources", "kamailio",
        "registrar-proxy.cfg");
    String cfg = Files.readString(template).replace("127.0.0.1:@PORT@", host + ":@PORT@")
        .replace("@PORT@", Integer.toString(port)).replace("@MPATH@", mpath + "/")
        .replace("@USERS@", users.toString()).replace("@ROUTES@", routeLines.toString());
    Path cfgFile = dir.resolve("kamailio.cfg");
    Files.writeString(cfgFile, cfg);
    PeerProcess p = PeerProcess.start("kamailio", List.of("kamailio", "-DD", "-E", "-m", "64", "-M", "8",
        "-Y", dir.toString(), "-f", cfgFile.toString()), dir);
    Kamailio k = new Kamailio(p, host, port);
    k.awaitListening(Duration.ofSeconds(15));
    return k;
  }

  public int port() {
    return port;
  }

  public String host() {
    return host;
  }

  public long pid() {
    return process.pid();
  }

  public String log() {
    return process.logText();
  }

  private void awaitListening(Duration timeout) throws InterruptedException {
    try {
      Eventually.until(timeout, "kamailio to listen on " + port, () -> {
        if (!process.isAlive()) {
          throw new Eventually.Hopeless("kamailio exited at start");
        }
        return Sipp.udpBound(port) && process.logText().contains("INFO");
      });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + ":\n" + process.tail(), e);
    }
  }

  @Override
  public void close() {
    process.close();
  }
}
