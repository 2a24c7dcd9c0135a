package org.webphone.gateway.signalling;

import io.netty.handler.codec.http.QueryStringDecoder;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.http.ServerWebSocketHandshake;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * {@code /ws}: the gate at connect time (origin, token, sessions per IP; a refusal is an {@code Error}
 * frame and close 1008), then one {@link ClientSession} per socket, or the session named by
 * {@code ?resume=<token>}. Per frame: size, rate, validation; a refused frame is an {@code Error} frame
 * and the socket stays open.
 */
final class WebSocketEndpoint {
  private static final Logger LOG = LoggerFactory.getLogger(WebSocketEndpoint.class);
  private static final short POLICY = 1008;

  /** The session a socket currently drives; changes when the socket resumes another session. */
  private static final class Binding {
    ClientSession session;
  }

  private final SignallingVerticle host;
  private final int maxFrame;

  WebSocketEndpoint(SignallingVerticle host) {
    this.host = host;
    this.maxFrame = host.cfg().getInt("limits.maxFrameBytes");
  }

  void handshake(ServerWebSocketHandshake h) {
    if ("/ws".equals(h.path())) {
      h.accept();
    } else {
      h.reject(404);
    }
  }

  void connected(ServerWebSocket ws) {
    WebSocketTransport t = new WebSocketTransport(ws);
    String ip = ws.remoteAddress() == null ? "unknown" : ws.remoteAddress().hostAddress();
    Map<String, List<String>> query = new QueryStringDecoder("/?" + (ws.query() == null ? "" : ws.query()))
        .parameters();
    ClientSession session;
    try {
      if (host.draining()) {
        throw new ProtocolException(ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
      }
      host.gate().checkOrigin(ws.headers());
      host.gate().checkToken(first(query, "token"));
      String resume = first(query, "resume");
      session = resume == null ? null : host.byToken(resume);
      if (session != null) {
        host.attach(session, t);
      } else {
        if (resume != null) {
          t.send(ServerEvent.error(ErrorCode.NOT_FOUND, "resume token unknown or expired; new session",
              null, ClientMethod.Resume.name()));
        }
        session = host.open(ip, t);
      }
    } catch (ProtocolException e) {
      LOG.info("WebSocket from {} refused: {} {}", ip, e.code(), e.getMessage());
      host.metrics().refused(e.code());
      t.send(ServerEvent.error(e.code(), e.getMessage(), null, null));
      t.close(POLICY, e.code().code() + " " + e.code().name());
      return;
    }
    Binding b = new Binding();
    b.session = session;
    ws.textMessageHandler(text -> onText(b, t, text));
    ws.binaryMessageHandler(buf -> refuse(t, ErrorCode.BAD_JSON,
        "binary frames are not supported; send JSON text", null, null));
    ws.exceptionHandler(e -> {
      if (e instanceof IllegalStateException && String.valueOf(e.getMessage()).startsWith("Cannot process")) {
        // Vert.x's aggregator refused a message above the hard cap (4 x limits.maxFrameBytes): the rest of
        // that message cannot be read sensibly, so this socket ends.
        LOG.info("line={} message above the hard size cap; closing the socket", b.session.id());
        refuse(t, ErrorCode.FRAME_TOO_LARGE, "message far larger than " + maxFrame + " bytes", null, null);
        t.close((short) 1009, "message too big");
      } else {
        LOG.debug("line={} WebSocket error: {}", b.session.id(), e.toString());
      }
    });
    ws.closeHandler(x -> b.session.detach(t));
  }

  private void refuse(WebSocketTransport t, ErrorCode code, String message, Object ref, String method) {
    host.metrics().refused(code);
    t.send(ServerEvent.error(code, message, ref, method));
  }

  private void onText(Binding b, WebSocketTransport t, String text) {
    ClientSession s = b.session;
    long now = System.currentTimeMillis();
    if (text.length() > maxFrame) {
      refuse(t, ErrorCode.FRAME_TOO_LARGE, "frame larger than " + maxFrame + " bytes", null, null);
      return;
    }
    if (!s.admitMessage(now)) {
      if (s.rateErrorDue(now)) {
        refuse(t, ErrorCode.RATE_LIMITED, "more than "
            + host.cfg().getInt("limits.messagesPerSecond") + " messages per second; frames dropped", null, null);
      }
      return;
    }
    ClientFrame f;
    try {
      f = ClientFrame.parse(text);
    } catch (ProtocolException e) {
      refuse(t, e.code(), e.getMessage(), refOf(text), null);
      return;
    }
    if (f.method() == ClientMethod.Resume) {
      resume(b, t, f);
      return;
    }
    s.handle(f).onComplete(ar -> {
      if (ar.succeeded()) {
        t.send(ack(f, ar.result()));
      } else {
        ProtocolException p = Replies.toProtocol(f.method().name(), ar.cause());
        LOG.info("line={} {} refused: {} {}", s.id(), f.method(), p.code(), p.getMessage());
        refuse(t, p.code(), p.getMessage(), f.ref(), f.method().name());
      }
    });
  }

  /** Resume as a method: this socket leaves its fresh session (which closes) for the one named by the token. */
  private void resume(Binding b, WebSocketTransport t, ClientFrame f) {
    ClientSession target = host.byToken(f.string("token"));
    if (target == null || target == b.session) {
      refuse(t, ErrorCode.NOT_FOUND, "resume token unknown or expired", f.ref(), f.method().name());
      return;
    }
    ClientSession fresh = b.session;
    fresh.releaseTransport(t);
    fresh.close("replaced by a resumed session", (short) 1000);
    b.session = target;
    host.attach(target, t);
    t.send(ack(f, new JsonObject().put(ServerEventFields.SESSION_ID, target.id())));
  }

  static JsonObject ack(ClientFrame f, JsonObject result) {
    JsonObject a = f.method() == ClientMethod.Ping ? ServerEvent.of(ServerEvent.PONG) : ServerEvent.of(ServerEvent.ACK)
        .put(ServerEventFields.METHOD, f.method().name());
    if (f.ref() != null) {
      a.put(ServerEventFields.REF, f.ref());
    }
    return a.mergeIn(result == null ? new JsonObject() : result);
  }

  /** The client's ref from a frame that failed validation, when it can still be read. */
  private static Object refOf(String text) {
    try {
      Object v = io.vertx.core.json.Json.decodeValue(text);
      if (v instanceof JsonObject o && (o.getValue("ref") instanceof String s && s.length() <= 64
          || o.getValue("ref") instanceof Number)) {
        return o.getValue("ref");
      }
    } catch (RuntimeException e) {
      // not JSON: no ref
    }
    return null;
  }

  private static String first(Map<String, List<String>> q, String name) {
    List<String> v = q.get(name);
    return v == null || v.isEmpty() || v.get(0).isEmpty() ? null : v.get(0);
  }
}
