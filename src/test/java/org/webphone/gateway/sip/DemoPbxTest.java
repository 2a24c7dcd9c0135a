package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;

/** Gateway lines against the embedded demo PBX: registration with digest, the echo extension, line to line. */
class DemoPbxTest {

  private static JsonObject make(String line, String callId, String target) {
    return new JsonObject().put("lineId", line).put("callId", callId).put("target", target)
        .put("sdp", SipTestBed.sdp(40000, "sendrecv"));
  }

  @Test
  void aLineRegistersWithTheDemoPbxAndTheEchoExtensionSendsRtpBack() throws Exception {
    try (SipTestBed bed = SipTestBed.withDemoPbx()) {
      bed.open("s1", "1000", "secret-1000");
      bed.awaitRegistration("s1", "registered");
      bed.request(Addresses.SIP_CALL_MAKE, make("s1", "e1", "600"));
      bed.awaitCallState("e1", "InCall");
      String answer = bed.mediaRequests.get(0).getString("sdp");
      assertTrue(answer.contains("a=rtpmap:0 PCMU/8000") && answer.contains("a=rtpmap:8 PCMA/8000")
          && answer.contains("telephone-event/8000"), answer);
      Matcher m = Pattern.compile("m=audio (\\d+)").matcher(answer);
      assertTrue(m.find());
      SipOutgoingCallTest.assertEcho(Integer.parseInt(m.group(1)));
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "e1"));
      bed.awaitCallState("e1", "Completed");
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("e1"));
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
          bed.registrationStates("s1"));
    }
  }

  @Test
  void twoPoolLinesCallEachOtherThroughTheDemoPbx() throws Exception {
    try (SipTestBed bed = SipTestBed.withDemoPbx()) {
      bed.open("a", "1000", "secret-1000");
      bed.open("b", "1001", "secret-1001");
      bed.awaitRegistration("a", "registered");
      bed.awaitRegistration("b", "registered");
      bed.request(Addresses.SIP_CALL_MAKE, make("a", "ab", "1001"));
      JsonObject inc = bed.awaitIncoming("b");
      assertEquals("1000", inc.getString("from"));
      assertEquals("User 1000", inc.getString("displayName"));
      String inId = inc.getString("callId");
      bed.request(Addresses.SIP_CALL_ACCEPT, new JsonObject().put("lineId", "b").put("callId", inId)
          .put("sdp", SipTestBed.sdp(40002, "sendrecv")));
      bed.awaitCallState("ab", "InCall");
      bed.awaitCallState(inId, "InCall");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "a").put("callId", "ab"));
      bed.awaitCallState(inId, "Completed");
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("ab"));
      assertEquals(List.of("InCall", "Completed"), bed.callStates(inId));
      assertEquals(0, bed.status().getInteger("calls"));
    }
  }

  @Test
  void aWrongPasswordEndsInFailedWith401AndAnUnknownNumberIsNotFound() throws Exception {
    try (SipTestBed bed = SipTestBed.withDemoPbx()) {
      bed.open("x", "1002", "wrong");
      JsonObject failed = bed.awaitRegistration("x", "failed");
      assertEquals(401, failed.getInteger("code"));
      bed.open("s1", "1000", "secret-1000");
      bed.awaitRegistration("s1", "registered");
      bed.request(Addresses.SIP_CALL_MAKE, make("s1", "nf", "4711"));
      JsonObject end = bed.awaitCallState("nf", "Error");
      assertEquals("NotFound", end.getString("error"));
      bed.request(Addresses.SIP_CALL_MAKE, make("s1", "un", "1005"));
      assertEquals("Unavailable", bed.awaitCallState("un", "Error").getString("error"));
    }
  }
}
