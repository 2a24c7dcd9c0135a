package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;

/**
 * The PBX side transfers a gateway line's call (docs/sip.md, "Transfer"). Kamailio is the registrar of line
 * "s1" (account 1000) and routes 701 and 0900123 to a SIPp UAS, the transfer target; the transferor is a SIPp
 * UAC calling the line directly, as a PBX does. The media verticle is {@link SipTestBed}'s recorder (why: see
 * there); the audio of a transfer is checked end to end by TransferThroughKamailioTest.
 */
class SipTransferTest {
  private static final Duration SIPP_DONE = Duration.ofSeconds(20);
  private static Sipp target;
  private static Kamailio pbx;
  private SipTestBed bed;

  @BeforeAll
  static void startThePbx() throws Exception {
    // Started before Kamailio (which needs its port), used by whichever test runs: past SIPp's default 60 s.
    target = Sipp.uas("uas-answer.xml", "-timeout", "300");
    pbx = Kamailio.start(Map.of("1000", "secret-1000"), Map.of("701", target.port(), "0900123", target.port()));
  }

  @AfterAll
  static void stopThePbx() {
    for (AutoCloseable c : new AutoCloseable[] {pbx, target}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  @BeforeEach
  void registerLine() throws Exception {
    bed = SipTestBed.withPbx(pbx.port(), new JsonObject().put("dial", new JsonObject()
        .put("allow", new JsonArray().add("7[0-9][0-9]").add("0900123")).put("blockedPrefixes", new JsonArray().add("09"))));
    bed.open("s1", "1000", "secret-1000");
    bed.awaitRegistration("s1", "registered");
  }

  @AfterEach
  void closeLine() throws Exception {
    try {
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    } finally {
      bed.close();
    }
  }

  private Sipp call(String scenario, String... more) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("-s", "1000"));
    args.addAll(List.of(more));
    return Sipp.start(scenario, "127.0.0.1:" + bed.sipPort, args);
  }

  private static JsonObject cmd(String callId) {
    return new JsonObject().put("lineId", "s1").put("callId", callId);
  }

  private String answerIncoming() throws Exception {
    String callId = bed.awaitIncoming("s1").getString("callId");
    bed.request(Addresses.SIP_CALL_ACCEPT, cmd(callId).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
    bed.awaitCallState(callId, "InCall");
    return callId;
  }

  private JsonObject awaitTransfer(String callId, int code) throws InterruptedException {
    return bed.awaitEvent(e -> "transfer".equals(e.getString("event")) && callId.equals(e.getString("callId"))
        && Integer.valueOf(code).equals(e.getInteger("code")), "transfer event " + code);
  }

  @Test
  void aReferFromThePbxSideIsCheckedThenFollowedWithNotifyAndTheCallMovesToTheTarget() throws Exception {
    try (Sipp transferor = call("transfer-refer-in.xml")) {
      String callId = answerIncoming();
      // The scenario checks the refusals itself: 400 without Refer-To; 403 for tel:, for an embedded Call-Info
      // header and for 0900123 (blocked prefix 09); then 202, NOTIFY 100 and 200 (sipfrag) and the old BYE.
      assertEquals("in", awaitTransfer(callId, 100).getString("direction"));
      JsonObject connected = awaitTransfer(callId, 200);
      assertEquals("in", connected.getString("direction"));
      assertTrue(connected.getString("reason").contains("701"), connected.encode());
      transferor.awaitSuccess(SIPP_DONE);
      transferor.assertOneContact("NOTIFY ", 2);

      // Only the allowed target was dialled (the refused ones also route to this UAS in Kamailio).
      String dialled = target.messageTrace();
      assertEquals(1, target.traceCount("INVITE sip:"), dialled);
      assertFalse(dialled.contains("0900123"), "the blocked number was not dialled");
      JsonObject answer = bed.mediaRequests.stream().filter(r -> "answer".equals(r.getString("type")))
          .findFirst().orElseThrow(() -> new AssertionError("no answer to media: " + bed.mediaRequests));
      assertTrue(answer.getString("sdp").contains("m=audio " + target.mediaPort()), answer.getString("sdp"));
      assertEquals(List.of("InCall"), bed.callStates(callId), "the call went on through the transfer");
      assertEquals(1, bed.status().getInteger("calls"));

      // The call is now the target's: our hang-up reaches it (its scenario waits for that BYE).
      bed.request(Addresses.SIP_CALL_HANGUP, cmd(callId));
      bed.awaitCallState(callId, "Completed");
      target.awaitSuccess(SIPP_DONE);
    }
  }

  @Test
  void anInviteWithReplacesFromThePbxTakesTheCallsPlaceAndTheOldDialogGetsByeAStrangersIsDropped() throws Exception {
    try (Sipp first = call("transfer-replaced.xml")) {
      String callId = answerIncoming();
      String replaces = replacesOf(first.messageTrace());
      // The same Replaces from outside the PBX's allowed sources is dropped unanswered: the call stays.
      strangerInvite(replaces);
      org.webphone.gateway.testing.Eventually.until(SipTestBed.WAIT, "the stranger's INVITE dropped",
          () -> bed.dropped().getLong("stranger", 0L) == 1);
      assertTrue(bed.events.stream().noneMatch(e -> "transfer".equals(e.getString("event"))), bed.events.toString());
      try (Sipp second = call("transfer-replaces.xml", "-set", "replaces", replaces)) {
        JsonObject ev = awaitTransfer(callId, 200);
        assertEquals("in", ev.getString("direction"));
        assertTrue(ev.getString("reason").startsWith("Replaced by a call from 1001"), ev.encode());
        first.awaitSuccess(SIPP_DONE); // the old dialog's BYE came
        bed.awaitCallState(callId, "Completed"); // the replacing caller hung up after 1 s
        second.awaitSuccess(SIPP_DONE);
        assertEquals(List.of("InCall", "Completed"), bed.callStates(callId));
        assertTrue(bed.mediaRequests.stream().anyMatch(r -> r.getString("sdp").contains("m=audio " + second.mediaPort())),
            "the PBX leg moved to the replacing caller: " + bed.mediaRequests);
      }
    }
  }

  @Test
  void aReplacesForAnUnknownDialogGets481AndNothingRings() throws Exception {
    try (Sipp stranger = call("transfer-replaces-unknown.xml")) {
      stranger.awaitSuccess(SIPP_DONE);
    }
    assertTrue(bed.events.stream().noneMatch(e -> "incoming".equals(e.getString("event"))), bed.events.toString());
    assertEquals(0, bed.status().getInteger("calls"));
  }

  private void strangerInvite(String replaces) throws Exception {
    try (java.net.DatagramSocket s = new java.net.DatagramSocket(new java.net.InetSocketAddress(SipTestBed.STRANGER, 0))) {
      String at = SipTestBed.STRANGER.getHostAddress() + ":" + s.getLocalPort();
      String sdp = SipTestBed.sdp(40002, "sendrecv");
      String invite = "INVITE sip:1000@127.0.0.1:" + bed.sipPort + " SIP/2.0\r\n"
          + "Via: SIP/2.0/UDP " + at + ";branch=z9hG4bK-stranger-1\r\n"
          + "From: <sip:666@" + at + ">;tag=stranger\r\nTo: <sip:1000@127.0.0.1>\r\n"
          + "Call-ID: stranger-replaces@" + at + "\r\nCSeq: 1 INVITE\r\nContact: <sip:666@" + at + ">\r\n"
          + "Max-Forwards: 70\r\nReplaces: " + replaces + "\r\nContent-Type: application/sdp\r\n"
          + "Content-Length: " + sdp.length() + "\r\n\r\n" + sdp;
      byte[] b = invite.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      s.send(new java.net.DatagramPacket(b, b.length, new java.net.InetSocketAddress("127.0.0.1", bed.sipPort)));
    }
  }

  /** "call-id;to-tag=ours;from-tag=theirs" of the dialog a SIPp UAC's trace shows answered (RFC 3891). */
  private static String replacesOf(String trace) {
    int at = trace.indexOf("\nSIP/2.0 200 OK");
    assertTrue(at >= 0, trace);
    String msg = trace.substring(at, trace.indexOf("-----", at) < 0 ? trace.length() : trace.indexOf("-----", at));
    return header(msg, "Call-ID:\\s*(\\S+)") + ";to-tag=" + header(msg, "To:.*;tag=([^;>\\s]+)")
        + ";from-tag=" + header(msg, "From:.*;tag=([^;>\\s]+)");
  }

  private static String header(String msg, String regex) {
    Matcher m = Pattern.compile("(?mi)^" + regex).matcher(msg);
    assertTrue(m.find(), regex + " in " + msg);
    return m.group(1);
  }
}
