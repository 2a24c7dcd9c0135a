package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.Ports;

/**
 * R5 of the hardening issue: SIP over TCP costs no thread per connection, idle connections are closed, a
 * stranger holds few connections, a Content-Length the parser would allocate blindly closes the connection
 * and nothing else, and there is no TCP listener when the lines use UDP. Attacker bytes go over raw sockets,
 * from 127.0.0.9 (outside pbx.allowedSources) or from the PBX's own 127.0.0.1.
 */
class SipTcpLimitsTest {
  private static final InetAddress PBX = InetAddress.getLoopbackAddress();
  private static final InetAddress STRANGER = SipTestBed.STRANGER;
  private int n;

  /** A bed whose lines would use TCP toward a PBX on 127.0.0.1 (none needs to run: no line is opened). */
  private static SipTestBed tcpBed(int idleSec) throws Exception {
    return SipTestBed.withPbx(Ports.free(), new JsonObject()
        .put("pbx", new JsonObject().put("transport", "tcp"))
        .put("sip", new JsonObject().put("tcpIdleSec", idleSec)));
  }

  private Socket connect(InetAddress from, int port) throws Exception {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(from, 0));
    s.connect(new InetSocketAddress(PBX, port), 2000);
    return s;
  }

  private String options(Socket s, int port) {
    n++;
    return "OPTIONS sip:1000@127.0.0.1:" + port + " SIP/2.0\r\n"
        + "Via: SIP/2.0/TCP " + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort()
        + ";branch=z9hG4bK-tcp-" + n + "\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=t" + n + "\r\n"
        + "To: <sip:1000@127.0.0.1:" + port + ">\r\nCall-ID: tcp-" + n + "@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        + "Content-Length: 0\r\n\r\n";
  }

  /** The first line of the response read from {@code s} within 5 s. */
  private static String response(Socket s) throws Exception {
    s.setSoTimeout(5000);
    InputStream in = s.getInputStream();
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    while (!got.toString(StandardCharsets.UTF_8).contains("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      got.write(b);
    }
    return got.toString(StandardCharsets.UTF_8).lines().findFirst().orElse("(closed)");
  }

  /** True when the gateway closes {@code s} within {@code ms} (end of stream or reset). */
  private static boolean closedWithin(Socket s, long ms) throws Exception {
    s.setSoTimeout((int) Math.max(1, ms));
    try {
      return s.getInputStream().read() < 0;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (java.net.SocketException e) {
      return true; // reset
    }
  }

  private static int threads() {
    return ManagementFactory.getThreadMXBean().getThreadCount();
  }

  @Test
  void withUdpTowardThePbxNothingListensOnTheSipTcpPort() throws Exception {
    try (SipTestBed bed = SipTestBed.withPbx(Ports.free(), new JsonObject())) {
      assertThrows(ConnectException.class, () -> connect(STRANGER, bed.sipPort).close());
      assertThrows(ConnectException.class, () -> connect(PBX, bed.sipPort).close());
    }
  }

  @Test
  void aHundredAndFiftyIdleConnectionsCostNoThreadEachAndAreClosedAfterTheIdleTime() throws Exception {
    try (SipTestBed bed = tcpBed(2)) {
      Socket probe = connect(PBX, bed.sipPort);
      probe.getOutputStream().write(options(probe, bed.sipPort).getBytes(StandardCharsets.UTF_8));
      assertEquals("SIP/2.0 200 OK", response(probe), "TCP works");
      int before = threads();
      List<Socket> idle = new ArrayList<>();
      try {
        for (int i = 0; i < 150; i++) {
          idle.add(connect(PBX, bed.sipPort));
        }
        Thread.sleep(1000); // the stack has accepted them all (a thread per connection would exist by now)
        int added = threads() - before;
        assertTrue(added < 10, "150 idle connections added " + added + " threads");
        long end = System.nanoTime() + 12_000_000_000L; // idle 2 s, checked every 2 s, plus a loaded machine
        int open = 0;
        for (Socket s : idle) {
          long left = (end - System.nanoTime()) / 1_000_000;
          if (!closedWithin(s, left)) {
            open++;
          }
        }
        assertEquals(0, open, "idle connections still open 12 s after the last byte");
      } finally {
        for (Socket s : idle) {
          s.close();
        }
        probe.close();
      }
    }
  }

  @Test
  void aStrangerHoldsAtMostFourConnectionsAndTheRestAreClosedAtOnce() throws Exception {
    try (SipTestBed bed = tcpBed(60)) {
      List<Socket> mine = new ArrayList<>();
      try {
        for (int i = 0; i < 10; i++) {
          mine.add(connect(STRANGER, bed.sipPort));
        }
        int closed = 0;
        for (Socket s : mine.subList(4, 10)) {
          closed += closedWithin(s, 3000) ? 1 : 0;
        }
        assertEquals(6, closed, "connections over the stranger's share closed");
        for (Socket s : mine.subList(0, 4)) {
          assertTrue(!closedWithin(s, 200), "one of the first four was closed");
        }
        assertEquals(6, bed.dropped().getLong("tcp_connection_cap"), bed.dropped().encode());
        Socket pbx = connect(PBX, bed.sipPort);
        pbx.getOutputStream().write(options(pbx, bed.sipPort).getBytes(StandardCharsets.UTF_8));
        assertEquals("SIP/2.0 200 OK", response(pbx), "the PBX still connects");
        pbx.close();
      } finally {
        for (Socket s : mine) {
          s.close();
        }
      }
    }
  }

  @Test
  void aHugeContentLengthOverTcpClosesThatConnectionKillsNoThreadAndTheNextGoodMessageIsServed() throws Exception {
    List<Throwable> uncaught = new CopyOnWriteArrayList<>();
    Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
    try (SipTestBed bed = tcpBed(60)) {
      int port = bed.sipPort;
      String head = "OPTIONS sip:1000@127.0.0.1:" + port + " SIP/2.0\r\n"
          + "Via: SIP/2.0/TCP 127.0.0.9:5060;branch=z9hG4bK-huge\r\nMax-Forwards: 70\r\n"
          + "From: <sip:probe@127.0.0.9>;tag=h\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: huge@127.0.0.9\r\n"
          + "CSeq: 1 OPTIONS\r\n";
      Map<String, String[]> bad = new LinkedHashMap<>();
      bad.put("Content-Length at the int limit", new String[] {head + "Content-Length: 2147483647\r\n\r\n"});
      bad.put("100 MB body announced", new String[] {head + "Content-Length: 100000000\r\n\r\nv=0\r\n"});
      bad.put("a plus sign", new String[] {head + "content-length:+99999999\r\n\r\n"});
      bad.put("Arabic-Indic digits", new String[] {head + "Content-Length: \u0669\u0669\u0669\u0669\u0669\u0669"
          + "\u0669\u0669\u0669\r\n\r\n"});
      bad.put("the value split across two writes", new String[] {head + "Content-Length: 21474", "83647\r\n\r\n"});
      bad.put("a CR inside the header name", new String[] {head + "Content-\rLength: 2147483647\r\n\r\n"});
      for (Map.Entry<String, String[]> b : bad.entrySet()) {
        try (Socket s = connect(STRANGER, port)) {
          OutputStream out = s.getOutputStream();
          for (String part : b.getValue()) {
            out.write(part.getBytes(StandardCharsets.UTF_8));
            out.flush();
            Thread.sleep(100);
          }
          assertTrue(closedWithin(s, 5000), b.getKey() + ": the connection stays open");
        }
        try (Socket good = connect(PBX, port)) {
          good.getOutputStream().write(options(good, port).getBytes(StandardCharsets.UTF_8));
          assertEquals("SIP/2.0 200 OK", response(good), "OPTIONS after " + b.getKey());
        }
        assertEquals(List.of(), uncaught, "a thread died after " + b.getKey());
      }
      assertEquals(bad.size(), bed.dropped().getLong("too_large"), bed.dropped().encode());
    } finally {
      Thread.setDefaultUncaughtExceptionHandler(previous);
    }
  }
}
