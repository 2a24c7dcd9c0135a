package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Sipp;
import org.webphone.gateway.testing.TestNode;

/**
 * A second call on the agent's line from the page, with real peers: Kamailio is the PBX (digest auth,
 * record-route), the agent is headless Chromium on the phone page (microphone: 440 Hz) on the gateway's line 1000.
 *
 * <p>Call waiting: customer A (baresip 2000, microphone 1000 Hz) calls and is answered; customer B (baresip 2003,
 * 600 Hz) calls: the page shows "Call waiting from 2003" and plays the waiting tone; "Call" holds A (A's SIP trace
 * shows our re-INVITE with a=sendonly) and answers B on a second RTCPeerConnection; "Swap" holds B and resumes A;
 * "Hang up" ends A, then B (each gets our BYE and has no call left). Audio is measured at each step on both sides:
 * the agent hears the active customer's tone, the active customer's recording of that moment holds the agent's
 * 440 Hz; after the swap A's recorder has stopped (baresip 1.0 after a re-INVITE), so there A's receive rate counts.
 *
 * <p>Attended transfer: baresip 1.0 neither sends nor honours Replaces, so the customer is SIPp 2002 calling through
 * Kamailio and echoing RTP (it checks that our hold re-INVITE holds it and that our REFER's Refer-To carries
 * {@code ?Replaces=} the consult dialog, then reports NOTIFY 100 and 200), and the consultee is a SIPp UAS on 2001
 * echoing RTP (it takes the page's DTMF "1" as the sign that the transfer completes, then sends the BYE that the
 * customer's INVITE with Replaces causes at a real phone). The agent talks to each: its own 440 Hz comes back.
 * Each test ends with no SIP call, media session or RTP port left, and the line still the page's.
 */
class SecondCallThroughKamailioTest {
  private static final Duration SETUP = Duration.ofSeconds(20);
  /** The browser's RTCPeerConnection of the call that is not the active one (held, or ringing). */
  private static final String OTHER_PC = "window.webphone.secondCall.other && window.webphone.secondCall.other.pc";

  private static Path dir;
  private static Kamailio pbx;
  private static Baresip first;
  private static Baresip second;
  private static Sipp consultee;
  private static TestNode node;
  private static Browser agent;

  @BeforeAll
  static void startTheContactCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "e2e-second-call-").toAbsolutePath();
    consultee = Sipp.uas("consult-consultee.xml", "-rtp_echo", "-timeout", "300");
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "2000", "first-2000", "2003", "second-2003",
        "2002", "cust-2002"), Map.of("2001", consultee.port()));
    first = Baresip.startTracingSip(dir.resolve("first"), "2000", "first-2000", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 1000, 60, 8000));
    second = Baresip.startTracingSip(dir.resolve("second"), "2003", "second-2003", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 600, 60, 8000));
    node = TestNode.withLine1000On(pbx, new JsonObject()
        .put("sip", new JsonObject().put("dtmfMode", "info")) // the consultee's sign to leave is a DTMF INFO
        .put("session", new JsonObject().put("resumeGraceSec", 1))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("200[0-9]"))));
    agent = Browser.start(Browser.tone(dir, 440, 60));
  }

  @AfterAll
  static void stopTheContactCentre() throws Exception {
    TestNode.closeAll(agent, node, first, second, pbx, consultee);
  }

  /** The page closed, its session (and any call a failed test left) ends: each test starts from a free line. */
  @AfterEach
  void closeThePage() throws Exception {
    agent.open("about:blank");
    node.awaitIdle(0);
  }

  @Test
  void aCallWaitingIsTakenHoldingTheFirstSwappedAndBothHungUpWithAudioMeasuredAtEachStep() throws Exception {
    agent.open(node.url());
    agent.awaitStatus("Ready", SETUP);

    first.command("dial", "sip:1000@127.0.0.1:" + pbx.port());
    agent.awaitStatus("Incoming call from 2000", SETUP);
    agent.click("Call");
    agent.awaitStatus("In call", SETUP);
    String a = activeCall();
    assertTalking(first, 1000, "window.webphone.pc", "A");

    long tones = tones();
    second.command("dial", "sip:1000@127.0.0.1:" + pbx.port());
    agent.awaitStatus("Call waiting from 2003", SETUP);
    assertEquals(tones + 1, tones(), "the page played the waiting tone");
    assertEquals(0, reInvites(first), "A is not held while B only rings");

    agent.click("Call"); // accepts B, holds A
    Eventually.until(SETUP, "A's hold re-INVITE", () -> reInvites(first) == 1 && lastReInvite(first).contains("a=sendonly"));
    assertEquals(1, Sipp.headerValues(lastReInvite(first), "Contact", "m"), "one Contact: " + lastReInvite(first));
    agent.awaitStatus("In call", SETUP);
    Eventually.until(SETUP, "B active on the page", () -> activeCall() != null && !a.equals(activeCall()));
    String b = activeCall();
    assertTalking(second, 600, "window.webphone.pc", "B");

    agent.click("Swap");
    Eventually.until(SETUP, "B's hold re-INVITE", () -> reInvites(second) == 1 && lastReInvite(second).contains("a=sendonly"));
    Eventually.until(SETUP, "A's resume re-INVITE", () -> reInvites(first) == 2 && lastReInvite(first).contains("a=sendrecv"));
    Eventually.until(SETUP, "A active on the page", () -> a.equals(activeCall()));
    agent.awaitStatus("In call", SETUP);
    // baresip 1.0 records no more after a re-INVITE (its player is made anew and not fed to the recorder), so at A
    // the agent's audio after the swap is counted by A's own receive rate (its call status line), not heard.
    Browser.RemoteAudio atAgent = agent.remoteAudio(1500);
    assertTrue(atAgent.packets() > 50 && Math.abs(atAgent.peakHz() - 1000) < 30, "the agent hears A again: " + atAgent);
    Eventually.until(SETUP, "A receives the agent's audio again (RTP at 64 kbit/s)", () -> receiveRate(first) > 48000);

    assertTrue(!noCall(first) && !noCall(second), "A and B each have their call: " + first.command("listcalls", null)
        + second.command("listcalls", null));
    agent.click("Hang up"); // the active call, A's
    agent.awaitStatus("On hold", SETUP);
    Eventually.until(SETUP, "A's call closed", () -> byes(first) == 1 && noCall(first));
    assertEquals(b, activeCall(), "B, held, is the call left");
    assertEquals(0, byes(second), "B's call goes on");
    agent.click("Hang up");
    agent.awaitStatus("Call ended", SETUP);
    Eventually.until(SETUP, "B's call closed", () -> byes(second) == 1 && noCall(second));

    node.awaitIdle(1); // no call, no media session; the line stays the page's
    mediaFreed();
    agent.awaitStatus("Ready", SETUP);
  }

  @Test
  void anAttendedTransferFromThePageRefersTheCustomerWithReplacesAndFreesTheLine() throws Exception {
    agent.open(node.url());
    agent.awaitStatus("Ready", SETUP);
    try (Sipp customer = Sipp.uac("consult-customer-via-pbx.xml", "127.0.0.1:" + pbx.port(), "-s", "1000",
        "-rtp_echo")) {
      agent.awaitStatus("Incoming call from 2002", SETUP);
      agent.click("Call");
      agent.awaitStatus("In call", SETUP);
      agent.remoteAudio(2500).assertEchoOf(440); // the customer's echo: audio both ways on the customer's call

      agent.driver().findElement(By.cssSelector("input[aria-label='Transfer to']")).sendKeys("2001");
      agent.click("Consult");
      Eventually.until(SETUP, "the consult call answered", () -> agent.button("Complete transfer").isEnabled());
      agent.awaitStatus("In call", SETUP);
      assertEquals(1, customer.received("INVITE ").size(), "the customer was held: " + customer.messageTrace());
      agent.remoteAudio(2500).assertEchoOf(440); // the consultee's echo, on the consult call's own connection
      assertTrue(((Number) agent.js("return [window.webphone.pc, " + OTHER_PC + "].filter((p) => p"
          + " && p.connectionState === 'connected').length")).intValue() == 2, "each call has its connection");

      agent.dialWithKeypad("1"); // the consultee's sign: its BYE follows 3 s later
      agent.click("Complete transfer");
      agent.awaitStatus("Transferred", SETUP);
      customer.awaitSuccess(SETUP); // REFER checked, NOTIFY 100 and 200 answered, our BYE received
      consultee.awaitSuccess(SETUP); // its BYE was answered 200
      customer.assertReplacesNames(consultee, "2001");
      customer.assertOneContact("INVITE ", 1); // the hold re-INVITE, through Kamailio
      customer.assertOneContact("REFER ", 1);
    }
    node.awaitIdle(1);
    mediaFreed();
    agent.awaitStatus("Ready", SETUP);
  }

  /**
   * The agent and the active customer talk: the page hears the customer's {@code hz} on {@code pc}, and the
   * customer's recording of the same moment holds the agent's 440 Hz.
   */
  private static void assertTalking(Baresip customer, int hz, String pc, String who) throws Exception {
    Browser.RemoteAudio heard = agent.remoteAudio(1500, pc);
    assertTrue(heard.packets() > 50 && Math.abs(heard.peakHz() - hz) < 30, "the agent hears " + who + "'s " + hz
        + " Hz: " + heard);
    double[] atCustomer = customer.heardSince(customer.heardMark(), 1.5);
    System.out.println(who + ": the agent heard " + heard + "; the customer heard rms " + atCustomer[0] + ", "
        + atCustomer[1] + " Hz");
    assertTrue(atCustomer[0] > 0.01 && Math.abs(atCustomer[1] - 440) < 30, who + " hears the agent's 440 Hz: rms "
        + atCustomer[0] + ", " + atCustomer[1] + " Hz");
  }

  /** The re-INVITEs baresip took (its log says "call: got re-INVITE" after each). */
  private static long reInvites(Baresip b) {
    return b.process().logText().lines().filter(l -> l.contains("call: got re-INVITE")).count();
  }

  /** The last re-INVITE baresip took, as its SIP trace shows it (request line, headers and SDP). */
  private static String lastReInvite(Baresip b) {
    String log = b.process().logText();
    int taken = log.lastIndexOf("call: got re-INVITE");
    int start = log.lastIndexOf("\nINVITE sip:", taken);
    return start < 0 ? "" : log.substring(start + 1, taken);
  }

  /** baresip's receive rate in bit/s since the last re-INVITE it took (its call status: "audio=rx/tx (bit/s)"). */
  private static long receiveRate(Baresip b) {
    String log = b.process().logText();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("audio=(\\d+)/\\d+ \\(bit/s\\)")
        .matcher(log.substring(Math.max(0, log.lastIndexOf("call: got re-INVITE"))));
    long rate = 0;
    while (m.find()) {
      rate = Long.parseLong(m.group(1));
    }
    return rate;
  }

  private static long byes(Baresip b) {
    return b.process().logText().lines().filter(l -> l.startsWith("BYE sip:")).count();
  }

  private static boolean noCall(Baresip b) throws Exception {
    return !b.command("listcalls", null).contains("sip:1000@");
  }

  private static String activeCall() {
    return (String) agent.js("return window.webphone.call && window.webphone.call.id");
  }

  private static long tones() {
    return ((Number) agent.js("return window.webphoneAutoAnswerTones || 0")).longValue();
  }

  /** No RTP port, ICE agent, DTLS session or RTCP task is left on the node (media.status counts what is held now). */
  private static void mediaFreed() throws Exception {
    Eventually.until(Duration.ofSeconds(10), "every RTP port, ICE agent, DTLS session and RTCP task freed", () -> {
      JsonObject m = mediaStatus();
      return m.getInteger("rtpPorts") == 0 && m.getInteger("agents") == 0 && m.getInteger("dtlsSessions") == 0
          && m.getInteger("rtcpTasks") == 0;
    });
  }

  private static JsonObject mediaStatus() throws Exception {
    return Eventually.result(5, "media.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.MEDIA_STATUS, new JsonObject())).body();
  }
}
