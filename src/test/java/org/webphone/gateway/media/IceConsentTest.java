package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.ClientIoLoop;
import org.webphone.gateway.media.client.StunMessages;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.ice.IceStun;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.testing.Eventually;

/**
 * A UDP leg after ICE completed, its ice4j agent freed: the leg answers the browser's checks itself and checks
 * the browser's consent (RFC 7675). A browser that answers keeps its call's audio flowing past the 30 s consent
 * timeout; one that stops answering has its media stopped and failed ("ICE consent lost"); junk STUN is
 * dropped, counted and never answered, and the readers go on.
 */
@ExtendWith(VertxExtension.class)
class IceConsentTest {

  @Test
  void aBrowserAnsweringConsentKeepsItsAudioAndOneThatStopsIsFailed(Vertx vertx) throws Exception {
    // No media timeout in the way: only consent may end a call here.
    MediaFixture f = new MediaFixture(vertx, new JsonObject().put("timeoutSec", 300));
    try (ClientIoLoop loop = new ClientIoLoop("test-browser-rx")) {
      SyntheticBrowser good = f.own(new SyntheticBrowser(loop));
      int goodPort = f.startCall("good", "sgood", good);
      SyntheticBrowser silent = f.own(new SyntheticBrowser(loop));
      int silentPort = f.startCall("silent", "ssilent", silent);
      Eventually.await(Duration.ofSeconds(5), "both legs answering their own STUN", f::status,
          s -> s.getInteger("iceAnswering") == 2);
      long released = System.nanoTime();
      silent.answerChecks = false;

      // The silent browser's leg fails 30 s after its last answer (at most 6 s after the release).
      JsonObject failed = f.awaitEvent("failed", 45);
      long failedAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - released);
      assertEquals("silent", failed.getString("callId"), "the call whose browser stopped answering: " + failed);
      assertEquals("ICE consent lost", failed.getString("reason"));
      assertTrue(failedAfterMs >= 29_000, "consent lost after " + failedAfterMs + " ms, not before 30 s of silence");
      assertTrue(silent.stunRequests.get() >= 5, "consent checks sent to the silent browser: " + silent.stunRequests);
      assertEquals(1, f.status().getInteger("iceAnswering"), "the failed leg is no longer checked");
      // Its media stopped: a packet from the PBX for it does not reach it.
      f.pbxSend(MediaRelayVerticleTest.rtp(0, 1, 160, 0x0BADCAFE, MediaRelayVerticleTest.payload(7)), silentPort);

      // The answering browser's call, held past 35 s since ICE, still carries audio both ways.
      long rest = TimeUnit.SECONDS.toMillis(36) - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - released);
      if (rest > 0) {
        Thread.sleep(rest);
      }
      assertTrue(good.stunRequests.get() >= 6, "consent checks answered by the good browser: " + good.stunRequests);
      byte[] fromPbx = MediaRelayVerticleTest.rtp(0, 42, 160L * 42, 0x0BADCAFE, MediaRelayVerticleTest.payload(42));
      f.pbxSend(fromPbx, goodPort);
      byte[] atBrowser = good.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(atBrowser, "audio from the PBX at the browser 36 s after ICE");
      assertArrayEquals(Arrays.copyOfRange(fromPbx, Rtp.HEADER, fromPbx.length),
          Arrays.copyOfRange(atBrowser, Rtp.HEADER, atBrowser.length));
      good.sendRtp(0, MediaRelayVerticleTest.payload(43));
      byte[] atPbx = f.pbxReceive();
      assertNotNull(atPbx, "audio from the browser at the PBX 36 s after ICE");
      assertArrayEquals(MediaRelayVerticleTest.payload(43), Arrays.copyOfRange(atPbx, Rtp.HEADER, atPbx.length));
      assertNull(silent.received.poll(), "no audio toward the browser that withdrew consent");
      assertEquals(0, f.status().getLong("stunDropped"), "every consent answer matched a check of ours");

      f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "silent"));
      f.awaitEvent("closed", 5);
      f.closeAndAssertNothingLeaks("good");
    } finally {
      f.close();
    }
  }

  @Test
  void junkStunAfterTheAgentIsFreedIsDroppedCountedAndNeverAnswered(Vertx vertx) throws Exception {
    MediaFixture f = new MediaFixture(vertx, new JsonObject());
    try (ClientIoLoop loop = new ClientIoLoop("test-browser-rx")) {
      SyntheticBrowser b = f.own(new SyntheticBrowser(loop));
      int rtpPort = f.startCall("c1", "s1", b);
      Eventually.await(Duration.ofSeconds(5), "the leg answering its own STUN", f::status,
          s -> s.getInteger("iceAnswering") == 1);
      int readers = MediaRelayThreadingTest.threads("^media-webrtc-rx-.*").size();
      JsonObject before = f.status();
      int answered = b.stunResponses.get();
      String gw = b.remoteUfrag();
      String gwPwd = b.remotePassword();
      long tie = ThreadLocalRandom.current().nextLong();

      // A valid check is answered: the baseline the junk below is measured against.
      b.sendCheck();
      Eventually.until(Duration.ofSeconds(3), "a valid check answered", () -> b.stunResponses.get() == answered + 1);

      // Bad MESSAGE-INTEGRITY (a wrong password).
      b.sendCheck(gw, b.ufrag(), "not-the-gateway-password");
      // Our ufrag, the integrity right, but another browser's ufrag after the colon.
      b.sendCheck(gw, "someoneelse", gwPwd);
      // Truncated: a valid check cut by 8 bytes (the length field promises more), and cut to its header.
      byte[] valid = StunMessages.bindingRequest(gw + ":" + b.ufrag(), gwPwd, tie);
      b.sendRaw(Arrays.copyOf(valid, valid.length - 8));
      byte[] header = Arrays.copyOf(valid, 20);
      header[2] = 0;
      header[3] = 0;
      b.sendRaw(header);
      // An attribute longer than the message.
      ByteBuffer longAttr = ByteBuffer.allocate(28).putShort((short) 1).putShort((short) 8).putInt(IceStun.MAGIC)
          .put(new byte[12]).putShort((short) IceStun.USERNAME).putShort((short) 100).putInt(0);
      b.sendRaw(longAttr.array());
      // A success response without the browser's integrity.
      b.sendRaw(IceStun.bindingSuccess(valid, b.localAddress(), "whatever".getBytes()));
      // A Binding Error Response (not a type a leg takes).
      byte[] error = valid.clone();
      error[0] = 0x01;
      error[1] = 0x11;
      b.sendRaw(error);
      int junk = 7;
      // A stale ufrag from the same address: counted as such (no leg holds it).
      b.sendCheck("nosuchufrag", b.ufrag(), gwPwd);

      JsonObject after = Eventually.await(Duration.ofSeconds(3), junk + " STUN messages dropped", f::status,
          s -> s.getLong("stunDropped") == before.getLong("stunDropped") + junk
              && s.getLong("stunUnknownUfrag") == before.getLong("stunUnknownUfrag") + 1);
      assertEquals(before.getLong("stunDropped") + junk, after.getLong("stunDropped"), "dropped: " + after);

      // None of it was answered, and the reader that took it goes on: the next valid check is answered,
      // the call's audio still flows.
      b.sendCheck();
      Eventually.until(Duration.ofSeconds(3), "the next valid check answered", () -> b.stunResponses.get() >= answered + 2);
      Thread.sleep(200);
      assertEquals(answered + 2, b.stunResponses.get(), "only the two valid checks were answered");
      assertEquals(readers, MediaRelayThreadingTest.threads("^media-webrtc-rx-.*").size(), "every reader alive");
      b.sendRtp(0, MediaRelayVerticleTest.payload(5));
      byte[] atPbx = f.pbxReceive();
      assertNotNull(atPbx, "audio after the junk");
      f.pbxSend(MediaRelayVerticleTest.rtp(0, 9, 160, 0x0BADCAFE, MediaRelayVerticleTest.payload(9)), rtpPort);
      assertNotNull(b.received.poll(3, TimeUnit.SECONDS), "audio to the browser after the junk");

      f.closeAndAssertNothingLeaks("c1");
    } finally {
      f.close();
    }
  }
}
