package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;

/**
 * Three clustered Vert.x nodes (real Hazelcast on loopback, own cluster name and free ports) share one
 * pool; extra nodes run in separate JVMs to be killed or frozen.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterPoolTest {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterPoolTest.class);
  private static final int ACCOUNTS = 20;
  /** Hazelcast removes a silent member after this long (as in cluster.xml). */
  private static final int NO_HEARTBEAT_SEC = 10;
  /**
   * The pool's lease TTL on every node of this test. Short, to test expiry fast, but not below 6 s: on this
   * shared 2-core machine (load average 20-30 at times) an in-JVM node's event loop was once starved for
   * more than 3 s, and the other nodes rightly took its leases away.
   */
  private static final int TTL_SEC = 6;

  private final String cluster = "pool-test-" + UUID.randomUUID().toString().substring(0, 8);
  private final List<Integer> ports = new ArrayList<>();
  private final List<Vertx> nodes = new ArrayList<>();
  private final List<PoolClient> clients = new ArrayList<>();
  private final List<Vertx> crashed = new ArrayList<>();

  private PoolClient live() {
    for (int i = 0; i < nodes.size(); i++) {
      if (!crashed.contains(nodes.get(i))) {
        return clients.get(i);
      }
    }
    throw new IllegalStateException("no live node");
  }

  private JsonObject poolSection() {
    return PoolClient.range("u", 1, ACCOUNTS).put("waitingLine", true).put("leaseTtlSec", TTL_SEC);
  }

  /** Nodes in their own JVMs, one to kill, one to freeze; started early because a JVM takes long to start. */
  private PeerProcess victim;
  private PeerProcess hung;

  @BeforeAll
  void startThreeNodes() throws Exception {
    for (int i = 0; i < 6; i++) {
      ports.add(Ports.free());
    }
    List<Future<Vertx>> starting = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      starting.add(TestCluster.start(TestCluster.hazelcast(cluster, ports.get(i), ports, NO_HEARTBEAT_SEC)));
    }
    for (Future<Vertx> f : starting) {
      Vertx vx = f.await(60, TimeUnit.SECONDS);
      nodes.add(vx);
      clients.add(new PoolClient(vx));
      deployPool(vx, "n" + nodes.size(), poolSection());
    }
    // They join while the first test runs: its operations must also survive partitions moving to them.
    victim = startOutsideNode("victim", ports.get(3));
    hung = startOutsideNode("hung", ports.get(4));
  }

  private String deployPool(Vertx vx, String nodeId, JsonObject section) throws Exception {
    return vx.deployVerticle(new AccountPoolVerticle(),
        new DeploymentOptions().setConfig(PoolClient.config(nodeId, section))).await(60, TimeUnit.SECONDS);
  }

  @AfterAll
  void stopNodes() throws Exception {
    for (PeerProcess p : new PeerProcess[] {victim, hung}) {
      if (p != null) {
        p.close();
      }
    }
    for (Vertx vx : nodes) {
      try {
        vx.close().await(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        if (!crashed.contains(vx)) {
          throw e;
        }
        LOG.info("closing the node whose Hazelcast was terminated: {}", e.toString());
      }
    }
  }

  @AfterEach
  void everyAccountIsBackAndNothingWaits() {
    JsonObject s = live().status();
    assertEquals(0, s.getInteger("leased"), "a lease was left over: " + s);
    assertEquals(0, s.getInteger("waiting"), "a waiter was left over: " + s);
    assertEquals(ACCOUNTS, s.getInteger("total"));
    assertEquals(ACCOUNTS, s.getInteger("free"));
  }

  // ---------------------------------------------------------------- concurrency

  private record Grant(String accountId, long token, String node) {
  }

  @Test
  @Order(1)
  void thousandsOfConcurrentLeasesFromThreeNodesNeverHoldAnAccountTwiceAndLoseNone() throws Exception {
    int workersPerNode = 8;
    int cycles = 100;
    Map<String, Long> holders = new ConcurrentHashMap<>();
    List<Grant> grants = new CopyOnWriteArrayList<>();
    List<String> violations = new CopyOnWriteArrayList<>();
    AtomicInteger refused = new AtomicInteger();
    long deadline = System.currentTimeMillis() + 90_000;
    List<Future<Void>> workers = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int n = 0; n < nodes.size(); n++) {
      for (int w = 0; w < workersPerNode; w++) {
        Worker worker = new Worker(nodes.get(n), clients.get(n), "n" + n + "w" + w, cycles, deadline, holders,
            grants, violations, refused);
        workers.add(worker.run());
      }
    }
    Future.all(workers).await(120, TimeUnit.SECONDS);
    double secs = (System.nanoTime() - t0) / 1e9;
    int expected = nodes.size() * workersPerNode * cycles;
    LOG.info("cluster run: {} lease+validate+release cycles in {} s ({} cycles/s), {} refused with Connection limit",
        grants.size(), String.format("%.1f", secs), String.format("%.0f", grants.size() / secs), refused.get());
    assertEquals(List.of(), violations);
    assertEquals(expected, grants.size());
    Set<Long> tokens = new HashSet<>();
    Set<String> accounts = new HashSet<>();
    for (Grant g : grants) {
      assertTrue(tokens.add(g.token()), "token " + g.token() + " issued twice");
      accounts.add(g.accountId());
    }
    assertEquals(ACCOUNTS, accounts.size(), "every account was used (fair order), none lost");
    assertTrue(refused.get() > 0, "the run really contended for the pool (24 workers, 20 accounts)");
    for (PoolClient c : clients) {
      JsonObject s = c.status();
      assertEquals(ACCOUNTS, s.getInteger("free"), "every node sees all accounts back: " + s);
    }
    // Fencing: a token of an ended lease is refused on every node.
    Grant old = grants.get(0);
    for (PoolClient c : clients) {
      JsonObject stale = new JsonObject().put("accountId", old.accountId()).put("token", old.token());
      assertFalse(c.call(Addresses.POOL_VALIDATE, stale).getBoolean("current"));
      assertEquals(ErrorCode.STALE_TOKEN.code(), c.failureCode(Addresses.POOL_RELEASE, stale));
    }
  }

  /** Leases, checks it holds the account alone and it is current, releases; retries on "Connection limit". */
  private static final class Worker {
    private final Vertx vertx;
    private final PoolClient pool;
    private final String name;
    private final int cycles;
    private final long deadline;
    private final Map<String, Long> holders;
    private final List<Grant> grants;
    private final List<String> violations;
    private final AtomicInteger refused;
    private final Promise<Void> done = Promise.promise();

    Worker(Vertx vertx, PoolClient pool, String name, int cycles, long deadline, Map<String, Long> holders,
        List<Grant> grants, List<String> violations, AtomicInteger refused) {
      this.vertx = vertx;
      this.pool = pool;
      this.name = name;
      this.cycles = cycles;
      this.deadline = deadline;
      this.holders = holders;
      this.grants = grants;
      this.violations = violations;
      this.refused = refused;
    }

    Future<Void> run() {
      vertx.runOnContext(v -> cycle(0));
      return done.future();
    }

    private void cycle(int i) {
      if (i == cycles) {
        done.complete();
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        done.fail(name + " ran out of time at cycle " + i);
        return;
      }
      pool.request(Addresses.POOL_LEASE, new JsonObject().put("sessionId", name + "-" + i).put("nodeId", name))
          .onFailure(e -> {
            if (e instanceof ReplyException re && re.failureCode() == ErrorCode.NO_ACCOUNT.code()) {
              refused.incrementAndGet();
              vertx.setTimer(1, t -> cycle(i));
            } else {
              done.fail(e);
            }
          })
          .onSuccess(l -> {
            String id = l.getString("accountId");
            long token = l.getLong("token");
            grants.add(new Grant(id, token, name));
            Long other = holders.putIfAbsent(id, token);
            if (other != null) {
              violations.add(id + " granted to " + name + " (token " + token + ") while token " + other + " held it");
            }
            JsonObject lease = new JsonObject().put("accountId", id).put("token", token);
            pool.request(Addresses.POOL_VALIDATE, lease)
                .compose(r -> {
                  if (!r.getBoolean("current")) {
                    violations.add(id + " token " + token + " not current while held by " + name);
                  }
                  holders.remove(id, token);
                  return pool.request(Addresses.POOL_RELEASE, lease);
                })
                .onSuccess(r -> cycle(i + 1))
                .onFailure(done::fail);
          });
    }
  }

  // ---------------------------------------------------------------- waiting line

  @Test
  @Order(2)
  void theFirstFreedAccountGoesToTheLongestWaiterWhicheverNodeItIsOn() throws Exception {
    List<JsonObject> held = new ArrayList<>();
    for (int i = 0; i < ACCOUNTS; i++) {
      held.add(clients.get(i % 3).lease("h" + i));
    }
    // Waiters in order: w1 on node 2, w2 on node 3, w3 on node 1.
    int[] nodeOf = {1, 2, 0};
    Map<String, JsonObject> got = new ConcurrentHashMap<>();
    List<MessageConsumer<JsonObject>> sessions = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String sid = "w" + (i + 1);
      // Stand-in for the session's signalling consumer on its node (signalling is another verticle).
      sessions.add(nodes.get(nodeOf[i]).eventBus().<JsonObject>localConsumer(Addresses.session(sid), m -> {
        if ("lease".equals(m.body().getString("event"))) {
          got.put(sid, m.body());
          m.reply(new JsonObject().put("accepted", true));
        }
      }));
      JsonObject r = clients.get(nodeOf[i]).call(Addresses.POOL_LEASE,
          new JsonObject().put("sessionId", sid).put("wait", true));
      assertEquals(i + 1, r.getInteger("position"), sid + " queued at " + r);
    }
    assertEquals(3, clients.get(0).status().getInteger("waiting"));
    for (int i = 0; i < 3; i++) {
      clients.get(0).release(held.get(i));
      String sid = "w" + (i + 1);
      Eventually.until(Duration.ofSeconds(10), sid + " to get a lease", () -> got.containsKey(sid));
      assertEquals(held.get(i).getString("accountId"), got.get(sid).getString("accountId"));
      assertTrue(clients.get(nodeOf[i]).current(got.get(sid)));
      assertEquals(i + 1, got.size(), "only the longest waiter was served");
    }
    got.values().forEach(g -> clients.get(2).release(g));
    held.subList(3, ACCOUNTS).forEach(l -> clients.get(1).release(l));
    sessions.forEach(c -> c.unregister().await());
  }

  // ---------------------------------------------------------------- node failures

  private PeerProcess startOutsideNode(String nodeId, int port) throws IOException {
    Path cp = Path.of("target", "classpath.txt");
    String classpath = "target/test-classes:target/classes:" + Files.readString(cp, StandardCharsets.UTF_8).trim();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return PeerProcess.start(nodeId, List.of(java, "-Xmx256m", "-Djava.net.preferIPv4Stack=true", "-cp",
        classpath, PoolNodeMain.class.getName(), cluster, Integer.toString(port), TestCluster.portList(ports),
        Integer.toString(NO_HEARTBEAT_SEC), nodeId, "0", poolSection().encode()), null);
  }

  /** Has the outside node lease {@code n} accounts; returns them. */
  private static List<JsonObject> leaseOutside(PeerProcess p, int n) throws Exception {
    // Joining takes seconds, but up to the migration timeout (TestCluster) and more when partitions move
    // under the first test's load on a busy 2-core machine; the node itself gives up after 150 s.
    p.awaitLog(l -> l.equals("READY"), Duration.ofSeconds(180));
    command(p, "LEASE " + n);
    p.awaitLog(l -> l.equals("LEASED-DONE"), Duration.ofSeconds(30));
    return leasesOf(p);
  }

  private static void command(PeerProcess p, String line) throws IOException {
    p.process().getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
    p.process().getOutputStream().flush();
  }

  private static List<JsonObject> leasesOf(PeerProcess p) {
    return p.logText().lines().filter(l -> l.startsWith("LEASED ")).map(l -> l.split(" "))
        .map(w -> new JsonObject().put("accountId", w[1]).put("token", Long.parseLong(w[2]))).toList();
  }

  private long millisUntilFree(List<JsonObject> leases, Duration limit) throws InterruptedException {
    long t0 = System.nanoTime();
    Eventually.until(limit, "leases " + leases + " to be freed", () -> leases.stream().noneMatch(live()::current));
    return (System.nanoTime() - t0) / 1_000_000;
  }

  @Test
  @Order(3)
  void theLeasesOfANodeKilledAbruptlyAreFreeAgainWithinTheBound() throws Exception {
    try (PeerProcess victim = this.victim) {
      List<JsonObject> leases = leaseOutside(victim, 3);
      assertEquals(3, leases.size());
      JsonArray seen = clients.get(1).status().getJsonArray("leases");
      assertEquals(3, seen.stream().filter(o -> "victim".equals(((JsonObject) o).getString("nodeId"))).count(),
          "the other nodes see the victim's leases: " + seen);
      victim.process().destroyForcibly(); // SIGKILL: no graceful stop, no release
      assertTrue(victim.process().waitFor(10, TimeUnit.SECONDS));
      // Bound: Hazelcast drops the member after NO_HEARTBEAT_SEC; the TTL frees it after TTL + one beat.
      long bound = Math.min(NO_HEARTBEAT_SEC * 1000L, TTL_SEC * 1000L + Math.max(1000, TTL_SEC * 1000L / 3));
      long took = millisUntilFree(leases, Duration.ofMillis(bound + 5000));
      LOG.info("leases of the killed node were free again after {} ms (bound {} ms)", took, bound);
      assertTrue(took <= bound + 3000, "freed after " + took + " ms, bound " + bound + " ms");
      JsonObject again = clients.get(2).lease("after-kill");
      assertTrue(again.getLong("token") > leases.stream().mapToLong(l -> l.getLong("token")).max().orElseThrow());
      clients.get(2).release(again);
    }
  }

  @Test
  @Order(4)
  void aHungNodeLosesItsLeasesAfterTheTtlAndIsFencedAndToldWhenItWakesUp() throws Exception {
    try (PeerProcess hung = this.hung) {
      List<JsonObject> leases = leaseOutside(hung, 2);
      assertEquals(2, leases.size());
      // Its event loop stops (GC pause, overload) while Hazelcast keeps it a member: only the TTL can help.
      command(hung, "HANG " + (TTL_SEC * 1000 + 6000));
      hung.awaitLog(l -> l.equals("HANGING"), Duration.ofSeconds(10));
      long took = millisUntilFree(leases, Duration.ofSeconds(TTL_SEC + 10));
      LOG.info("leases of the hung node were free again after {} ms (TTL {} s)", took, TTL_SEC);
      assertTrue(took <= TTL_SEC * 1000L + TTL_SEC * 1000L / 3 + 3000, "freed after " + took + " ms");
      hung.awaitLog(l -> l.equals("AWAKE"), Duration.ofSeconds(20));
      // Its next heartbeat shows the leases are gone: each session is told, to close and lease again.
      for (JsonObject l : leases) {
        hung.awaitLog(line -> line.startsWith("EVENT ") && line.contains("\"revoked\"")
            && line.contains("\"token\":" + l.getLong("token")), Duration.ofSeconds(10));
      }
      JsonObject l0 = leases.get(0);
      command(hung, "VALIDATE " + l0.getString("accountId") + " " + l0.getLong("token"));
      hung.awaitLog(l -> l.startsWith("CURRENT "), Duration.ofSeconds(20));
      assertTrue(hung.logText().contains("CURRENT false"), "the woken node's lease is fenced");
      assertEquals(ErrorCode.STALE_TOKEN.code(), clients.get(1).failureCode(Addresses.POOL_RELEASE, l0),
          "a lease taken away by the TTL cannot be released by its old holder");
    }
    // The hung node stopped by SIGTERM-then-kill in close(): nothing of it may stay in the pool.
    Eventually.until(Duration.ofSeconds(15), "no lease left", () -> clients.get(0).status().getInteger("leased") == 0);
  }

  // ---------------------------------------------------------------- late joiner and reconciliation

  @Test
  @Order(5)
  void aLateJoiningNodeSeesTheSamePoolAndReconcilesItsAccountListWithoutDroppingLeases() throws Exception {
    JsonObject kept = clients.get(0).lease("kept");
    if (kept.getString("accountId").equals("u1")) {
      // u1 has a part of its own below; which account comes first depends on the earlier tests' releases.
      JsonObject other = clients.get(0).lease("kept-2");
      clients.get(0).release(kept);
      kept = other;
    }
    JsonObject retiring = null;
    for (int i = 0; i < ACCOUNTS && retiring == null; i++) {
      JsonObject l = clients.get(0).lease("r" + i);
      if (!l.getString("accountId").equals("u1") && !l.getString("accountId").equals(kept.getString("accountId"))) {
        retiring = l;
      } else {
        clients.get(0).release(l);
      }
    }
    // The late node is configured with: the kept account, u1, and two new ones; nothing else.
    JsonArray accounts = new JsonArray();
    for (String u : Set.of(kept.getString("accountId"), "u1", "v1", "v2")) {
      accounts.add(new JsonObject().put("username", u).put("password", "pw-" + u));
    }
    Vertx late = TestCluster.start(TestCluster.hazelcast(cluster, ports.get(5), ports, NO_HEARTBEAT_SEC))
        .await(60, TimeUnit.SECONDS);
    try {
      PoolClient lateClient = new PoolClient(late);
      deployPool(late, "late", new JsonObject().put("accounts", accounts).put("leaseTtlSec", TTL_SEC));
      JsonObject s = lateClient.status();
      Set<String> leased = new HashSet<>();
      s.getJsonArray("leases").forEach(o -> leased.add(((JsonObject) o).getString("accountId")));
      assertEquals(Set.of(kept.getString("accountId"), retiring.getString("accountId")), leased,
          "the late node sees the leases made on node 1: " + s);
      assertTrue(lateClient.current(kept), "a valid lease survives the reconciliation");
      assertTrue(lateClient.current(retiring), "a removed account stays usable until its lease ends");
      assertEquals(5, s.getInteger("total"), "4 configured + 1 retiring: " + s);
      assertEquals(3, s.getInteger("free"));
      clients.get(1).release(retiring);
      assertEquals(4, lateClient.status().getInteger("total"), "the retired account is gone after its release");
      clients.get(2).release(kept);
      // Back to the class's pool for the other tests: a node restarts with the original list.
      late.close().await(60, TimeUnit.SECONDS);
      late = null;
      String dep = deployPool(nodes.get(0), "n1b", poolSection());
      nodes.get(0).undeploy(dep).await(30, TimeUnit.SECONDS);
    } finally {
      if (late != null) {
        late.close().await(60, TimeUnit.SECONDS);
      }
    }
  }

  // ---------------------------------------------------------------- the owner of the state dies

  @Test
  @Order(6)
  void whenTheNodeHoldingThePoolStateCrashesTheBackupKeepsEveryLeaseAndToken() throws Exception {
    HazelcastInstance any = hazelcast(nodes.get(0));
    // The outside nodes of earlier tests are gone; wait until the cluster has noticed and moved partitions.
    Eventually.until(Duration.ofSeconds(30), "a safe cluster of the three in-JVM nodes",
        () -> any.getCluster().getMembers().size() == 3 && any.getPartitionService().isClusterSafe());
    UUID owner = any.getPartitionService().getPartition(HazelcastPoolStore.KEY).getOwner().getUuid();
    int ownerIndex = -1;
    for (int i = 0; i < nodes.size(); i++) {
      if (hazelcast(nodes.get(i)).getCluster().getLocalMember().getUuid().equals(owner)) {
        ownerIndex = i;
      }
    }
    assertTrue(ownerIndex >= 0, "one of the three in-JVM nodes owns the pool state");
    int a = (ownerIndex + 1) % 3;
    int b = (ownerIndex + 2) % 3;
    List<JsonObject> held = List.of(clients.get(a).lease("keep-a1"), clients.get(a).lease("keep-a2"),
        clients.get(b).lease("keep-b1"));
    long maxToken = held.stream().mapToLong(l -> l.getLong("token")).max().orElseThrow();
    Vertx victim = nodes.get(ownerIndex);
    crashed.add(victim);
    hazelcast(victim).getLifecycleService().terminate(); // no graceful hand-over of its partitions
    for (JsonObject l : held) {
      assertTrue(clients.get(a).current(l), "lease " + l + " survived the owner's crash");
      assertTrue(clients.get(b).current(l));
    }
    JsonObject s = clients.get(b).status();
    assertEquals(ACCOUNTS, s.getInteger("total"), "no account lost: " + s);
    assertEquals(3, s.getInteger("leased"));
    JsonObject next = clients.get(b).lease("after-crash");
    assertTrue(next.getLong("token") > maxToken, "tokens keep growing on the promoted backup");
    clients.get(a).release(next);
    held.forEach(l -> clients.get(b).release(l));
  }

  private static HazelcastInstance hazelcast(Vertx vx) {
    return ((HazelcastClusterManager) ((VertxInternal) vx).clusterManager()).getHazelcastInstance();
  }

}
