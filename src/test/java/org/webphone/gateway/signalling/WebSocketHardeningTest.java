package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.webphone.gateway.signalling.Harness.method;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Eventually;

/**
 * Frames an attacker sends on an open session (issue 16: F2, F3, R10), each the attacker's exact input:
 * floods of binary frames and of WebSocket pings are held to {@code limits.messagesPerSecond}; a client that
 * never reads is cut off by the write queue's cap; the frame size is counted in UTF-8 bytes. After each the
 * session, its call and the node go on, and nothing leaks.
 */
@ExtendWith(VertxExtension.class)
class WebSocketHardeningTest {
  @Test
  void twentyThousandEmptyBinaryFramesAreHeldToTheMessageRateAndTheCallGoesOn(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject())) {
      Harness.Client c = h.ready();
      String callId = c.request(method("Call").put("number", "600").put("sdp", "v=0")).getString("callId");
      c.await("OnInCall");
      waitOutTheRateWindow(c);
      AtomicInteger pongs = countPongs(c);
      long start = System.currentTimeMillis();
      for (int i = 0; i < 20_000; i++) {
        c.ws.writeBinaryMessage(Buffer.buffer());
      }
      pingAndAwaitPongs(c, pongs, 1); // frames are handled in order: once this ping's pong is back, the flood was read
      long seconds = (System.currentTimeMillis() - start + 999) / 1000;
      int[] answers = drainFor(c, 500);
      assertTrue(answers[0] <= 20 * (seconds + 1), answers[0] + " binary frames answered in " + seconds + " s");
      assertTrue(answers[1] >= 1 && answers[1] <= seconds + 1, "one rate error a second: " + answers[1]);
      waitOutTheRateWindow(c);
      assertEquals(callId, c.request(method("Ping")).getString("callId"), "the session and its call go on");
      assertEquals(0, h.lower.count(Addresses.SIP_CALL_HANGUP));
      c.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void webSocketPingsCountTowardTheMessageRate(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject())) {
      Harness.Client c = h.ready();
      waitOutTheRateWindow(c);
      AtomicInteger pongs = countPongs(c);
      int pings = 2000;
      for (int i = 0; i < pings - 1; i++) {
        c.ws.writePing(Buffer.buffer("p"));
      }
      pingAndAwaitPongs(c, pongs, pings); // Vert.x answers each by itself; the last pong means the flood was read
      JsonObject err = c.await("Error");
      assertEquals(106, err.getInteger("code"), "pings over the limit: " + err);
      waitOutTheRateWindow(c);
      assertEquals("Pong", c.request(method("Ping")).getString("event"), "usable again after the window");
      c.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void aClientThatNeverReadsIsClosedOnceTheWriteQueueIsFullAndItsSessionEnds(Vertx vertx) throws Exception {
    // The attacker stays within a generous rate and answers nothing: every Ping makes a Pong it never reads.
    try (Harness h = new Harness(vertx, 1, new JsonObject().put("limits", new JsonObject()
        .put("messagesPerSecond", 1_000_000)))) {
      int sent = 0;
      boolean cut = false;
      try (Socket s = new Socket()) {
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress("127.0.0.1", h.port), 5000);
        OutputStream out = upgrade(s, h.port);
        out.write(frame(Harness.hello(null).encode()));
        byte[] batch = pings(500);
        long end = System.currentTimeMillis() + 60_000;
        try {
          while (sent < 3_000_000 && System.currentTimeMillis() < end) {
            out.write(batch);
            sent += 500;
            if (sent % 100_000 == 0 && closedNotReading(h) == 1) {
              break; // cut, and the kernel's buffers still take our writes: no need to fill them
            }
          }
        } catch (IOException closedByTheGateway) {
          cut = true;
        }
        // The kernel's socket buffers can take megabytes of Pings before the gateway has read them: it must still
        // cut this client while it works through them, however far our writes got.
        long counted = Eventually.await(Duration.ofSeconds(30), "the gateway to close the client that never reads ("
            + sent + " Pings sent, cut while writing: " + cut + ")", () -> closedNotReading(h), n -> n == 1);
        assertEquals(1L, counted, "counted");
      }
      h.assertNothingLeaked();
      Harness.Client next = h.ready();
      assertEquals("Pong", next.request(method("Ping")).getString("event"), "the node goes on");
      next.ws.close();
      h.assertNothingLeaked();
    }
  }

  @Test
  void theFrameSizeLimitCountsUtf8BytesNotCharacters(Vertx vertx) throws Exception {
    try (Harness h = new Harness(vertx, 1, new JsonObject().put("limits", new JsonObject()
        .put("messagesPerSecond", 1000)))) {
      Harness.Client c = h.ready();
      Object[][] table = {
          {"€".repeat(30_000), 105},        // 90 000 bytes, 30 000 UTF-16 units, limit 65 536
          {"😀".repeat(17_000), 105},       // 68 000 bytes in surrogate pairs
          {"€".repeat(21_800), "Pong"},     // 65 400 bytes: under the limit
          {"x".repeat(65_400), "Pong"},
      };
      for (Object[] row : table) {
        String pad = (String) row[0];
        // A frame refused for its size is not parsed, so its Error carries no ref.
        c.send(method("Ping").put("pad", pad).put("ref", "big"));
        JsonObject answer = c.await(row[1] instanceof Integer ? "Error" : "Pong");
        String what = pad.length() + " x " + pad.substring(0, pad.offsetByCodePoints(0, 1));
        if (row[1] instanceof Integer code) {
          assertEquals(code, answer.getInteger("code"), what + " -> " + answer);
        } else {
          assertEquals(row[1], answer.getString("event"), what + " -> " + answer);
        }
        assertEquals("Pong", c.request(method("Ping")).getString("event"), "still usable after " + what);
      }
      c.ws.close();
      h.assertNothingLeaked();
    }
  }

  // ------------------------------------------------------------------ helpers

  /** Counts {binary-frame Errors (100), rate Errors (106)} arriving within {@code ms}. */
  private static int[] drainFor(Harness.Client c, long ms) throws InterruptedException {
    int[] n = new int[2];
    long end = System.currentTimeMillis() + ms;
    while (System.currentTimeMillis() < end) {
      JsonObject f = c.frames.poll(50, TimeUnit.MILLISECONDS);
      if (f != null && "Error".equals(f.getString("event"))) {
        n[0] += f.getInteger("code") == 100 ? 1 : 0;
        n[1] += f.getInteger("code") == 106 ? 1 : 0;
      }
    }
    return n;
  }

  private static AtomicInteger countPongs(Harness.Client c) {
    AtomicInteger pongs = new AtomicInteger();
    c.ws.pongHandler(b -> pongs.incrementAndGet());
    return pongs;
  }

  /** Sends one more WebSocket ping and waits until {@code pongs} reaches {@code n}. */
  private static void pingAndAwaitPongs(Harness.Client c, AtomicInteger pongs, int n) throws Exception {
    Harness.await(c.ws.writePing(Buffer.buffer("last")));
    long end = System.currentTimeMillis() + 30_000;
    while (pongs.get() < n && System.currentTimeMillis() < end) {
      Thread.sleep(20);
    }
    assertEquals(n, pongs.get(), "pongs of the flood");
  }

  /** Lets the one-second rate window pass, so a test starts (or goes on) with the full budget. */
  private static void waitOutTheRateWindow(Harness.Client c) throws InterruptedException {
    long until = System.currentTimeMillis() + 1100;
    while (System.currentTimeMillis() < until) {
      c.frames.poll(50, TimeUnit.MILLISECONDS);
    }
  }

  static long awaitWebSocketCount(Harness h, String name, long expected) throws Exception {
    return Eventually.await(Duration.ofMillis(Harness.WAIT_MS), "webSockets." + name + " = " + expected,
        () -> webSocketCount(h, name), n -> n == expected);
  }

  private static long webSocketCount(Harness h, String name) throws Exception {
    JsonObject ws = h.status().getJsonObject("webSockets");
    return ws == null ? -1 : ws.getLong(name, -1L);
  }

  private static long closedNotReading(Harness h) throws Exception {
    return webSocketCount(h, "closedNotReading");
  }


  /** The HTTP upgrade of a raw socket; reads the 101 response and never reads again. */
  private static OutputStream upgrade(Socket s, int port) throws IOException {
    OutputStream out = s.getOutputStream();
    out.write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    out.flush();
    s.setSoTimeout(15_000); // a bound for a loaded machine, not a wait
    InputStream in = s.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("no upgrade response: " + head);
      }
      head.write(b);
    }
    assertTrue(head.toString(StandardCharsets.US_ASCII).startsWith("HTTP/1.1 101"), head.toString());
    return out;
  }

  private static byte[] pings(int n) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (int i = 0; i < n; i++) {
      b.write(frame(method("Ping").put("ref", "r".repeat(60)).encode()));
    }
    return b.toByteArray();
  }

  /** A masked client text frame (the mask key is zero, so the payload goes as is). */
  private static byte[] frame(String text) {
    byte[] p = text.getBytes(StandardCharsets.UTF_8);
    if (p.length > 125) {
      throw new IllegalArgumentException("short frames only");
    }
    byte[] f = new byte[6 + p.length];
    f[0] = (byte) 0x81;
    f[1] = (byte) (0x80 | p.length);
    System.arraycopy(p, 0, f, 6, p.length);
    return f;
  }
}
