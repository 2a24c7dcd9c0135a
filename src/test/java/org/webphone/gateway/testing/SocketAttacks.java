package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The TCP vectors of the attack run, each a loop on its own thread until the deadline, reconnecting when
 * the gateway closes it (so the pressure lasts the whole run): WebSocket frame floods (text, binary, ping
 * control frames), a client that floods and never reads, sockets that never send a frame (each held open,
 * holding whatever the gateway gives a socket), and half-sent HTTP upgrade requests. Every socket is closed
 * when its loop ends.
 */
final class SocketAttacks {
  private final InetSocketAddress http;
  private final long deadline;
  private final AttackStats stats;

  SocketAttacks(InetSocketAddress http, long deadlineNanos, AttackStats stats) {
    this.http = http;
    this.deadline = deadlineNanos;
    this.stats = stats;
  }

  private boolean running() {
    return System.nanoTime() < deadline;
  }

  /**
   * {@code kind} text, binary or ping frames at {@code perSecond} from {@code source}; with {@code read}
   * false the client never reads its socket (and its receive buffer is small, so the gateway's replies
   * pile up on the gateway's side).
   */
  void flood(String kind, InetAddress source, int perSecond, boolean read) throws InterruptedException {
    String name = "ws." + kind + (read ? "" : ".nonReader");
    byte[] junk = new byte[read ? 16 : 512];
    while (running()) {
      try (GatewaySession s = GatewaySession.open(source, http, read ? 0 : 4096, read, e -> countEvent(name, e))) {
        stats.inc(name + ".connected");
        long start = System.nanoTime();
        long sent = 0;
        while (running() && !s.isClosed()) {
          switch (kind) {
            case "text" -> s.socket().sendText(sent % 2 == 0 ? "{\"method\":\"Ping\",\"ref\":" + sent + "}"
                : "{\"method\":\"NoSuchMethod\"}");
            case "binary" -> s.socket().send(RawWebSocket.BINARY, junk);
            default -> s.socket().send(RawWebSocket.PING, junk);
          }
          sent++;
          stats.inc(name + ".sent");
          AttackStats.pace(start, sent, perSecond);
        }
        if (s.isClosed() && running()) {
          stats.inc(name + ".closedByGateway." + s.closeCode());
        }
      } catch (IOException e) {
        stats.inc(name + ".ioError." + e.getClass().getSimpleName());
      }
      if (running()) {
        Thread.sleep(100);
      }
    }
  }

  private void countEvent(String name, JsonObject e) {
    String ev = e.getString("event", "?");
    stats.inc(name + ".received." + (ev.equals("Error") ? "Error." + e.getValue("code") : ev));
  }

  /** Opens one socket; the caller holds it and watches for the gateway closing it. */
  interface Opener {
    SocketChannel open(InetAddress source) throws IOException;
  }

  /**
   * A WebSocket that never sends a frame, not even the Hello (its socket reads what the gateway sends): it
   * holds no lease, only a socket until the gateway's Hello deadline closes it, and the loop opens the next.
   */
  SocketChannel idleWebSocket(InetAddress source) throws IOException {
    return RawWebSocket.connect(source, http, GatewaySession.path(), 0).channel();
  }

  /** An HTTP upgrade request cut before its blank line. */
  SocketChannel halfUpgrade(InetAddress source) throws IOException {
    SocketChannel ch = SocketChannel.open();
    try {
      ch.bind(new InetSocketAddress(source, 0));
      ch.socket().connect(http, 5000);
      String partial = "GET /ws HTTP/1.1\r\nHost: " + http.getAddress().getHostAddress() + ":" + http.getPort()
          + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Ver";
      ch.write(ByteBuffer.wrap(partial.getBytes(StandardCharsets.US_ASCII)));
      return ch;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * Keeps {@code count} sockets made by {@code opener} open from {@code sources} (round robin): every 200 ms
   * it reads what they got, counts the ones the gateway closed, and opens new ones, at most
   * {@code opensPerSecond}.
   */
  void hold(String name, List<InetAddress> sources, int count, int opensPerSecond, Opener opener)
      throws InterruptedException {
    List<SocketChannel> held = new ArrayList<>();
    ByteBuffer scratch = ByteBuffer.allocate(65536);
    int next = 0;
    try {
      while (running()) {
        for (Iterator<SocketChannel> it = held.iterator(); it.hasNext(); ) {
          SocketChannel ch = it.next();
          if (drainedClosed(ch, scratch)) {
            stats.inc(name + ".closedByGateway");
            it.remove();
          }
        }
        for (int opened = 0; held.size() < count && opened < opensPerSecond / 5 + 1 && running(); opened++) {
          InetAddress src = sources.get(next++ % sources.size());
          long t0 = System.nanoTime();
          try {
            SocketChannel ch = opener.open(src);
            ch.configureBlocking(false);
            held.add(ch);
            stats.inc(name + ".opened");
          } catch (IOException e) {
            stats.inc(name + ".openFailed." + e.getClass().getSimpleName());
          }
          stats.max(name + ".openMs", (System.nanoTime() - t0) / 1_000_000);
        }
        stats.max(name + ".heldAtOnce", held.size());
        Thread.sleep(200);
      }
    } finally {
      for (SocketChannel ch : held) {
        try {
          ch.close();
        } catch (IOException ignored) {
          // closing anyway
        }
      }
    }
  }

  /** Reads what is there; true when the gateway closed the socket. */
  private static boolean drainedClosed(SocketChannel ch, ByteBuffer scratch) {
    try {
      int n;
      do {
        scratch.clear();
        n = ch.read(scratch);
      } while (n > 0);
      if (n < 0) {
        ch.close();
        return true;
      }
      return false;
    } catch (IOException e) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // already broken
      }
      return true;
    }
  }
}
