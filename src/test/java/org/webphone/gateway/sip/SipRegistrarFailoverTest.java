package org.webphone.gateway.sip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Ports;

/**
 * Two Kamailio registrars sharing no state, the primary on 127.0.0.2 and the secondary on 127.0.0.3 (so the
 * SIP port's sources must follow the registrar set: the default allows only the registrars' addresses). The
 * primary is stopped by PID mid-run and started again on the same address and port. Timing comes from the
 * configuration (OPTIONS every second, failover after 2 unanswered, failback after 2 answered), never sleeps.
 */
class SipRegistrarFailoverTest {
  private static final Duration MOVE = Duration.ofSeconds(15);
  private static final Map<String, String> ACCOUNTS = Map.of("1000", "secret-1000", "1001", "secret-1001",
      "1002", "secret-1002", "1003", "secret-1003");

  @Test
  void linesFailOverToTheSecondaryWhenThePrimaryStopsAndFailBackWhenItAnswersAgain() throws Exception {
    failOverAndBack("udp");
  }

  @Test
  void theSameOverTcpWhereTheKeepAliveToADeadRegistrarIsSentFromAWorker() throws Exception {
    failOverAndBack("tcp");
  }

  private void failOverAndBack(String transport) throws Exception {
    int primaryPort = Ports.free();
    int secondaryPort = Ports.free();
    String primary = "127.0.0.2:" + primaryPort;
    String secondary = "127.0.0.3:" + secondaryPort;
    Kamailio first = Kamailio.start(ACCOUNTS, Map.of(), "127.0.0.2", primaryPort);
    try (Kamailio second = Kamailio.start(ACCOUNTS, Map.of(), "127.0.0.3", secondaryPort);
        SipTestBed bed = SipTestBed.withMetrics(new JsonObject()
            .put("pbx", new JsonObject().put("host", "127.0.0.2").put("port", primaryPort)
                .put("secondaryHost", "127.0.0.3").put("secondaryPort", secondaryPort)
                .put("failoverAfter", 2).put("failbackAfter", 2).put("transport", transport))
            .put("sip", new JsonObject().put("optionsIntervalSec", 1)))) {
      for (String user : List.of("1000", "1001", "1002", "1003")) {
        bed.open("l" + user, user, "secret-" + user);
      }
      for (String user : List.of("1000", "1001", "1002", "1003")) {
        bed.awaitRegistration("l" + user, "registered");
      }
      JsonObject before = bed.registrars();
      assertEquals(primary, before.getString("current"));
      assertEquals(List.of(primary, secondary), before.getJsonArray("targets").getList());
      assertEquals(new JsonObject().put(primary, 4), before.getJsonObject("registeredWith"));

      // A call through the primary, established before it goes away: its dialog must survive the moves.
      String early = call(bed, "1000", "1001", "k1");

      first.close();
      JsonObject moved = awaitRegistered(bed, secondary, 4);
      assertEquals(1L, moved.getLong("failovers"));
      assertEquals(false, moved.getBoolean("preferred"));
      assertEquals(1.0, meter("webphone.sip.pbx.failovers").functionCounter().count());
      assertEquals(0.0, meter("webphone.sip.pbx.preferred").gauge().value());
      assertEquals(List.of("Setup", "Ringing", "InCall"), bed.callStates("k1"), "the early call is untouched");

      // A new call after the failover: it reaches its callee only through the secondary's location table,
      // and the INVITE from 127.0.0.3 passes the SIP port.
      String late = call(bed, "1002", "1003", "k2");
      bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "l1003").put("callId", late));
      bed.awaitCallState("k2", "Completed");

      Kamailio again = Kamailio.start(ACCOUNTS, Map.of(), "127.0.0.2", primaryPort);
      try (again) {
        JsonObject back = awaitRegistered(bed, primary, 4);
        assertEquals(1L, back.getLong("failbacks"));
        assertEquals(true, back.getBoolean("preferred"));
        assertEquals(1.0, meter("webphone.sip.pbx.preferred").gauge().value());
        // The early call's BYE follows its own route set (the restarted primary relays it by its Route).
        bed.request(Addresses.SIP_CALL_HANGUP, new JsonObject().put("lineId", "l1001").put("callId", early));
        bed.awaitCallState("k1", "Completed");
        assertEquals(List.of("Setup", "Ringing", "InCall", "Completed"), bed.callStates("k1"));
        for (String user : List.of("1000", "1001", "1002", "1003")) {
          assertEquals(List.of("registering", "registered"), bed.registrationStates("l" + user),
              "a move is not a registration state the page sees");
        }
        assertEquals(0L, bed.dropped().getLong("stranger"), "nothing from either registrar was dropped");
        for (String user : List.of("1000", "1001", "1002", "1003")) {
          bed.request(Addresses.SIP_LINE_CLOSE, new JsonObject().put("lineId", "l" + user));
          assertEquals(List.of("registering", "registered", "unregistering", "unregistered"),
              bed.registrationStates("l" + user));
        }
      }
    } finally {
      first.close();
    }
  }

  @Test
  void aRegisterThePrimaryNeverAnswersMovesTheLinesToTheSecondaryWithoutAnyKeepAlive() throws Exception {
    int silentPort = Ports.free(); // nothing listens there
    int secondaryPort = Ports.free();
    String secondary = "127.0.0.3:" + secondaryPort;
    try (Kamailio second = Kamailio.start(ACCOUNTS, Map.of(), "127.0.0.3", secondaryPort);
        SipTestBed bed = new SipTestBed(new JsonObject()
            .put("pbx", new JsonObject().put("host", "127.0.0.2").put("port", silentPort)
                .put("secondaryHost", "127.0.0.3").put("secondaryPort", secondaryPort)))) {
      bed.open("l1000", "1000", "secret-1000");
      bed.open("l1001", "1001", "secret-1001");
      JsonObject s = awaitRegistered(bed, secondary, 2);
      assertEquals(1L, s.getLong("failovers"), "one outage, one failover, whichever line noticed it first");
      // The line whose REGISTER timed out says so; the other one was moved before its own timed out.
      List<List<String>> states = List.of(bed.registrationStates("l1000"), bed.registrationStates("l1001"));
      List<String> noticed = List.of("registering", "failed", "registering", "registered");
      assertEquals(1, states.stream().filter(noticed::equals).count(), states.toString());
      assertEquals(1, states.stream().filter(List.of("registering", "registered")::equals).count(), states.toString());
    }
  }

  private static io.micrometer.core.instrument.search.RequiredSearch meter(String name) {
    return io.vertx.micrometer.backends.BackendRegistries.getNow(SipTestBed.NODE_ID).get(name)
        .tag("node", SipTestBed.NODE_ID);
  }

  /** Places a call from {@code from} to {@code to}, answers it, waits until both are InCall; the incoming id. */
  private static String call(SipTestBed bed, String from, String to, String callId) throws Exception {
    bed.request(Addresses.SIP_CALL_MAKE, new JsonObject().put("lineId", "l" + from).put("callId", callId)
        .put("target", to).put("sdp", SipTestBed.sdp(40000, "sendrecv")));
    JsonObject inc = bed.awaitIncoming("l" + to);
    assertEquals(from, inc.getString("from"));
    String inId = inc.getString("callId");
    bed.request(Addresses.SIP_CALL_ACCEPT, new JsonObject().put("lineId", "l" + to).put("callId", inId)
        .put("sdp", SipTestBed.sdp(40002, "sendrecv")));
    bed.awaitCallState(callId, "InCall");
    bed.awaitCallState(inId, "InCall");
    return inId;
  }

  /** Waits until {@code target} is current and holds {@code lines} registrations; the registrars' status. */
  private static JsonObject awaitRegistered(SipTestBed bed, String target, int lines) throws InterruptedException {
    return Eventually.await(MOVE, lines + " lines registered with " + target, () -> {
      try {
        return bed.registrars();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }, s -> target.equals(s.getString("current"))
        && s.getJsonObject("registeredWith").equals(new JsonObject().put(target, lines)));
  }
}
