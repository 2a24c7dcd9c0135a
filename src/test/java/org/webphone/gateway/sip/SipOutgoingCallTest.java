package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Sipp;

/** Calls from a gateway line to SIPp user agents, each scenario checking what the gateway sent. */
class SipOutgoingCallTest {
  private static final Duration SIPP_DONE = Duration.ofSeconds(15);

  /** Registers line "s1" (account 1000) with the SIPp instance that also plays the called party. */
  private static SipTestBed lineOn(Sipp pbx) throws Exception {
    SipTestBed bed = SipTestBed.withPbx(pbx.port(), new JsonObject());
    bed.open("s1", "1000", "secret-1000");
    bed.awaitRegistration("s1", "registered");
    return bed;
  }

  private static JsonObject make(String callId, String target) {
    return new JsonObject().put("lineId", "s1").put("callId", callId).put("target", target)
        .put("sdp", SipTestBed.sdp(40000, "sendrecv"));
  }

  private static void closeLine(SipTestBed bed) throws Exception {
    bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
    assertEquals(0, bed.status().getInteger("calls"));
  }

  @Test
  void anAnsweredCallReachesInCallCarriesRtpBothWaysAndHangUpSendsBye() throws Exception {
    try (Sipp uas = Sipp.uas("uas-answer.xml", "-m", "2", "-rtp_echo"); SipTestBed bed = lineOn(uas)) {
      assertEquals("c1", bed.request(Addresses.SIP_CALL_MAKE, make("c1", "600")).getString("callId"));
      bed.awaitCallState("c1", "InCall");
      JsonObject media = bed.mediaRequests.get(0);
      assertEquals("c1", media.getString("callId"));
      // the answer's media address really echoes: RTP sent there comes back
      Matcher m = Pattern.compile("m=audio (\\d+)").matcher(media.getString("sdp"));
      assertTrue(m.find());
      assertEcho(Integer.parseInt(m.group(1)));
      assertEquals(1, bed.status().getInteger("calls"));
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "c1"));
      bed.awaitCallState("c1", "Completed");
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("c1"));
      assertTrue(uas.diagnostics().contains("X-Webphone-Call-Id: c1"), "the call id header reached the PBX");
    }
  }

  /** RTP sent to {@code port} comes back unchanged (a few packets 1 s apart, as a stream would keep coming). */
  static void assertEcho(int port) throws Exception {
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      s.setSoTimeout(1000);
      byte[] rtp = new byte[172];
      rtp[0] = (byte) 0x80;
      rtp[1] = 0; // PCMU
      for (int i = 12; i < rtp.length; i++) {
        rtp[i] = (byte) i;
      }
      for (int attempt = 0; attempt < 5; attempt++) {
        s.send(new DatagramPacket(rtp, rtp.length, InetAddress.getLoopbackAddress(), port));
        DatagramPacket back = new DatagramPacket(new byte[2048], 2048);
        try {
          s.receive(back);
        } catch (java.net.SocketTimeoutException slow) {
          continue;
        }
        assertArrayEquals(rtp, java.util.Arrays.copyOf(back.getData(), back.getLength()));
        return;
      }
      throw new AssertionError("no RTP came back from port " + port + " within 5 s");
    }
  }

  @Test
  void earlyMediaIsReportedAfterTheMediaVerticleHadThePbxSdp() throws Exception {
    try (Sipp uas = Sipp.uas("uas-early-media.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c2", "1001"));
      bed.awaitCallState("c2", "InCall");
      assertEquals(1, bed.mediaRequests.size(), "the same SDP in 183 and 200 is given to media once");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "c2"));
      bed.awaitCallState("c2", "Completed");
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "RingingWithEarlyMedia", "InCall", "Completed"), bed.callStates("c2"));
    }
  }

  @Test
  void refusalsMapToTheOzekiStatesAndErrorsAndLeaveTheLineIdle() throws Exception {
    record Case(String scenario, String state, String error, int code) { }
    List<Case> cases = List.of(new Case("uas-486.xml", "Busy", null, 486),
        new Case("uas-404.xml", "Error", "NotFound", 404),
        new Case("uas-480.xml", "Error", "Unavailable", 480),
        new Case("uas-603.xml", "Rejected", null, 603));
    for (Case c : cases) {
      try (Sipp uas = Sipp.uas(c.scenario(), "-m", "2"); SipTestBed bed = lineOn(uas)) {
        bed.request(Addresses.SIP_CALL_MAKE, make("r", "1001"));
        JsonObject end = bed.awaitCallState("r", c.state());
        assertEquals(c.code(), end.getInteger("code"), c.scenario());
        assertEquals(c.error(), end.getString("error"), c.scenario());
        assertEquals(List.of("Setup", "Ringing", c.state()), bed.callStates("r"), c.scenario());
        assertEquals(0, bed.status().getInteger("calls"), "line idle after " + c.scenario());
        closeLine(bed);
        uas.awaitSuccess(SIPP_DONE);
      }
    }
  }

  @Test
  void hangingUpWhileItRingsSendsCancelAndEndsCancelled() throws Exception {
    try (Sipp uas = Sipp.uas("uas-cancelled.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c3", "1001"));
      bed.awaitCallState("c3", "Ringing");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "c3"));
      JsonObject end = bed.awaitCallState("c3", "Cancelled");
      assertEquals(487, end.getInteger("code"));
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "Cancelled"), bed.callStates("c3"));
    }
  }

  @Test
  void hangingUpBeforeAnyProvisionalResponseCancelsOnTheFirstOne() throws Exception {
    try (Sipp uas = Sipp.uas("uas-slow-ring.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c9", "1001"));
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "c9"));
      JsonObject end = bed.awaitCallState("c9", "Cancelled");
      assertEquals(487, end.getInteger("code"));
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Cancelled"), bed.callStates("c9"));
    }
  }

  @Test
  void aCancelCrossingTheAnswerIsAckedAndByedAndEndsCancelled() throws Exception {
    try (Sipp uas = Sipp.uas("uas-cancel-crosses-200.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("x1", "1001"));
      bed.awaitCallState("x1", "Ringing");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "x1"));
      bed.awaitCallState("x1", "Cancelled");
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "Cancelled"), bed.callStates("x1"));
    }
  }

  @Test
  void manyCallsHungUpWhileRingingInARowLeaveTheLineIdle() throws Exception {
    int rounds = 5;
    try (Sipp uas = Sipp.uas("uas-cancelled.xml", "-m", Integer.toString(rounds + 1)); SipTestBed bed = lineOn(uas)) {
      for (int i = 0; i < rounds; i++) {
        String id = "loop" + i;
        bed.request(Addresses.SIP_CALL_MAKE, make(id, "1001"));
        bed.awaitCallState(id, "Ringing");
        bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", id));
        bed.awaitCallState(id, "Cancelled");
        assertEquals(List.of("Setup", "Ringing", "Cancelled"), bed.callStates(id));
        assertEquals(0, bed.status().getInteger("calls"), "idle after round " + i);
      }
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
    }
  }

  @Test
  void aCallPlacedRightAfterHangingUpARingingCallIsNotRefusedAsBusy() throws Exception {
    try (Sipp uas = Sipp.uas("uas-cancelled.xml", "-m", "3"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("first", "1001"));
      bed.awaitCallState("first", "Ringing");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "first"));
      // No wait for the 487: the next Call comes at once, as a visitor's second click would.
      bed.request(Addresses.SIP_CALL_MAKE, make("second", "1001"));
      bed.awaitCallState("second", "Ringing");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "second"));
      bed.awaitCallState("first", "Cancelled");
      bed.awaitCallState("second", "Cancelled");
      assertEquals(List.of("Setup", "Ringing", "Cancelled"), bed.callStates("first"));
      assertEquals(List.of("Setup", "Ringing", "Cancelled"), bed.callStates("second"));
      Eventually.await(SIPP_DONE, "both calls settled", () -> bed.status().getInteger("calls"), n -> n == 0);
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
    }
  }

  @Test
  void theFarEndHangingUpEndsTheCallCompleted() throws Exception {
    try (Sipp uas = Sipp.uas("uas-remote-bye.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c4", "1001"));
      bed.awaitCallState("c4", "Completed");
      assertEquals(0, bed.status().getInteger("calls"));
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("c4"));
    }
  }

  @Test
  void holdBothWaysIsReportedAsRemoteHeldAndLocalHeld() throws Exception {
    try (Sipp uas = Sipp.uas("uas-hold.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c5", "1001"));
      bed.awaitCallState("c5", "RemoteHeld");
      bed.awaitEvent(e -> bed.callStates("c5").size() >= 5, "back InCall after remote resume");
      JsonObject hold = new JsonObject().put("lineId", "s1").put("callId", "c5").put("hold", true);
      bed.request(Addresses.SIP_CALL_HOLD, hold);
      bed.request(Addresses.SIP_CALL_HOLD, hold.copy().put("hold", false));
      bed.awaitCallState("c5", "Completed");
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of("Setup", "Ringing", "InCall", "RemoteHeld", "InCall", "LocalHeld", "InCall", "Completed"),
          bed.callStates("c5"));
      assertEquals(List.of("sendonly", "sendrecv"), bed.mediaRequests.stream()
          .filter(r -> Addresses.MEDIA_DIRECTION.equals(r.getString("address"))).map(r -> r.getString("direction"))
          .toList());
      uas.assertOneContact("INVITE ", 3); // the call's INVITE, then our hold and resume re-INVITEs
    }
  }

  @Test
  void badDialStringsAndBusyLinesAreRefusedBeforeAnySipIsBuilt() throws Exception {
    try (Sipp uas = Sipp.uas("uas-answer.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      for (String bad : new String[] {"", "12a", "1001@evil", "1001>;x", "1 2", "9".repeat(33), "sip:1001"}) {
        assertEquals(ErrorCode.NUMBER_REFUSED.code(), bed.refusal(Addresses.SIP_CALL_MAKE, make("x", bad)), bad);
      }
      assertEquals(ErrorCode.BAD_FIELD.code(), bed.refusal(Addresses.SIP_CALL_MAKE, make("bad\r\nid", "600")));
      assertEquals(ErrorCode.NOT_FOUND.code(), bed.refusal(Addresses.SIP_CALL_MAKE,
          make("x", "600").put("lineId", "nope")));
      bed.request(Addresses.SIP_CALL_MAKE, make("c6", "*600#"));
      assertEquals(ErrorCode.LINE_BUSY.code(), bed.refusal(Addresses.SIP_CALL_MAKE, make("c7", "600")));
      bed.awaitCallState("c6", "InCall");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "s1").put("callId", "c6"));
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertTrue(uas.diagnostics().contains("INVITE sip:*600%23@127.0.0.1:" + uas.port()),
          "the number reached the PBX escaped by the URI rules");
    }
  }

  @Test
  void dtmfByInfoGoesBothWaysAndABlindTransferReportsItsProgressThenEnds() throws Exception {
    try (Sipp uas = Sipp.uas("uas-info-refer.xml", "-m", "2"); SipTestBed bed = lineOn(uas)) {
      bed.request(Addresses.SIP_CALL_MAKE, make("c8", "1001"));
      bed.awaitCallState("c8", "InCall");
      JsonObject call = new JsonObject().put("lineId", "s1").put("callId", "c8");
      bed.request(Addresses.SIP_CALL_DTMF, call.copy().put("digits", "1"));
      JsonObject digit = bed.awaitEvent(e -> "dtmf".equals(e.getString("event")), "dtmf from the PBX");
      assertEquals(new JsonObject().put("event", "dtmf").put("callId", "c8").put("digit", "5").put("source", "info")
          .put("session", "s1"), digit);
      assertEquals(ErrorCode.NUMBER_REFUSED.code(), bed.refusal(Addresses.SIP_CALL_TRANSFER,
          call.copy().put("target", "1002;evil")));
      bed.request(Addresses.SIP_CALL_TRANSFER, call.copy().put("target", "1002"));
      bed.awaitCallState("c8", "Completed");
      closeLine(bed);
      uas.awaitSuccess(SIPP_DONE);
      assertEquals(List.of(100, 200), bed.events.stream().filter(e -> "transfer".equals(e.getString("event")))
          .map(e -> e.getInteger("code")).toList());
      assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("c8"));
      uas.assertOneContact("REFER ", 1);
    }
  }
}
