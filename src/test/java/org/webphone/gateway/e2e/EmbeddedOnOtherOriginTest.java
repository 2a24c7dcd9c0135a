package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestNode;

/**
 * The phone embedded on a company's own site: a shop page served by a second web server (another origin,
 * {@code http://localhost:<shop port>}) loads {@code <script type="module" src="http://127.0.0.1:<gateway>/js/web-phone.js">},
 * which the browser fetches in CORS mode, and shows {@code <web-phone>}. With the shop's origin in
 * {@code http.allowedOrigins} the scripts run and a call to the echo extension brings the 440 Hz tone back; the
 * same page on an origin not in the list gets no script and its WebSocket is refused before any lease.
 */
class EmbeddedOnOtherOriginTest {
  @TempDir
  Path tmp;

  private TestNode node;
  private Browser browser;
  private Vertx shopVertx;
  private int shopPort;

  @BeforeEach
  void start() throws Exception {
    shopPort = Ports.free();
    node = TestNode.start(new JsonObject()
        .put("session", new JsonObject().put("resumeGraceSec", 2))
        .put("http", new JsonObject().put("allowedOrigins", new JsonArray().add("http://localhost:" + shopPort))));
    String gateway = "http://127.0.0.1:" + node.config().getInt("http.port");
    String page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Shop</title>"
        + "<script type=\"module\" src=\"" + gateway + "/js/web-phone.js\"></script></head>"
        + "<body><h1>Our shop</h1><web-phone></web-phone></body></html>";
    shopVertx = Vertx.vertx();
    HttpServer shop = shopVertx.createHttpServer().requestHandler(r -> r.response()
        .putHeader("content-type", "text/html; charset=utf-8").end(page));
    shop.listen(shopPort, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    browser = Browser.start(Browser.tone(tmp, 440, 30));
  }

  @AfterEach
  void stop() throws Exception {
    // Closed in reverse order: the browser (it holds a session), the shop's server, then the node.
    try (TestNode n = node; AutoCloseable shop = this::closeShop; Browser b = browser) {
      browser = null;
    }
  }

  private void closeShop() throws Exception {
    if (shopVertx != null) {
      shopVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aShopPageOnAListedOriginEmbedsThePhoneFromTheGatewayAndHearsItsToneBackFromTheEcho() throws Exception {
    browser.open("http://localhost:" + shopPort + "/");
    assertEquals("http://localhost:" + shopPort, browser.js("return location.origin"), "the page's own origin");
    browser.awaitStatus("Ready", Duration.ofSeconds(30));

    browser.dialWithKeypad("600");
    browser.click("Call");
    browser.awaitStatus("In call", Duration.ofSeconds(20));
    awaitFirstInboundAudio(Duration.ofSeconds(10));
    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    System.out.println("echo call audio on the shop's page: " + audio);
    audio.assertEchoOf(440);
    assertTrue(browser.packetsSent() > 100, "the browser sent audio");

    browser.click("Hang up");
    browser.awaitStatus("Ready", Duration.ofSeconds(10));
    node.awaitIdle(1);
    browser.close();
    browser = null;
    node.awaitIdle(0);
  }

  /**
   * "In call" follows the SIP answer; ICE and DTLS may still be finishing on a busy machine. The audio is
   * measured from its first packet on, so that the three seconds listened to are three seconds of audio.
   */
  private void awaitFirstInboundAudio(Duration bound) {
    Object packets = browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        const end = Date.now() + arguments[0];
        (async () => {
          while (true) {
            let packets = 0;
            (await window.webphone.pc.getStats()).forEach(s => {
              if (s.type === 'inbound-rtp' && s.kind === 'audio') packets = s.packetsReceived || 0;
            });
            if (packets > 0 || Date.now() > end) { done(packets); return; }
            await new Promise(r => setTimeout(r, 50));
          }
        })().catch(e => done(String(e)));
        """, bound.toMillis());
    assertTrue(packets instanceof Long n && n > 0, "no audio reached the browser within " + bound + ": " + packets);
  }

  @Test
  void theSamePageOnAnOriginNotListedGetsNoScriptAndItsWebSocketIsRefusedBeforeAnyLease() throws Exception {
    String stranger = "http://127.0.0.1:" + shopPort; // same server, another origin: not in the list
    browser.open(stranger + "/");
    String gateway = "127.0.0.1:" + node.config().getInt("http.port");
    @SuppressWarnings("unchecked")
    Map<String, Object> r = (Map<String, Object>) browser.driver().executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        const gateway = arguments[0];
        (async () => {
          const r = {};
          try { await import('http://' + gateway + '/js/web-phone.js?again'); r.imported = true; }
          catch (e) { r.imported = false; }
          r.defined = !!customElements.get('web-phone');
          const ws = new WebSocket('ws://' + gateway + '/ws');
          r.frames = [];
          ws.onmessage = m => r.frames.push(m.data);
          r.code = await new Promise(res => {
            ws.onclose = c => res(c.code);
            setTimeout(() => res(-1), 10000);
          });
          done(r);
        })();
        """, gateway);
    assertEquals(false, r.get("imported"), "the module from the gateway, imported by a stranger's page: " + r);
    assertEquals(false, r.get("defined"), "<web-phone> never defined on the stranger's page: " + r);
    assertTrue(Set.of(1006L, 1008L).contains((Long) r.get("code")), "the WebSocket was closed as refused: " + r);
    for (Object frame : (List<?>) r.get("frames")) {
      assertEquals(200, new JsonObject((String) frame).getInteger("code"), "only ORIGIN_REFUSED: " + r);
    }
    assertEquals(0, node.health().getJsonObject("pool").getInteger("leased"), "no lease for a refused page");

    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    for (String origin : new String[] {stranger, "http://localhost:" + shopPort}) {
      HttpResponse<Void> script = http.send(HttpRequest.newBuilder(URI.create("http://" + gateway + "/js/web-phone.js"))
          .header("Origin", origin).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding());
      String allow = script.headers().firstValue("Access-Control-Allow-Origin").orElse(null);
      if (origin.equals(stranger)) {
        assertNull(allow, "no CORS for an origin not in the list");
      } else {
        assertEquals(origin, allow, "CORS for the listed origin");
      }
    }
  }
}
