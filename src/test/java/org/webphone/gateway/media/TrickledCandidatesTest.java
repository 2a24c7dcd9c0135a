package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;

/**
 * Trickle ICE at the media relay ({@code media.session.candidate}) with real ICE, DTLS and SRTP against a
 * synthetic browser whose offer carries no candidate: each trickled candidate reaches the running ice4j agent or
 * is answered with why not, a malformed one is refused, and the call connects after all of them. mDNS names go
 * through a resolver of the test's (why: no mDNS responder runs in the test's network namespace, and one name
 * must resolve); the real resolver's "does not resolve" is covered over the WebSocket (TrickleIceBrowserTest).
 */
@ExtendWith(VertxExtension.class)
class TrickledCandidatesTest {
  private MediaFixture f;

  @BeforeEach
  void deploy(Vertx vertx) throws Exception {
    f = new MediaFixture(vertx, new JsonObject(), null, new MediaRelayVerticle(name -> switch (name) {
      case "resolves.local" -> InetAddress.getByName("127.0.0.1");
      case "slow.local" -> {
        try {
          Thread.sleep(3000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        throw new UnknownHostException(name);
      }
      default -> throw new UnknownHostException(name);
    }));
  }

  @AfterEach
  void tearDown() throws Exception {
    f.close();
  }

  private JsonObject candidate(String callId, String candidate) throws Exception {
    return f.request(Addresses.MEDIA_CANDIDATE, new JsonObject().put("callId", callId).put("candidate", candidate));
  }

  private int refused(String callId, String candidate) throws Exception {
    return f.failure(Addresses.MEDIA_CANDIDATE, new JsonObject().put("callId", callId).put("candidate", candidate));
  }

  /** The synthetic browser's offer without its candidate lines, and that candidate line (a=candidate:...). */
  private static String[] trickleOffer(SyntheticBrowser b) {
    String offer = b.offer();
    String udp = offer.lines().filter(l -> l.startsWith("a=candidate:") && l.contains(" udp ")).findFirst()
        .orElseThrow();
    String bare = offer.lines().filter(l -> !l.startsWith("a=candidate:"))
        .collect(Collectors.joining("\r\n", "", "\r\n"));
    return new String[] {bare, udp};
  }

  @Test
  void trickledCandidatesReachTheRunningAgentBadOnesAreRefusedAndTheCallStillConnects() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    String[] offer = trickleOffer(browser);
    f.listen("s1");
    JsonObject created = f.request(Addresses.MEDIA_CREATE,
        new JsonObject().put("callId", "t1").put("sessionId", "s1").put("browserOffer", offer[0]));

    JsonObject host = candidate("t1", offer[1]);
    assertEquals(true, host.getBoolean("added"), "the browser's host candidate as an a=candidate line: " + host);
    assertNull(host.getString("reason"), host.encode());

    assertEquals(103, refused("t1", "candidate:garbage"), "not a candidate line");
    assertEquals(103, refused("t1", "candidate:2 1 udp 2122260223 127.0.0.1 70000 typ host"), "port out of range");
    assertEquals(103, refused("t1", "candidate:2 1 udp 2122260223 127.0.0.1 5000 typ weird"), "unknown type");
    assertEquals(302, refused("no-such-call", offer[1]), "a call without media");

    JsonObject tcp = candidate("t1", "candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active");
    assertFalse(tcp.getBoolean("added"), tcp.encode());
    assertTrue(tcp.getString("reason").startsWith("unusable"), tcp.encode());

    JsonObject unknown = candidate("t1", "candidate:4 1 udp 2122260223 3f2e1d0c-aaaa-4bbb-8ccc-123456789abc.local 5000 typ host");
    assertFalse(unknown.getBoolean("added"), "an mDNS name that does not resolve is ignored: " + unknown);
    assertTrue(unknown.getString("reason").contains("does not resolve"), unknown.encode());

    JsonObject resolved = candidate("t1", "candidate:5 1 udp 2122260223 resolves.local 5001 typ host");
    assertEquals(true, resolved.getBoolean("added"), "an mDNS name that resolves is added: " + resolved);

    JsonObject slow = candidate("t1", "candidate:6 1 udp 2122260223 slow.local 5002 typ host");
    assertFalse(slow.getBoolean("added"), slow.encode());
    assertTrue(slow.getString("reason").contains("did not resolve within"), "the lookup is bounded: " + slow);

    JsonObject end = candidate("t1", "end-of-candidates");
    assertFalse(end.getBoolean("added"), end.encode());

    browser.connect(created.getString("browserAnswer"));
    f.awaitEvent("connected", 10);
    JsonObject late = candidate("t1", "candidate:7 1 udp 2122260223 127.0.0.1 5003 typ host");
    assertFalse(late.getBoolean("added"), "ICE is done: " + late);
    f.closeAndAssertNothingLeaks("t1");
  }

  @Test
  void aCandidateTrickledBeforeTheBrowserLegIsBuiltIsKeptForItAndOneOfAnotherUfragWaits() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    String[] offer = trickleOffer(browser);
    f.listen("s2");
    f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", "t2").put("sessionId", "s2")
        .put("browserOffer", offer[0]).put("answerLater", true));
    JsonObject early = candidate("t2", offer[1]);
    assertEquals(true, early.getBoolean("added"), "kept for the leg being built, or added to it: " + early);
    JsonObject answer = f.awaitEvent("answer", 10);
    JsonObject other = f.request(Addresses.MEDIA_CANDIDATE, new JsonObject().put("callId", "t2")
        .put("candidate", "candidate:8 1 udp 2122260223 127.0.0.1 5004 typ host").put("ufrag", "another"));
    assertEquals("kept for the browser leg being built", other.getString("reason"),
        "a candidate of another offer (an ICE restart under way) waits for its leg: " + other);
    browser.connect(answer.getString("sdp"));
    f.awaitEvent("connected", 10);
    f.closeAndAssertNothingLeaks("t2");
  }
}
