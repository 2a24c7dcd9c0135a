package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestNode;

/**
 * {@code --media} through the benchmark's peers: the gateway's lines register on Kamailio (digest auth,
 * bench/kamailio/bench.cfg) and SIPp with {@code -rtp_echo} is the far end, sending back every RTP packet the
 * gateway relays. Calls placed toward the SIPp UAS and calls from SIPp UACs answered by the clients (Accept
 * with the browser's offer) must both bring each browser its own audio back.
 */
class LoadMediaSipTest {
  private static final Path BASE = Path.of(System.getProperty("project.basedir", "."));
  private final List<PeerProcess> peers = new ArrayList<>();
  private TestNode node;
  private int pbx;
  private int uasPort;

  @BeforeEach
  void startPeers() throws Exception {
    uasPort = Ports.free();
    // -rtp_echo binds the media port and port+2.
    peers.add(PeerProcess.start("sipp-uas-echo", List.of("sipp", "-sf", BASE.resolve("bench/sipp/uas-bench.xml").toString(),
        "-i", "127.0.0.1", "-p", Integer.toString(uasPort), "-mp", Integer.toString(Ports.freeRange(4)), "-rtp_echo",
        "-m", "100", "-timer_resol", "10", "-nostdin", "-timeout", "60"), null));
    pbx = Ports.free();
    peers.add(BenchPeers.kamailio("kamailio-load-media", pbx, "UAS_URI=\"sip:127.0.0.1:" + uasPort + "\""));
    // Exactly two accounts, both leased by the two clients: the lines to call are 2000 and 2001.
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 2000).put("to", 2001)
            .put("passwordTemplate", "secret-{user}"))));
  }

  @AfterEach
  void stopAll() throws Exception {
    if (node != null) {
      node.close();
    }
    peers.forEach(PeerProcess::close);
  }

  @Test
  void callsToTheEchoingSippUasThroughKamailioGetTheirAudioBack() throws Exception {
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    LoadOptions options = LoadOptions.parse(new String[] {"--clients", "2", "--calls", "4", "--rate", "4", "--hold-ms",
        "2000", "--duration", "40", "--progress", "1", "--media", "--media-timeout-ms", "8000"});

    JsonObject r = LoadTool.runOn(node.node().vertx(), options, new PrintStream(text, true, StandardCharsets.UTF_8)).json();

    String printed = text.toString(StandardCharsets.UTF_8);
    System.out.print(printed);
    assertEquals(4, r.getInteger("completed"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);
    assertEchoed(r.getJsonObject("media"), 4, printed);
    node.awaitIdle(0);
    LoadToolMediaTest.awaitNoThreads(List.of("load-media-", "test-browser-rx"));
  }

  @Test
  void callsFromEchoingSippUacsAreAnsweredWithABrowserOfferAndGetTheirAudioBack() throws Exception {
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    // The callers hang up after 2.5 s; the clients' own hold (60 s) never ends a call first.
    LoadOptions options = LoadOptions.parse(new String[] {"--mode", "answer", "--clients", "2", "--calls", "2",
        "--hold-ms", "60000", "--duration", "40", "--progress", "2", "--media", "--media-timeout-ms", "8000"});
    LoadRun run = new LoadRun(options, new PrintStream(text, true, StandardCharsets.UTF_8));
    String id = Eventually.result(10, "the load run to deploy", node.node().vertx().deployVerticle(run));
    Eventually.result(30, "every virtual client to register", run.allRegistered());

    List<PeerProcess> callers = new ArrayList<>();
    for (String line : List.of("2000", "2001")) {
      PeerProcess uac = BenchPeers.caller("sipp-uac-echo-" + line, pbx, line, 2500, true);
      peers.add(uac);
      callers.add(uac);
    }
    for (PeerProcess uac : callers) {
      assertEquals(0, uac.awaitExit(Duration.ofSeconds(40)), uac.name() + ":\n" + uac.tail());
    }
    JsonObject r = Eventually.result(60, "the load run's result", run.result()).json();
    Eventually.result(30, "the load run to undeploy", node.node().vertx().undeploy(id));

    String printed = text.toString(StandardCharsets.UTF_8);
    System.out.print(printed);
    assertEquals(2, r.getInteger("completed"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);
    // The caller's BYE ends the call without the drain before a client's own hang-up: the last few
    // packets are still in flight then, well within the 20 % allowed.
    assertEchoed(r.getJsonObject("media"), 2, printed);
    node.awaitIdle(0);
    LoadToolMediaTest.awaitNoThreads(List.of("load-media-", "test-browser-rx"));
  }

  private static void assertEchoed(JsonObject media, int calls, String printed) {
    assertEquals(calls, media.getInteger("calls"), printed);
    assertTrue(media.getLong("sent") >= calls * 50L, printed);
    assertTrue(media.getJsonObject("callLossPct").getDouble("max") <= 20.0, printed);
    assertEquals(0, media.getLong("mismatched"), printed);
    assertEquals(0, media.getLong("duplicates"), printed);
    assertEquals(calls, media.getJsonObject("setupMs").getInteger("count"), printed);
  }
}
