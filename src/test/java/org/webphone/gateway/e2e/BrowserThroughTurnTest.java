package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IceServerUrls;
import org.webphone.gateway.signalling.TurnCredentials;

/**
 * Issue 18, point 1 with real peers: a browser whose firewall lets through only the page's port to the gateway
 * and one way to a TURN server (coturn, {@code use-auth-secret}) gets two-way audio through the echo extension,
 * relayed over TURN-UDP, TURN-TCP and TURN-TLS ({@code turns:} on 443 with a test CA certificate for the TURN
 * host's IP that the browser's NSS db trusts); getStats' selected pair is a relay of that protocol. Credentials
 * are the gateway's, minted per session; coturn refuses one past its expiry or signed with another secret. One
 * bed (three namespaces, coturn, a gateway JVM, one Chromium) for the whole class ({@link ReachBed}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BrowserThroughTurnTest {
  private ReachBed reach;

  @BeforeAll
  void start(@TempDir Path tmp) throws Exception {
    reach = ReachBed.start(tmp, new JsonObject());
  }

  @AfterAll
  void stop() {
    if (reach != null) {
      reach.close();
    }
  }

  @Test
  void withOnlyUdpToTheTurnServerTheCallIsRelayedOverTurnUdpWithTwoWayAudio() throws Exception {
    assertRelayedEchoCall(ReachBed.Route.TURN_UDP);
  }

  @Test
  void withOnlyTcpToTheTurnServerTheCallIsRelayedOverTurnTcpWithTwoWayAudio() throws Exception {
    assertRelayedEchoCall(ReachBed.Route.TURN_TCP);
  }

  @Test
  void withOnlyTlsOn443ToTheTurnServerTheCallIsRelayedOverTurnsWithTwoWayAudio() throws Exception {
    assertRelayedEchoCall(ReachBed.Route.TURN_TLS);
  }

  private void assertRelayedEchoCall(ReachBed.Route route) throws Exception {
    // Refused at once (TCP reset, ICMP), as many corporate firewalls do; gathering still runs to the page's
    // 4 s limit (Chromium does not give up a blocked TURN allocation sooner), which trickle ICE removes.
    reach.use(route, true);
    ReachBed.Call call = reach.echoCall(2500);
    System.out.println("TURN " + route + ": " + call);
    assertTrue(call.twoWay(), route + ": the 440 Hz tone came back and the browser sent audio: " + call);
    assertTrue(call.took(route), route + ": the selected pair's local candidate is a " + route.candidateType + " over "
        + route.protocol + ": " + call.pair());
    assertEquals(ReachBed.GW, call.pair().get("remoteAddress"), "the relay leads to the gateway's media address");
    assertTrue(String.valueOf(call.pair().get("sessionTurnUser")).matches("[0-9]{10}:s-.+"), "a minted username: "
        + call.pair());
    assertEquals(call.pair().get("sessionTurnUser"), call.pair().get("pcTurnUser"),
        "the peer connection uses the session's newest TURN credential");
  }

  @Test
  void coturnRefusesACredentialPastItsExpiryOrSignedWithAnotherSecretAndTakesTheGatewaysOwn() throws Exception {
    reach.use(ReachBed.Route.TURN_UDP, true);
    reach.browser.open(ReachBed.PAGE + "/");
    reach.browser.awaitStatus("Ready", java.time.Duration.ofSeconds(30));
    JsonArray fromGateway = reach.pageIceServers();
    String username = fromGateway.getJsonObject(0).getString("username");
    assertTrue(username.matches("[0-9]{10}:s-[0-9a-f-]+"), "the page got a minted <expiry>:<sessionId>: " + username);
    assertTrue(reach.gatheredCandidates(udpOnly(fromGateway)).contains("relay/udp"),
        "the gateway's fresh credential gets a relay allocation");

    long twoHoursAgo = System.currentTimeMillis() - 2 * 3600_000L;
    JsonArray expired = udpOnly(minted(reach.secret, twoHoursAgo));
    List<String> withExpired = reach.gatheredCandidates(expired);
    assertFalse(withExpired.stream().anyMatch(c -> c.startsWith("relay")),
        "an hour past its expiry the credential gets no relay candidate: " + withExpired + " " + expired);
    List<String> withOtherSecret = reach.gatheredCandidates(
        udpOnly(minted("another-secret-of-32-characters", System.currentTimeMillis())));
    assertFalse(withOtherSecret.stream().anyMatch(c -> c.startsWith("relay")),
        "a credential signed with another secret gets no relay candidate: " + withOtherSecret);
    String expiredUser = expired.getJsonObject(0).getString("username");
    assertTrue(reach.coturn.logText().contains("Cannot find credentials of user <" + expiredUser + ">"),
        "coturn itself refused the expired " + expiredUser + ":\n" + reach.coturn.tail());
  }

  @Test
  void theSharedSecretIsNeitherInThePagesIceServersNorInTheGatewaysLog() throws Exception {
    reach.browser.open(ReachBed.PAGE + "/");
    reach.browser.awaitStatus("Ready", java.time.Duration.ofSeconds(30));
    assertFalse(reach.pageIceServers().encode().contains(reach.secret), "the secret is not in the page's iceServers");
    assertFalse(reach.node.logText().contains(reach.secret), "the secret is not in the gateway's log");
  }

  /**
   * The TURN entry of {@code iceServers} with only its TURN-UDP URL: gathering then ends with coturn's answer, not
   * at the timeout of the TCP and TLS allocations the firewall refuses.
   */
  private static JsonArray udpOnly(JsonArray iceServers) {
    JsonObject turn = iceServers.getJsonObject(0).copy().put("urls", new JsonArray().add(ReachBed.ICE_SERVERS.get(0)));
    return new JsonArray().add(turn);
  }

  /** The page's iceServers of the bed, minted with {@code secret} as if the clock read {@code atMs}. */
  private static JsonArray minted(String secret, long atMs) {
    GatewayConfig cfg = GatewayConfig.of(new JsonObject().put("ice", new JsonObject()
        .put("servers", new JsonArray(ReachBed.ICE_SERVERS)).put("turnSecret", secret)));
    return new TurnCredentials(IceServerUrls.fromConfig(cfg), secret, () -> atMs).iceServers("s-test");
  }
}
