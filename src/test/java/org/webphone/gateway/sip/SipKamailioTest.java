package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Kamailio;

/** Kamailio as registrar and record-routing proxy with digest auth (REGISTER 401, INVITE 407). */
class SipKamailioTest {

  @Test
  void twoLinesRegisterWithKamailioAndCallEachOtherThroughIt() throws Exception {
    lineToLine("udp");
  }

  @Test
  void theSameWorksOverTcp() throws Exception {
    lineToLine("tcp");
  }

  private void lineToLine(String transport) throws Exception {
    try (Kamailio pbx = Kamailio.start(Map.of("1000", "secret-1000", "1001", "secret-1001"));
        SipTestBed bed = SipTestBed.withPbx(pbx.port(), new JsonObject().put("pbx", new JsonObject()
            .put("transport", transport)))) {
      bed.open("a", "1000", "secret-1000");
      bed.open("b", "1001", "secret-1001");
      bed.awaitRegistration("a", "registered");
      bed.awaitRegistration("b", "registered");
      assertEquals("tcp".equals(transport), tcpConnectionTo(pbx.port()), "a TCP connection to the PBX");
      bed.request(Addresses.SIP_CALL_MAKE, new JsonObject().put("lineId", "a").put("callId", "k1")
          .put("target", "1001").put("sdp", SipTestBed.sdp(40000, "sendrecv")));
      JsonObject inc = bed.awaitIncoming("b");
      assertEquals("1000", inc.getString("from"));
      String inId = inc.getString("callId");
      bed.request(Addresses.SIP_CALL_ACCEPT, new JsonObject().put("lineId", "b").put("callId", inId)
          .put("sdp", SipTestBed.sdp(40002, "sendrecv")));
      bed.awaitCallState("k1", "InCall");
      bed.awaitCallState(inId, "InCall");
      // the callee hangs up: the BYE follows the record-route through Kamailio
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "b").put("callId", inId));
      bed.awaitCallState("k1", "Completed");
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("k1"));
      assertEquals(List.of("InCall", "Completed"), bed.callStates(inId));
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "a"));
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "b"));
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"), bed.registrationStates("a"));
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    }
  }

  @Test
  void aWrongPasswordIsReportedAsFailedWithTheCodeAndReason() throws Exception {
    try (Kamailio pbx = Kamailio.start(Map.of("1000", "secret-1000"));
        SipTestBed bed = SipTestBed.withPbx(pbx.port(), new JsonObject())) {
      bed.open("a", "1000", "not-the-password");
      JsonObject failed = bed.awaitRegistration("a", "failed");
      assertEquals(401, failed.getInteger("code"));
      assertEquals(List.of("registering", "failed"), bed.registrationStates("a"));
    }
  }

  /** An established TCP connection to 127.0.0.1:{@code port} in the kernel's table (ours: nobody else talks to it). */
  private static boolean tcpConnectionTo(int port) throws java.io.IOException {
    String remote = String.format("0100007F:%04X", port);
    return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/net/tcp")).stream().skip(1)
        .map(l -> l.trim().split("\\s+")).anyMatch(f -> f[2].equals(remote) && f[3].equals("01"));
  }
}
