package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The failover rules of {@link PbxRegistrars}, fed the outcomes PbxWatch and the lines report (the real
 * exchange with two Kamailio registrars is {@link SipRegistrarFailoverTest}).
 */
class PbxRegistrarsTest {
  private static final PbxTarget A = new PbxTarget("192.0.2.1", 5060, "primary");
  private static final PbxTarget B = new PbxTarget("192.0.2.2", 5060, "secondary");
  private static final PbxTarget C = new PbxTarget("192.0.2.3", 5060, "secondary SRV");

  private final List<String> moves = new ArrayList<>();
  private final List<List<PbxTarget>> sets = new ArrayList<>();

  private PbxRegistrars registrars(PbxTarget... targets) {
    return new PbxRegistrars(List.of(targets), 3, 2, new PbxRegistrars.Listener() {
      @Override
      public void moved(PbxTarget from, PbxTarget to, String why) {
        moves.add(from.address() + "->" + to.address() + " " + why.split(":")[0]);
      }

      @Override
      public void targetsChanged(List<PbxTarget> targets) {
        sets.add(targets);
      }
    });
  }

  @Test
  void threeUnansweredKeepAlivesInARowMoveTheLinesToTheNextRegistrar() {
    PbxRegistrars r = registrars(A, B);
    r.keepAlive(A, false);
    r.keepAlive(A, false);
    r.keepAlive(A, true); // an answer resets the count
    r.keepAlive(A, false);
    r.keepAlive(A, false);
    assertEquals(A, r.current());
    r.keepAlive(A, false);
    assertEquals(B, r.current());
    assertEquals(List.of("192.0.2.1->192.0.2.2 failover"), moves);
    assertEquals(1, r.failovers());
    assertFalse(r.onPreferred());
  }

  @Test
  void thePreferredRegistrarAnsweringTwiceInARowBringsTheLinesBack() {
    PbxRegistrars r = registrars(A, B);
    assertTrue(r.registerUnanswered(A));
    r.keepAlive(A, true);
    r.keepAlive(A, false); // not twice in a row
    r.keepAlive(B, true);
    r.keepAlive(A, true);
    assertEquals(B, r.current());
    r.keepAlive(A, true);
    assertEquals(A, r.current());
    assertEquals(List.of("192.0.2.1->192.0.2.2 failover", "192.0.2.2->192.0.2.1 failback"), moves);
    assertEquals("{\"current\":\"192.0.2.1:5060\",\"preferred\":true,\"targets\":[\"192.0.2.1:5060\","
        + "\"192.0.2.2:5060\"],\"failovers\":1,\"failbacks\":1}", r.status().encode());
  }

  @Test
  void onlyTheFirstReportOfAnOutageMovesTheLines() {
    PbxRegistrars r = registrars(A, B, C);
    assertTrue(r.registerUnanswered(A));
    assertFalse(r.registerUnanswered(A), "the other lines' timeouts name the old registrar");
    assertEquals(B, r.current());
    assertTrue(r.registerUnanswered(B));
    assertEquals(C, r.current());
    assertTrue(r.registerUnanswered(C));
    assertEquals(A, r.current(), "after the last, the first again");
    assertEquals(3, r.failovers());
  }

  @Test
  void withASingleRegistrarNothingMoves() {
    PbxRegistrars r = registrars(A);
    for (int i = 0; i < 5; i++) {
      r.keepAlive(A, false);
    }
    assertFalse(r.registerUnanswered(A));
    assertEquals(List.of(), moves);
    assertEquals(0, r.failovers());
  }

  @Test
  void reResolutionKeepsTheCurrentRegistrarWhileDnsStillNamesIt() {
    PbxRegistrars r = registrars(A, B);
    r.registerUnanswered(A);
    r.resolved(List.of(A, B, C));
    assertEquals(B, r.current());
    assertEquals(List.of(List.of(A, B, C)), sets);
    r.resolved(List.of()); // DNS failed: the last good list stays
    assertEquals(List.of(A, B, C), r.targets());
    r.resolved(List.of(C, A));
    assertEquals(C, r.current(), "B is gone from DNS: the lines go to the new first");
    assertEquals(List.of("192.0.2.1->192.0.2.2 failover", "192.0.2.2->192.0.2.3 re-resolution"), moves);
  }
}
