package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.WindowType;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.webphone.gateway.common.Addresses;

/**
 * The phone page in real headless Chromium against the real signalling verticle: the accessibility
 * contract (names and the one status element) and the page's side of the protocol. The layers below are
 * {@link FakeLowerLayers} (see why there), so these tests check words and frames, not audio; the
 * end-to-end audio tests run against the whole gateway.
 */
class PhonePageTest extends FakeGatewayPage {
  private void awaitStatus(String text) {
    try {
      new WebDriverWait(driver, Duration.ofSeconds(8)).until(d -> text.equals(status().getText()));
    } catch (org.openqa.selenium.TimeoutException e) {
      throw new AssertionError("status stayed \"" + status().getText() + "\", expected \"" + text + "\"; detail: "
          + driver.findElement(By.cssSelector(".wp-detail")).getText());
    }
  }

  private WebElement status() {
    List<WebElement> s = driver.findElements(By.cssSelector("[role=status]"));
    assertEquals(1, s.size(), "exactly one status element");
    return s.get(0);
  }

  @Test
  void thePhoneRegistersCallsShowsTheContractWordsAndHangsUp(Vertx vertx) throws Exception {
    h = new Harness(vertx, 2, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    WebElement number = driver.findElement(By.cssSelector("input[aria-label='Number']"));
    for (String k : List.of("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")) {
      button(k);
    }
    button("6").click();
    button("0").click();
    button("0").click();
    assertEquals("600", number.getAttribute("value"));
    button("Call").click();
    awaitStatus("In call");
    assertTrue((Boolean) ((JavascriptExecutor) driver).executeScript(
        "return window.webphone.pc instanceof RTCPeerConnection && window.webphone.pc.remoteDescription !== null"));
    driver.manage().window().setSize(new org.openqa.selenium.Dimension(400, 720));
    Path shot = Path.of("target", "screenshots", "phone-in-call.png");
    Files.createDirectories(shot.getParent());
    Files.write(shot, ((org.openqa.selenium.TakesScreenshot) driver).getScreenshotAs(org.openqa.selenium.OutputType.BYTES));
    button("Hold").click();
    awaitStatus("On hold");
    button("Resume").click();
    awaitStatus("In call");
    button("Mute").click();
    button("Unmute").click();
    button("5").click();
    assertEquals(1, h.lower.awaitCount(Addresses.MEDIA_DTMF, 1), "a key during the call is DTMF");
    button("Hang up").click();
    awaitStatus("Call ended");
    awaitStatus("Ready");
    assertEquals(1, h.lower.count(Addresses.SIP_CALL_HANGUP));

    number.clear();
    number.sendKeys("1086");
    button("Call").click();
    awaitStatus("Busy");
    awaitStatus("Ready");
    number.clear();
    number.sendKeys("1044\n");
    awaitStatus("Not found");
    awaitStatus("Ready");
    number.clear();
    number.sendKeys("0900123");
    button("Call").click();
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d ->
        d.findElement(By.cssSelector(".wp-detail")).getText().contains("blocked"));
    assertEquals("Ready", status().getText());
    assertEquals(3, h.lower.count(Addresses.SIP_CALL_MAKE), "the refused number sent no SIP");
  }

  @Test
  void anIncomingCallRingsIsAnsweredWithCallAndEndsWhenTheFarEndHangsUp(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    String line = h.lower.leases.values().iterator().next();
    h.lower.incoming(line, "in-7", "1001");
    awaitStatus("Incoming call from 1001");
    button("Call").click();
    awaitStatus("In call");
    h.lower.emit(line, new JsonObject().put("event", "callState").put("callId", "in-7").put("state", "Completed"));
    awaitStatus("Call ended");
    h.lower.incoming(line, "in-8", "1002");
    awaitStatus("Incoming call from 1002");
    button("Hang up").click();
    awaitStatus("Rejected");
  }

  @Test
  void aSecondTabBeyondThePoolShowsConnectionLimitAndAReloadKeepsTheCall(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject().put("session", new JsonObject().put("resumeGraceSec", 10)));
    String url = "http://127.0.0.1:" + h.port + "/";
    driver.get(url);
    awaitStatus("Ready");
    String first = driver.getWindowHandle();
    driver.switchTo().newWindow(WindowType.TAB);
    driver.get(url);
    awaitStatus("Connection limit");
    driver.close();
    driver.switchTo().window(first);

    driver.findElement(By.cssSelector("input[aria-label='Number']")).sendKeys("600");
    button("Call").click();
    awaitStatus("In call");
    driver.navigate().refresh();
    awaitStatus("In call");
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> h.lower.count(Addresses.MEDIA_BROWSER_OFFER) == 1);
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_HANGUP), "the reload did not end the SIP call");
    assertEquals(1, h.lower.leases.size());

    // A network drop: the socket goes away under the page, which says so and comes back with the call.
    ((JavascriptExecutor) driver).executeScript("window.__statuses = [];"
        + "new MutationObserver(() => window.__statuses.push(document.querySelector('[role=status]').textContent))"
        + ".observe(document.querySelector('[role=status]'), {childList: true, characterData: true, subtree: true});"
        + "window.webphone.client.ws.close();");
    new WebDriverWait(driver, Duration.ofSeconds(5)).until(d -> h.lower.count(Addresses.MEDIA_BROWSER_OFFER) == 2);
    awaitStatus("In call");
    assertTrue(((List<?>) ((JavascriptExecutor) driver).executeScript("return window.__statuses;"))
        .contains("Reconnecting"), "the page said it was reconnecting");
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_HANGUP), "the drop did not end the SIP call");
  }

  @Test
  void theClickToCallButtonTakesALineOnlyForItsCall(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/example.html");
    WebElement b = button("Call sales");
    assertEquals(0, h.lower.count(Addresses.POOL_LEASE), "no line is held before the click");
    b.click();
    awaitStatus("In call");
    JsonObject make = h.lower.requests.stream().filter(r -> r.getString("_address").equals(Addresses.SIP_CALL_MAKE))
        .findFirst().orElseThrow();
    assertEquals("1000", make.getString("target"));
    button("Hang up").click();
    awaitStatus("Call ended");
    new WebDriverWait(driver, Duration.ofSeconds(8)).until(d -> h.lower.leases.isEmpty());
    assertEquals("Call sales", button("Call sales").getText(), "back to its one button");
    h.assertNothingLeaked();
  }

  @Test
  void aBlockedMicrophoneIsSaidPlainlyAndNothingIsDialled(Vertx vertx) throws Exception {
    h = new Harness(vertx, 1, new JsonObject());
    driver.get("http://127.0.0.1:" + h.port + "/");
    awaitStatus("Ready");
    // As when the user refused the permission prompt.
    ((JavascriptExecutor) driver).executeScript("navigator.mediaDevices.getUserMedia = () => "
        + "Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));");
    driver.findElement(By.cssSelector("input[aria-label='Number']")).sendKeys("600");
    button("Call").click();
    awaitStatus("Microphone blocked");
    assertEquals(0, h.lower.count(Addresses.MEDIA_CREATE));
    assertEquals(0, h.lower.count(Addresses.SIP_CALL_MAKE));
  }
}
