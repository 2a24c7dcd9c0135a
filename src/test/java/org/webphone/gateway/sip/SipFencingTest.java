package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;

/** Fencing with the real account pool: a line whose lease is no longer current neither registers nor calls. */
class SipFencingTest {

  @Test
  void aLineWhoseLeaseWasReleasedCannotCallAndUnregisters() throws Exception {
    try (SipTestBed bed = SipTestBed.withDemoPbxAndRealPool()) {
      JsonObject lease = bed.request(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "s1"));
      String accountId = lease.getString("accountId");
      long token = lease.getLong("token");
      bed.listen("s1");
      JsonObject open = new JsonObject().put("lineId", "s1").put("sessionId", "s1").put("accountId", accountId)
          .put("token", token).put("account", lease.getJsonObject("account"));
      bed.request(Addresses.SIP_LINE_OPEN, open);
      bed.awaitRegistration("s1", "registered");
      bed.request(Addresses.POOL_RELEASE, new JsonObject().put("accountId", accountId).put("token", token));
      assertEquals(ErrorCode.STALE_TOKEN.code(), bed.refusal(Addresses.SIP_CALL_MAKE, new JsonObject()
          .put("lineId", "s1").put("callId", "f1").put("target", "600").put("sdp", SipTestBed.sdp(40000, "sendrecv"))));
      bed.awaitRegistration("s1", "unregistered");
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
          bed.registrationStates("s1"));
      assertEquals(List.of(), bed.callStates("f1"));
      // the released lease cannot open a line again either
      bed.listen("s2");
      assertEquals(ErrorCode.STALE_TOKEN.code(), bed.refusal(Addresses.SIP_LINE_OPEN,
          open.copy().put("lineId", "s2").put("sessionId", "s2")));
      assertEquals(List.of(), bed.registrationStates("s2"));
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    }
  }
}
