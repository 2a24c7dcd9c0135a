package org.webphone.gateway.signalling;

import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.webphone.gateway.testing.Browser;

/**
 * The page tests against a {@link Harness} (the signalling verticle over {@link FakeLowerLayers}): one headless
 * Chromium for the class (each test has its own gateway, so its own origin and storage: Chromium starts once, not
 * once per test); each test sets {@link #h}, closed after it once the page has let go of its session.
 */
@ExtendWith(VertxExtension.class)
abstract class FakeGatewayPage {
  static Browser browser;
  static WebDriver driver;
  Harness h;

  @BeforeAll
  static void startBrowser() throws Exception {
    browser = Browser.start(null);
    driver = browser.driver();
  }

  @AfterEach
  void closeGateway() throws Exception {
    if (driver != null) {
      driver.get("about:blank"); // the page lets go of its session before its gateway goes
    }
    if (h != null) {
      h.close();
    }
  }

  @AfterAll
  static void quitBrowser() {
    if (browser != null) {
      browser.close();
    }
  }

  /** A button of the page by its accessible name ({@link Browser#button}). */
  WebElement button(String name) {
    return browser.button(name);
  }
}
