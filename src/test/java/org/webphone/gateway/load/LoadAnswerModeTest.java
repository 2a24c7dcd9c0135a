package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestNode;

/**
 * Answer mode: the virtual clients' lines are registered on Kamailio (the benchmark's configuration,
 * digest auth) and SIPp UACs call each line through it; every call is answered by its client, held until
 * the caller's BYE, and counted once.
 */
class LoadAnswerModeTest {
  private final List<PeerProcess> peers = new ArrayList<>();
  private TestNode node;

  @AfterEach
  void stopAll() throws Exception {
    if (node != null) {
      node.close();
    }
    peers.forEach(PeerProcess::close);
  }

  @Test
  void everyCallPlacedTowardTheLinesIsAnsweredAndCountedOnce() throws Exception {
    int pbx = Ports.free();
    peers.add(BenchPeers.kamailio("kamailio-load", pbx));

    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 2000).put("to", 2002)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("600"))));
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(text, true, StandardCharsets.UTF_8);
    // All three accounts leased, so lines 2000..2002 are exactly the clients' lines. The callers hang up
    // after 1 s, long before the clients' own hold of 60 s would.
    LoadOptions options = LoadOptions.defaults().withMode("answer").withCounts(3, 3, 1, 60_000, 40).withProgressSec(2);
    LoadRun run = new LoadRun(options, out);
    String id = Eventually.result(10, "the load run to deploy", node.node().vertx().deployVerticle(run));
    Eventually.result(30, "every virtual client to register", run.allRegistered());

    List<PeerProcess> callers = new ArrayList<>();
    for (String line : List.of("2000", "2001", "2002")) {
      PeerProcess uac = BenchPeers.caller("sipp-uac-" + line, pbx, line, 1000, false);
      peers.add(uac);
      callers.add(uac);
    }
    for (PeerProcess uac : callers) {
      assertEquals(0, uac.awaitExit(Duration.ofSeconds(40)), uac.name() + " (1 call, exit 0 = answered and ended):\n"
          + uac.tail());
    }

    JsonObject r = Eventually.result(60, "the load run's result", run.result()).json();
    Eventually.result(30, "the load run to undeploy", node.node().vertx().undeploy(id));
    String printed = text.toString(StandardCharsets.UTF_8);
    assertEquals(3, r.getInteger("registered"), printed);
    assertEquals(3, r.getInteger("attempted"), printed);
    assertEquals(3, r.getInteger("completed"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertEquals(0, r.getInteger("cut"), printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);
    assertEquals(3, r.getJsonObject("setupMs").getInteger("count"), printed);
    node.awaitIdle(0);
  }
}
