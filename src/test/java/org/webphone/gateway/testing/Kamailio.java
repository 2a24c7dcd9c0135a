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
  private int tlsPort;
  /** The binrpc control socket of a Kamailio made by {@link #startIn} (kamcmd's {@code -s}), else null. */
  private Path ctl;

  private Kamailio(PeerProcess process, String host, int port) {
    this.process = process;
    this.host = host;
    this.port = port;
  }

  /**
   * Kamailio with its tls module on a third listening point ({@link #tlsPort()}), the configuration kept minimal
   * (5.6.3's tls module on Debian 12 has known crashes): it presents {@code cert} (also as a client, when it opens
   * a connection to a registered TLS contact), asks for no certificate and verifies none. Registrations of the
   * users in {@code viaRegistrationConnection} are saved with their source (nathelper's fix_nated_register), so
   * requests to them go back on the connection they registered over; requests to the others go to the Contact
   * itself, for which Kamailio opens a new connection. The first REGISTER of {@code closer} (may be null) is
   * answered and then its connection is closed by Kamailio (tcpops), as a PBX or load balancer that drops it.
   * {@link #dropTlsConnection} closes the connection of the last request over TLS whenever the test asks. After each
   * REGISTER its log says what usrloc holds for the user: {@code usrloc <user>: <contact>}.
   */
  public static Kamailio startTls(Map<String, String> accounts, TestCa.Issued cert, Path caPem,
      java.util.Set<String> viaRegistrationConnection, String closer) throws IOException, InterruptedException {
    if (closer != null && !SAFE.matcher(closer).matches()) {
      throw new IllegalArgumentException("user names must be plain tokens");
    }
    String close = closer == null ? "" : "    if ($tU == \"" + closer + "\" && $sht(users=>closed) == $null) {\n"
        + "      $sht(users=>closed) = \"yes\";\n      tcp_close_connection();\n    }\n";
    int tlsPort = Ports.free();
    StringBuilder same = new StringBuilder();
    for (String u : viaRegistrationConnection) {
      if (!SAFE.matcher(u).matches()) {
        throw new IllegalArgumentException("user names must be plain tokens");
      }
      same.append(same.length() == 0 ? "" : " || ").append("$tU == \"").append(u).append("\"");
    }
    String tlsCfg = "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
        + "private_key = " + cert.key() + "\ncertificate = " + cert.chain() + "\nca_list = " + caPem + "\n\n"
        + "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
        + "private_key = " + cert.key() + "\ncertificate = " + cert.chain() + "\nca_list = " + caPem + "\n";
    Kamailio k = start(accounts, Map.of(), "127.0.0.1", Ports.free(), cfg -> {
      Path tlsFile = cfg.resolveSibling("tls.cfg");
      try {
        Files.writeString(tlsFile, tlsCfg);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      return text -> text
          .replace("listen=tcp:127.0.0.1:@PORT@", "listen=tcp:127.0.0.1:@PORT@\nlisten=tls:127.0.0.1:" + tlsPort
              + "\nenable_tls=yes")
          .replace("loadmodule \"auth.so\"", "loadmodule \"auth.so\"\nloadmodule \"tls.so\"\nloadmodule \"nathelper.so\"\nloadmodule \"tcpops.so\"\n"
              + "modparam(\"tls\", \"config\", \"" + tlsFile + "\")\n"
              + "modparam(\"nathelper\", \"received_avp\", \"$avp(RECEIVED)\")\n"
              + "modparam(\"registrar\", \"received_avp\", \"$avp(RECEIVED)\")")
          .replace("    consume_credentials();\n    save(\"location\");",
              "    consume_credentials();\n" + (same.length() == 0 ? "" : "    if (" + same + ") {\n      fix_nated_register();\n    }\n")
              + "    save(\"location\");\n"
              + "    if (reg_fetch_contacts(\"location\", \"$tu\", \"ul\")) {\n"
              + "      xlog(\"L_INFO\", \"usrloc $tU: $(ulc(ul=>addr))\\n\");\n    }\n" + close)
          .replace("  t_check_trans();\n  if (is_method(\"REGISTER\")) {", "  if (is_method(\"OPTIONS\") && $rU == \""
              + DROP_USER + "\") {\n    $var(conid) = $sht(users=>tls-conid);\n    xlog(\"L_INFO\", \"closing connection $var(conid)\\n\");\n"
              + "    if (tcp_close_connection(\"$var(conid)\")) {\n      sl_send_reply(\"200\", \"Dropped\");\n"
              + "    } else {\n      sl_send_reply(\"500\", \"Not dropped\");\n    }\n    exit;\n  }\n"
              + "  t_check_trans();\n  if (is_method(\"REGISTER\")) {")
          .replace("request_route {\n", "request_route {\n  if (proto == TLS) {\n"
              + "    $sht(users=>tls-conid) = $conid;\n  }\n")
          .replace("    sl_send_reply(\"404\", \"Not Found\");\n    exit;\n  }\n  t_relay();",
              "    sl_send_reply(\"404\", \"Not Found\");\n    exit;\n  }\n"
              + "  xlog(\"L_INFO\", \"relaying $rm to $ru via $du\\n\");\n  t_relay();");
    });
    k.tlsPort = tlsPort;
    return k;
  }

  /** The user of the OPTIONS that makes a Kamailio of {@link #startTls} close a connection. */
  private static final String DROP_USER = "drop-tls-connection";

  /**
   * Makes a Kamailio of {@link #startTls} close the TLS connection its last request came over (the gateway's
   * connection to it: the ones Kamailio opens carry only its own requests), as a PBX or load balancer that drops it mid-call; asked by an OPTIONS over UDP, answered
   * once it is closed. Fails when Kamailio did not close it.
   */
  public void dropTlsConnection() throws IOException {
    try (java.net.DatagramSocket s = new java.net.DatagramSocket(0, java.net.InetAddress.getByName(host))) {
      s.setSoTimeout(5_000);
      String branch = "z9hG4bK-drop-" + System.nanoTime();
      String req = "OPTIONS sip:" + DROP_USER + "@" + host + ":" + port + " SIP/2.0\r\n"
          + "Via: SIP/2.0/UDP " + host + ":" + s.getLocalPort() + ";branch=" + branch + ";rport\r\n"
          + "Max-Forwards: 70\r\nFrom: <sip:test@" + host + ">;tag=drop\r\nTo: <sip:" + DROP_USER + "@" + host
          + ">\r\nCall-ID: " + branch + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
      byte[] out = req.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      s.send(new java.net.DatagramPacket(out, out.length, java.net.InetAddress.getByName(host), port));
      byte[] in = new byte[2048];
      java.net.DatagramPacket answer = new java.net.DatagramPacket(in, in.length);
      s.receive(answer);
      String status = new String(in, 0, answer.getLength(), java.nio.charset.StandardCharsets.US_ASCII).lines()
          .findFirst().orElse("");
      if (!status.startsWith("SIP/2.0 200")) {
        throw new AssertionError("Kamailio did not drop the TLS connection: " + status + "\n" + process.tail());
      }
    }
  }

  /** The TLS listening point of a Kamailio made by {@link #startTls}. */
  public int tlsPort() {
    return tlsPort;
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
    return start(accounts, routes, host, port, cfg -> text -> text);
  }

  /**
   * Starts Kamailio as a PBX that rewrites the SDP of INVITEs to {@code user}: every {@code from} in the body
   * becomes {@code to} (textops {@code subst_body}), as a session border controller's SDP policy does. The answer
   * goes back unchanged. E.g. an SRTP agent that only offers AES_CM_128_HMAC_SHA1_80 reaches a line offering
   * AES_CM_128_HMAC_SHA1_32 (same key length, only the tag differs).
   */
  public static Kamailio startRewritingOffersTo(Map<String, String> accounts, String user, String from, String to)
      throws IOException, InterruptedException {
    if (!SAFE.matcher(user).matches() || !SAFE.matcher(from).matches() || !SAFE.matcher(to).matches()) {
      throw new IllegalArgumentException("user and texts must be plain tokens");
    }
    String rule = "  if (is_method(\"INVITE\") && $rU == \"" + user + "\" && has_body(\"application/sdp\")) {\n"
        + "    subst_body(\"/" + from + "/" + to + "/g\");\n  }\n";
    return start(accounts, Map.of(), "127.0.0.1", Ports.free(), cfg -> text -> text.replace("@ROUTES@", rule + "@ROUTES@"));
  }

  /**
   * Starts Kamailio inside {@code netns} (a {@link NetnsBed} host; null: in the test's own namespace) on its address
   * {@code ip} and {@code port}; a call to a number of {@code routes} is relayed to that "address:port" (e.g. a SIPp
   * UAS in the same bed). Its location table can be read with {@link #contacts} (a binrpc control socket for kamcmd,
   * in the log directory).
   */
  public static Kamailio startIn(NetnsBed.Host netns, Map<String, String> accounts, Map<String, String> routes,
      String ip, int port) throws IOException, InterruptedException {
    Path[] socket = new Path[1];
    Kamailio k = start(netns, accounts, routes, ip, port, cfg -> {
      socket[0] = cfg.resolveSibling("kamailio-ctl");
      return text -> text.replace("loadmodule \"auth.so\"", "loadmodule \"auth.so\"\nloadmodule \"ctl.so\"\n"
          + "modparam(\"ctl\", \"binrpc\", \"unix:" + socket[0] + "\")");
    });
    k.ctl = socket[0];
    return k;
  }

  /**
   * The contacts the location table holds for {@code user} now ({@code kamcmd ul.lookup location <user>}): none
   * when it has no binding. Only for a Kamailio made by {@link #startIn}.
   */
  public List<String> contacts(String user) throws IOException, InterruptedException {
    if (ctl == null) {
      throw new IllegalStateException("contacts needs a Kamailio made by startIn");
    }
    return contacts(ctl, user);
  }

  /** The contacts the location table of the Kamailio with the ctl socket {@code ctl} holds for {@code user} now. */
  public static List<String> contacts(Path ctl, String user) throws IOException, InterruptedException {
    if (!SAFE.matcher(user).matches()) {
      throw new IllegalArgumentException("contacts needs a plain user name");
    }
    // "s:": kamcmd would send a numeric user name (1000) as an integer, which ul.lookup does not take.
    Process p = new ProcessBuilder("kamcmd", "-s", "unix:" + ctl, "ul.lookup", "location", "s:" + user)
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("kamcmd ul.lookup did not end within 10 s");
    }
    if (out.contains("AOR not found")) {
      return List.of();
    }
    if (p.exitValue() != 0 || out.startsWith("error")) {
      throw new IOException("kamcmd ul.lookup location " + user + " exited " + p.exitValue() + ": " + out);
    }
    return out.lines().map(String::trim).filter(l -> l.startsWith("Address:"))
        .map(l -> l.substring("Address:".length()).trim()).toList();
  }

  /** The binrpc control socket of a Kamailio made by {@link #startIn}, for kamcmd (e.g. a usrloc watch). */
  public Path ctlSocket() {
    if (ctl == null) {
      throw new IllegalStateException("only a Kamailio made by startIn has a control socket");
    }
    return ctl;
  }

  /** {@code edit} is given the configuration file's path and returns how to change its text (additions). */
  private static Kamailio start(Map<String, String> accounts, Map<String, Integer> routes, String host, int port,
      java.util.function.Function<Path, java.util.function.UnaryOperator<String>> edit)
      throws IOException, InterruptedException {
    Map<String, String> targets = new java.util.TreeMap<>();
    routes.forEach((number, p) -> targets.put(number, "127.0.0.1:" + p));
    return start(null, accounts, targets, host, port, edit);
  }

  private static Kamailio start(NetnsBed.Host netns, Map<String, String> accounts, Map<String, String> routes,
      String host, int port, java.util.function.Function<Path, java.util.function.UnaryOperator<String>> edit)
      throws IOException, InterruptedException {
    PeerProcess.requireBinary("kamailio");
    StringBuilder routeLines = new StringBuilder();
    for (Map.Entry<String, String> r : routes.entrySet()) {
      if (!SAFE.matcher(r.getKey()).matches() || !r.getValue().matches("[0-9.]+:[0-9]+")) {
        throw new IllegalArgumentException("route numbers must be plain tokens, targets address:port");
      }
      routeLines.append("  if ($rU == \"").append(r.getKey()).append("\") {\n    $du = \"sip:")
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
    Path cfgFile = dir.resolve("kamailio.cfg");
    String cfg = edit.apply(cfgFile).apply(Files.readString(template)).replace("127.0.0.1:@PORT@", host + ":@PORT@")
        .replace("@PORT@", Integer.toString(port)).replace("@MPATH@", mpath + "/")
        .replace("@USERS@", users.toString()).replace("@ROUTES@", routeLines.toString());
    Files.writeString(cfgFile, cfg);
    List<String> cmd = List.of("kamailio", "-DD", "-E", "-m", "64", "-M", "8", "-Y", dir.toString(), "-f",
        cfgFile.toString());
    PeerProcess p = PeerProcess.start("kamailio", netns == null ? cmd : netns.inside(cmd), dir);
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

  /**
   * Fails with "Kamailio crashed" and its log's tail when the process is gone: a crash of the peer (5.6.3's tls
   * module has known ones) is reported as such, not as a failure of the gateway.
   */
  public void assertAlive() {
    if (!process.isAlive()) {
      throw new AssertionError("Kamailio crashed (pid " + process.pid() + ", exit " + process.process().exitValue()
          + "); the peer, not the gateway, failed:\n" + process.tail());
    }
  }

  private void awaitListening(Duration timeout) throws InterruptedException {
    try {
      Eventually.until(timeout, "kamailio to listen on " + port, () -> {
        if (!process.isAlive()) {
          throw new Eventually.Hopeless("kamailio exited at start");
        }
        // The process's own table: it may run in a namespace of a NetnsBed.
        return Sipp.udpBound(Path.of("/proc", String.valueOf(process.pid()), "net", "udp"), port)
            && process.logText().contains("INFO");
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
