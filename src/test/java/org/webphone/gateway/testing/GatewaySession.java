package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One client session on the gateway's WebSocket, as a script (not a page) drives it: how a session is
 * opened lives here and only here ({@link #path}, {@link #hello}), so a protocol change such as a first
 * {@code Hello {token?, resume?}} frame is one edit. A reader thread (daemon) reads every server frame: text
 * events go to a queue ({@link #next}) unless the session was opened with a {@code sink}, which then sees
 * each event on the reader thread instead. Close it to end the socket and the thread.
 */
public final class GatewaySession implements AutoCloseable {
  private final RawWebSocket ws;
  private final LinkedBlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();
  private final Consumer<JsonObject> sink;
  private volatile boolean closed;
  private volatile int closeCode = -1;

  private GatewaySession(RawWebSocket ws, Consumer<JsonObject> sink) {
    this.ws = ws;
    this.sink = sink;
  }

  /** The socket path of a new session. */
  public static String path() {
    return "/ws";
  }

  /**
   * What a client sends right after the handshake to get a line: the first frame {@code {"method":"Hello"}}
   * (docs/protocol.md "Hello"); nothing is leased before it, and without it the gateway closes the socket
   * (1008) after 5 s.
   */
  public static void hello(RawWebSocket ws) throws IOException {
    ws.sendText("{\"method\":\"Hello\",\"ref\":0}");
  }

  /**
   * Opens a session from {@code local}: handshake, {@link #hello}, and a reader thread unless {@code read}
   * is false (a client that never reads). {@code sink} (may be null) takes events instead of the queue.
   */
  public static GatewaySession open(InetAddress local, InetSocketAddress gateway, int receiveBuffer, boolean read,
      Consumer<JsonObject> sink) throws IOException {
    RawWebSocket ws = RawWebSocket.connect(local, gateway, path(), receiveBuffer);
    GatewaySession s = new GatewaySession(ws, sink);
    try {
      hello(ws);
    } catch (IOException e) {
      ws.close();
      throw e;
    }
    if (read) {
      Thread t = new Thread(s::readLoop, "session-reader-" + local.getHostAddress());
      t.setDaemon(true);
      t.start();
    }
    return s;
  }

  /**
   * Opens a session on loopback with the first frame {@code hello} (e.g. {@code Hello {resume}}) and a reader thread
   * that queues every event ({@link #next}).
   */
  public static GatewaySession open(InetSocketAddress gateway, JsonObject hello) throws IOException {
    RawWebSocket ws = RawWebSocket.connect(InetAddress.getLoopbackAddress(), gateway, path(), 0);
    GatewaySession s = new GatewaySession(ws, null);
    try {
      ws.sendText(hello.encode());
    } catch (IOException e) {
      ws.close();
      throw e;
    }
    Thread t = new Thread(s::readLoop, "session-reader-" + gateway.getPort());
    t.setDaemon(true);
    t.start();
    return s;
  }

  private void readLoop() {
    try {
      while (!closed) {
        RawWebSocket.Frame f = ws.read(0);
        if (f.opcode() == RawWebSocket.CLOSE) {
          closeCode = f.closeCode();
          break;
        }
        if (f.opcode() == RawWebSocket.TEXT) {
          JsonObject e = parse(f.text());
          if (sink != null) {
            sink.accept(e);
          } else {
            events.add(e);
          }
        }
      }
    } catch (IOException e) {
      // EOF or a reset: the session is over either way
    } finally {
      closed = true;
    }
  }

  private static JsonObject parse(String text) {
    try {
      return new JsonObject(text);
    } catch (RuntimeException e) {
      return new JsonObject().put("event", "(not JSON)").put("text", text);
    }
  }


  /** The next event within {@code timeoutMs}, or null; EOFException once the socket is closed and drained. */
  public JsonObject next(long timeoutMs) throws IOException, InterruptedException {
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (true) {
      JsonObject e = events.poll(Math.min(50, timeoutMs), TimeUnit.MILLISECONDS);
      if (e != null) {
        return e;
      }
      if (closed && events.isEmpty()) {
        throw new EOFException("session socket closed (code " + closeCode + ")");
      }
      if (System.nanoTime() > end) {
        return null;
      }
    }
  }

  /**
   * The next event that {@code match} accepts (the others skipped) within {@code timeoutMs}; fails naming
   * {@code what} and the events seen instead.
   */
  public JsonObject await(String what, java.util.function.Predicate<JsonObject> match, long timeoutMs)
      throws IOException, InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    java.util.List<String> seen = new java.util.ArrayList<>();
    while (System.currentTimeMillis() < end) {
      JsonObject e = next(end - System.currentTimeMillis());
      if (e == null) {
        break;
      }
      if (match.test(e)) {
        return e;
      }
      seen.add(e.encode());
    }
    throw new AssertionError("no " + what + " within " + timeoutMs + " ms; saw " + seen);
  }

  /**
   * Waits until the line is ready ({@code OnSetReadyStatus ready:true}); returns null then, or what the
   * gateway said instead (an Error's name, "Connection limit", a close code).
   */
  public String awaitReady(long timeoutMs) throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    try {
      while (System.currentTimeMillis() < end) {
        JsonObject e = next(end - System.currentTimeMillis());
        if (e == null) {
          break;
        }
        String ev = e.getString("event", "");
        if (ev.equals("OnSetReadyStatus") && e.getBoolean("ready", false)) {
          return null;
        }
        if (ev.equals("Error")) {
          return e.getString("name", "Error");
        }
        if (ev.equals("OnSessionClosed")) {
          return e.getString("reason", "closed");
        }
      }
      return "not ready within " + timeoutMs + " ms";
    } catch (IOException e) {
      return "closed " + closeCode;
    }
  }

  public RawWebSocket socket() {
    return ws;
  }

  public boolean isClosed() {
    return closed;
  }

  /** The close code the server sent, or -1. */
  public int closeCode() {
    return closeCode;
  }

  @Override
  public void close() {
    closed = true;
    ws.close();
  }
}
