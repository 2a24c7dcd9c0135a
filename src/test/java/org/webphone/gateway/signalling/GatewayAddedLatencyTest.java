package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.time.Duration;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * The set-up latency the gateway adds, measured inside a whole node with SIPp as the PBX: one call through
 * the WebSocket gives each phase (Call → INVITE sent, 200 OK → OnInCall sent) exactly one sample, and
 * together they are less than what the browser saw end to end (which includes SIPp's 100 ms before its 200).
 */
@ExtendWith(VertxExtension.class)
class GatewayAddedLatencyTest {
  private Sipp sipp;
  private TestNode node;
  private WebSocketClient ws;

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (ws != null) {
        Harness.await(ws.close());
      }
      if (node != null) {
        node.close();
      }
    } finally {
      if (sipp != null) {
        sipp.close();
      }
    }
  }

  @Test
  void oneCallGivesEachPhaseOneSampleSmallerThanTheSetupTheBrowserSaw(Vertx vertx) throws Exception {
    sipp = Sipp.uas("uas-answer.xml", "-m", "2", "-rtp_echo"); // the line's registration, then the call
    node = TestNode.start(new JsonObject()
        .put("sip", new JsonObject().put("optionsIntervalSec", 0))
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", sipp.port()))
        .put("session", new JsonObject().put("resumeGraceSec", 0))); // a closed page ends its session at once
    ws = vertx.createWebSocketClient();
    String nodeId = node.node().nodeId();
    try (SyntheticBrowser browser = new SyntheticBrowser()) {
      Harness.Client c = Harness.connect(ws, node.config().getInt("http.port"), null, null);
      c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
      assertEquals(0, phase(ops(), SetupLatency.CALL_TO_INVITE).getLong("count"), "no sample before the call");

      long sent = System.nanoTime();
      String callId = c.request(new JsonObject().put("method", "Call").put("number", "600")
          .put("sdp", browser.offer())).getString("callId");
      c.await("OnInCall", e -> callId.equals(e.getString("callId")));
      double endToEndMs = (System.nanoTime() - sent) / 1e6;

      JsonObject latency = ops();
      JsonObject toInvite = phase(latency, SetupLatency.CALL_TO_INVITE);
      JsonObject toInCall = phase(latency, SetupLatency.ANSWER_TO_INCALL);
      assertEquals(1, toInvite.getLong("count"), latency.encode());
      assertEquals(1, toInCall.getLong("count"), latency.encode());
      double a = toInvite.getDouble("totalMs");
      double b = toInCall.getDouble("totalMs");
      assertTrue(a > 0 && b > 0, latency.encode());
      assertTrue(a + b < endToEndMs - 100,
          "gateway-added " + a + " + " + b + " ms must leave SIPp's 100 ms inside the " + endToEndMs
              + " ms end to end");
      // The histogram holds the sample in the bucket of its value, and in every bucket above.
      assertEquals(1, toInvite.getJsonArray("counts").getLong(toInvite.getJsonArray("counts").size() - 1),
          latency.encode());

      String metrics = Http.get(node.adminUrl() + "metrics").body();
      String ours = metrics.lines().filter(l -> l.startsWith("webphone_call_setup_added"))
          .collect(Collectors.joining("\n"));
      for (String phase : SetupLatency.PHASES) {
        String tags = "node=\"" + nodeId + "\",phase=\"" + phase + "\"";
        assertTrue(ours.contains("webphone_call_setup_added_seconds_count{" + tags + "} 1"), ours);
        assertTrue(ours.lines().anyMatch(l -> l.startsWith("webphone_call_setup_added_percentile_seconds{")
            && l.contains(tags) && l.contains("quantile=\"0.99\"") && !l.endsWith("NaN")), ours);
        assertTrue(ours.lines().anyMatch(l -> l.startsWith("webphone_call_setup_added_seconds_bucket")
            && l.contains(tags) && l.contains("le=\"0.005\"")), ours);
      }

      assertEquals("Ack", c.request(new JsonObject().put("method", "HangUp")).getString("event"));
      c.await("OnCallStateChanged", e -> e.getString("state").equals("Completed"));
      c.ws.close();
      sipp.awaitSuccess(Duration.ofSeconds(15)); // BYE answered, then the line's un-REGISTER
      node.awaitIdle(0);
    }
  }

  private JsonObject ops() throws Exception {
    JsonObject r = Harness.await(node.node().vertx().eventBus().<JsonObject>request(
        Addresses.node(node.node().nodeId()), new JsonObject().put("setupLatency", true))).body();
    return r.getJsonObject("setupLatency");
  }

  private static JsonObject phase(JsonObject latency, String phase) {
    return latency.getJsonObject(phase);
  }
}
