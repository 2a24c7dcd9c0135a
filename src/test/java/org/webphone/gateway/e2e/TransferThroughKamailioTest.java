package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
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
 * Blind transfer from the page, with real peers: Kamailio is the PBX (digest auth, record-route); a customer
 * on baresip 2000 (microphone 1000 Hz) calls the agent's gateway line, the agent (headless Chromium on the
 * phone page) answers and transfers the call to a consultee on baresip 2001 (microphone 600 Hz). The gateway
 * sends REFER; baresip follows it (INVITE to 2001 through Kamailio) and reports by NOTIFY; the gateway hangs
 * up on the final 200. Proof that the customer talks to the consultee: each one's recording of the new call
 * holds the other's tone; proof that our line is free: no call and no media session left on the node.
 *
 * <p>The other way: a SIPp transferor (the PBX side) calls the agent's line directly and REFERs it to 701,
 * which Kamailio routes to a SIPp UAS echoing RTP; after the bad REFERs of its scenario (400, 403s: nothing
 * dialled) the gateway follows the good one, and the agent hears its own tone come back from the target
 * over the same browser leg.
 */
class TransferThroughKamailioTest {
  private static final Duration SETUP = Duration.ofSeconds(20);

  private static Path dir;
  private static Kamailio pbx;
  private static Baresip customer;
  private static Baresip consultee;
  private static Sipp echo;
  private static TestNode node;
  private static Browser agent;

  @BeforeAll
  static void startTheCallCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "e2e-transfer-").toAbsolutePath();
    // Started first (Kamailio needs its port) and used last: longer than SIPp's default 60 s global timeout.
    echo = Sipp.uas("uas-answer.xml", "-rtp_echo", "-timeout", "300");
    pbx = Kamailio.start(Map.of("1000", "secret-1000", "2000", "customer-2000", "2001", "consultee-2001"),
        Map.of("701", echo.port(), "0900123", echo.port()));
    customer = Baresip.start(dir.resolve("customer"), "2000", "customer-2000", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 1000, 60, 8000), 2);
    consultee = Baresip.start(dir.resolve("consultee"), "2001", "consultee-2001", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 600, 60, 8000));
    node = TestNode.withLine1000On(pbx, new JsonObject()
        .put("dial", new JsonObject().put("allow", new JsonArray().add("200[0-9]").add("701").add("0900123"))
            .put("blockedPrefixes", new JsonArray().add("2009").add("09"))));
    agent = Browser.start(Browser.tone(dir, 440, 30));
  }

  @AfterAll
  static void stopTheCallCentre() throws Exception {
    TestNode.closeAll(agent, node, consultee, customer, pbx, echo);
  }

  @Test
  void theAgentTransfersTheCustomerToTheConsulteeAndTheLineIsFreeAfterwards() throws Exception {
    agent.open(node.url());
    agent.awaitStatus("Ready", SETUP);
    customer.command("dial", "sip:1000@127.0.0.1:" + pbx.port());
    agent.awaitStatus("Incoming call from...", SETUP);
    agent.click("Call");
    agent.awaitStatus("In call", SETUP);
    Browser.RemoteAudio heard = agent.remoteAudio(1500);
    assertTrue(Math.abs(heard.peakHz() - 1000) < 30, "the agent hears the customer's 1000 Hz: " + heard);

    // A target the dial policy blocks: refused on the page, nothing sent (the customer gets no REFER).
    agent.driver().findElement(By.cssSelector("input[aria-label='Transfer to']")).sendKeys("2009");
    agent.click("Transfer");
    agent.awaitStatus("Transfer failed", SETUP);
    assertEquals(0, customer.process().logText().lines().filter(l -> l.contains("REFER")).count(),
        customer.process().tail());

    agent.driver().findElement(By.cssSelector("input[aria-label='Transfer to']")).clear();
    agent.driver().findElement(By.cssSelector("input[aria-label='Transfer to']")).sendKeys("2001");
    agent.click("Transfer");
    try {
      agent.awaitStatus("Transferred", SETUP);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\ncustomer:\n" + customer.process().tail(), e);
    }
    node.awaitIdle(1); // our call and its media are gone; the line stays leased to the agent's page
    agent.awaitStatus("Ready", SETUP);

    // The customer and the consultee talk: let the new call run, then the customer hangs up.
    Eventually.until(SETUP, "the consultee's call to start recording", () -> consultee.receivedWav().isPresent());
    Eventually.until(SETUP, "2 s of the customer's audio at the consultee", () -> Files.size(
        consultee.receivedWav().orElseThrow()) > 2 * 16000);
    customer.command("hangup", null);
    Path atConsultee = Eventually.await(SETUP, "the consultee's finished recording", consultee::finishedRecording);
    double[] c = Baresip.soxStat(atConsultee);
    assertTrue(c[0] > 0.05 && Math.abs(c[1] - 1000) < 40, "the consultee heard the customer's 1000 Hz: rms " + c[0]
        + " freq " + c[1]);
    Path atCustomer = Eventually.await(SETUP, "the customer's finished recording of the new call", () -> {
      Path p = customer.finishedRecording();
      return p != null && Math.abs(Baresip.soxStat(p)[1] - 600) < 40 ? p : null;
    });
    double[] k = Baresip.soxStat(atCustomer);
    assertTrue(k[0] > 0.05, "the customer heard the consultee, rms " + k[0]);
    JsonObject status = Eventually.result(5, "sip.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.SIP_STATUS, new JsonObject())).body();
    assertEquals(0, status.getInteger("calls"), status.encode());
  }

  @Test
  void aReferFromThePbxSideMovesTheAgentsCallToTheTargetOnTheSameAudioPath() throws Exception {
    agent.open(node.url());
    agent.awaitStatus("Ready", SETUP);
    try (Sipp transferor = Sipp.start("transfer-refer-in.xml", "127.0.0.1:" + node.config().getInt("sip.port"),
        List.of("-s", "1000"))) {
      agent.awaitStatus("Incoming call from...", SETUP);
      agent.click("Call");
      // The scenario: 400 without Refer-To, 403 for tel:, an embedded Call-Info header and 0900123; then 202,
      // NOTIFY 100 and 200, and the BYE of its own dialog once the target answered.
      transferor.awaitSuccess(Duration.ofSeconds(40));
    }
    agent.awaitStatus("In call", SETUP);
    Browser.RemoteAudio back = agent.remoteAudio(2000);
    assertTrue(back.packets() > 50 && Math.abs(back.peakHz() - 440) < 25,
        "the agent hears its 440 Hz echoed by the transfer target: " + back);
    assertEquals(1, echo.traceCount("INVITE sip:"), "only 701 was dialled: " + echo.messageTrace());
    agent.click("Hang up");
    agent.awaitStatus("Call ended", SETUP);
    echo.awaitSuccess(SETUP); // our BYE reached the target: the call had moved there
    node.awaitIdle(1);
  }
}
