package org.webphone.gateway.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.TestNode;

/**
 * {@code --media} through a real gateway node in demo mode: each call's synthetic WebRTC browser does ICE and
 * DTLS-SRTP against the node's media relay and sends PCMU to the echo extension 600, which sends every packet
 * back. Every completed call must get its own packets back unchanged, and nothing may outlive the run: no
 * lease, session, call or media session on the node, no browser or sender thread in the JVM.
 */
class LoadToolMediaTest {
  private TestNode testNode;

  @AfterEach
  void stopNode() throws Exception {
    if (testNode != null) {
      testNode.close();
    }
  }

  @Test
  void everyCallWithMediaGetsItsOwnAudioEchoedBackAndLeavesNothingBehind() throws Exception {
    testNode = TestNode.start(new JsonObject());
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(text, true, StandardCharsets.UTF_8);
    // 2 clients, 4 calls at 4/s held 2 s (about 100 packets each way per call); bound 40 s. The first
    // DTLS handshake and SRTP context of a JVM are slow on a busy machine: 8 s before "no_media".
    LoadOptions options = LoadOptions.parse(new String[] {"--clients", "2", "--calls", "4", "--rate", "4", "--hold-ms", "2000",
        "--duration", "40", "--progress", "1", "--media", "--media-timeout-ms", "8000"});

    JsonObject r = LoadTool.runOn(testNode.node().vertx(), options, out).json();

    String printed = text.toString(StandardCharsets.UTF_8);
    System.out.print(printed);
    assertEquals(2, r.getInteger("registered"), printed);
    assertEquals(4, r.getInteger("attempted"), printed);
    assertEquals(4, r.getInteger("completed"), printed);
    assertEquals(0, r.getInteger("failed"), printed);
    assertEquals(0, r.getInteger("cut"), printed);
    assertTrue(r.getBoolean("countsAddUp"), printed);

    JsonObject media = r.getJsonObject("media");
    assertEquals(4, media.getInteger("calls"), printed);
    // 2 s at 50 packets/s, less the drain before the hang-up and the wait for DTLS: well over 50 per call.
    assertTrue(media.getLong("sent") >= 4 * 50, printed);
    // The worst call got at least 80 % of what it sent back, byte for byte (each packet checks itself).
    assertTrue(media.getJsonObject("callLossPct").getDouble("max") <= 20.0, printed);
    assertTrue(media.getLong("received") >= 0.8 * media.getLong("sent"), printed);
    assertEquals(0, media.getLong("mismatched"), printed);
    assertEquals(0, media.getLong("duplicates"), printed);
    assertEquals(0, media.getInteger("noMedia"), printed);
    assertEquals(4, media.getJsonObject("setupMs").getInteger("count"), printed);
    assertTrue(printed.contains("media packets"), printed);
    assertTrue(printed.contains("| media browsers="), printed);

    testNode.awaitIdle(0);
    awaitNoThreads(List.of("load-media-", "test-browser-rx"));
  }

  /** Threads of the run's media (set-up, sender, closer, the browsers' receive threads) end with it. */
  static void awaitNoThreads(List<String> prefixes) throws InterruptedException {
    Eventually.await(Duration.ofSeconds(5), "no thread of the run left after it", () -> threads(prefixes),
        List::isEmpty);
  }

  private static List<String> threads(List<String> prefixes) {
    return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
        .filter(n -> prefixes.stream().anyMatch(n::startsWith)).sorted().toList();
  }
}
