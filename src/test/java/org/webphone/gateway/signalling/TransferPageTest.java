package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.webphone.gateway.common.Addresses;

/**
 * The page's transfer control, its transfer and DTMF displays and its requests, in real headless Chromium
 * against the real signalling verticle; the layers below are {@link FakeLowerLayers} (why: see there), which
 * also stand for the PBX's NOTIFYs and INFO digits here. The real REFER through Kamailio to baresip is
 * TransferThroughKamailioTest.
 */
class TransferPageTest extends FakeGatewayPage {
  @Test
  void theTransferControlShowsProgressFailureAndSuccessAndReceivedDigits(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    assertFalse(button("Transfer").isEnabled(), "nothing to transfer before a call");
    String line = h.lower.leases.values().iterator().next();
    String callId = call("600");

    // Digits the far end sent (INFO or RFC 4733) are shown for this call.
    for (String d : List.of("4", "2", "#")) {
      h.lower.emit(line, new JsonObject().put("event", "dtmf").put("callId", callId).put("digit", d).put("source", "info"));
    }
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> digits().getText().equals("Received: 42#"));

    // A number the dial policy blocks (0900 by default): said at once, and no REFER is asked for.
    WebElement to = driver.findElement(By.cssSelector("input[aria-label='Transfer to']"));
    to.sendKeys("0900123");
    button("Transfer").click();
    awaitStatus("Transfer failed");
    assertTrue(detail().contains("blocked"), detail());
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_TRANSFER), "a blocked target sent no SIP");
    awaitStatus("In call");

    // The transfer target is busy: the PBX's NOTIFY carries 486.
    to.clear();
    to.sendKeys("1001");
    button("Transfer").click();
    awaitStatus("Transferring");
    assertEquals(1, h.lower.awaitCount(Addresses.SIP_CALL_TRANSFER, 1));
    assertEquals("1001", h.lower.requests.stream()
        .filter(r -> Addresses.SIP_CALL_TRANSFER.equals(r.getString("_address"))).findFirst().orElseThrow()
        .getString("target"));
    h.lower.emit(line, transfer(callId, 486, "Busy Here"));
    awaitStatus("Transfer failed");

    // Then it works: 100, 200, and the gateway's BYE ends the call here with "Transferred" as its last word.
    button("Transfer").click();
    h.lower.awaitCount(Addresses.SIP_CALL_TRANSFER, 2);
    h.lower.emit(line, transfer(callId, 100, "Trying"));
    awaitStatus("Transferring");
    h.lower.emit(line, transfer(callId, 200, "OK"));
    awaitStatus("Transferred");
    h.lower.emit(line, new JsonObject().put("event", "callState").put("callId", callId).put("state", "Completed"));
    new WebDriverWait(driver, Duration.ofSeconds(2)).until(d -> digits().getText().isEmpty());
    assertEquals("Transferred", browser.status());

    // The far end transfers this call elsewhere (direction in): the call goes on with the same id.
    String second = call("600");
    h.lower.emit(line, transfer(second, 100, "Transferred by the far end to 701").put("direction", "in"));
    awaitStatus("Transferring");
    h.lower.emit(line, transfer(second, 200, "Connected to 701").put("direction", "in"));
    awaitStatus("In call");
    assertEquals("Connected to 701", detail());
    button("Hang up").click();
    awaitStatus("Call ended");
  }

  @Test
  void aTransferFrameWithoutACallGetsAClearErrorAndThePageRequestsNothingThatIsMissing(Vertx vertx)
      throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    Object refused = ((JavascriptExecutor) driver).executeAsyncScript("const done = arguments[0];"
        + "window.webphone.client.request('Transfer', {callId: 'c-none', number: '600'})"
        + ".then(() => done('accepted'), (e) => done(e.name + ': ' + e.message));");
    assertEquals("WRONG_STATE: there is no call", refused);
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_TRANSFER));
    assertEquals("Ready", browser.status(), "the session goes on");

    // Every request of both pages answered (the favicon, the scripts, the socket): no 404 in the console or
    // in the resource timings of the page.
    driver.get("http://127.0.0.1:" + h.port + "/example.html");
    button("Call sales");
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    @SuppressWarnings("unchecked")
    List<Object> missing = (List<Object>) ((JavascriptExecutor) driver).executeScript(
        "return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
            + ".filter((e) => e.responseStatus >= 400).map((e) => e.name + ' ' + e.responseStatus);");
    assertEquals(List.of(), missing);
    String console = browser.consoleLog();
    assertFalse(console.contains("404"), console);
  }

  private String call(String number) {
    WebElement n = driver.findElement(By.cssSelector("input[aria-label='Number']"));
    n.clear();
    n.sendKeys(number);
    button("Call").click();
    awaitStatus("In call");
    return (String) ((JavascriptExecutor) driver).executeScript("return window.webphone.call.id;");
  }

  private static JsonObject transfer(String callId, int code, String reason) {
    return new JsonObject().put("event", "transfer").put("callId", callId).put("code", code).put("reason", reason)
        .put("direction", "out");
  }

  private void awaitStatus(String text) {
    browser.awaitStatus(text, Duration.ofSeconds(8));
  }

  private String detail() {
    return driver.findElement(By.cssSelector(".wp-status + .wp-detail")).getText();
  }

  private WebElement digits() {
    return driver.findElement(By.cssSelector("[aria-label='Digits received']"));
  }

}
