package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Sipp;

class SipRegistrationTest {

  @Test
  void aLineRegistersWithDigestRefreshesBeforeTheGrantedExpiryAndUnregistersOnClose() throws Exception {
    try (Sipp registrar = Sipp.uas("registrar-401.xml"); SipTestBed bed = SipTestBed.withPbx(registrar.port(),
        new JsonObject())) {
      assertEquals("s1", bed.open("s1", "1000", "secret-1000").getString("lineId"));
      bed.awaitRegistration("s1", "registered");
      registrar.awaitTrace("REGISTER", 3, Duration.ofSeconds(5)); // the refresh arrived (the third REGISTER)
      assertEquals(1, bed.status().getInteger("registered"));
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      registrar.awaitSuccess(Duration.ofSeconds(10));
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
          bed.registrationStates("s1"));
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    }
  }

  @Test
  void aStaleLeaseIsRefusedBeforeAnySipIsSent() throws Exception {
    try (SipTestBed bed = SipTestBed.withPbx(9, new JsonObject())) {
      bed.leaseCurrent = false;
      bed.listen("s2");
      int code = bed.refusal(Addresses.SIP_LINE_OPEN, new JsonObject().put("lineId", "s2").put("sessionId", "s2")
          .put("accountId", "1000").put("token", 7).put("account", SipTestBed.account("1000", "x")));
      assertEquals(ErrorCode.STALE_TOKEN.code(), code);
      assertEquals(0, bed.status().getInteger("lines"));
      assertEquals(List.of(), bed.registrationStates("s2"));
    }
  }
}
