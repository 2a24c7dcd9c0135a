package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Haproxy;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.NetnsBed;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestCa;

/**
 * The deploy/ directory as an operator installs it, on several hosts: three nodes, each in its own network namespace
 * with its own address, started from the packaged jar with webphone.service's ExecStart and webphone.env's flags
 * (only the paths replaced by the test's), each with deploy/gateway.json (addresses, PBX and pool replaced) and
 * deploy/cluster.xml (addresses replaced); HAProxy with deploy/haproxy.cfg (addresses and certificate path
 * replaced) ending TLS with a {@link TestCa} certificate the browser trusts; Kamailio as registrar and proxy, SIPp
 * answering extension 700 with an RTP echo; headless Chromium on a host of its own.
 *
 * <p>The pool has one account, so the browser's fresh session after a node is killed leases the very account the
 * dead node held registered: what sip.clearBindingsOnLease is for. Three nodes because the shipped split-brain
 * protection refuses pool operations to a member that sees fewer than two.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeployedClusterIT {
  private static final String LB = NetnsBed.SUBNET + "10";
  private static final String PBX = NetnsBed.SUBNET + "20";
  private static final int[] NODE_OCTETS = {11, 12, 13};
  private static final String ACCOUNT = "1000";
  private static final String ECHO = "700";
  private static final String PAGE = "https://" + LB;
  /** docs/deploy.md's bound: a killed member is removed at the latest after hazelcast.max.no.heartbeat.seconds. */
  private static final Duration LEASE_BOUND = Duration.ofSeconds(10);
  private static final Pattern CONTACT_HOST = Pattern.compile("sip:" + ACCOUNT + "@([0-9.]+):");

  private NetnsBed bed;
  private final List<GatewayJvm> nodes = new ArrayList<>();
  private final List<NetnsBed.Host> nodeHosts = new ArrayList<>();
  /** Each node's command and working directory, to start it again after a kill. */
  private final List<List<String>> commands = new ArrayList<>();
  private final List<Path> workDirs = new ArrayList<>();
  private Sipp sipp;
  private Kamailio kamailio;
  private Haproxy haproxy;
  private Browser browser;

  @BeforeAll
  @Timeout(value = 8, unit = TimeUnit.MINUTES) // three JVMs, HAProxy, Kamailio and Chromium on a shared 2-core machine
  void startTheDeployment(@TempDir Path tmp) throws Exception {
    Path deploy = Path.of(System.getProperty("project.basedir", ".")).resolve("deploy");
    Path jar = GatewayJvm.packagedJar();
    bed = NetnsBed.create();
    NetnsBed.Host lbHost = bed.host("lb", 10);
    NetnsBed.Host pbxHost = bed.host("pbx", 20);
    NetnsBed.Host browserHost = bed.host("browser", 30);
    // SIPp's own global timeout is raised: it runs while three JVMs start on a shared machine.
    sipp = Sipp.uasIn(pbxHost, PBX, "uas-answer.xml", "-m", "5", "-rtp_echo", "-timeout", "600");
    kamailio = Kamailio.startIn(pbxHost, Map.of(ACCOUNT, "secret-" + ACCOUNT), Map.of(ECHO, PBX + ":" + sipp.port()),
        PBX, 5060);

    Path etc = Files.createDirectories(tmp.resolve("etc"));
    Path clusterXml = etc.resolve("cluster.xml");
    Files.writeString(clusterXml, onTheBed(Files.readString(deploy.resolve("cluster.xml"))));
    List<String> execStart = DeployUnit.read(deploy).execStart();
    for (int i = 0; i < NODE_OCTETS.length; i++) {
      NetnsBed.Host h = bed.host("node" + (i + 1), NODE_OCTETS[i]);
      nodeHosts.add(h);
      Path cfg = etc.resolve("gateway-" + (i + 1) + ".json");
      Files.writeString(cfg, nodeConfig(Files.readString(deploy.resolve("gateway.json")), i, clusterXml).encodePrettily());
      List<String> cmd = DeployUnit.withPaths(execStart, Map.of(
          "/usr/bin/java", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "/opt/webphone/webphone-gateway.jar", jar.toString(),
          "/etc/webphone/gateway.json", cfg.toString()));
      // The unit's WorkingDirectory: empty, so the page can only come from inside the jar.
      commands.add(cmd);
      workDirs.add(Files.createDirectories(tmp.resolve("var-lib-webphone-" + (i + 1))));
      nodes.add(GatewayJvm.startJar(h, cmd, workDirs.get(i)));
      // Two at a time on a 2-core machine: the first two make the pool's quorum, the third joins them.
      if (i == 1 || i == NODE_OCTETS.length - 1) {
        for (GatewayJvm n : nodes) {
          n.awaitReady(Duration.ofSeconds(240));
        }
      }
    }

    TestCa ca = TestCa.create(Files.createDirectories(tmp.resolve("ca")));
    TestCa.Issued cert = ca.issue("lb", LB);
    Path pem = etc.resolve("webphone.pem");
    Files.writeString(pem, Files.readString(cert.chain()) + Files.readString(cert.key()));
    String cfg = onTheBed(Files.readString(deploy.resolve("haproxy.cfg")))
        .replace("/etc/haproxy/certs/webphone.pem", pem.toString());
    haproxy = Haproxy.start(lbHost, cfg, tmp.resolve("haproxy"));
    for (int i = 1; i <= NODE_OCTETS.length; i++) {
      String server = "node" + i;
      Eventually.until(Duration.ofSeconds(20), "HAProxy's health check of " + server + " to pass",
          () -> haproxy.stat("gateways", server, "check_status").equals("L7OK"));
    }
    browser = bed.browser(browserHost, Browser.tone(tmp, 440, 300), PAGE, ReachBed.trustingHome(tmp, ca));
  }

  /** deploy/ addresses (nodes and proxy in 10.0.1.*, the PBX 10.0.2.5) on the bed's subnet. */
  private static String onTheBed(String text) {
    return text.replace("10.0.2.5", PBX).replace("10.0.1.", NetnsBed.SUBNET);
  }

  /**
   * deploy/gateway.json (written for node1, 10.0.1.11) for node {@code i}: its addresses and id, the test's
   * cluster.xml, the page's origin, and the one pool account Kamailio knows.
   */
  private static JsonObject nodeConfig(String example, int i, Path clusterXml) {
    JsonObject c = new JsonObject(onTheBed(example.replace("10.0.1.11", NetnsBed.SUBNET + NODE_OCTETS[i])));
    c.getJsonObject("node").put("id", "node" + (i + 1));
    c.getJsonObject("cluster").put("config", clusterXml.toString());
    c.getJsonObject("http").put("publicOrigin", PAGE);
    c.getJsonObject("pool").put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
        .put("passwordTemplate", "secret-{user}"));
    return c;
  }

  @Test
  @Order(1)
  void aCallThroughHaproxyReachesThePbxWithAudioBothWays() throws Exception {
    browser.open(PAGE + "/");
    browser.awaitStatus("Ready", Duration.ofSeconds(60));
    assertEquals(1, contacts().size(), "the line is registered once: " + contacts());
    browser.dialWithKeypad(ECHO);
    browser.click("Call");
    browser.awaitStatus("In call", Duration.ofSeconds(30));
    browser.remoteAudio(3000).assertEchoOf(440);
  }

  /**
   * Kills the node holding the line mid-call. With {@code -Ddeploy.killRounds=N} (bench/sigkill-recovery.sh) it
   * then starts that node again from the jar and kills the next holder, N times, printing each recovery time.
   */
  @Test
  @Order(2)
  void aNodeKilledMidCallLosesTheCallAndTheBrowserGetsAFreshLineOnASurvivorRegisteredOnce() throws Exception {
    browser.awaitStatus("In call", Duration.ofSeconds(5));
    int rounds = Integer.getInteger("deploy.killRounds", 1);
    for (int round = 1; round <= rounds; round++) {
      int owner = killTheHolderAndAwaitAFreshLine(round);
      if (round < rounds) {
        nodes.set(owner, GatewayJvm.startJar(nodeHosts.get(owner), commands.get(owner), workDirs.get(owner)));
        nodes.get(owner).awaitReady(Duration.ofSeconds(240));
        Eventually.until(Duration.ofSeconds(30), "HAProxy to see node" + (owner + 1) + " again",
            () -> haproxy.stat("gateways", "node" + (owner + 1), "check_status").equals("L7OK"));
      }
    }
  }

  /** One SIGKILL of the node holding the line; returns that node's index. */
  private int killTheHolderAndAwaitAFreshLine(int round) throws Exception {
    String session = String.valueOf(browser.js("return window.webphone.client.sessionId"));
    int owner = nodeHolding(contacts());
    int freedBefore = freedCount(owner);
    long killedAt = System.nanoTime();
    nodes.get(owner).kill();

    long leaseBackMs = awaitLeaseFreedBySurvivor(owner, freedBefore, killedAt);
    System.out.println("round " + round + ": lease back after SIGKILL: " + leaseBackMs + " ms");
    assertTrue(leaseBackMs <= LEASE_BOUND.toMillis(), "the lease came back after " + leaseBackMs + " ms, bound "
        + LEASE_BOUND.toMillis() + " ms");

    // The page reconnects through HAProxy; its resume token named a session that died with the node: a fresh one.
    Eventually.until(Duration.ofSeconds(90), "the page to have a fresh session and a line",
        () -> "Ready".equals(browser.status())
            && !session.equals(String.valueOf(browser.js("return window.webphone.client.sessionId"))));
    long readyAt = System.nanoTime();
    // The fresh line cleared the dead node's binding before registering its own: one contact, a survivor's.
    Eventually.until(Duration.ofSeconds(2), "exactly one contact of " + ACCOUNT + " at Kamailio, a survivor's",
        () -> contacts().size() == 1 && nodeHolding(contacts()) != owner);
    System.out.println("round " + round + ": one contact " + (System.nanoTime() - readyAt) / 1_000_000
        + " ms after the page was Ready: " + contacts());
    assertNotEquals(owner, nodeHolding(contacts()));
    return owner;
  }

  /** How many "freed 1 leases" lines the nodes other than {@code owner} logged so far. */
  private int freedCount(int owner) {
    int n = 0;
    for (int i = 0; i < nodes.size(); i++) {
      if (i != owner) {
        n += (int) nodes.get(i).logText().lines().filter(l -> l.contains("freed 1 leases")).count();
      }
    }
    return n;
  }

  /** The time from the SIGKILL to a survivor's log saying it freed the dead member's lease. */
  private long awaitLeaseFreedBySurvivor(int owner, int freedBefore, long killedAt) throws InterruptedException {
    Eventually.until(Duration.ofSeconds(60), "a survivor to free the killed node's lease",
        () -> freedCount(owner) > freedBefore);
    return (System.nanoTime() - killedAt) / 1_000_000;
  }

  private List<String> contacts() throws IOException, InterruptedException {
    kamailio.assertAlive();
    return kamailio.contacts(ACCOUNT);
  }

  /** Which node (index) a contact names, by its address. */
  private int nodeHolding(List<String> contacts) {
    assertEquals(1, contacts.size(), "one contact expected: " + contacts);
    Matcher m = CONTACT_HOST.matcher(contacts.get(0));
    assertTrue(m.find(), "a contact of " + ACCOUNT + ": " + contacts.get(0));
    for (int i = 0; i < nodeHosts.size(); i++) {
      if (nodeHosts.get(i).address().equals(m.group(1))) {
        return i;
      }
    }
    throw new AssertionError("the contact " + contacts.get(0) + " names no node");
  }

  @AfterAll
  void stop() {
    List<AutoCloseable> all = new ArrayList<>();
    all.add(browser);
    all.add(haproxy);
    all.addAll(nodes);
    all.add(kamailio);
    all.add(sipp);
    for (AutoCloseable c : all) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        System.err.println("deployed cluster: closing " + c + ": " + e);
      }
    }
    if (bed != null) {
      bed.close();
    }
  }
}
