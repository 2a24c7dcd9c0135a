package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which of this node's leases a heartbeat shows as taken away. */
class LocalLeasesTest {
  @Test
  void onlyLeasesTheClusterNoLongerHasForThisNodeAreRevokedAndLaterOnesAreNotJudged() {
    LocalLeases l = new LocalLeases();
    l.granted("a", 1, "s1");
    l.granted("b", 2, "s2");
    l.granted("a", 5, "s3"); // the same account, leased here again after the node was fenced
    l.granted("c", 7, "s4"); // granted after the heartbeat ran
    List<LocalLeases.Held> revoked = l.revoked(Map.of("a", 5L, "b", 2L), 6);
    assertEquals(List.of(new LocalLeases.Held("a", 1, "s1")), revoked);
    assertEquals(3, l.size());
    assertEquals(List.of(), l.revoked(Map.of("a", 5L, "b", 2L), 6), "told once");
  }

  @Test
  void aLeaseBeingReleasedIsNotReportedAsRevoked() {
    LocalLeases l = new LocalLeases();
    l.granted("a", 1, "s1");
    l.granted("b", 2, "s2");
    l.releasing("a", 1);
    l.releasingSession("s2");
    assertEquals(List.of(), l.revoked(Map.of(), 10));
    assertEquals(0, l.size());
  }

  @Test
  void theConfirmedSetIsWhatTheLastHeartbeatListedPlusLaterGrantsAndEveryChangeIsTold() {
    List<String> told = new ArrayList<>();
    LocalLeases l = new LocalLeases(new LocalLeases.Changes() {
      @Override
      public void confirmed(String accountId, long token) {
        told.add("+" + accountId + token);
      }

      @Override
      public void unconfirmed(String accountId, long token) {
        told.add("-" + accountId + token);
      }
    });
    l.granted("a", 1, "s1");
    assertEquals(Map.of(), l.confirmed(), "nothing is confirmed before the first heartbeat");
    l.granted("b", 2, "s2");
    l.granted("c", 3, "s3");
    l.revoked(Map.of("a", 1L, "c", 3L), 4); // b was taken away
    assertEquals(Map.of("a", 1L, "c", 3L), l.confirmed());
    l.granted("d", 5, "s4"); // after the heartbeat: confirmed with it
    l.granted("b", 4, "s5"); // judged by the heartbeat (its answer overtook this one) and not listed: not confirmed
    l.granted("e", 3, "s6"); // judged and not listed either (tokens are per pool, not per account)
    assertEquals(Map.of("a", 1L, "c", 3L, "d", 5L), l.confirmed());
    l.releasing("a", 1);
    l.releasingSession("s3");
    l.releasing("b", 4); // was never confirmed: nothing to tell
    assertEquals(Map.of("d", 5L), l.confirmed());
    assertEquals(List.of("+d5", "-a1", "-c3"), told);
    l.releasingSession("s4");
    l.releasingSession("s6");
    assertEquals(Map.of(), l.confirmed(), "released leases leave the set: nothing stays behind");
    assertEquals(0, l.size());
  }
}
