package org.webphone.gateway.signalling;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.RoutingContext;
import java.util.HashMap;
import java.util.Map;

/**
 * Bounds the time an HTTP connection may take to deliver a complete request head (request line and
 * headers): {@code http.headerTimeoutSec} from its opening, and again from the end of its last response
 * (a kept-alive connection waiting for its next request). A connection that sends half a request, half a
 * WebSocket upgrade or nothing is closed when the bound passes, however slowly it trickles bytes (the
 * server's idle timeout alone would let a byte every minute hold it: slowloris). A connection that
 * upgrades to a WebSocket leaves this class; the WebSocket's own rules apply from then on.
 *
 * <p>Runs on the event loop of the verticle that created the server (all of its connection, request and
 * handshake handlers do); one timer per waiting connection, cancelled and forgotten when the connection
 * closes, upgrades or delivers a head, so nothing outlives its connection. Closures are counted on /metrics as
 * {@code webphone_http_header_timeouts_total}; {@link #close} removes that meter.
 */
final class HeadDeadline {
  /** A connection of the server and whether a timer now waits for its next request head. */
  private static final class Waiting {
    final HttpConnection connection;
    long timer = -1;
    int inFlight;
    boolean closed;

    Waiting(HttpConnection connection) {
      this.connection = connection;
    }
  }

  private final Vertx vertx;
  private final long timeoutMs;
  /** By local and remote address: a WebSocket handshake names its connection only by those. */
  private final Map<String, Waiting> connections = new HashMap<>();
  private final MeterRegistry registry;
  private final Counter timeouts;

  /** {@code registry} null: not counted (tests without metrics). */
  HeadDeadline(Vertx vertx, long timeoutMs, MeterRegistry registry) {
    this.vertx = vertx;
    this.timeoutMs = timeoutMs;
    this.registry = registry;
    this.timeouts = registry == null ? null : Counter.builder("webphone.http.header.timeouts")
        .description("HTTP connections closed because no complete request head arrived in http.headerTimeoutSec")
        .register(registry);
  }

  /** The server's connection handler: the clock starts. */
  void opened(HttpConnection c) {
    Waiting w = new Waiting(c);
    String key = key(c.localAddress(), c.remoteAddress());
    connections.put(key, w);
    c.closeHandler(x -> {
      w.closed = true;
      cancel(w);
      connections.remove(key, w);
    });
    arm(w);
  }

  /** First handler of the router: a head arrived; the clock restarts when its response has ended. */
  void headArrived(RoutingContext rc) {
    HttpConnection c = rc.request().connection();
    Waiting w = connections.get(key(c.localAddress(), c.remoteAddress()));
    if (w == null) {
      rc.next();
      return;
    }
    w.inFlight++;
    cancel(w);
    rc.addEndHandler(x -> {
      w.inFlight--;
      if (w.inFlight == 0 && !w.closed) {
        arm(w);
      }
    });
    rc.next();
  }

  /** A complete WebSocket upgrade arrived on the connection {@code local} ← {@code remote}: no longer ours. */
  void upgrading(SocketAddress local, SocketAddress remote) {
    Waiting w = connections.remove(key(local, remote));
    if (w != null) {
      cancel(w);
    }
  }

  /** Removes the meter; the server's close closes the connections and with them their timers. */
  void close() {
    if (registry != null) {
      registry.remove(timeouts);
    }
  }

  private void arm(Waiting w) {
    cancel(w);
    w.timer = vertx.setTimer(timeoutMs, t -> {
      w.timer = -1;
      if (timeouts != null) {
        timeouts.increment();
      }
      w.connection.close();
    });
  }

  private void cancel(Waiting w) {
    if (w.timer >= 0) {
      vertx.cancelTimer(w.timer);
      w.timer = -1;
    }
  }

  /** Local and remote address: the admin listener shares this class with the public one. */
  private static String key(SocketAddress local, SocketAddress remote) {
    return (local == null ? "" : local.port()) + "|" + (remote == null ? "" : remote.host() + "|" + remote.port());
  }
}
