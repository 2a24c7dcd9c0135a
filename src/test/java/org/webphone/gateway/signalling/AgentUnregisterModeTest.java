package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;

/**
 * {@code availability.whenNotAvailable: "unregister"} on the signalling side, with the real pool and the SIP layer
 * of {@link FakeLowerLayers} (it counts every sip.line.open/close, which is what this mode is about; the INVITE
 * refusal of the default mode runs against Kamailio in {@link AgentLinesTest}): a Busy agent's line is closed
 * (un-REGISTERed) while the lease stays the agent's, and opened again with the same lease when it is Available;
 * wrap-up after a call does the same by itself.
 */
@ExtendWith(VertxExtension.class)
class AgentUnregisterModeTest {
  private static final String SECRET = "unregister-mode-secret";
  private Harness h;

  @AfterEach
  void tearDown() throws Exception {
    if (h != null) {
      h.close();
    }
  }

  @Test
  void busyUnregistersTheLineKeepingTheLeaseAndWrapUpAfterACallComesBackByItself(Vertx vertx) throws Exception {
    h = new Harness(vertx, -1, new JsonObject()
        .put("pool", new JsonObject().put("agents", new JsonArray().add(new JsonObject().put("id", "alice")
            .put("username", "2001").put("password", "pw"))))
        .put("auth", new JsonObject().put("tokenSecret", SECRET))
        .put("availability", new JsonObject().put("whenNotAvailable", "unregister").put("wrapUpAfterCall", true)
            .put("wrapUpSec", 1)));
    String token = AuthToken.issue(SECRET, System.currentTimeMillis() / 1000, "alice", "jti-1");
    Harness.Client c = h.connect("token=" + token);
    assertEquals("alice", c.await("OnSession").getString("agent"));
    assertEquals("Available", c.await("OnAvailabilityChanged").getString("state"));
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    JsonObject lease = onlyLease();
    assertEquals("2001", lease.getString("accountId"));

    assertEquals("Ack", c.request(Harness.method("SetAvailability").put("state", "Busy")).getString("event"));
    c.await("OnRegistrationStateChanged", e -> e.getString("state").equals("Unregistered"));
    c.await("OnSetReadyStatus", e -> !e.getBoolean("ready"));
    Eventually.until(Duration.ofSeconds(5), "the line closed", () -> h.lower.openLines.get() == 0);
    assertEquals(lease, onlyLease(), "the lease stays the agent's while the line is away");
    assertEquals(303, c.request(Harness.method("Call").put("number", "600").put("sdp", "v=0 offer"))
        .getInteger("code"), "no line, no call");

    assertEquals("Ack", c.request(Harness.method("SetAvailability").put("state", "Available")).getString("event"));
    c.await("OnRegistrationStateChanged", e -> e.getString("state").equals("Registered"));
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    assertEquals(1, h.lower.openLines.get());
    assertEquals(2, h.lower.count(Addresses.SIP_LINE_OPEN), "opened again");
    assertEquals(lease.getLong("token"), h.lower.requests.stream()
        .filter(r -> Addresses.SIP_LINE_OPEN.equals(r.getString("_address"))).reduce((a, b) -> b).orElseThrow()
        .getLong("token"), "with the same lease");

    // An answered call ends in wrap-up (wrapUpAfterCall): the line leaves, and comes back after wrapUpSec.
    JsonObject ack = c.request(Harness.method("Call").put("number", "600").put("sdp", "v=0 offer"));
    c.await("OnInCall");
    c.request(Harness.method("HangUp").put("callId", ack.getString("callId")));
    JsonObject wrapUp = c.await("OnAvailabilityChanged");
    assertEquals("WrapUp", wrapUp.getString("state"));
    assertEquals("after a call", wrapUp.getString("reason"));
    c.await("OnRegistrationStateChanged", e -> e.getString("state").equals("Unregistered"));
    JsonObject back = c.await("OnAvailabilityChanged");
    assertEquals("Available", back.getString("state"));
    assertEquals("wrap-up ended", back.getString("reason"));
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    assertEquals(3, h.lower.count(Addresses.SIP_LINE_OPEN));

    c.ws.close();
    c.awaitClosed();
    Eventually.until(Duration.ofSeconds(5), "the lease back", () -> poolStatus().getJsonArray("leases").isEmpty());
    h.assertNothingLeaked();
  }

  private JsonObject onlyLease() throws Exception {
    JsonArray leases = poolStatus().getJsonArray("leases");
    assertEquals(1, leases.size(), leases.encode());
    return leases.getJsonObject(0);
  }

  private JsonObject poolStatus() throws Exception {
    return Harness.await(h.vertx.eventBus().<JsonObject>request(Addresses.POOL_STATUS, new JsonObject())).body();
  }
}
