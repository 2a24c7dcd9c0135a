package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestCa;

/**
 * Bad TLS peers on both sides of the SIP/TLS transport. Toward the PBX: a "PBX" with an expired certificate, one
 * that answers the ClientHello with garbage, one that drops the connection mid-handshake (Java server sockets
 * here, since no real PBX can be made to misbehave on cue). At our TLS port: connections that send nothing or
 * junk, and a stranger over its connection cap. And the configuration that cannot work.
 */
class SipTlsBadPeersTest {
  private static TestCa ca;
  private static TestCa.Issued gatewayCert;

  @BeforeAll
  static void certificates() throws Exception {
    ca = TestCa.create(Path.of("target", "peers", "tls-ca-" + Ports.free()).toAbsolutePath());
    gatewayCert = ca.issue("gateway", "127.0.0.1");
  }

  private static JsonObject tlsConfig(int pbxPort, int idleSec) {
    return new JsonObject()
        .put("sip", new JsonObject().put("tlsPort", Ports.free()).put("tlsCert", gatewayCert.chain().toString())
            .put("tlsKey", gatewayCert.key().toString()).put("tcpIdleSec", idleSec))
        .put("pbx", new JsonObject().put("transport", "tls").put("tlsTrust", ca.caPem().toString())
            .put("host", "127.0.0.1").put("port", pbxPort));
  }

  private static SipTestBed bed(int pbxPort, int idleSec) throws Exception {
    return SipTestBed.withPbx(pbxPort, tlsConfig(pbxPort, idleSec));
  }

  @Test
  void anExpiredPbxCertificateIsRefusedWithTheReasonOnTheLineAndInTheStatus() throws Exception {
    TestCa.Issued expired = ca.issueExpired("expired-pbx", "127.0.0.1");
    try (FakePbx pbx = FakePbx.tls(expired); SipTestBed bed = bed(pbx.port(), 60)) {
      bed.open("a", "1000", "secret-1000");
      String reason = bed.awaitRegistration("a", "failed").getString("reason");
      assertTrue(reason.startsWith("PBX certificate: expired (NotAfter: "), reason);
      JsonObject tls = bed.request(Addresses.SIP_STATUS, new JsonObject()).getJsonObject("tls");
      assertEquals(reason, tls.getString("pbxCertificate"));
      assertEquals(List.of("registering", "failed"), bed.registrationStates("a"));
    }
  }

  @Test
  void aPbxThatAnswersGarbageOrDropsMidHandshakeLeavesTheLineFailedAndRetriedWithNothingLeft() throws Exception {
    try (FakePbx garbage = FakePbx.garbage(); FakePbx dropper = FakePbx.dropsMidHandshake();
        SipTestBed g = bed(garbage.port(), 60); SipTestBed d = bed(dropper.port(), 60)) {
      g.open("a", "1000", "secret-1000");
      d.open("a", "1000", "secret-1000");
      for (SipTestBed bed : List.of(g, d)) {
        JsonObject failed = bed.awaitRegistration("a", "failed");
        assertEquals(408, failed.getInteger("code"));
        assertEquals("PBX unreachable", failed.getString("reason"));
      }
      // each sent a ClientHello (a TLS handshake record, 0x16) and, after the first backoff, tried again
      for (FakePbx pbx : List.of(garbage, dropper)) {
        Eventually.until(Duration.ofSeconds(10), "a second attempt", () -> pbx.firstBytes.size() >= 2);
        assertTrue(pbx.firstBytes.stream().allMatch(b -> b == 0x16), pbx.firstBytes.toString());
      }
      assertEquals(1, g.status().getInteger("lines"));
    }
  }

  @Test
  void connectionsToOurTlsPortThatSendNothingOrJunkAreClosedAndCountedAndAStrangerIsCapped() throws Exception {
    ch.qos.logback.classic.Logger guardLog = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
        .getLogger(SipPortGuard.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
        new ch.qos.logback.core.read.ListAppender<>();
    logged.start();
    guardLog.addAppender(logged);
    try (SipTestBed bed = bed(Ports.free(), 1)) {
      int port = bed.config.getInt("sip.tlsPort");
      List<Socket> silent = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        silent.add(connect(InetAddress.getLoopbackAddress(), port));
      }
      Socket junk = connect(InetAddress.getLoopbackAddress(), port);
      OutputStream out = junk.getOutputStream();
      out.write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertTrue(closedWithin(junk, 3000), "junk closed at once");
      for (Socket s : silent) {
        assertTrue(closedWithin(s, 5000), "a silent connection closed after sip.tcpIdleSec (1 s)");
        s.close();
      }
      JsonObject dropped = bed.dropped();
      assertEquals(1, dropped.getLong("tls_handshake"), dropped.encode());
      // a stranger (outside pbx.allowedSources) holds 4 connections; its 5th is closed at once and counted
      List<Socket> stranger = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        stranger.add(connect(SipTestBed.STRANGER, port));
      }
      assertTrue(closedWithin(stranger.get(4), 3000), "the 5th connection of a stranger is closed");
      assertEquals(1, bed.dropped().getLong("tcp_connection_cap"));
      for (Socket s : stranger) {
        s.close();
      }
      junk.close();
      Eventually.until(Duration.ofSeconds(10), "no inbound connection left",
          () -> bed.request(Addresses.SIP_STATUS, new JsonObject()).getJsonObject("tls")
              .getInteger("inboundConnections") == 0);
      // each drop's log line gives its own reason: the junk came from an allowed source
      List<String> lines = List.copyOf(logged.list).stream().map(e -> e.getFormattedMessage()).toList();
      assertTrue(lines.stream().anyMatch(m -> m.contains("(tls_handshake): not TLS, or the TLS handshake failed;")),
          lines.toString());
      assertTrue(lines.stream().anyMatch(m -> m.contains("(tcp_connection_cap): over sip.maxTcpConnections")),
          lines.toString());
      assertTrue(lines.stream().noneMatch(m -> m.contains("(tls_handshake): not in pbx.allowedSources")),
          lines.toString());
    } finally {
      guardLog.detachAppender(logged);
    }
  }

  @Test
  void linesOverTlsWithoutATlsListeningPointOrItsCertificateAreAConfigurationError() {
    JsonObject noPort = tlsConfig(5061, 60);
    noPort.getJsonObject("sip").put("tlsPort", 0);
    assertEquals("sip.tlsPort", assertThrows(ConfigException.class, () -> GatewayConfig.of(noPort)).key());
    JsonObject noCert = tlsConfig(5061, 60);
    noCert.getJsonObject("sip").put("tlsCert", "");
    assertEquals("sip.tlsCert", assertThrows(ConfigException.class, () -> GatewayConfig.of(noCert)).key());
    JsonObject missingTrust = tlsConfig(5061, 60);
    missingTrust.getJsonObject("pbx").put("tlsTrust", "/nonexistent/ca.pem");
    assertEquals("pbx.tlsTrust", assertThrows(ConfigException.class, () -> GatewayConfig.of(missingTrust)).key());
    for (String transport : new String[] {"udp", "tcp"}) {
      JsonObject sipsWithoutTls = tlsConfig(5061, 60);
      sipsWithoutTls.getJsonObject("pbx").put("transport", transport).put("sipsUri", true);
      ConfigException e = assertThrows(ConfigException.class, () -> GatewayConfig.of(sipsWithoutTls));
      assertEquals("pbx.sipsUri", e.key());
      assertTrue(e.getMessage().contains("sips: URIs (RFC 5630) ask for TLS on every hop, and pbx.transport is "
          + transport), e.getMessage());
    }
  }

  private static Socket connect(InetAddress from, int port) throws Exception {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(from, 0));
    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
    return s;
  }

  /** True when the far end closes {@code s} within {@code ms} (end of stream or reset). */
  private static boolean closedWithin(Socket s, long ms) throws Exception {
    s.setSoTimeout((int) ms);
    InputStream in = s.getInputStream();
    try {
      while (true) {
        if (in.read() < 0) {
          return true;
        }
      }
    } catch (SocketTimeoutException e) {
      return false;
    } catch (java.io.IOException e) {
      return true;
    }
  }

  /**
   * A misbehaving TLS "PBX" on a free loopback port: one accepting thread (a daemon, ended by close) serving
   * each connection in turn. Records the first byte each connection sent.
   */
  static final class FakePbx implements AutoCloseable {
    /** Serves one connection; {@code first} records the first byte it sent. */
    interface Behaviour {
      void serve(Socket s, InputStream in, java.util.function.IntConsumer first) throws Exception;
    }

    final List<Integer> firstBytes = new CopyOnWriteArrayList<>();
    private final ServerSocket server;
    private final Thread thread;

    private FakePbx(ServerSocket server, Behaviour b) {
      this.server = server;
      this.thread = new Thread(() -> {
        while (!server.isClosed()) {
          try (Socket s = server.accept()) {
            s.setSoTimeout(3000);
            b.serve(s, s.getInputStream(), firstBytes::add);
          } catch (Exception e) {
            // the next connection is served the same way
          }
        }
      }, "fake-tls-pbx");
      thread.setDaemon(true);
      thread.start();
    }

    /** Presents {@code cert} and completes the handshake; then reads and ignores what comes. */
    static FakePbx tls(TestCa.Issued cert) throws Exception {
      PbxTlsSecurity keys = new PbxTlsSecurity();
      Properties p = new Properties();
      p.setProperty(PbxTlsSecurity.CERT, cert.chain().toString());
      p.setProperty(PbxTlsSecurity.KEY, cert.key().toString());
      keys.init(p);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(keys.getKeyManagers(false), null, null);
      SSLServerSocket s = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket(0, 50,
          InetAddress.getLoopbackAddress());
      return new FakePbx(s, (sock, in, first) -> {
        ((SSLSocket) sock).startHandshake();
        while (in.read() >= 0) {
          // ignored
        }
      });
    }

    /** Reads the ClientHello's first record and answers with bytes that are no TLS record. */
    static FakePbx garbage() throws Exception {
      ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      return new FakePbx(s, (sock, in, first) -> {
        first.accept(in.read());
        in.readNBytes(in.available());
        sock.getOutputStream().write("SIP/2.0 200 OK\r\nthis is not TLS at all\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        sock.getOutputStream().flush();
        while (in.read() >= 0) {
          // until the gateway gives up
        }
      });
    }

    /** Reads the start of the ClientHello and closes the connection. */
    static FakePbx dropsMidHandshake() throws Exception {
      ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      return new FakePbx(s, (sock, in, first) -> {
        first.accept(in.read());
        in.readNBytes(4);
      });
    }

    int port() {
      return server.getLocalPort();
    }

    @Override
    public void close() throws Exception {
      server.close();
      thread.join(5000);
    }
  }
}
