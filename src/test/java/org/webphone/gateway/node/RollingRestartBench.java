package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.load.LoadRun;
import org.webphone.gateway.testing.Eventually;

/**
 * Issue 19's measure, run by bench/rolling-restart.sh (not part of bin/test): the time a drained 2-node cluster
 * takes to complete a rolling restart while {@code -Drolling.clients} (4) virtual clients keep calls of
 * {@code -Drolling.holdMs} (20 000) ms with audio going ({@link DrainBed}). From the first SIGTERM: node a drains
 * (until its exit), starts again (until ready and back in the cluster), then node b. Prints
 * {@code ROLLING-FIGURES <json>}: each node's drain and restart time, the total, the calls and the load tool's
 * counts, which must show no call ended by the gateway.
 */
class RollingRestartBench {
  private static final int CLIENTS = Integer.getInteger("rolling.clients", 4);
  private static final long HOLD_MS = Long.getLong("rolling.holdMs", 20_000);

  @TempDir
  Path dir;

  @Test
  void rollingRestartOfTwoNodesUnderCalls() throws Exception {
    String loadBefore = Files.readString(Path.of("/proc/loadavg")).trim();
    try (DrainBed bed = DrainBed.start(dir, 3600)) {
      ByteArrayOutputStream text = new ByteArrayOutputStream();
      LoadRun run = bed.load(new PrintStream(text, true, StandardCharsets.UTF_8), "--target", "cluster",
          "--clients", Integer.toString(CLIENTS), "--calls", "100000", "--rate", "5", "--hold-ms",
          Long.toString(HOLD_MS), "--duration", "1200", "--progress", "10", "--media", "--media-timeout-ms", "8000");
      Eventually.result(60, "every virtual client to register", run.allRegistered());
      JsonArray nodes = new JsonArray();
      long start = 0;
      for (int i = 0; i < 2; i++) {
        int node = i;
        int calls = Eventually.await(Duration.ofSeconds(60), "calls in progress on node " + i,
            () -> bed.fullHealth(node).getInteger("calls", 0), c -> c > 0);
        long t0 = System.nanoTime();
        start = i == 0 ? t0 : start;
        bed.node(i).terminate();
        assertEquals(0, bed.node(i).awaitExit(Duration.ofMillis(HOLD_MS + 60_000)), bed.node(i).tail());
        long t1 = System.nanoTime();
        bed.restart(i);
        long t2 = System.nanoTime();
        nodes.add(new JsonObject().put("node", i).put("callsAtSigterm", calls).put("drainMs", (t1 - t0) / 1_000_000)
            .put("restartMs", (t2 - t1) / 1_000_000));
      }
      long totalMs = (System.nanoTime() - start) / 1_000_000;
      run.stopCalling();
      JsonObject r = Eventually.result((int) (HOLD_MS / 1000) + 60, "the load run to end", run.result()).json();
      bed.endLoads();
      System.out.print(text.toString(StandardCharsets.UTF_8));
      JsonObject figures = new JsonObject().put("date", Instant.now().toString())
          .put("cpus", Runtime.getRuntime().availableProcessors()).put("model", cpuModel())
          .put("loadBefore", loadBefore).put("loadAfter", Files.readString(Path.of("/proc/loadavg")).trim())
          .put("clients", CLIENTS).put("holdMs", HOLD_MS).put("nodes", nodes).put("totalMs", totalMs)
          .put("attempted", r.getInteger("attempted")).put("completed", r.getInteger("completed"))
          .put("failed", r.getInteger("failed")).put("endedByGateway", r.getInteger("endedByGateway"))
          .put("movedBeforeCall", r.getInteger("movedBeforeCall")).put("reopened", r.getInteger("reopened"))
          .put("mostExtraContacts", bed.usrloc().mostExtraContacts());
      System.out.println("ROLLING-FIGURES " + figures.encode());
      assertEquals(0, r.getInteger("endedByGateway"), figures.encode());
      assertEquals(0, r.getInteger("failed"), figures.encode());
      assertEquals(0, bed.usrloc().mostExtraContacts(), figures.encode());
    }
  }

  private static String cpuModel() throws java.io.IOException {
    return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
        .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
  }
}
