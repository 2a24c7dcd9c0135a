package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.TestNode;

/**
 * A short bounded run of the load tool through a real gateway node in demo mode (embedded PBX, echo
 * extension 600): a few calls, and the counts must add up with nothing left behind on the node.
 */
class LoadToolTest {
  private TestNode testNode;

  @AfterEach
  void stopNode() throws Exception {
    if (testNode != null) {
      testNode.close();
    }
  }

  @Test
  void aShortRunPlacesEveryCallToTheEchoExtensionAndItsCountsAddUp() throws Exception {
    testNode = TestNode.start(new JsonObject());
    GatewayNode node = testNode.node();
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(text, true, StandardCharsets.UTF_8);
    // 3 clients, 6 calls at 5/s held 300 ms: each client places two calls, well inside the 30 s bound.
    LoadOptions options = LoadOptions.defaults().withCounts(3, 6, 5, 300, 30).withProgressSec(1);

    JsonObject r = LoadTool.runOn(node.vertx(), options, out).json();

    String printed = text.toString(StandardCharsets.UTF_8);
    assertEquals(3, r.getInteger("registered"), printed);
    assertEquals(6, r.getInteger("attempted"), printed);
    assertEquals(6, r.getInteger("completed"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertEquals(0, r.getInteger("cut"), printed);
    assertEquals(0, r.getInteger("active"), printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);
    assertEquals(6, r.getJsonObject("setupMs").getInteger("count"), printed);
    assertTrue(r.getJsonObject("setupMs").getDouble("p99") > 0, printed);
    assertTrue(printed.contains("counts add up            yes"), printed);
    // The node's own share of the set-up, read from its timers: one sample per call and phase.
    JsonObject added = r.getJsonObject("gatewayAddedMs");
    assertEquals(6, added.getJsonObject("call_to_invite").getInteger("count"), printed);
    assertEquals(6, added.getJsonObject("answer_to_incall").getInteger("count"), printed);
    assertTrue(added.getJsonObject("call_to_invite").getDouble("p99Ms") > 0, printed);
    assertTrue(printed.contains("gateway-added setup latency p50/p99"), printed);

    // Every session was closed by the tool: no lease, session or call is left on the node.
    JsonObject pool = Eventually.result(5, "pool.status",
        node.vertx().eventBus().<JsonObject>request(Addresses.POOL_STATUS, new JsonObject())).body();
    assertEquals(0, pool.getInteger("leased"), pool.encode());
    JsonObject sig = Eventually.result(5, "signalling.status",
        node.vertx().eventBus().<JsonObject>request(Addresses.SIGNALLING_STATUS, new JsonObject())).body();
    assertEquals(0, sig.getInteger("sessions"), sig.encode());
    assertEquals(0, sig.getInteger("calls"), sig.encode());
  }
}
