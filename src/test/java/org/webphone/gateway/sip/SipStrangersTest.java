package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * F1 of the hardening issue: the SIP port answers only the PBX. Every request a SIP scanner sends from an
 * address outside {@code pbx.allowedSources} (here 127.0.0.9; the PBX is 127.0.0.1) gets no response at
 * all, for leased and unleased accounts alike, reaches no session, and is counted by reason; the log names
 * the source once. The PBX's own requests are still served.
 */
class SipStrangersTest {
  private static final InetAddress STRANGER = SipTestBed.STRANGER;
  private int n;

  /** A request as a scanner sends it; {@code toTag} non-null makes it look in-dialog. */
  private String request(String method, String user, String from, int port, String toTag, String extra) {
    n++;
    return method + " sip:" + user + "@127.0.0.1:" + port + " SIP/2.0\r\n"
        + "Via: SIP/2.0/UDP " + from + ";branch=z9hG4bK-scan-" + n + "\r\n"
        + "Max-Forwards: 70\r\n"
        + "From: \"Bank Security <b>call back</b>\" <sip:security@bank.example>;tag=s" + n + "\r\n"
        + "To: <sip:" + user + "@127.0.0.1:" + port + ">" + (toTag == null ? "" : ";tag=" + toTag) + "\r\n"
        + "Call-ID: scan-" + n + "@evil.example\r\nCSeq: 1 " + method + "\r\n"
        + "Contact: <sip:security@" + from + ">\r\n" + extra
        + "Content-Length: 0\r\n\r\n";
  }

  private static void send(DatagramSocket s, int port, String text) throws Exception {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    s.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), port));
  }

  /** The next datagram's text, or null when none arrived before {@code endNanos}. */
  private static String next(DatagramSocket s, long endNanos) throws Exception {
    byte[] buf = new byte[65535];
    s.setSoTimeout(50);
    while (System.nanoTime() < endNanos) {
      DatagramPacket p = new DatagramPacket(buf, buf.length);
      try {
        s.receive(p);
        return new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8);
      } catch (SocketTimeoutException e) {
        // keep listening until the end
      }
    }
    return null;
  }

  /** Every datagram that arrives within {@code ms}, as its first line. */
  private static List<String> receiveFor(DatagramSocket s, long ms) throws Exception {
    List<String> got = new ArrayList<>();
    long end = System.nanoTime() + ms * 1_000_000;
    for (String text = next(s, end); text != null; text = next(s, end)) {
      got.add(text.lines().findFirst().orElse(""));
    }
    return got;
  }

  private String exchange(DatagramSocket s, int port, String text) throws Exception {
    return SipMalformedInputTest.exchange(s, port, text.getBytes(StandardCharsets.UTF_8), "scan-" + n + "@");
  }

  @Test
  void everyRequestFromAStrangerIsDroppedSilentlyForLeasedAndUnleasedAccountsAndThePbxIsStillServed()
      throws Exception {
    Logger guardLog = (Logger) LoggerFactory.getLogger(SipPortGuard.class);
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    guardLog.addAppender(logged);
    try (SipTestBed bed = SipTestBed.withDemoPbx();
        DatagramSocket attacker = new DatagramSocket(new InetSocketAddress(STRANGER, 0));
        DatagramSocket pbx = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
      bed.open("s1", "1000", "secret-1000");
      bed.awaitRegistration("s1", "registered");
      int port = bed.sipPort;
      String me = "127.0.0.9:" + attacker.getLocalPort();
      String sdp = "Content-Type: application/sdp\r\n";
      Map<String, String> outOfDialog = new LinkedHashMap<>();
      outOfDialog.put("INVITE to the leased account", request("INVITE", "1000", me, port, null, sdp));
      outOfDialog.put("INVITE to an unleased pool account", request("INVITE", "1001", me, port, null, ""));
      outOfDialog.put("INVITE to no account", request("INVITE", "4711", me, port, null, ""));
      outOfDialog.put("OPTIONS", request("OPTIONS", "1000", me, port, null, ""));
      outOfDialog.put("SUBSCRIBE", request("SUBSCRIBE", "1000", me, port, null, "Event: presence\r\n"));
      outOfDialog.put("MESSAGE", request("MESSAGE", "1000", me, port, null, ""));
      outOfDialog.put("REFER", request("REFER", "1000", me, port, null, "Refer-To: <sip:0900@evil.example>\r\n"));
      outOfDialog.put("REGISTER", request("REGISTER", "1000", me, port, null, ""));
      outOfDialog.put("PUBLISH", request("PUBLISH", "1000", me, port, null, "Event: presence\r\n"));
      outOfDialog.put("NOTIFY", request("NOTIFY", "1000", me, port, null, "Event: talk\r\n"));
      outOfDialog.put("INFO", request("INFO", "1000", me, port, null, ""));
      outOfDialog.put("unknown method", request("FOO", "1000", me, port, null, ""));
      Map<String, String> inDialog = new LinkedHashMap<>();
      inDialog.put("BYE in a guessed dialog", request("BYE", "1000", me, port, "guess", ""));
      inDialog.put("re-INVITE in a guessed dialog", request("INVITE", "1000", me, port, "guess", ""));
      inDialog.put("CANCEL of nothing", request("CANCEL", "1000", me, port, null, ""));
      inDialog.put("ACK of nothing", request("ACK", "1000", me, port, "guess", ""));
      for (String r : outOfDialog.values()) {
        send(attacker, port, r);
      }
      for (String r : inDialog.values()) {
        send(attacker, port, r);
      }
      assertEquals(List.of(), receiveFor(attacker, 2000), "the stranger got an answer");
      assertTrue(bed.events.stream().noneMatch(e -> "incoming".equals(e.getString("event"))), bed.events.toString());
      assertEquals(0, bed.status().getInteger("calls"));
      JsonObject dropped = bed.dropped();
      assertEquals(outOfDialog.size(), dropped.getLong("stranger"), dropped.encode());
      assertEquals(inDialog.size(), dropped.getLong("unknown_dialog"), dropped.encode());
      long lines = logged.list.stream().filter(e -> e.getFormattedMessage().contains("127.0.0.9")).count();
      assertEquals(1, lines, "one log line for the source within a minute: " + logged.list);

      String me2 = "127.0.0.1:" + pbx.getLocalPort();
      pbx.setSoTimeout(100);
      assertEquals("SIP/2.0 200 OK", exchange(pbx, port, request("OPTIONS", "1000", me2, port, null, "")),
          "the PBX's OPTIONS");
      String noAccount = exchange(pbx, port, request("INVITE", "4711", me2, port, null, ""));
      assertTrue(noAccount != null && noAccount.startsWith("SIP/2.0 404"), "the PBX's INVITE for no account: "
          + noAccount);
      assertEquals(outOfDialog.size(), bed.dropped().getLong("stranger"), "nothing of the PBX's was dropped");
    } finally {
      guardLog.detachAppender(logged);
    }
  }

  /** The first datagram on {@code s} whose first line starts with {@code start}, or null after 5 s. */
  private static String awaitMessage(DatagramSocket s, String start) throws Exception {
    long end = System.nanoTime() + 5_000_000_000L;
    for (String text = next(s, end); text != null; text = next(s, end)) {
      if (text.startsWith(start)) {
        return text;
      }
    }
    return null;
  }

  @Test
  void aFarEndTalkingToUsDirectlyInsideACallThePbxSetUpIsServed() throws Exception {
    try (SipTestBed bed = SipTestBed.withDemoPbx();
        DatagramSocket pbx = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        DatagramSocket farEnd = new DatagramSocket(new InetSocketAddress(STRANGER, 0))) {
      bed.open("s1", "1000", "secret-1000");
      bed.awaitRegistration("s1", "registered");
      int port = bed.sipPort;
      String sdpBody = SipTestBed.sdp(41000, "sendrecv");
      String invite = request("INVITE", "1000", "127.0.0.1:" + pbx.getLocalPort(), port, null,
          "Content-Type: application/sdp\r\n").replace("Content-Length: 0\r\n\r\n",
          "Content-Length: " + sdpBody.length() + "\r\n\r\n" + sdpBody);
      send(pbx, port, invite);
      String callId = bed.awaitIncoming("s1").getString("callId");
      bed.request(org.webphone.gateway.common.Addresses.SIP_CALL_ACCEPT, new JsonObject().put("lineId", "s1")
          .put("callId", callId).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
      String ok = awaitMessage(pbx, "SIP/2.0 200");
      assertTrue(ok != null, "no 200 for the PBX's INVITE");
      String toTag = ok.lines().filter(l -> l.startsWith("To:")).findFirst().orElseThrow().replaceAll(".*;tag=", "");
      int k = n;
      send(pbx, port, invite.replace("INVITE sip:", "ACK sip:").replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
          .replace("branch=z9hG4bK-scan-" + k, "branch=z9hG4bK-ack-" + k)
          .replace("To: <sip:1000@127.0.0.1:" + port + ">", "To: <sip:1000@127.0.0.1:" + port + ">;tag=" + toTag));
      bed.awaitCallState(callId, "InCall");
      // The far end's BYE comes from its own address, outside pbx.allowedSources, in the existing dialog.
      String bye = "BYE sip:1000@127.0.0.1:" + port + " SIP/2.0\r\n"
          + "Via: SIP/2.0/UDP 127.0.0.9:" + farEnd.getLocalPort() + ";branch=z9hG4bK-bye-" + k + "\r\n"
          + "Max-Forwards: 70\r\nFrom: <sip:security@bank.example>;tag=s" + k + "\r\n"
          + "To: <sip:1000@127.0.0.1:" + port + ">;tag=" + toTag + "\r\n"
          + "Call-ID: scan-" + k + "@evil.example\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
      assertEquals("SIP/2.0 200 OK", SipMalformedInputTest.exchange(farEnd, port,
          bye.getBytes(StandardCharsets.UTF_8), "scan-" + k + "@"));
      bed.awaitCallState(callId, "Completed");
      assertEquals(0L, bed.dropped().getLong("unknown_dialog"));
    }
  }

  @Test
  void dropsAreCountedOnMetricsByReason() throws Exception {
    Vertx vertx = SipTestBed.metricsVertx();
    try (SipTestBed bed = SipTestBed.withDemoPbxAndRealPool(vertx, new JsonObject());
        DatagramSocket attacker = new DatagramSocket(new InetSocketAddress(STRANGER, 0))) {
      String me = "127.0.0.9:" + attacker.getLocalPort();
      send(attacker, bed.sipPort, request("OPTIONS", "1000", me, bed.sipPort, null, ""));
      send(attacker, bed.sipPort, request("BYE", "1000", me, bed.sipPort, "guess", ""));
      assertEquals(List.of(), receiveFor(attacker, 1000));
      MeterRegistry r = BackendRegistries.getNow(SipTestBed.NODE_ID);
      assertEquals(1.0, r.get("webphone.sip.dropped").tag("reason", "stranger").functionCounter().count());
      assertEquals(1.0, r.get("webphone.sip.dropped").tag("reason", "unknown_dialog").functionCounter().count());
      assertEquals(0.0, r.get("webphone.sip.dropped").tag("reason", "too_large").functionCounter().count());
    }
  }
}
