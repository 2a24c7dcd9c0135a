package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pool's rules on the state itself, with explicit clocks: expiry, member loss, reconciliation, replay. */
class PoolStateTest {
  private static final long T0 = 1_700_000_000_000L;

  private static ArrayList<PoolState.Cred> creds(String... names) {
    ArrayList<PoolState.Cred> l = new ArrayList<>();
    for (String n : names) {
      l.add(new PoolState.Cred(n, "pw-" + n, n, n));
    }
    return l;
  }

  private static PoolState pool(String... names) {
    PoolState s = new PoolState(T0);
    s.reconcile(creds(names), T0);
    return s;
  }

  @Test
  void tokensStartAboveEveryTokenOfAPoolCreatedEarlier() {
    PoolState before = pool("a");
    for (int i = 0; i < 1000; i++) {
      PoolState.Grant g = before.lease("s" + i, "n", "m", false, 0, T0).grant();
      before.release(g.lease().accountId(), g.lease().token(), T0);
    }
    PoolState restarted = new PoolState(T0 + 1000);
    restarted.reconcile(creds("a"), T0 + 1000);
    long first = restarted.lease("x", "n", "m", false, 0, T0 + 1000).grant().lease().token();
    assertTrue(first > before.lastToken(), "a cluster restarted a second later issues bigger tokens");
  }

  @Test
  void leasesOfAMemberThatStopsHeartbeatingExpireAfterTheTtlAndGoToWaiters() {
    PoolState s = pool("a", "b");
    PoolState.Grant ga = s.lease("s1", "n1", "m1", false, 10, T0).grant();
    PoolState.Grant gb = s.lease("s2", "n2", "m2", false, 10, T0).grant();
    assertEquals(1, s.lease("w", "n2", "m2", true, 10, T0).position());
    long ttl = 3000;
    assertEquals(0, s.heartbeat("m2", T0 + 2000, ttl).dropped().freed(), "m1 is not late yet");
    PoolState.HeartbeatResult h = s.heartbeat("m2", T0 + 3500, ttl);
    assertEquals(java.util.Map.of(gb.lease().accountId(), gb.lease().token(), ga.lease().accountId(),
        h.dropped().handed().get(0).lease().token()), h.mine(), "m2 holds its own lease and the one handed to w");
    PoolState.DropResult r = h.dropped();
    assertEquals(1, r.freed(), "m1 was silent longer than the TTL");
    assertEquals(1, r.handed().size());
    assertEquals("w", r.handed().get(0).lease().sessionId());
    assertEquals(ga.lease().accountId(), r.handed().get(0).lease().accountId());
    assertFalse(s.isCurrent(ga.lease().accountId(), ga.lease().token()), "the silent holder is fenced");
    assertTrue(s.isCurrent(gb.lease().accountId(), gb.lease().token()), "the live member keeps its lease");
  }

  @Test
  void aMemberThatLeftLosesItsLeasesAndItsPlacesInLine() {
    PoolState s = pool("a");
    s.lease("s1", "n1", "m1", false, 10, T0);
    s.lease("w1", "n1", "m1", true, 10, T0);
    s.lease("w2", "n2", "m2", true, 10, T0);
    PoolState.DropResult r = s.dropMember("m1", T0);
    assertEquals(1, r.freed());
    assertEquals(1, r.unqueued());
    assertEquals("w2", r.handed().get(0).lease().sessionId(), "the account skips the gone waiter");
    assertEquals(0, s.dropMember("m1", T0).freed(), "dropping twice (every node hears the event) is harmless");
  }

  @Test
  void reconcilingKeepsValidLeasesRetiresRemovedLeasedAccountsAndAddsNewOnes() {
    PoolState s = pool("a", "b", "c");
    PoolState.Grant ga = s.lease("s1", "n", "m", false, 0, T0).grant();
    assertEquals("a", ga.lease().accountId());
    PoolState.ReconcileResult r = s.reconcile(creds("b", "d"), T0);
    assertEquals(1, r.added());
    assertEquals(1, r.removed(), "c was free and goes at once");
    assertEquals(1, r.retiring(), "a is leased and stays until released");
    assertTrue(s.isCurrent("a", ga.lease().token()));
    assertEquals(List.of("b", "d"), s.freeOrder());
    assertEquals(PoolState.ReleaseStatus.RELEASED, s.release("a", ga.lease().token(), T0).status());
    assertEquals(2, s.counts().total(), "a is gone after its lease ended");
    assertEquals(PoolState.ReleaseStatus.NOT_FOUND, s.release("a", ga.lease().token(), T0).status());
  }

  @Test
  void aReplayedOpOnACopyGivesTheSameStateAsOnTheOriginal() throws Exception {
    // Hazelcast applies each op to the primary and again to the backup copy: both must agree.
    PoolState primary = pool("a", "b", "c");
    primary.lease("s1", "n", "m1", false, 10, T0);
    primary.lease("s2", "n", "m2", false, 10, T0);
    primary.lease("s3", "n", "m3", false, 10, T0);
    primary.lease("w1", "n", "m3", true, 10, T0);
    primary.lease("w2", "n", "m3", true, 10, T0);
    PoolState backup = copy(primary);
    PoolOp.Heartbeat op = new PoolOp.Heartbeat("m3", 1000, T0 + 5000);
    PoolState.HeartbeatResult a = op.apply(primary);
    // m3 is the caller, so only m1 and m2 expire
    PoolState.HeartbeatResult b = op.apply(backup);
    assertEquals(2, a.dropped().handed().size());
    assertEquals(a, b);
    assertEquals(primary.status(), backup.status());
  }

  @Test
  void aLeaseWithoutWaitingLineOnAnEmptyPoolIsRefused() {
    PoolState s = pool("a");
    assertNotNull(s.lease("s1", "n", "m", false, 10, T0).grant());
    PoolState.LeaseResult r = s.lease("s2", "n", "m", false, 10, T0);
    assertNull(r.grant());
    assertEquals(0, r.position());
    assertEquals(0, s.lease("s3", "n", "m", true, 0, T0).position(), "a full waiting line refuses too");
  }

  /** A copy as the backup gets it: through the pool's cluster format. */
  private static PoolState copy(PoolState s) {
    return PoolState.fromJson(PoolCodec.parse(PoolCodec.bytes(s.toJson()), "poolState"));
  }

  @Test
  void aNamedLineGoesOnlyToItsAgentAndASecondSessionTakesItOverWithABiggerToken() {
    PoolState s = new PoolState(T0);
    java.util.Map<String, PoolState.Cred> agents = new java.util.LinkedHashMap<>();
    agents.put("alice", new PoolState.Cred("2001", "pw", "2001", "Alice"));
    s.reconcile(creds("a"), agents, T0);
    assertEquals(1, s.counts().total(), "the named line is not part of the anonymous pool");
    assertEquals("a", s.lease("v1", "n", "m", false, 0, T0).grant().lease().accountId());
    assertNull(s.lease("v2", "n", "m", true, 10, T0).grant(), "an anonymous session never gets 2001");
    assertTrue(s.cancelWait("v2"));
    assertNull(s.leaseNamed("s0", "mallory", "n", "m", T0).grant(), "no line for an unknown identity");

    PoolState.NamedResult first = s.leaseNamed("s1", "alice", "n1", "m1", T0);
    assertEquals("2001", first.grant().lease().accountId());
    assertNull(first.previous());
    assertEquals(first.grant().lease(), s.leaseNamed("s1", "alice", "n1", "m1", T0).grant().lease(),
        "a repeated request of the same session gets the same lease");
    PoolState.NamedResult second = s.leaseNamed("s2", "alice", "n2", "m2", T0 + 1);
    assertEquals(first.grant().lease(), second.previous(), "the takeover names the lease it ended");
    assertTrue(second.grant().lease().token() > first.grant().lease().token());
    assertFalse(s.isCurrent("2001", first.grant().lease().token()), "the old holder is fenced");
    assertEquals(PoolState.ReleaseStatus.STALE, s.release("2001", first.grant().lease().token(), T0).status());
    assertEquals(PoolState.ReleaseStatus.RELEASED,
        s.release("2001", second.grant().lease().token(), T0 + 2).status());
    assertEquals(List.of(), s.freeOrder(), "a released named line waits for its agent, not in the free line");
    assertEquals("2001", s.leaseNamed("s3", "alice", "n", "m", T0 + 3).grant().lease().accountId());
  }
}
