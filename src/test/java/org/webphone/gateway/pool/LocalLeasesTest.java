package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
