package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * The set-up bench (bench/setup-ws.sh) against a real node with SIPp as the PBX: a session the gateway closes
 * under the bench stops the run at once, with the gateway's close code and reason, instead of leaving a phase
 * waiting for an idle session that never comes (the 01:41 hang of issue 21 point 1).
 */
class WsSetupBenchTest {
  @Test
  void aSessionTheGatewayClosesStopsTheRunWithItsCloseReason() throws Exception {
    try (Sipp sipp = Sipp.uas("uas-answer.xml", "-m", "100", "-rtp_echo")) {
      // Sessions without a call idle out after 1 s: the gateway closes the bench's second session while the
      // first one is in its call and the phase's next call is due only 100 s later.
      TestNode node = TestNode.start(new JsonObject()
          .put("sip", new JsonObject().put("optionsIntervalSec", 0))
          .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", sipp.port()))
          .put("session", new JsonObject().put("resumeGraceSec", 0))
          .put("limits", new JsonObject().put("idleSessionSec", 1)));
      Vertx vertx = Vertx.vertx();
      try {
        Map<String, String> opts = new TreeMap<>(Map.of("host", "127.0.0.1",
            "port", Integer.toString(node.config().getInt("http.port")),
            "admin-port", Integer.toString(node.config().getInt("http.adminPort")),
            "sessions", "2", "hold-ms", "1000", "number", "600", "plan", "rate:0.01:2",
            "duration", "300", "call-timeout-ms", "10000"));
        WsSetupBench bench = new WsSetupBench(opts);
        String id = vertx.deployVerticle(bench).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        // Bounded well below the run's own 300 s bound: only the fail-fast path ends the run in time.
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> bench.result().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS));
        String why = e.getCause().getMessage();
        assertTrue(why.startsWith("a WebSocket session closed under the bench: socket closed (1000 idle for 1 s)"),
            why);
        assertTrue(why.endsWith("1 of 2 sessions lost"), why);
        vertx.undeploy(id).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        node.awaitIdle(0); // no lease, SIP call or media session left of the bench's sessions and its call
      } finally {
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        node.close();
      }
    }
  }
}
