package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Bad datagrams straight at the gateway's SIP port: each gets its documented answer or is dropped, and a
 * good OPTIONS right after it is still answered 200 (the stack and the listener survived).
 */
class SipMalformedInputTest {
  private int n;

  private String request(String method, String ruri, String extraHeaders, String body, int port, int local) {
    n++;
    return method + " " + ruri + " SIP/2.0\r\n"
        + "Via: SIP/2.0/UDP 127.0.0.1:" + local + ";branch=z9hG4bK-bad-" + n + "\r\n"
        + "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p" + n + "\r\n"
        + "To: <sip:1000@127.0.0.1:" + port + ">\r\nCall-ID: probe-" + n + "@127.0.0.1\r\n"
        + "CSeq: 1 " + method + "\r\n" + extraHeaders
        + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
  }

  /**
   * Sends {@code data} like a UDP user agent does: again after 0.5, 1 and 2 s (RFC 3261 timer A) until an
   * answer with this Call-ID arrives; null when none came within 4 s. The retransmission matters: after a
   * malformed datagram JAIN-SIP may drop the next message handled by the same worker thread (it interrupts
   * that thread while discarding the bad one), exactly what a retransmission covers.
   */
  static String exchange(DatagramSocket s, int port, byte[] data, String callId) throws Exception {
    long start = System.nanoTime();
    long[] resendAtMs = {0, 500, 1500, 3500};
    int sent = 0;
    byte[] buf = new byte[65535];
    while (System.nanoTime() - start < 4_000_000_000L) {
      long elapsedMs = (System.nanoTime() - start) / 1_000_000;
      if (sent < resendAtMs.length && elapsedMs >= resendAtMs[sent]) {
        s.send(new DatagramPacket(data, data.length, InetAddress.getLoopbackAddress(), port));
        sent++;
      }
      DatagramPacket p = new DatagramPacket(buf, buf.length);
      try {
        s.receive(p);
      } catch (SocketTimeoutException e) {
        continue;
      }
      String text = new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8);
      if (text.contains(callId)) {
        return text.lines().findFirst().orElse("");
      }
    }
    return null;
  }

  private static String exchangeBriefly(DatagramSocket s, int port, byte[] data, String callId) throws Exception {
    s.send(new DatagramPacket(data, data.length, InetAddress.getLoopbackAddress(), port));
    byte[] buf = new byte[65535];
    DatagramPacket p = new DatagramPacket(buf, buf.length);
    try {
      s.receive(p);
    } catch (SocketTimeoutException e) {
      return null;
    }
    String text = new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8);
    return text.contains(callId) ? text.lines().findFirst().orElse("") : null;
  }

  @Test
  void malformedSipIsAnsweredOrDroppedAndTheNextGoodRequestStillWorks() throws Exception {
    try (SipTestBed bed = new SipTestBed(new JsonObject());
        DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      s.setSoTimeout(100);
      int port = bed.sipPort;
      int local = s.getLocalPort();
      byte[] garbage = new byte[300];
      new Random(7).nextBytes(garbage);
      String oversizedHeader = "X-Filler: " + "a".repeat(64_000) + "\r\n";
      Map<String, byte[]> bad = new LinkedHashMap<>();
      bad.put("garbage bytes", garbage);
      bad.put("bad start line", "HELLO WORLD\r\n\r\n".getBytes(StandardCharsets.UTF_8));
      bad.put("no headers", "INVITE sip:1000@127.0.0.1 SIP/2.0\r\n\r\n".getBytes(StandardCharsets.UTF_8));
      bad.put("Content-Length too large", request("OPTIONS", "sip:1000@127.0.0.1:" + port, "", "", port, local)
          .replace("Content-Length: 0", "Content-Length: 500").getBytes(StandardCharsets.UTF_8));
      bad.put("Content-Length not a number", request("OPTIONS", "sip:1000@127.0.0.1:" + port, "", "", port, local)
          .replace("Content-Length: 0", "Content-Length: many").getBytes(StandardCharsets.UTF_8));
      bad.put("duplicated CSeq", request("INVITE", "sip:1000@127.0.0.1:" + port, "CSeq: 7 INVITE\r\n", "", port,
          local).getBytes(StandardCharsets.UTF_8));
      bad.put("oversized", request("OPTIONS", "sip:1000@127.0.0.1:" + port, oversizedHeader, "", port, local)
          .getBytes(StandardCharsets.UTF_8));
      bad.put("header injection in the URI", ("INVITE sip:1000@127.0.0.1\r\nX: y SIP/2.0\r\n\r\n")
          .getBytes(StandardCharsets.UTF_8));
      for (Map.Entry<String, byte[]> b : bad.entrySet()) {
        // each bad datagram carries no Call-ID of its own or reuses the last probe's, so wait only briefly
        String answer = exchangeBriefly(s, port, b.getValue(), "probe-" + n + "@");
        assertTrue(answer == null || answer.startsWith("SIP/2.0 4") || answer.startsWith("SIP/2.0 5"),
            b.getKey() + " got " + answer);
        String good = request("OPTIONS", "sip:1000@127.0.0.1:" + port, "", "", port, local);
        assertEquals("SIP/2.0 200 OK", exchange(s, port, good.getBytes(StandardCharsets.UTF_8), "probe-" + n + "@"),
            "OPTIONS after " + b.getKey());
      }
      String unknownMethod = request("FOO", "sip:1000@127.0.0.1:" + port, "", "", port, local);
      assertTrue(exchange(s, port, unknownMethod.getBytes(StandardCharsets.UTF_8), "probe-" + n + "@")
          .startsWith("SIP/2.0 501"));
      String strayBye = request("BYE", "sip:1000@127.0.0.1:" + port, "", "", port, local)
          .replace("To: <sip:1000@127.0.0.1:" + port + ">", "To: <sip:1000@127.0.0.1:" + port + ">;tag=nosuch");
      assertTrue(exchange(s, port, strayBye.getBytes(StandardCharsets.UTF_8), "probe-" + n + "@")
          .startsWith("SIP/2.0 481"));
      String inviteNoLine = request("INVITE", "sip:4711@127.0.0.1:" + port,
          "Contact: <sip:probe@127.0.0.1:" + local + ">\r\n", "", port, local);
      assertTrue(exchange(s, port, inviteNoLine.getBytes(StandardCharsets.UTF_8), "probe-" + n + "@")
          .startsWith("SIP/2.0 404"), "INVITE for an unknown line");
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    }
  }
}
