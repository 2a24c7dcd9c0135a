package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Sipp;

class SipRegistrationTest {

  @Test
  void aLineRegistersWithDigestRefreshesBeforeTheGrantedExpiryAndUnregistersOnClose() throws Exception {
    try (Sipp registrar = Sipp.uas("registrar-401.xml"); SipTestBed bed = SipTestBed.withPbx(registrar.port(),
        new JsonObject())) {
      assertEquals("s1", bed.open("s1", "1000", "secret-1000").getString("lineId"));
      bed.awaitRegistration("s1", "registered");
      registrar.awaitTrace("REGISTER", 3, Duration.ofSeconds(5)); // the refresh arrived (the third REGISTER)
      assertEquals(1, bed.status().getInteger("registered"));
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s1"));
      registrar.awaitSuccess(Duration.ofSeconds(10));
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
          bed.registrationStates("s1"));
      assertEquals(new JsonObject().put("lines", 0).put("registered", 0).put("calls", 0), bed.status());
    }
  }

  @Test
  void aStaleLeaseIsRefusedBeforeAnySipIsSent() throws Exception {
    try (SipTestBed bed = SipTestBed.withPbx(9, new JsonObject())) {
      bed.leaseCurrent = false;
      bed.listen("s2");
      int code = bed.refusal(Addresses.SIP_LINE_OPEN, new JsonObject().put("lineId", "s2").put("sessionId", "s2")
          .put("accountId", "1000").put("token", 7).put("account", SipTestBed.account("1000", "x")));
      assertEquals(ErrorCode.STALE_TOKEN.code(), code);
      assertEquals(0, bed.status().getInteger("lines"));
      assertEquals(List.of(), bed.registrationStates("s2"));
    }
  }

  @Test
  void a423IsHonouredByRetryingWithTheMinExpiresAndContactAndViaCarryTheAnnouncedAddress() throws Exception {
    try (Sipp registrar = Sipp.uas("registrar-423.xml"); SipTestBed bed = SipTestBed.withPbx(registrar.port(),
        new JsonObject().put("sip", new JsonObject().put("announcedAddress", "198.51.100.7")))) {
      bed.open("s3", "1000", "secret-1000");
      bed.awaitRegistration("s3", "registered");
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s3"));
      registrar.awaitSuccess(Duration.ofSeconds(10));
      assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
          bed.registrationStates("s3"));
      String trace = registrar.diagnostics();
      assertTrue(trace.contains("Contact: <sip:1000@198.51.100.7:" + bed.sipPort + ">"), "Contact announced");
      assertTrue(trace.contains("Via: SIP/2.0/UDP 198.51.100.7:" + bed.sipPort), "Via announced");
    }
  }

  @Test
  void optionsKeepAlivesGoToThePbxWhileALineIsOpen() throws Exception {
    try (Sipp registrar = Sipp.uas("registrar-options.xml", "-m", "2");
        SipTestBed bed = SipTestBed.withPbx(registrar.port(),
            new JsonObject().put("sip", new JsonObject().put("optionsIntervalSec", 1)))) {
      bed.open("s4", "1000", "secret-1000");
      bed.awaitRegistration("s4", "registered");
      registrar.awaitTrace("OPTIONS sip:", 1, Duration.ofSeconds(5));
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s4"));
      registrar.awaitSuccess(Duration.ofSeconds(10));
    }
  }

  @Test
  void anUnreachablePbxIsReportedAsFailedAndRetried() throws Exception {
    int silent = org.webphone.gateway.testing.Ports.free();
    try (java.net.DatagramSocket blackHole = new java.net.DatagramSocket(silent,
        java.net.InetAddress.getLoopbackAddress()); SipTestBed bed = SipTestBed.withPbx(silent, new JsonObject())) {
      bed.open("s5", "1000", "secret-1000");
      JsonObject failed = bed.awaitEvent(e -> "failed".equals(e.getString("state")), "failed");
      assertEquals(408, failed.getInteger("code"));
      // the backoff retry: a REGISTER with a new CSeq reaches the (silent) PBX after the first one's retransmissions
      blackHole.setSoTimeout(3000);
      java.util.Set<String> cseqs = new java.util.HashSet<>();
      for (int i = 0; i < 50 && cseqs.size() < 2; i++) {
        java.net.DatagramPacket p = new java.net.DatagramPacket(new byte[4096], 4096);
        blackHole.receive(p);
        String msg = new String(p.getData(), 0, p.getLength(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(msg.startsWith("REGISTER "), msg);
        msg.lines().filter(l -> l.startsWith("CSeq:")).forEach(cseqs::add);
      }
      assertEquals(2, cseqs.size(), "a retry after the backoff: " + cseqs);
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s5"));
      assertEquals(0, bed.status().getInteger("lines"));
    }
  }

  @Test
  void aPbxGivenByNameIsLookedUpOnceAndReachedThroughALooseRoute() throws Exception {
    try (Sipp registrar = Sipp.uas("registrar-ok.xml"); SipTestBed bed = new SipTestBed(new JsonObject()
        .put("pbx", new JsonObject().put("host", "localhost").put("port", registrar.port())))) {
      bed.open("s6", "1000", "secret-1000");
      bed.awaitRegistration("s6", "registered");
      bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "s6"));
      registrar.awaitSuccess(Duration.ofSeconds(10));
      String trace = registrar.diagnostics();
      assertTrue(trace.contains("REGISTER sip:localhost:" + registrar.port() + " SIP/2.0"), "domain kept");
      assertTrue(trace.contains("Route: <sip:127.0.0.1:" + registrar.port() + ";lr>"), "routed to the address");
    }
  }
}
