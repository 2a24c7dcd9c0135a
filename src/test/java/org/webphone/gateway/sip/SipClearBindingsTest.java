package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Ports;

/**
 * sip.clearBindingsOnLease against Kamailio: the contact another node left for an account (a node killed with
 * SIGKILL never un-REGISTERs) is gone once a fresh line of that account registers.
 */
class SipClearBindingsTest {

  @Test
  void aFreshLineRemovesTheBindingAnotherNodeLeftAndRegistersOnlyItsOwn() throws Exception {
    try (Kamailio pbx = Kamailio.startIn(null, Map.of("1000", "secret-1000"), Map.of(), "127.0.0.1", Ports.free());
        SipTestBed dead = SipTestBed.withPbx(pbx.port(), new JsonObject());
        SipTestBed fresh = SipTestBed.withPbx(pbx.port(), new JsonObject()
            .put("sip", new JsonObject().put("clearBindingsOnLease", true)))) {
      dead.open("a", "1000", "secret-1000");
      dead.awaitRegistration("a", "registered");
      assertEquals(1, pbx.contacts("1000").size(), "the first node's binding: " + pbx.contacts("1000"));

      fresh.open("b", "1000", "secret-1000");
      fresh.awaitRegistration("b", "registered");
      List<String> left = Eventually.await(Duration.ofSeconds(2), "one binding of 1000, the fresh line's",
          () -> pbx.contacts("1000"), c -> c.size() == 1);
      assertTrue(left.get(0).contains(":" + fresh.sipPort), "the fresh line's contact: " + left);
      assertEquals(List.of("registering", "registered"), fresh.registrationStates("b"),
          "the clearing REGISTER is not a state of its own");
    }
  }
}
