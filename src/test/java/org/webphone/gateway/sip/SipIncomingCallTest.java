package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Sipp;

/** SIPp calling into a registered gateway line (account 1000, line "s1"). */
class SipIncomingCallTest {
  private static final Duration SIPP_DONE = Duration.ofSeconds(15);
  private Sipp registrar;
  private SipTestBed bed;

  @BeforeEach
  void registerLine() throws Exception {
    registrar = Sipp.uas("registrar-ok.xml");
    bed = SipTestBed.withPbx(registrar.port(), new JsonObject());
    bed.open("s1", "1000", "secret-1000");
    bed.awaitRegistration("s1", "registered");
  }

  @AfterEach
  void closeLine() throws Exception {
    try {
      if (bed.status().getInteger("lines") > 0) {
        bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      }
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
      registrar.awaitSuccess(SIPP_DONE);
    } finally {
      bed.close();
      registrar.close();
    }
  }

  private Sipp call(String scenario, String... more) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("-s", "1000"));
    args.addAll(List.of(more));
    return Sipp.start(scenario, "127.0.0.1:" + bed.sipPort, args);
  }

  private JsonObject cmd(String callId) {
    return new JsonObject().put("lineId", "s1").put("callId", callId);
  }

  @Test
  void anAcceptedCallIsReportedWithTheCallerAndReachesInCallAfterTheAck() throws Exception {
    try (Sipp uac = call("uac-answered.xml")) {
      JsonObject inc = bed.awaitIncoming("s1");
      assertEquals("1001", inc.getString("from"));
      assertEquals("Alice Caller", inc.getString("displayName"));
      assertTrue(inc.getString("sdp").contains("m=audio " + uac.mediaPort()), inc.getString("sdp"));
      String callId = inc.getString("callId");
      bed.request(Addresses.SIP_CALL_ACCEPT, cmd(callId).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
      bed.awaitCallState(callId, "Completed");
      uac.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("InCall", "Completed"), bed.callStates(callId));
    }
  }

  @Test
  void anOfferlessInviteGetsOurOfferAndTheAnswerInTheAckGoesToMedia() throws Exception {
    try (Sipp uac = call("uac-offerless.xml")) {
      JsonObject inc = bed.awaitIncoming("s1");
      assertEquals("", inc.getString("sdp"));
      String callId = inc.getString("callId");
      bed.request(Addresses.SIP_CALL_ACCEPT, cmd(callId).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
      bed.awaitCallState(callId, "Completed");
      uac.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("InCall", "Completed"), bed.callStates(callId));
      assertEquals(1, bed.mediaRequests.size());
      assertTrue(bed.mediaRequests.get(0).getString("sdp").contains("m=audio " + uac.mediaPort()));
    }
  }

  @Test
  void theCallerCancellingWhileItRingsGives487AndCancelled() throws Exception {
    try (Sipp uac = call("uac-cancel.xml")) {
      // Not awaitIncoming: on a slow machine the caller's CANCEL may already have ended the call when we look.
      String callId = bed.awaitEvent(e -> "incoming".equals(e.getString("event")) && "s1".equals(e.getString("lineId")),
          "incoming on s1").getString("callId");
      JsonObject end = bed.awaitCallState(callId, "Cancelled");
      assertEquals(487, end.getInteger("code"));
      uac.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Cancelled"), bed.callStates(callId));
    }
  }

  @Test
  void rejectSends486ByDefaultAndTheGivenCodeOtherwise() throws Exception {
    try (Sipp uac = call("uac-486.xml")) {
      String callId = bed.awaitIncoming("s1").getString("callId");
      bed.request(Addresses.SIP_CALL_REJECT, cmd(callId));
      bed.awaitCallState(callId, "Rejected");
      uac.awaitSuccess(SIPP_DONE);
    }
    try (Sipp uac = call("uac-603.xml")) {
      String callId = bed.awaitIncoming("s1").getString("callId");
      bed.request(Addresses.SIP_CALL_REJECT, cmd(callId).put("code", 603));
      assertEquals(List.of("Rejected"), List.of(bed.awaitCallState(callId, "Rejected").getString("state")));
      uac.awaitSuccess(SIPP_DONE);
    }
  }

  @Test
  void aSecondInviteWhileBusyGets486AndAnUnknownLine404() throws Exception {
    try (Sipp first = call("uac-603.xml")) {
      String callId = bed.awaitIncoming("s1").getString("callId");
      try (Sipp second = call("uac-486.xml")) {
        second.awaitSuccess(SIPP_DONE);
      }
      try (Sipp unknown = Sipp.start("uac-404.xml", "127.0.0.1:" + bed.sipPort, List.of("-s", "9999"))) {
        unknown.awaitSuccess(SIPP_DONE);
      }
      bed.request(Addresses.SIP_CALL_REJECT, cmd(callId).put("code", 603));
      first.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Rejected"), bed.callStates(callId));
      assertEquals(1, bed.events.stream().filter(e -> "incoming".equals(e.getString("event"))).count());
    }
  }

  @Test
  void theSessionVanishingWhileItRingsAnswers480() throws Exception {
    try (Sipp uac = call("uac-480.xml")) {
      String callId = bed.awaitIncoming("s1").getString("callId");
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      uac.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Cancelled"), bed.callStates(callId));
    }
  }

  @Test
  void manyDeclinesAndCancelsInARowLeaveTheLineIdleAndTheNextCallWorks() throws Exception {
    int rounds = 6;
    try (Sipp uac = call("uac-486.xml", "-m", Integer.toString(rounds), "-l", "1")) {
      for (int i = 0; i < rounds; i++) {
        String callId = bed.awaitIncoming("s1").getString("callId");
        if (i % 2 == 0) {
          bed.request(Addresses.SIP_CALL_REJECT, cmd(callId));
        } else {
          bed.request(Addresses.SIP_CALL_HANGUP, cmd(callId));
        }
        bed.awaitCallState(callId, "Rejected");
      }
      uac.awaitSuccess(SIPP_DONE);
    }
    int cancelRoundFrom = bed.events.size();
    try (Sipp uac = call("uac-cancel.xml", "-m", Integer.toString(rounds), "-l", "1")) {
      uac.awaitSuccess(SIPP_DONE);
    }
    // SIPp can finish before the last Cancelled event has crossed the bus to the bed: wait for each call's.
    List<JsonObject> events = List.copyOf(bed.events);
    for (JsonObject e : events.subList(cancelRoundFrom, events.size())) {
      if ("incoming".equals(e.getString("event"))) {
        bed.awaitCallState(e.getString("callId"), "Cancelled");
      }
    }
    assertEquals(rounds, bed.events.stream().filter(e -> "Cancelled".equals(e.getString("state"))).count());
    assertEquals(0, bed.status().getInteger("calls"));
    try (Sipp uac = call("uac-answered.xml")) {
      String callId = bed.awaitIncoming("s1").getString("callId");
      bed.request(Addresses.SIP_CALL_ACCEPT, cmd(callId).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
      bed.awaitCallState(callId, "Completed");
      uac.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("InCall", "Completed"), bed.callStates(callId));
    }
  }
}
