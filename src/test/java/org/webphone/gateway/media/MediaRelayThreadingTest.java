package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.ClientIoLoop;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.dtls.DtlsHandshakePool;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.testing.Eventually;

/**
 * The relay's threads: browser packets read by several threads of the WebRTC port still reach the PBX in the
 * order each browser sent them; once connected, no browser leg holds a thread (DTLS handshakes run on a
 * bounded pool); and every thread the relay started ends with it.
 */
@ExtendWith(VertxExtension.class)
class MediaRelayThreadingTest {
  private static final int CALLS = 9;
  private static final int PACKETS = 60;
  private static final String OURS = "^(media-|test-browser-rx).*";

  @Test
  void manyCallsKeepEachBrowsersOrderHoldNoThreadPerLegAndLeaveNoThreadBehind(Vertx vertx) throws Exception {
    List<String> before = threads(OURS);
    MediaFixture f = new MediaFixture(vertx, new JsonObject());
    try (ClientIoLoop loop = new ClientIoLoop("test-browser-rx")) {
      List<SyntheticBrowser> browsers = new ArrayList<>();
      for (int i = 0; i < CALLS; i++) {
        SyntheticBrowser b = f.own(new SyntheticBrowser(loop));
        f.startCall("t" + i, "ts" + i, b);
        browsers.add(b);
      }

      // Connected legs hold no thread: every DTLS pool thread is idle, none sits in a bctls receive.
      Eventually.await(Duration.ofSeconds(2), "no thread inside bctls after every handshake finished",
          () -> threadsInside("org.bouncycastle.tls"), List::isEmpty);
      long dtlsThreads = threads("^media-dtls-.*").size();
      assertTrue(dtlsThreads <= DtlsHandshakePool.DEFAULTS.maxHandshakes() + 1, dtlsThreads + " DTLS threads for " + CALLS + " legs");
      assertEquals(CALLS, f.status().getInteger("dtlsSessions"), "live DTLS sessions");

      assertTrue(threads("^media-webrtc-rx-.*").size() > 1, "the WebRTC port is read by several threads of ours");

      // All browsers send at once, interleaved: each one's packets must reach the PBX in its own order. The
      // PBX reads while they send (a full run once lost a third of an unread 540-packet burst in the test
      // socket's buffer), and each round is 1 ms apart, still far denser than 20 ms audio.
      CompletableFuture<List<byte[]>> atPbx = CompletableFuture.supplyAsync(() -> {
        try {
          return f.pbxReceive(CALLS * PACKETS);
        } catch (Exception e) {
          throw new CompletionException(e);
        }
      });
      for (int p = 0; p < PACKETS; p++) {
        for (SyntheticBrowser b : browsers) {
          b.sendRtp(0, MediaRelayVerticleTest.payload(p));
        }
        Thread.sleep(1);
      }
      List<byte[]> got = atPbx.get(30, TimeUnit.SECONDS);
      assertEquals(CALLS * PACKETS, got.size(), "packets at the PBX");
      Map<Integer, List<byte[]>> byStream = new HashMap<>();
      for (byte[] pkt : got) {
        byStream.computeIfAbsent(Rtp.ssrc(pkt, 0), k -> new ArrayList<>()).add(pkt);
      }
      assertEquals(CALLS, byStream.size(), "one outgoing stream per call");
      for (List<byte[]> stream : byStream.values()) {
        for (int p = 0; p < PACKETS; p++) {
          byte[] pkt = stream.get(p);
          assertArrayEquals(MediaRelayVerticleTest.payload(p), Arrays.copyOfRange(pkt, Rtp.HEADER, pkt.length),
              "packet " + p + " of a stream out of order");
          if (p > 0) {
            assertEquals((Rtp.seq(stream.get(p - 1), 0) + 1) & 0xFFFF, Rtp.seq(pkt, 0), "sequence of packet " + p);
          }
        }
      }

      for (int i = 0; i < CALLS; i++) {
        f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "t" + i));
      }
      f.assertNothingLeaks();
    } finally {
      f.close();
    }
    for (String id : vertx.deploymentIDs()) {
      MediaFixture.await(vertx.undeploy(id));
    }
    Eventually.await(Duration.ofSeconds(6), "the threads of the relay and the clients to be " + before
        + " after the node stopped", () -> threads(OURS), before::equals);
  }

  static List<String> threads(String pattern) {
    return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
        .filter(n -> n.matches(pattern)).sorted().collect(Collectors.toList());
  }

  /** Names of the relay's threads currently running code of {@code pkg}. */
  static List<String> threadsInside(String pkg) {
    return Thread.getAllStackTraces().entrySet().stream()
        .filter(e -> e.getKey().getName().startsWith("media-"))
        .filter(e -> Arrays.stream(e.getValue()).anyMatch(f -> f.getClassName().startsWith(pkg)))
        .map(e -> e.getKey().getName()).sorted().collect(Collectors.toList());
  }
}
