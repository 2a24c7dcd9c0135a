package org.webphone.gateway.node;

import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.IOException;
import java.io.PrintStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.webphone.gateway.load.BenchPeers;
import org.webphone.gateway.load.LoadOptions;
import org.webphone.gateway.load.LoadRun;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;

/**
 * The drain's test bed: two gateway nodes as their own JVMs ({@link NodeProcess}: {@link #startNode} is the one
 * place a node is started, the same command each time) in one Hazelcast cluster on loopback, Kamailio
 * (bench/kamailio/bench.cfg: registrar with digest auth, every call to the SIPp UAS, usrloc watched over its ctl
 * socket by {@link UsrlocWatch}) and a SIPp UAS echoing RTP (its messages traced, to count BYEs) as the PBX side,
 * and a clustered Vert.x in this JVM (a lite member, as the load tool joins) to run {@link LoadRun}s on. Ten
 * accounts (2000..2009) and an admin token. The caller closes it; it stops every process it started by PID.
 */
final class DrainBed implements AutoCloseable {
  static final String TOKEN = "drain-test-admin-token";

  private final Path dir;
  /** Added to every node's environment (e.g. named lines and a token secret). */
  private final Map<String, String> moreEnv;
  private final List<PeerProcess> peers = new ArrayList<>();
  private final NodeProcess[] nodes = new NodeProcess[2];
  private final List<Map<String, String>> envs = new ArrayList<>();
  private final List<NodeFixtures.NodePorts> ports = new ArrayList<>();
  private Path sippMessages;
  private Vertx probe;
  private UsrlocWatch usrloc;
  private int pbx;
  private Path ctl;

  private DrainBed(Path dir, Map<String, String> moreEnv) {
    this.dir = dir;
    this.moreEnv = moreEnv;
  }

  /** Peers, both nodes (ready, in one cluster) and the probe; files in {@code dir}. */
  static DrainBed start(Path dir, int drainLimitSec) throws Exception {
    return start(dir, drainLimitSec, Map.of());
  }

  /** {@link #start(Path, int)} with {@code moreEnv} added to both nodes' environment. */
  static DrainBed start(Path dir, int drainLimitSec, Map<String, String> moreEnv) throws Exception {
    DrainBed bed = new DrainBed(dir, moreEnv);
    try {
      bed.startAll(drainLimitSec);
      return bed;
    } catch (Throwable e) {
      bed.close();
      throw e;
    }
  }

  private void startAll(int drainLimitSec) throws Exception {
    int uas = Ports.free();
    sippMessages = dir.resolve("uas-messages.log");
    peers.add(PeerProcess.start("sipp-uas-drain", List.of("sipp", "-sf",
        Path.of(System.getProperty("project.basedir", "."), "bench/sipp/uas-bench.xml").toAbsolutePath().toString(),
        "-i", "127.0.0.1", "-p", Integer.toString(uas), "-mp", Integer.toString(Ports.freeRange(4)), "-rtp_echo",
        "-m", "100000", "-timer_resol", "10", "-nostdin", "-timeout", "3600", "-trace_msg",
        "-message_file", sippMessages.toString()), null));
    pbx = Ports.free();
    peers.add(BenchPeers.kamailio("kamailio-drain", pbx, "UAS_URI=\"sip:127.0.0.1:" + uas + "\""));
    String cluster = "webphone-drain-" + UUID.randomUUID();
    List<Integer> hz = List.of(Ports.free(), Ports.free(), Ports.free());
    for (int i = 0; i < 2; i++) {
      NodeFixtures.NodePorts p = NodeFixtures.NodePorts.allocate();
      ports.add(p);
      Map<String, String> env = p.env("drain-" + (char) ('a' + i));
      int rtp = Ports.freeRange(40);
      env.put("WEBPHONE_MEDIA_RTP_PORT_MIN", Integer.toString(rtp));
      env.put("WEBPHONE_MEDIA_RTP_PORT_MAX", Integer.toString(rtp + 39));
      env.put("WEBPHONE_PBX_HOST", "127.0.0.1");
      env.put("WEBPHONE_PBX_PORT", Integer.toString(pbx));
      env.put("WEBPHONE_POOL_RANGE", "{\"prefix\":\"\",\"from\":2000,\"to\":2009,\"passwordTemplate\":\"secret-{user}\"}");
      env.put("WEBPHONE_HTTP_ADMIN_TOKEN", TOKEN);
      env.put("WEBPHONE_SHUTDOWN_DRAIN_LIMIT_SEC", Integer.toString(drainLimitSec));
      env.put("WEBPHONE_CLUSTER_ENABLED", "true");
      env.put("WEBPHONE_CLUSTER_CONFIG", NodeFixtures.clusterXml(dir, "node-" + i, cluster, hz.get(i), hz).toString());
      env.putAll(moreEnv);
      envs.add(env);
    }
    for (int i = 0; i < 2; i++) {
      nodes[i] = startNode(i);
    }
    for (int i = 0; i < 2; i++) {
      nodes[i].awaitReady(Duration.ofSeconds(120));
    }
    Config hzProbe = new FileSystemXmlConfig(NodeFixtures.clusterXml(dir, "probe", cluster, hz.get(2), hz).toFile());
    hzProbe.setLiteMember(true); // as the load tool joins: it holds no pool data
    VertxOptions opts = new VertxOptions();
    opts.getEventBusOptions().setHost("127.0.0.1");
    probe = Eventually.result(90, "the load tool to join the cluster",
        Vertx.builder().with(opts).withClusterManager(new HazelcastClusterManager(hzProbe)).buildClustered());
    // BenchPeers gives Kamailio its ctl socket there.
    ctl = Path.of(System.getProperty("project.basedir", "."), "target/peers/kamailio-" + pbx + ".ctl");
    usrloc = new UsrlocWatch(ctl);
  }

  /** Node {@code i}'s process, started with the same command and environment every time. */
  private NodeProcess startNode(int i) throws IOException {
    return NodeProcess.start("node-drain-" + i, envs.get(i));
  }

  NodeProcess node(int i) {
    return nodes[i];
  }

  /** Starts node {@code i} again after its exit; returns once it is ready and the cluster has all three members. */
  void restart(int i) throws Exception {
    nodes[i] = startNode(i);
    nodes[i].awaitReady(Duration.ofSeconds(120));
    awaitMembers(i, 3);
  }

  /** Node {@code i} up (started again if it exited) and in a cluster of both nodes and the probe. */
  void ensureRunning(int i) throws Exception {
    if (!nodes[i].isAlive()) {
      restart(i);
    }
    awaitMembers(i, 3);
  }

  void awaitMembers(int i, int n) throws InterruptedException {
    Eventually.await(Duration.ofSeconds(60), n + " cluster members seen by node " + i, () -> fullHealth(i),
        h -> h.getJsonObject("cluster").getJsonArray("members").size() == n);
  }

  /** The full /health on the node's admin port (the token is asked there too when one is configured). */
  JsonObject fullHealth(int i) throws IOException, InterruptedException {
    HttpResponse<String> r = Http.get("http://127.0.0.1:" + ports.get(i).admin() + "/health",
        "Authorization", "Bearer " + TOKEN);
    if (r.statusCode() != 200 && r.statusCode() != 503) {
      throw new IOException("full /health of node " + i + ": " + r.statusCode() + " " + r.body());
    }
    return new JsonObject(r.body());
  }

  int httpPort(int i) {
    return ports.get(i).http();
  }

  int adminPort(int i) {
    return ports.get(i).admin();
  }

  int pbxPort() {
    return pbx;
  }

  /**
   * An account whose line is registered by node {@code i} now ({@code kamcmd ul.dump}: the AoR whose contact is
   * the node's SIP port), or null.
   */
  String lineRegisteredBy(int i) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("kamcmd", "-s", "unix:" + ctl, "ul.dump").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor();
    String aor = null;
    for (String l : out.split("\n")) {
      String t = l.trim();
      if (t.startsWith("AoR:")) {
        aor = t.substring(4).trim();
      } else if (t.startsWith("Address:") && t.contains("127.0.0.1:" + ports.get(i).sip())) {
        return aor;
      }
    }
    return null;
  }

  /** The contacts Kamailio holds for {@code user} now; each names the SIP port of the node that registered it. */
  List<String> contacts(String user) throws IOException, InterruptedException {
    return org.webphone.gateway.testing.Kamailio.contacts(ctl, user);
  }

  int sipPort(int i) {
    return ports.get(i).sip();
  }

  UsrlocWatch usrloc() {
    return usrloc;
  }

  /** Deploys a load run with these LoadTool options on the probe, printing to {@code out}. */
  LoadRun load(PrintStream out, String... options) throws Exception {
    LoadRun run = new LoadRun(LoadOptions.parse(options), out);
    Eventually.result(10, "the load run to deploy", probe.deployVerticle(run));
    return run;
  }

  /** Undeploys every load run (they close their sessions). */
  void endLoads() throws Exception {
    for (String id : new ArrayList<>(probe.deploymentIDs())) {
      Eventually.result(30, "the load run to undeploy", probe.undeploy(id));
    }
  }

  /** BYE requests SIPp's UAS received so far (its message trace). */
  long byes() throws IOException {
    return requests("BYE");
  }

  /** INVITE requests (re-INVITEs included) SIPp's UAS received so far (its message trace). */
  long invites() throws IOException {
    return requests("INVITE");
  }

  private long requests(String method) throws IOException {
    if (!Files.exists(sippMessages)) {
      return 0;
    }
    return Files.readAllLines(sippMessages, StandardCharsets.ISO_8859_1).stream()
        .filter(l -> l.startsWith(method + " sip:")).count();
  }

  @Override
  public void close() throws Exception {
    if (usrloc != null) {
      usrloc.close();
    }
    if (probe != null) {
      Eventually.result(30, "the load tool to leave the cluster", probe.close());
    }
    for (NodeProcess n : nodes) {
      if (n != null) {
        n.close();
      }
    }
    peers.forEach(PeerProcess::close);
  }
}
