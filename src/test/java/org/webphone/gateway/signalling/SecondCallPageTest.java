package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.webphone.gateway.common.Addresses;

/**
 * The page's second-call controls in real headless Chromium against the real signalling verticle; the layers below
 * are {@link FakeLowerLayers} (they stand for the PBX's calls, holds and NOTIFYs here; the real SIP of the same
 * steps, through Kamailio to SIPp peers, is {@link SecondCallTest}; the page with every peer real, baresip customers
 * and audio measured, is {@code e2e.SecondCallThroughKamailioTest}, which has no Decline nor Cancel transfer). Call waiting: "Decline", then "Call" holds the
 * first call and answers the waiting one on a second RTCPeerConnection, "Swap", "Hang up" of the active call leaves
 * the held one. Attended transfer: "Consult" with the "Transfer to" number, "Cancel transfer", "Consult" again and
 * "Complete transfer" with its status words.
 */
class SecondCallPageTest extends FakeGatewayPage {
  @Test
  void aCallWaitingIsDeclinedThenTakenHoldingTheFirstSwappedAndHungUpOneAtATime(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    String line = h.lower.leases.values().iterator().next();
    for (String b : new String[] {"Decline", "Swap", "Consult", "Complete transfer", "Cancel transfer"}) {
      assertFalse(button(b).isEnabled(), b + " is disabled without a call");
    }
    h.lower.incoming(line, "in-1", "2002");
    awaitStatus("Incoming call from 2002");
    button("Call").click();
    awaitStatus("In call");

    h.lower.incoming(line, "in-2", "2003");
    awaitStatus("Call waiting from 2003");
    assertTrue(button("Decline").isEnabled());
    button("Decline").click();
    h.lower.awaitCount(Addresses.SIP_CALL_REJECT, 1);
    h.lower.emit(line, state("in-2", "Rejected"));
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> !button("Decline").isEnabled());
    assertEquals("in-1", activeCall(), "the first call is untouched");

    h.lower.incoming(line, "in-3", "2004");
    awaitStatus("Call waiting from 2004");
    button("Call").click();
    awaitStatus("In call");
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> "in-3".equals(activeCall()));
    assertEquals(1, h.lower.count(Addresses.SIP_CALL_HOLD), "the first call was held");
    assertEquals(2, peerConnections(), "each call has its own RTCPeerConnection");

    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> button("Swap").isEnabled());
    button("Swap").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> "in-1".equals(activeCall()));
    awaitStatus("In call");

    button("Hang up").click(); // the active call (in-1); the held one stays
    h.lower.awaitCount(Addresses.SIP_CALL_HANGUP, 1);
    awaitStatus("On hold");
    assertEquals("in-3", activeCall());
    button("Hang up").click();
    awaitStatus("Call ended");
    mediaClosed();
  }

  @Test
  void consultThenCancelThenConsultAgainAndCompleteTheTransfer(Vertx vertx) throws Exception {
    String line = answered(vertx, new JsonObject(), "in-9");
    WebElement to = driver.findElement(By.cssSelector("input[aria-label='Transfer to']"));

    to.sendKeys("0900123"); // blocked by the default dial policy: nothing held, nothing called
    button("Consult").click();
    awaitStatus("Transfer failed");
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_HOLD));
    assertEquals("in-9", activeCall());

    to.clear();
    to.sendKeys("1001");
    button("Consult").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> button("Cancel transfer").isEnabled());
    awaitStatus("In call"); // with the consultee; the customer is held
    assertEquals(1, h.lower.count(Addresses.SIP_CALL_HOLD));
    button("Cancel transfer").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> "in-9".equals(activeCall()));
    awaitStatus("In call");
    assertEquals(2, h.lower.count(Addresses.SIP_CALL_HOLD), "the customer was taken off hold");

    button("Consult").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> button("Complete transfer").isEnabled());
    button("Complete transfer").click();
    h.lower.awaitCount(Addresses.SIP_CALL_TRANSFER, 1);
    JsonObject refer = h.lower.requests.stream()
        .filter(r -> Addresses.SIP_CALL_TRANSFER.equals(r.getString("_address"))).findFirst().orElseThrow();
    assertEquals("in-9", refer.getString("callId"), "the customer is REFERred");
    String consult = activeCall();
    assertEquals(consult, refer.getString("replaces"), "with Replaces naming the consult call");
    awaitStatus("Transferring");
    h.lower.emit(line, new JsonObject().put("event", "transfer").put("callId", "in-9").put("code", 200)
        .put("reason", "OK").put("direction", "out"));
    awaitStatus("Transferred");
    h.lower.emit(line, state("in-9", "Completed"));
    h.lower.emit(line, state(consult, "Completed"));
    awaitStatus("Call ended");
    mediaClosed();
  }

  /**
   * A reload during a consult: the page comes back with both calls (docs/protocol.md, "Resume": calls), the consult
   * call active and the customer held, each on a new RTCPeerConnection of its own (two Offers, no new call, no hold
   * or transfer at SIP), and the transfer controls work on them: "Cancel transfer", then "Hang up".
   */
  @Test
  void aReloadDuringAConsultBringsBothCallsBackAndCancelTransferWorksAfterwards(Vertx vertx) throws Exception {
    String line = answered(vertx, new JsonObject().put("session", new JsonObject().put("resumeGraceSec", 30)), "in-7");
    driver.findElement(By.cssSelector("input[aria-label='Transfer to']")).sendKeys("1001");
    button("Consult").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> button("Cancel transfer").isEnabled());
    String consult = activeCall();
    h.lower.emit(line, state("in-7", "LocalHeld"));
    h.lower.emit(line, state(consult, "InCall").put("direction", "out"));
    awaitStatus("In call");
    long holds = h.lower.count(Addresses.SIP_CALL_HOLD);
    long offers = h.lower.count(Addresses.MEDIA_BROWSER_OFFER);

    driver.navigate().refresh();
    new WebDriverWait(driver, Duration.ofSeconds(10)).withMessage(() -> "active " + activeCall() + ", other "
        + otherCall() + ", connections " + peerConnections()).until(d -> consult.equals(activeCall())
        && "in-7".equals(otherCall()) && peerConnections() == 2);
    awaitStatus("In call");
    h.lower.awaitCount(Addresses.MEDIA_BROWSER_OFFER, offers + 2); // a new leg for each call
    assertEquals(holds, h.lower.count(Addresses.SIP_CALL_HOLD), "SIP untouched by the reload");
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_TRANSFER));
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> button("Cancel transfer").isEnabled()
        && button("Complete transfer").isEnabled());

    button("Cancel transfer").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> "in-7".equals(activeCall()));
    assertEquals(holds + 1, h.lower.count(Addresses.SIP_CALL_HOLD), "the customer was taken off hold");
    h.lower.emit(line, state("in-7", "InCall"));
    awaitStatus("In call");
    button("Hang up").click();
    h.lower.awaitCount(Addresses.SIP_CALL_HANGUP, 2); // the consult call, then the customer
    awaitStatus("Call ended");
    mediaClosed();
  }

  /** The phone page on a gateway with {@code config}, and the call {@code callId} from 2000 answered there; its line. */
  private String answered(Vertx vertx, JsonObject config, String callId) throws Exception {
    h = new Harness(vertx, 1, config);
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    String line = h.lower.leases.values().iterator().next();
    h.lower.incoming(line, callId, "2000");
    awaitStatus("Incoming call from 2000");
    button("Call").click();
    awaitStatus("In call");
    return line;
  }

  private String otherCall() {
    return (String) ((JavascriptExecutor) driver).executeScript(
        "const o = window.webphone.secondCall.other; return o && o.call.id;");
  }

  /** Every call's media session closed (the page, and so its session and line, stay). */
  private void mediaClosed() throws InterruptedException {
    org.webphone.gateway.testing.Eventually.until(Harness.WAIT, "no media session left",
        () -> h.lower.mediaSessions.isEmpty());
  }

  private static JsonObject state(String callId, String state) {
    return new JsonObject().put("event", "callState").put("callId", callId).put("state", state).put("direction", "in");
  }

  private String activeCall() {
    return (String) ((JavascriptExecutor) driver).executeScript("return window.webphone.call && window.webphone.call.id;");
  }

  private long peerConnections() {
    return (Long) ((JavascriptExecutor) driver).executeScript("const w = window.webphone;"
        + "return [w.pc, w.secondCall.other && w.secondCall.other.pc].filter((p) => p && p.connectionState !== 'closed').length;");
  }

  private void awaitStatus(String text) {
    browser.awaitStatus(text, Duration.ofSeconds(8));
  }

}
