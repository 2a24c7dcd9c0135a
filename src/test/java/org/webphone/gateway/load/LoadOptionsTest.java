package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LoadOptionsTest {
  @Test
  void optionsOverrideTheDefaultsAndBadOnesNameTheOption() {
    LoadOptions o = LoadOptions.parse(new String[] {"--clients", "100", "--calls", "1000", "--rate", "12.5",
        "--hold-ms", "500", "--number", "1001", "--duration", "90", "--mode", "answer", "--target", "cluster"});
    assertEquals(100, o.clients());
    assertEquals(1000, o.calls());
    assertEquals(12.5, o.rate());
    assertEquals(500, o.holdMs());
    assertEquals("1001", o.number());
    assertEquals(90, o.durationSec());
    assertEquals("answer", o.mode());
    assertEquals("cluster", o.target());
    assertEquals(10_000, o.setupTimeoutMs());
    assertEquals(false, o.media());

    LoadOptions m = LoadOptions.parse(new String[] {"--media", "--clients", "3", "--media-timeout-ms", "2500"});
    assertEquals(true, m.media(), "--media is a flag: it takes no value");
    assertEquals(3, m.clients());
    assertEquals(2500, m.mediaTimeoutMs());
    assertEquals(5000, LoadOptions.defaults().mediaTimeoutMs());

    assertMessage("--clients: must be 1..100000, got 0", "--clients", "0");
    assertMessage("--rate: must be a number, got \"fast\"", "--rate", "fast");
    assertMessage("--mode: must be one of call, answer, got \"dance\"", "--mode", "dance");
    assertMessage("--speed: unknown option", "--speed", "1");
    assertMessage("--calls: needs a value (or unknown option)", "--calls");
    assertMessage("--media-timeout-ms: must be 100..600000, got 5", "--media", "--media-timeout-ms", "5");
  }

  @Test
  void aRampRaisesTheRateLinearlyThenHoldsIt() {
    LoadOptions flat = LoadOptions.parse(new String[] {"--rate", "200"});
    assertEquals(0, flat.rampSec());
    assertEquals(2000, new LoadRun(flat, System.out).callsDueBy(10), 1e-9);

    LoadOptions ramped = LoadOptions.parse(new String[] {"--rate", "200", "--ramp-sec", "20"});
    assertEquals(20, ramped.rampSec());
    LoadRun run = new LoadRun(ramped, System.out);
    assertEquals(0, run.callsDueBy(0), 1e-9);
    assertEquals(125, run.callsDueBy(5), 1e-9, "a quarter of the way (rate 50/s by then): 200 * 5^2 / (2 * 20)");
    assertEquals(2000, run.callsDueBy(20), 1e-9, "half of what the flat rate would have placed by then");
    assertEquals(2000 + 200 * 10, run.callsDueBy(30), 1e-9, "then the full rate");
    assertMessage("--ramp-sec: must be 0..3600, got -1", "--ramp-sec", "-1");
  }

  private static void assertMessage(String expected, String... args) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoadOptions.parse(args));
    assertEquals(expected, e.getMessage());
  }

  @Test
  void percentilesAreNearestRankAndTheCountsCheckAddsUp() {
    LoadStats s = new LoadStats(100, 2);
    for (int i = 1; i <= 100; i++) {
      s.setupMs.add(i);
    }
    assertEquals(50, s.setupMs.percentile(50));
    assertEquals(99, s.setupMs.percentile(99));
    assertEquals(100, s.setupMs.percentile(100));
    assertTrue(Double.isNaN(s.ackMs.percentile(50)));

    s.registered = 1;
    s.registerPending = 0;
    s.registerFail("Connection limit 300");
    s.attempted = 5;
    s.completed = 3;
    s.fail("Busy/Unavailable");
    s.cut = 1;
    assertTrue(s.countsAddUp());
    s.completed = 4;
    assertEquals(false, s.countsAddUp());
  }
}
