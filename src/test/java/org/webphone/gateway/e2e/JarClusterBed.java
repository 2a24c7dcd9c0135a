package org.webphone.gateway.e2e;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.webphone.gateway.node.UsrlocWatch;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Haproxy;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestCa;

/**
 * The deploy/ directory as an operator installs it, on hosts of a {@link NetnsBed}: {@code n} gateway nodes, each in
 * its own namespace with its own address ({@code node<i>} at 10.251.0.1i), started from the packaged jar with
 * webphone.service's ExecStart and webphone.env's flags (only the paths replaced: {@link DeployUnit}), each with
 * deploy/gateway.json (addresses, node id, PBX and pool replaced) and deploy/cluster.xml (addresses and the members
 * list replaced); HAProxy with deploy/haproxy.cfg (addresses, server list and certificate path replaced, host
 * {@code lb}) ending TLS with a {@link TestCa} certificate the browser trusts; Kamailio as registrar and proxy with a
 * SIPp UAS answering extension {@value #ECHO} with an RTP echo (host {@code pbx}), its usrloc watched
 * ({@link UsrlocWatch}); headless Chromium on a host of its own; the event-bus load tool from the same jar on a host
 * of its own, joining the cluster as a lite member with the same cluster.xml.
 *
 * <p>Used from the test thread only. {@link #close} stops every process it started by PID and deletes the
 * namespaces. The shipped cluster.xml's pool quorum is 2 members: with fewer than three nodes, stopping one stops
 * leasing on the other (docs/deploy.md).
 */
public final class JarClusterBed implements AutoCloseable {
  public static final String LB = NetnsBed.SUBNET + "10";
  public static final String PBX = NetnsBed.SUBNET + "20";
  public static final String PAGE = "https://" + LB;
  public static final String ECHO = "700";
  /** deploy/haproxy.cfg's backend; its servers are {@link Node#id()}. */
  public static final String BACKEND = "gateways";
  /** The first pool account; Kamailio knows {@code accounts} of them, passwords {@code secret-<user>}. */
  public static final int FIRST_ACCOUNT = 1000;
  private static final int BROWSER_OCTET = 30;
  private static final int LOAD_OCTET = 40;
  /** deploy/gateway.json's ports: the page's and the admin listener's (on the node's loopback). */
  private static final int HTTP_PORT = 8080;
  private static final int ADMIN_PORT = 8081;
  private static final Duration START = Duration.ofSeconds(240);

  private final Path dir;
  private final Path jar;
  private NetnsBed bed;
  private final List<Node> nodes = new ArrayList<>();
  private final List<AutoCloseable> peers = new ArrayList<>();
  private Path deploy;
  private Path clusterXml;
  private List<String> execStart;
  private Sipp echo;
  private Kamailio kamailio;
  private UsrlocWatch usrloc;
  private Haproxy haproxy;
  private TestCa ca;
  private Browser browser;
  private NetnsBed.Host loadHost;

  private JarClusterBed(Path dir, Path jar) {
    this.dir = dir;
    this.jar = jar;
  }

  /**
   * The whole bed, every node ready and checked healthy by HAProxy, with {@code accounts} pool accounts (from
   * {@link #FIRST_ACCOUNT}); files in {@code dir}. Nodes start two at a time (a shared 2-core machine): the first
   * two make the pool's quorum, the others join them.
   */
  public static JarClusterBed start(Path dir, int n, int accounts) throws Exception {
    if (n < 1 || n > 9 || accounts < 1 || accounts > 50) {
      throw new IllegalArgumentException("1..9 nodes (addresses .11-.19) and 1..50 accounts");
    }
    JarClusterBed b = new JarClusterBed(dir, GatewayJvm.packagedJar());
    try {
      b.startAll(n, accounts);
      return b;
    } catch (Throwable e) {
      b.close();
      throw e;
    }
  }

  private void startAll(int n, int accounts) throws Exception {
    deploy = Path.of(System.getProperty("project.basedir", ".")).resolve("deploy");
    bed = NetnsBed.create();
    NetnsBed.Host lbHost = bed.host("lb", 10);
    NetnsBed.Host pbxHost = bed.host("pbx", 20);
    // SIPp's own global timeout is raised: it lives as long as the bed, several node starts on a shared machine.
    echo = Sipp.uasIn(pbxHost, PBX, "uas-answer.xml", "-m", "100000", "-rtp_echo", "-timeout", "3600");
    peers.add(echo);
    Map<String, String> passwords = new TreeMap<>();
    for (int a = FIRST_ACCOUNT; a < FIRST_ACCOUNT + accounts; a++) {
      passwords.put(Integer.toString(a), "secret-" + a);
    }
    kamailio = Kamailio.startIn(pbxHost, passwords, Map.of(ECHO, PBX + ":" + echo.port()), PBX, 5060);
    peers.add(kamailio);
    usrloc = new UsrlocWatch(kamailio.ctlSocket());

    Path etc = Files.createDirectories(dir.resolve("etc"));
    clusterXml = etc.resolve("cluster.xml");
    Files.writeString(clusterXml, withMembers(onTheBed(Files.readString(deploy.resolve("cluster.xml"))), n));
    execStart = DeployUnit.read(deploy).execStart();
    for (int i = 0; i < n; i++) {
      NetnsBed.Host h = bed.host("node" + (i + 1), 11 + i);
      Path cfg = etc.resolve("gateway-" + (i + 1) + ".json");
      Files.writeString(cfg, nodeConfig(Files.readString(deploy.resolve("gateway.json")), i, accounts).encodePrettily());
      Node node = new Node(i, h, cfg, Files.createDirectories(dir.resolve("var-lib-webphone-" + (i + 1))));
      nodes.add(node);
      node.startJar();
      if (i == 1 || i == n - 1) {
        for (Node started : nodes) {
          started.awaitReady();
        }
      }
    }

    ca = TestCa.create(Files.createDirectories(dir.resolve("ca")));
    TestCa.Issued cert = ca.issue("lb", LB);
    Path pem = etc.resolve("webphone.pem");
    Files.writeString(pem, Files.readString(cert.chain()) + Files.readString(cert.key()));
    String cfg = withServers(onTheBed(Files.readString(deploy.resolve("haproxy.cfg"))), n)
        .replace("/etc/haproxy/certs/webphone.pem", pem.toString());
    haproxy = Haproxy.start(lbHost, cfg, dir.resolve("haproxy"));
    peers.add(haproxy);
    for (Node node : nodes) {
      node.awaitHealthyAtHaproxy(Duration.ofSeconds(20));
    }
  }

  /** deploy/ addresses (nodes and proxy in 10.0.1.*, the PBX 10.0.2.5) on the bed's subnet. */
  static String onTheBed(String text) {
    return text.replace("10.0.2.5", PBX).replace("10.0.1.", NetnsBed.SUBNET);
  }

  private static final Pattern MEMBERS = Pattern.compile("(<tcp-ip enabled=\"true\">)(.*?)(\\s*</tcp-ip>)", Pattern.DOTALL);

  /** cluster.xml with the members list of {@code n} nodes. */
  private static String withMembers(String xml, int n) {
    Matcher m = MEMBERS.matcher(xml);
    if (!m.find()) {
      throw new AssertionError("deploy/cluster.xml has no <tcp-ip enabled=\"true\"> members list");
    }
    StringBuilder members = new StringBuilder();
    for (int i = 0; i < n; i++) {
      members.append("\n        <member>").append(NetnsBed.SUBNET).append(11 + i).append("</member>");
    }
    return xml.substring(0, m.start(2)) + members + xml.substring(m.start(3));
  }

  /** haproxy.cfg with one {@code server node<i>} line per node, where deploy's list was. */
  private static String withServers(String cfg, int n) {
    List<String> out = new ArrayList<>();
    boolean placed = false;
    for (String l : cfg.split("\n", -1)) {
      if (l.trim().startsWith("server node")) {
        if (!placed) {
          for (int i = 0; i < n; i++) {
            out.add("    server node" + (i + 1) + " " + NetnsBed.SUBNET + (11 + i) + ":" + HTTP_PORT);
          }
          placed = true;
        }
      } else {
        out.add(l);
      }
    }
    if (!placed) {
      throw new AssertionError("deploy/haproxy.cfg has no server node lines");
    }
    return String.join("\n", out);
  }

  /**
   * deploy/gateway.json (written for node1, 10.0.1.11) for node {@code i}: its addresses and id, the test's
   * cluster.xml, the page's origin, and the pool accounts Kamailio knows.
   */
  private JsonObject nodeConfig(String example, int i, int accounts) {
    JsonObject c = new JsonObject(onTheBed(example.replace("10.0.1.11", NetnsBed.SUBNET + (11 + i))));
    c.getJsonObject("node").put("id", "node" + (i + 1));
    c.getJsonObject("cluster").put("config", clusterXml.toString());
    c.getJsonObject("http").put("publicOrigin", PAGE);
    c.getJsonObject("pool").put("range", new JsonObject().put("prefix", "").put("from", FIRST_ACCOUNT)
        .put("to", FIRST_ACCOUNT + accounts - 1).put("passwordTemplate", "secret-{user}"));
    return c;
  }

  public Node node(int i) {
    return nodes.get(i);
  }

  public List<Node> nodes() {
    return List.copyOf(nodes);
  }

  /** The node whose id is {@code id} (e.g. the owner named by a resume token). */
  public Node node(String id) {
    return nodes.stream().filter(n -> n.id().equals(id)).findFirst()
        .orElseThrow(() -> new AssertionError("no node " + id));
  }

  public Haproxy haproxy() {
    return haproxy;
  }

  public Kamailio kamailio() {
    return kamailio;
  }

  /** The PBX's answering side: SIPp's UAS behind extension {@value #ECHO}, its messages traced. */
  public Sipp echo() {
    return echo;
  }

  /** Kamailio's usrloc counters, sampled since the bed started. */
  public UsrlocWatch usrloc() {
    return usrloc;
  }

  public NetnsBed netns() {
    return bed;
  }

  /**
   * The bed's one browser (started on first use, host {@code browser}): a 440 Hz microphone, trusting the bed's CA,
   * so the page is {@link #PAGE} over HTTPS as a visitor sees it.
   */
  public Browser browser() throws IOException, InterruptedException {
    if (browser == null) {
      browser = bed.browser(bed.host("browser", BROWSER_OCTET), Browser.tone(dir, 440, 300), PAGE,
          ReachBed.trustingHome(dir, ca));
      peers.add(browser);
    }
    return browser;
  }

  /** HAProxy sends new connections only to node {@code i}: the others are set to {@code drain}. */
  public void onlyTo(int i) throws IOException {
    for (Node n : nodes) {
      haproxy.setServerState(BACKEND, n.id(), n.index == i ? "ready" : "drain");
    }
  }

  /** Every server back to {@code ready} at HAProxy (round robin over all). */
  public void toAll() throws IOException {
    for (Node n : nodes) {
      haproxy.setServerState(BACKEND, n.id(), "ready");
    }
  }

  /**
   * Starts the load tool of the packaged jar ({@code java -cp <jar> org.webphone.gateway.load.LoadTool}) on host
   * {@code load}, joining the cluster with the nodes' cluster.xml ({@code --target cluster}) and {@code options}.
   * SIGTERM ({@link PeerProcess#process()}{@code .destroy()}) makes it stop calling and print its summary.
   */
  public PeerProcess startLoadTool(String... options) throws IOException, InterruptedException {
    if (loadHost == null) {
      loadHost = bed.host("load", LOAD_OCTET);
    }
    List<String> cmd = new ArrayList<>(List.of("env", "WEBPHONE_CLUSTER_HOST=" + loadHost.address(),
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-XX:+UseZGC",
        "-Djava.net.preferIPv4Stack=true", "-Dice4j.harvest.mapping.aws.enabled=false",
        "-Dice4j.harvest.mapping.stun.addresses=", "-cp", jar.toString(), "org.webphone.gateway.load.LoadTool",
        "--target", "cluster", "--cluster-config", clusterXml.toString()));
    cmd.addAll(List.of(options));
    PeerProcess p = PeerProcess.start("load-tool", loadHost.inside(cmd), Files.createDirectories(dir.resolve("load")));
    peers.add(p);
    return p;
  }

  /** One gateway node of the bed: its host, its configuration and working directory, its current process. */
  public final class Node {
    private final int index;
    private final NetnsBed.Host host;
    private final Path config;
    private final Path workDir;
    private GatewayJvm jvm;
    private int adminForward;
    private int httpForward;

    private Node(int index, NetnsBed.Host host, Path config, Path workDir) {
      this.index = index;
      this.host = host;
      this.config = config;
      this.workDir = workDir;
    }

    /** {@code node<i+1>}: its node.id and its HAProxy server name. */
    public String id() {
      return "node" + (index + 1);
    }

    public NetnsBed.Host host() {
      return host;
    }

    /** The current process (the last one started). */
    public GatewayJvm jvm() {
      return jvm;
    }

    /** Starts the node from the packaged jar (again after an exit): the unit's ExecStart. */
    public GatewayJvm startJar() throws IOException {
      return startJar(jar);
    }

    /** Starts the node from {@code jarPath} (its lib/ beside it) with the unit's ExecStart, paths replaced. */
    public GatewayJvm startJar(Path jarPath) throws IOException {
      if (jvm != null && jvm.isAlive()) {
        throw new IllegalStateException(id() + " still runs");
      }
      List<String> cmd = DeployUnit.withPaths(execStart, Map.of(
          "/usr/bin/java", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "/opt/webphone/webphone-gateway.jar", jarPath.toString(),
          "/etc/webphone/gateway.json", config.toString()));
      // The unit's WorkingDirectory: empty, so the page can only come from inside the jar.
      jvm = GatewayJvm.startJar(host, cmd, workDir);
      return jvm;
    }

    /** SIGTERM, as {@code systemctl stop} sends: the node drains. */
    public void sigterm() {
      jvm.process().destroy();
    }

    /** Started again from the jar, ready, checked healthy by HAProxy, and seen by the cluster's other members. */
    public void restart(int members) throws Exception {
      startJar();
      awaitReady();
      awaitHealthyAtHaproxy(Duration.ofSeconds(30));
      Eventually.await(Duration.ofSeconds(60), members + " cluster members seen by " + id(), this::fullHealth,
          h -> h.getJsonObject("cluster").getJsonArray("members").size() == members);
    }

    /**
     * Waits until the node logs that it is ready. A start that fails (the node exits non-zero, e.g. at its 120 s
     * start timeout on an overloaded machine) is started again, as the unit's {@code Restart=on-failure} does, at
     * most twice.
     */
    public void awaitReady() throws IOException, InterruptedException {
      for (int attempt = 1; ; attempt++) {
        try {
          jvm.awaitReady(START);
          return;
        } catch (AssertionError e) {
          if (jvm.isAlive() || attempt == 3) {
            throw e;
          }
          System.err.println(id() + " exited with " + jvm.process().exitValue()
              + " before it was ready; started again, as the unit's Restart=on-failure does");
          startJar();
        }
      }
    }

    public void awaitHealthyAtHaproxy(Duration timeout) throws InterruptedException {
      Eventually.until(timeout, "HAProxy's health check of " + id() + " to pass",
          () -> haproxy.stat(BACKEND, id(), "check_status").equals("L7OK"));
    }

    /** The full /health of the admin listener (loopback inside the node's host). */
    public JsonObject fullHealth() throws IOException, InterruptedException {
      if (adminForward == 0) {
        adminForward = bed.forward(host, "127.0.0.1", ADMIN_PORT);
      }
      return new JsonObject(Http.get("http://127.0.0.1:" + adminForward + "/health").body());
    }

    /** The public /health on the node's page port, as HAProxy's check reads it. */
    public HttpResponse<String> publicHealth() throws IOException, InterruptedException {
      if (httpForward == 0) {
        httpForward = bed.forward(host, host.address(), HTTP_PORT);
      }
      return Http.get("http://127.0.0.1:" + httpForward + "/health");
    }
  }

  @Override
  public void close() {
    if (usrloc != null) {
      try {
        usrloc.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    List<AutoCloseable> all = new ArrayList<>(peers);
    for (Node n : nodes) {
      if (n.jvm != null) {
        all.add(n.jvm);
      }
    }
    for (int i = all.size() - 1; i >= 0; i--) {
      try {
        all.get(i).close();
      } catch (Exception e) {
        System.err.println("jar cluster bed: closing " + all.get(i) + ": " + e);
      }
    }
    if (bed != null) {
      bed.close();
    }
  }
}
