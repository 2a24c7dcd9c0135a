package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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

/**
 * The deploy/ directory as an operator installs it, on several hosts ({@link JarClusterBed}: three nodes from the
 * packaged jar, each on a host of its own, behind HAProxy with deploy/haproxy.cfg; Kamailio and a SIPp echo as the
 * PBX; headless Chromium through HAProxy): a call with audio both ways, and a node killed mid-call.
 *
 * <p>The pool has one account, so the browser's fresh session after a node is killed leases the very account the
 * dead node held registered: what sip.clearBindingsOnLease is for. Three nodes because the shipped split-brain
 * protection refuses pool operations to a member that sees fewer than two.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeployedClusterIT {
  private static final String ACCOUNT = "1000";
  private static final String ECHO = JarClusterBed.ECHO;
  private static final String PAGE = JarClusterBed.PAGE;
  /** docs/deploy.md's bound: a killed member is removed at the latest after hazelcast.max.no.heartbeat.seconds. */
  private static final Duration LEASE_BOUND = Duration.ofSeconds(10);
  private static final Pattern CONTACT_HOST = Pattern.compile("sip:" + ACCOUNT + "@([0-9.]+):");

  private JarClusterBed bed;
  private Browser browser;

  @BeforeAll
  @Timeout(value = 12, unit = TimeUnit.MINUTES) // three JVMs, HAProxy, Kamailio and Chromium on a shared 2-core machine
  void startTheDeployment(@TempDir Path tmp) throws Exception {
    bed = JarClusterBed.start(tmp, 3, 1);
    browser = bed.browser();
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
        bed.node(owner).restart(3);
      }
    }
  }

  /** One SIGKILL of the node holding the line; returns that node's index. */
  private int killTheHolderAndAwaitAFreshLine(int round) throws Exception {
    String session = String.valueOf(browser.js("return window.webphone.client.sessionId"));
    int owner = nodeHolding(contacts());
    int freedBefore = freedCount(owner);
    long killedAt = System.nanoTime();
    bed.node(owner).jvm().kill();

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
    for (JarClusterBed.Node node : bed.nodes()) {
      if (node != bed.node(owner)) {
        n += (int) node.jvm().logText().lines().filter(l -> l.contains("freed 1 leases")).count();
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
    bed.kamailio().assertAlive();
    return bed.kamailio().contacts(ACCOUNT);
  }

  /** Which node (index) a contact names, by its address. */
  private int nodeHolding(List<String> contacts) {
    assertEquals(1, contacts.size(), "one contact expected: " + contacts);
    Matcher m = CONTACT_HOST.matcher(contacts.get(0));
    assertTrue(m.find(), "a contact of " + ACCOUNT + ": " + contacts.get(0));
    for (int i = 0; i < bed.nodes().size(); i++) {
      if (bed.node(i).host().address().equals(m.group(1))) {
        return i;
      }
    }
    throw new AssertionError("the contact " + contacts.get(0) + " names no node");
  }

  @AfterAll
  void stop() {
    if (bed != null) {
      bed.close();
    }
  }
}
