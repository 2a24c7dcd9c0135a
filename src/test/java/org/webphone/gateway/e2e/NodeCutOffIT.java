package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.node.UsrlocWatch;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.GatewaySession;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.NetnsBed;

/**
 * Issue 19's "a node cut off": three nodes, each on a host of its own (a network namespace), started from the
 * packaged jar with webphone.service's ExecStart and webphone.env's flags, deploy/gateway.json (addresses, PBX and
 * pool replaced) and deploy/cluster.xml, whose split-brain protection (minimum cluster size 2 on the pool's map) is
 * what is tested: only its addresses are replaced, and its merge delays lowered from 30 s to {@link #MERGE_DELAY_SEC}
 * so that the heal is seen within the test's budget. Kamailio (with its usrloc watched) is the PBX, reachable from
 * every node all along. Sessions are WebSocket clients ({@link GatewaySession}) reaching each node through the bed's
 * forwards, as HAProxy would; no browser is needed to hold a line. Their resume grace is shortened to
 * {@link #RESUME_GRACE_SEC} s, so that a session the test ends gives its account back at once.
 *
 * <p>Node 3 (C) is cut off from the two others with nftables inside its namespace. The pool's four accounts are
 * held by a session on node 1, one on node 2 and two on C, and a session on each survivor waits in the pool's line.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NodeCutOffIT {
  private static final String PBX = NetnsBed.SUBNET + "20";
  private static final int[] NODE_OCTETS = {11, 12, 13};
  private static final int C = 2;
  private static final List<String> ACCOUNTS = List.of("1000", "1001", "1002", "1003");
  private static final int MERGE_DELAY_SEC = 5;
  private static final int RESUME_GRACE_SEC = 2;
  /**
   * docs/pool.md "A node cut off": each side notices the other after hazelcast.max.no.heartbeat.seconds (10 s in
   * cluster.xml) plus one heartbeat check (2 s); the margin is for a shared 2-core machine.
   */
  private static final Duration CUT_BOUND = Duration.ofSeconds(25);
  private static final String CUT_RULES = """
      table inet webphone_cut {
        chain in { type filter hook input priority 0; policy accept; ip saddr { %1$s, %2$s } drop; }
        chain out { type filter hook output priority 0; policy accept; ip daddr { %1$s, %2$s } drop; }
      }
      """.formatted(NetnsBed.SUBNET + NODE_OCTETS[0], NetnsBed.SUBNET + NODE_OCTETS[1]);

  private NetnsBed bed;
  private Kamailio kamailio;
  private UsrlocWatch usrloc;
  private final List<NetnsBed.Host> hosts = new ArrayList<>();
  private final List<GatewayJvm> nodes = new ArrayList<>();
  /** Local ports leading to each node's public HTTP port and to its admin port (loopback inside its host). */
  private final int[] publicPort = new int[3];
  private final int[] adminPort = new int[3];
  private final List<GatewaySession> sessions = new ArrayList<>();

  @BeforeAll
  @Timeout(value = 6, unit = TimeUnit.MINUTES) // three JVMs and Kamailio on a shared 2-core machine
  void startThreeNodesFromTheJar(@TempDir Path tmp) throws Exception {
    Path deploy = Path.of(System.getProperty("project.basedir", ".")).resolve("deploy");
    Path jar = GatewayJvm.packagedJar();
    bed = NetnsBed.create();
    NetnsBed.Host pbxHost = bed.host("pbx", 20);
    Map<String, String> accounts = new TreeMap<>();
    ACCOUNTS.forEach(a -> accounts.put(a, "secret-" + a));
    kamailio = Kamailio.startIn(pbxHost, accounts, Map.of(), PBX, 5060);

    Path etc = Files.createDirectories(tmp.resolve("etc"));
    Path clusterXml = etc.resolve("cluster.xml");
    Files.writeString(clusterXml, quickerMerge(onTheBed(Files.readString(deploy.resolve("cluster.xml")))));
    List<String> execStart = DeployUnit.read(deploy).execStart();
    for (int i = 0; i < NODE_OCTETS.length; i++) {
      NetnsBed.Host h = bed.host("node" + (i + 1), NODE_OCTETS[i]);
      hosts.add(h);
      JsonObject cfg = nodeConfig(Files.readString(deploy.resolve("gateway.json")), i, clusterXml);
      Path cfgFile = etc.resolve("gateway-" + (i + 1) + ".json");
      Files.writeString(cfgFile, cfg.encodePrettily());
      List<String> cmd = DeployUnit.withPaths(execStart, Map.of(
          "/usr/bin/java", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "/opt/webphone/webphone-gateway.jar", jar.toString(),
          "/etc/webphone/gateway.json", cfgFile.toString()));
      nodes.add(GatewayJvm.startJar(h, cmd, tmp.resolve("var-lib-webphone-" + (i + 1))));
      publicPort[i] = bed.forward(h, h.address(), cfg.getJsonObject("http").getInteger("port"));
      adminPort[i] = bed.forward(h, "127.0.0.1", cfg.getJsonObject("http").getInteger("adminPort"));
      // Two at a time on a 2-core machine: the first two make the pool's quorum, the third joins them.
      if (i == 1 || i == NODE_OCTETS.length - 1) {
        for (GatewayJvm n : nodes) {
          n.awaitReady(Duration.ofSeconds(240));
        }
      }
    }
    awaitMembers(3, Duration.ofSeconds(60));
    usrloc = new UsrlocWatch(kamailio.ctlSocket());
  }

  /** deploy/ addresses (nodes in 10.0.1.*, the PBX 10.0.2.5) on the bed's subnet. */
  private static String onTheBed(String text) {
    return text.replace("10.0.2.5", PBX).replace("10.0.1.", NetnsBed.SUBNET);
  }

  /** cluster.xml's merge delays (30 s) lowered: the only setting of the shipped file the test changes. */
  private static String quickerMerge(String xml) {
    String out = xml;
    for (String p : List.of("hazelcast.merge.first.run.delay.seconds", "hazelcast.merge.next.run.delay.seconds")) {
      String shipped = "<property name=\"" + p + "\">30</property>";
      assertTrue(out.contains(shipped), "deploy/cluster.xml sets " + p + " to 30");
      out = out.replace(shipped, "<property name=\"" + p + "\">" + MERGE_DELAY_SEC + "</property>");
    }
    return out;
  }

  private static JsonObject nodeConfig(String example, int i, Path clusterXml) {
    JsonObject c = new JsonObject(onTheBed(example.replace("10.0.1.11", NetnsBed.SUBNET + NODE_OCTETS[i])));
    c.getJsonObject("node").put("id", "node" + (i + 1));
    c.getJsonObject("cluster").put("config", clusterXml.toString());
    c.getJsonObject("pool").put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1003)
        .put("passwordTemplate", "secret-{user}"));
    // A session whose socket the test closes gives its account back after this grace (30 s by default).
    c.put("session", new JsonObject().put("resumeGraceSec", RESUME_GRACE_SEC));
    return c;
  }

  /**
   * One cut and heal; with {@code -Dcutoff.rounds=N} (bench/node-cut-off.sh, at most 10) N of them on the same
   * nodes, each printing its times.
   */
  @Test
  @Timeout(value = 15, unit = TimeUnit.MINUTES)
  void aNodeCutOffEndsItsLinesTheOthersTakeThemOverNothingIsRegisteredTwiceAndTheHealedClusterCountsExactly()
      throws Exception {
    int rounds = Math.max(1, Math.min(10, Integer.getInteger("cutoff.rounds", 1)));
    GatewaySession a = ready(0);
    GatewaySession b = ready(1);
    List<GatewaySession> tookOver = List.of();
    for (int round = 1; round <= rounds; round++) {
      tookOver = cutOffAndHeal(round);
      if (round < rounds) {
        tookOver.forEach(GatewaySession::close);
        awaitCounts("between rounds", List.of(0, 1, C), 2, 0);
      }
    }

    // C leases again: a freed account goes to a new session there, every lease held by a live session.
    a.close();
    awaitCounts("after a session on node 1 ended", List.of(0, 1, C), 3, 0);
    GatewaySession c3 = ready(C);
    assertEquals(1, registeredBy(C).size(), contactsByAccount().toString());
    awaitCounts("with a new line on C", List.of(0, 1, C), 4, 0);
    List<GatewaySession> rest = new ArrayList<>(List.of(b, c3));
    rest.addAll(tookOver);
    rest.forEach(GatewaySession::close);
    awaitCounts("once every session ended", List.of(0, 1, C), 0, 0);
    Eventually.until(Duration.ofSeconds(20), "no registration left at the PBX",
        () -> contactsByAccount().values().stream().allMatch(List::isEmpty));
    assertEquals(0, usrloc.mostExtraContacts(), "an account had two contacts at once");
  }

  /**
   * With a session on each survivor holding a line: two lines on C and a session waiting on each survivor, C cut
   * off and the cut healed. Returns the two sessions that took C's accounts over.
   */
  private List<GatewaySession> cutOffAndHeal(int round) throws Exception {
    GatewaySession c1 = ready(C);
    GatewaySession c2 = ready(C);
    List<String> heldByC = registeredBy(C);
    assertEquals(2, heldByC.size(), "C's two lines are registered: " + contactsByAccount());
    // The pool is full: one session on each survivor waits in its line for an account.
    GatewaySession w1 = queued(0);
    GatewaySession w2 = queued(1);
    awaitCounts("before the cut", List.of(0, 1, C), 4, 2);

    long cutAt = System.nanoTime();
    hosts.get(C).nft(CUT_RULES);

    // C's lines end: the pool revoked its leases when C lost the quorum; the sessions are told and closed.
    Eventually.until(CUT_BOUND, "C's two sessions to be told and closed",
        () -> c1.isClosed() && c2.isClosed());
    long closedMs = msSince(cutAt);
    assertEquals(1011, c1.closeCode(), "a lost line closes with 1011 (docs/protocol.md)");
    assertEquals(1011, c2.closeCode());
    assertTrue(nodes.get(C).logText().contains("lost the pool's quorum"), nodes.get(C).tail());

    // The survivors take C's accounts over: the waiting sessions get them and register.
    Eventually.until(CUT_BOUND, "the waiting sessions on the survivors to get C's accounts",
        () -> registeredBy(0).size() == 2 && registeredBy(1).size() == 2);
    long takenOverMs = msSince(cutAt);
    assertEquals(null, w1.awaitReady(5000));
    assertEquals(null, w2.awaitReady(5000));
    List<String> survivors = new ArrayList<>(registeredBy(0));
    survivors.addAll(registeredBy(1));
    assertTrue(survivors.containsAll(heldByC), "C's accounts " + heldByC + " are the survivors' now: "
        + contactsByAccount());
    Eventually.until(Duration.ofSeconds(10), "no contact of C left at the PBX", () -> registeredBy(C).isEmpty());

    // C's pool operations are refused: a new session there hears 309 NO_QUORUM and is closed (the page reconnects
    // elsewhere); its public /health answers 503, so the load balancer sends nobody there.
    try (GatewaySession refused = GatewaySession.open(local(publicPort[C]), hello())) {
      JsonObject error = nextEvent(refused, "Error");
      assertEquals(309, error.getInteger("code"), error.encode());
      Eventually.until(Duration.ofSeconds(10), "the refused session to be closed", refused::isClosed);
      assertEquals(1011, refused.closeCode());
    }
    assertEquals(503, Http.get("http://127.0.0.1:" + publicPort[C] + "/health").statusCode());
    awaitCounts("during the cut, on the survivors", List.of(0, 1), 4, 0);
    assertEquals(0, usrloc.mostExtraContacts(), "an account had two contacts at once during the cut");

    // The cut heals: the cluster merges (the larger side's pool state kept) and the counts are exact everywhere.
    long healedAt = System.nanoTime();
    hosts.get(C).run("nft", "delete", "table", "inet", "webphone_cut");
    awaitMembers(3, Duration.ofSeconds(90));
    awaitCounts("after the heal", List.of(0, 1, C), 4, 0);
    long exactMs = msSince(healedAt);
    System.out.printf("round %d: C's sessions closed %d ms after the cut, its accounts registered by the "
        + "survivors %d ms after the cut; counts exact on all three nodes %d ms after the heal%n", round, closedMs,
        takenOverMs, exactMs);
    return List.of(w1, w2);
  }

  /** A session on node {@code i} whose line is registered. */
  private GatewaySession ready(int i) throws IOException, InterruptedException {
    GatewaySession s = GatewaySession.open(local(publicPort[i]), hello());
    sessions.add(s);
    String why = s.awaitReady(30_000);
    assertEquals(null, why, "a line on node " + (i + 1));
    return s;
  }

  /** A session on node {@code i} that waits in the pool's line (docs/pool.md "Empty pool"). */
  private GatewaySession queued(int i) throws IOException, InterruptedException {
    GatewaySession s = GatewaySession.open(local(publicPort[i]), hello());
    sessions.add(s);
    JsonObject e = nextEvent(s, "OnRegistrationStateChanged");
    assertTrue(e.encode().contains("Connection limit") && e.containsKey("position"), "queued: " + e.encode());
    return s;
  }

  private static JsonObject hello() {
    return new JsonObject().put("method", "Hello").put("ref", 0);
  }

  private static InetSocketAddress local(int port) {
    return new InetSocketAddress("127.0.0.1", port);
  }

  private static JsonObject nextEvent(GatewaySession s, String event) throws IOException, InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < end) {
      JsonObject e = s.next(1000);
      if (e != null && event.equals(e.getString("event"))) {
        return e;
      }
    }
    throw new AssertionError("no " + event + " within 30 s");
  }

  /**
   * Waits until every node in {@code which} counts all accounts, {@code leased} of them leased and the rest free, and
   * {@code waiting} sessions in line.
   */
  private void awaitCounts(String when, List<Integer> which, int leased, int waiting) throws InterruptedException {
    for (int i : which) {
      int node = i;
      JsonObject pool = Eventually.await(Duration.ofSeconds(60), "exact pool counts on node " + (i + 1) + " " + when,
          () -> fullHealth(node).getJsonObject("pool"),
          p -> p != null && p.getInteger("total") == ACCOUNTS.size() && p.getInteger("leased") == leased
              && p.getInteger("free") == ACCOUNTS.size() - leased && p.getInteger("waiting") == waiting);
      assertNotNull(pool);
    }
  }

  private void awaitMembers(int n, Duration limit) throws InterruptedException {
    for (int i = 0; i < nodes.size(); i++) {
      int node = i;
      Eventually.await(limit, n + " cluster members seen by node " + (i + 1), () -> fullHealth(node),
          h -> h.getJsonObject("cluster").getJsonArray("members").size() == n);
    }
  }

  private JsonObject fullHealth(int i) throws IOException, InterruptedException {
    HttpResponse<String> r = Http.get("http://127.0.0.1:" + adminPort[i] + "/health");
    if (r.statusCode() != 200 && r.statusCode() != 503) {
      throw new IOException("full /health of node " + (i + 1) + ": " + r.statusCode() + " " + r.body());
    }
    return new JsonObject(r.body());
  }

  /** The accounts whose contact at Kamailio names node {@code i}'s address. */
  private List<String> registeredBy(int i) throws IOException, InterruptedException {
    String at = "@" + hosts.get(i).address() + ":";
    List<String> out = new ArrayList<>();
    contactsByAccount().forEach((account, contacts) -> {
      if (contacts.stream().anyMatch(c -> c.contains(at))) {
        out.add(account);
      }
    });
    return out;
  }

  private Map<String, List<String>> contactsByAccount() throws IOException, InterruptedException {
    kamailio.assertAlive();
    Map<String, List<String>> m = new TreeMap<>();
    for (String a : ACCOUNTS) {
      m.put(a, kamailio.contacts(a));
    }
    return m;
  }

  private static long msSince(long nanos) {
    return (System.nanoTime() - nanos) / 1_000_000;
  }

  @AfterAll
  void stop() throws Exception {
    sessions.forEach(GatewaySession::close);
    if (usrloc != null) {
      usrloc.close();
    }
    List<AutoCloseable> all = new ArrayList<>(nodes);
    all.add(kamailio);
    for (AutoCloseable c : all) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        System.err.println("node cut off: closing " + c + ": " + e);
      }
    }
    if (bed != null) {
      bed.close();
    }
  }
}
