package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.testing.TestNode;

/**
 * The HTTP side as an attacker meets it, over real sockets to a real node: half-sent requests and upgrades
 * are closed within {@code http.headerTimeoutSec}; the public {@code /health} says only the state; the full
 * health and {@code /metrics} are on the loopback admin port or need the admin token, and no page names a
 * session; every page response carries the security headers; and the WebSocket's origin check is not fooled
 * by a DNS-rebinding page whose Origin and Host agree.
 */
class HttpHardeningTest {
  private static final String TOKEN = "admin-token-for-tests-0123456789";
  private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private TestNode node;
  private final List<Socket> sockets = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (Socket s : sockets) {
      s.close();
    }
    if (node != null) {
      node.close();
    }
  }

  @Test
  void twoHundredHalfSentUpgradesAndATrickleAreClosedWithinTheHeaderTimeoutWhileThePageIsStillServed()
      throws Exception {
    int timeoutSec = 2;
    node = TestNode.start(new JsonObject().put("http", new JsonObject().put("headerTimeoutSec", timeoutSec)));
    int port = port();
    String halfUpgrade = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\n"
        + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"; // no blank line: never ends
    long t0 = System.nanoTime();
    for (int i = 0; i < 200; i++) {
      Socket s = connect(port);
      s.getOutputStream().write(halfUpgrade.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
    }
    connect(port); // connects and sends nothing
    Socket trickle = connect(port); // a header byte every 300 ms: the idle timeout alone never fires
    Thread trickler = new Thread(() -> {
      try {
        OutputStream out = trickle.getOutputStream();
        for (byte b : "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".getBytes(
            StandardCharsets.US_ASCII)) {
          out.write(b);
          out.flush();
          Thread.sleep(300);
        }
      } catch (IOException | InterruptedException e) {
        // closed by the node: what this test waits for
      }
    }, "slowloris");
    trickler.setDaemon(true);
    trickler.start();

    assertEquals(200, get(port, "/", null).statusCode(), "the page is served while 200 upgrades hang");
    long deadline = t0 + TimeUnit.SECONDS.toNanos(timeoutSec + 8);
    int open = 0;
    for (Socket s : sockets) {
      if (!closedBy(s, deadline)) {
        open++;
      }
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertEquals(0, open, "connections still open " + seconds + " s after sending half a request (bound "
        + timeoutSec + " s)");
    String metrics = get(adminPort(), "/metrics", null).body();
    double timeouts = metric(metrics, "webphone_http_header_timeouts_total");
    assertTrue(timeouts >= 202, "closures counted on /metrics: " + timeouts);
    assertEquals(200, get(port, "/health", null).statusCode(), "the node still answers");
  }

  @Test
  void aKeptAliveConnectionAndAWebSocketSilentBothWaysAreClosedAfterTheIdleTimeout() throws Exception {
    node = TestNode.start(new JsonObject().put("http", new JsonObject().put("idleTimeoutSec", 1)
        .put("headerTimeoutSec", 60)));
    int port = port();
    Socket keptAlive = connect(port);
    keptAlive.getOutputStream().write(("GET /health HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    Socket ws = connect(port);
    ws.getOutputStream().write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nOrigin: http://127.0.0.1:" + port
        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    long t0 = System.nanoTime();
    // Both read what the node sends (the answer, the upgrade and its first frames) and then hear nothing.
    assertTrue(closedBy(keptAlive, t0 + TimeUnit.SECONDS.toNanos(6)), "kept-alive connection idle for 6 s");
    assertTrue(closedBy(ws, t0 + TimeUnit.SECONDS.toNanos(6)), "silent WebSocket idle for 6 s");
  }

  @Test
  void thePublicHealthSaysOnlyTheStateAndNoPageNamesAWaitingOrLeasedSession() throws Exception {
    node = TestNode.start(new JsonObject()
        .put("pool", new JsonObject().put("waitingLine", true)
            .put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
                .put("passwordTemplate", "secret-{user}"))));
    List<String> secrets = new ArrayList<>();
    List<String> sessions = new ArrayList<>();
    LinkedBlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();
    for (int i = 0; i < 2; i++) {
      String address = "test.hardening.events." + i;
      MessageConsumer<JsonObject> c = node.node().vertx().eventBus().consumer(address, m -> events.add(m.body()));
      await(c.completion());
      JsonObject opened = await(node.node().vertx().eventBus().<JsonObject>request(Addresses.SIGNALLING_OPEN,
          new JsonObject().put("events", address))).body();
      sessions.add(opened.getString("sessionId"));
    }
    JsonObject pool = node.health().getJsonObject("pool");
    for (int i = 0; i < 50 && !(pool.getInteger("leased") == 1 && pool.getInteger("waiting") == 1); i++) {
      Thread.sleep(100); // the lease and the place in line are granted asynchronously
      pool = node.health().getJsonObject("pool");
    }
    assertEquals(1, pool.getInteger("leased"), pool.encode());
    assertEquals(1, pool.getInteger("waiting"), "the second session waits in line: " + pool.encode());
    secrets.addAll(sessions);
    for (JsonObject e : events) {
      if (e.getString("resumeToken") != null) {
        secrets.add(e.getString("resumeToken"));
      }
    }
    assertTrue(secrets.size() >= 4, "both session ids and resume tokens seen: " + secrets);

    HttpResponse<String> publicHealth = get(port(), "/health", null);
    assertEquals(200, publicHealth.statusCode());
    assertEquals(new JsonObject().put("state", "ready"), new JsonObject(publicHealth.body()),
        "the public port's /health: the state only");
    assertEquals(404, get(port(), "/metrics", null).statusCode(), "no /metrics on the public port without a token");
    assertEquals(new JsonObject().put("state", "ready"), new JsonObject(get(port(), "/health", "Bearer " + TOKEN)
        .body()), "no token configured: an Authorization header opens nothing");

    List<String> pages = List.of(publicHealth.body(), get(adminPort(), "/health", null).body(),
        get(adminPort(), "/metrics", null).body());
    for (String page : pages) {
      for (String secret : secrets) {
        assertFalse(page.contains(secret), "a page names session " + secret + ":\n" + page);
      }
    }
    assertFalse(pages.get(1).contains("waitingLine") || pages.get(1).contains("leases"), pages.get(1));
    for (String id : sessions) {
      await(node.node().vertx().eventBus().request(Addresses.SIGNALLING_CLOSE, new JsonObject().put("sessionId", id)));
    }
  }

  @Test
  void metricsAndTheFullHealthNeedTheAdminTokenOnThePublicPortAndOnTheAdminPort() throws Exception {
    node = TestNode.start(new JsonObject().put("http", new JsonObject().put("adminToken", TOKEN)));
    String[] refused = {null, "Bearer wrong-token-0123456789abcdef", "Bearer " + TOKEN + "x", "Basic " + TOKEN,
        "Bearer", "bearer " + TOKEN.substring(1)};
    for (int port : new int[] {port(), adminPort()}) {
      for (String auth : refused) {
        HttpResponse<String> r = get(port, "/metrics", auth);
        assertEquals(401, r.statusCode(), port + " /metrics with " + auth);
        assertTrue(r.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"), r.headers().toString());
      }
      HttpResponse<String> ok = get(port, "/metrics", "Bearer " + TOKEN);
      assertEquals(200, ok.statusCode());
      assertTrue(ok.body().contains("webphone_node_ready"), "Prometheus text");
      JsonObject full = new JsonObject(get(port, "/health", "Bearer " + TOKEN).body());
      assertEquals(10, full.getJsonObject("pool").getInteger("total"), "the full health: " + full.encode());
    }
    assertEquals(401, get(port(), "/health", "Bearer wrong-token-0123456789abcdef").statusCode());
    assertEquals(401, get(adminPort(), "/health", null).statusCode(), "the admin port asks for the token too");
    HttpResponse<String> lb = get(port(), "/health", null);
    assertEquals(200, lb.statusCode());
    assertEquals(new JsonObject().put("state", "ready"), new JsonObject(lb.body()), "a load balancer needs no token");
  }

  @Test
  void theAdminPortListensOnLoopbackOnlyAndRefusesARebindingHostName() throws Exception {
    node = TestNode.start(new JsonObject());
    assertEquals(List.of("127.0.0.1"), listeningAddresses(adminPort()), "the admin listener's bound address");
    int admin = adminPort();
    String rebinding = raw(admin, "GET /health HTTP/1.1\r\nHost: evil.example:" + admin + "\r\nConnection: close\r\n\r\n");
    assertTrue(rebinding.startsWith("HTTP/1.1 421"), "a page of evil.example resolved to 127.0.0.1: " + rebinding);
    assertFalse(rebinding.contains("pool"), rebinding);
    for (String host : new String[] {"127.0.0.1:" + admin, "localhost:" + admin, "[::1]:" + admin}) {
      String ok = raw(admin, "GET /health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
      assertTrue(ok.startsWith("HTTP/1.1 200") && ok.contains("\"pool\""), host + ": " + ok);
    }
  }

  @Test
  void everyPageResponseCarriesTheSecurityHeadersAndCorsOnlyForListedOrigins() throws Exception {
    node = TestNode.start(new JsonObject().put("http", new JsonObject()
        .put("frameAncestors", "'self' https://shop.example")
        .put("allowedOrigins", new JsonArray().add("https://shop.example"))));
    String[] paths = {"/", "/index.html", "/example.html", "/js/web-phone.js", "/js/media.js", "/no-such-file",
        "/health", "/metrics"};
    for (String path : paths) {
      HttpResponse<String> r = get(port(), path, null);
      assertEquals("nosniff", r.headers().firstValue("X-Content-Type-Options").orElse(null), path);
      assertEquals("no-referrer", r.headers().firstValue("Referrer-Policy").orElse(null), path);
      assertEquals("frame-ancestors 'self' https://shop.example",
          r.headers().firstValue("Content-Security-Policy").orElse(null), path);
      assertTrue(r.headers().firstValue("X-Frame-Options").isEmpty(), path + ": the phone is meant to be embedded");
    }
    for (String path : new String[] {"/js/web-phone.js", "/js/webphone-client.js", "/index.html"}) {
      HttpResponse<String> listed = get(port(), path, null, "Origin", "https://shop.example");
      assertEquals(200, listed.statusCode(), path);
      assertEquals("https://shop.example", listed.headers().firstValue("Access-Control-Allow-Origin").orElse(null), path);
      assertTrue(listed.headers().allValues("Vary").stream().anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("origin")),
          path + " Vary: " + listed.headers().allValues("Vary"));
      for (String other : new String[] {"https://evil.example", "null", "https://shop.example.evil.example"}) {
        HttpResponse<String> r = get(port(), path, null, "Origin", other);
        assertNull(r.headers().firstValue("Access-Control-Allow-Origin").orElse(null), path + " from " + other);
      }
    }
    assertNull(get(port(), "/health", null, "Origin", "https://shop.example").headers()
        .firstValue("Access-Control-Allow-Origin").orElse(null), "CORS on the page's files only");
  }

  /**
   * The attacker's page on evil.example, whose name resolves to the gateway's address (DNS rebinding): its
   * WebSocket carries Origin and Host both {@code evil.example:PORT}. Rows: Origin, Host, accepted.
   */
  @Test
  void aDnsRebindingPageIsRefusedThoughItsOriginAndHostAgreeAndOnlyLoopbackPagesGetInByDefault() throws Exception {
    node = TestNode.start(new JsonObject());
    int p = port();
    Object[][] table = {
        {"http://evil.example:" + p, "evil.example:" + p, false},
        {"https://evil.example:" + p, "evil.example:" + p, false},
        {"http://evil.example:" + p, "127.0.0.1:" + p, false},
        {"http://127.0.0.1.evil.example:" + p, "127.0.0.1.evil.example:" + p, false},
        {"http://127.0.0.1:" + (p == 65535 ? p - 1 : p + 1), "127.0.0.1:" + p, false},
        {"null", "127.0.0.1:" + p, false},
        {"http://127.0.0.1:" + p + "/path", "127.0.0.1:" + p, false},
        {"http://127.0.0.1:" + p, "127.0.0.1:" + p, true},
        {"http://localhost:" + p, "localhost:" + p, true},
        {"http://[::1]:" + p, "[::1]:" + p, true},
        {"http://LOCALHOST:" + p, "localhost:" + p, true},
    };
    for (Object[] row : table) {
      assertEquals(row[2], upgradeAccepted(p, (String) row[0], (String) row[1]), "Origin " + row[0] + ", Host " + row[1]);
    }
  }

  @Test
  void aDemoNodeFromTheCommandLineOpensItsAdminSurfaceNextToThePublicPortAndBadHttpSettingsStopTheNode() {
    Properties none = new Properties();
    assertEquals(8081, GatewayConfig.load(null, Map.of(), none).getInt("http.adminPort"), "demo: http.port + 1");
    assertEquals("127.0.0.1", GatewayConfig.load(null, Map.of(), none).getString("http.adminHost"));
    assertEquals(9100, GatewayConfig.load(null, Map.of("WEBPHONE_HTTP_ADMIN_PORT", "9100"), none)
        .getInt("http.adminPort"));
    assertEquals(0, GatewayConfig.load(null, Map.of("WEBPHONE_PBX_HOST", "10.0.0.5"), none).getInt("http.adminPort"),
        "with a PBX the admin listener is opt-in");
    String[][] bad = {
        {"WEBPHONE_HTTP_ALLOWED_ORIGINS", "https://shop.example/", "http.allowedOrigins"},
        {"WEBPHONE_HTTP_ALLOWED_ORIGINS", "shop.example", "http.allowedOrigins"},
        {"WEBPHONE_HTTP_PUBLIC_ORIGIN", "https://gw.example/phone", "http.publicOrigin"},
        {"WEBPHONE_HTTP_FRAME_ANCESTORS", "'self'; script-src *", "http.frameAncestors"},
        {"WEBPHONE_HTTP_FRAME_ANCESTORS", "'self'\r\nSet-Cookie: a=b", "http.frameAncestors"},
        {"WEBPHONE_HTTP_FRAME_ANCESTORS", "", "http.frameAncestors"},
        {"WEBPHONE_HTTP_ADMIN_TOKEN", "short", "http.adminToken"},
        {"WEBPHONE_HTTP_ADMIN_TOKEN", "a token with spaces in it", "http.adminToken"},
        {"WEBPHONE_HTTP_ADMIN_PORT", "8080", "http.adminPort"},
        {"WEBPHONE_HTTP_HEADER_TIMEOUT_SEC", "0", "http.headerTimeoutSec"},
    };
    for (String[] row : bad) {
      ConfigException e = assertThrows(ConfigException.class, () -> GatewayConfig.load(null, Map.of(row[0], row[1]), none),
          row[0] + "=" + row[1]);
      assertEquals(row[2], e.key(), e.getMessage());
    }
  }

  // ------------------------------------------------------------------ helpers

  private int port() {
    return node.config().getInt("http.port");
  }

  private int adminPort() {
    return node.config().getInt("http.adminPort");
  }

  private Socket connect(int port) throws IOException {
    Socket s = new Socket("127.0.0.1", port);
    sockets.add(s);
    return s;
  }

  /** True when the node closed {@code s} (EOF or reset) before {@code deadlineNanos}. */
  private static boolean closedBy(Socket s, long deadlineNanos) throws IOException {
    InputStream in = s.getInputStream();
    while (true) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
      if (left <= 0) {
        return false;
      }
      s.setSoTimeout((int) Math.max(1, left));
      try {
        if (in.read() < 0) {
          return true;
        }
      } catch (SocketTimeoutException e) {
        return false;
      } catch (IOException e) {
        return true; // reset by the peer
      }
    }
  }

  private static HttpResponse<String> get(int port, String path, String auth, String... headers)
      throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10));
    if (auth != null) {
      b.header("Authorization", auth);
    }
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Sends {@code request} as is (Host included) and reads until the node closes the connection. */
  private static String raw(int port, String request) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /**
   * A WebSocket upgrade with exactly this Origin and Host. Refused: no 101, or the node's first frame is the
   * Error 200 (ORIGIN_REFUSED) or a close. Accepted: 101 and, within 1.5 s, no such frame.
   */
  private static boolean upgradeAccepted(int port, String origin, String host) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      s.getOutputStream().write(("GET /ws HTTP/1.1\r\nHost: " + host + "\r\nOrigin: " + origin + "\r\n"
          + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      String head = readHead(in);
      if (!head.startsWith("HTTP/1.1 101")) {
        return false;
      }
      s.setSoTimeout(1500);
      try {
        int op = in.read() & 0x0f;
        int len = in.read() & 0x7f;
        if (len == 126) {
          len = (in.read() << 8) | in.read();
        }
        String payload = new String(in.readNBytes(len), StandardCharsets.UTF_8);
        if (op == 0x8) {
          return false;
        }
        return !(payload.contains("\"Error\"") && new JsonObject(payload).getInteger("code") == 200);
      } catch (SocketTimeoutException e) {
        return true;
      }
    }
  }

  private static String readHead(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    while (!sb.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        break;
      }
      sb.append((char) c);
    }
    return sb.toString();
  }

  /** Local addresses on which a TCP socket listens on {@code port}, from /proc/net/tcp and tcp6. */
  private static List<String> listeningAddresses(int port) throws IOException {
    List<String> found = new ArrayList<>();
    String hexPort = String.format(":%04X", port);
    for (String file : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
      for (String line : Files.readAllLines(Path.of(file))) {
        String[] f = line.trim().split("\\s+");
        if (f.length > 3 && f[1].endsWith(hexPort) && f[3].equals("0A")) {
          String addr = f[1].substring(0, f[1].indexOf(':'));
          found.add(addr.length() == 8 ? ipv4(addr) : addr);
        }
      }
    }
    return found;
  }

  private static String ipv4(String littleEndianHex) {
    long v = Long.parseLong(littleEndianHex, 16);
    return (v & 0xff) + "." + ((v >> 8) & 0xff) + "." + ((v >> 16) & 0xff) + "." + ((v >> 24) & 0xff);
  }

  private static double metric(String text, String name) {
    return text.lines().filter(l -> l.startsWith(name)).mapToDouble(l -> Double.parseDouble(l.substring(
        l.lastIndexOf(' ') + 1))).sum();
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }
}
