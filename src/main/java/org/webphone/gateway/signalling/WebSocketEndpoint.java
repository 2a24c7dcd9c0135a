package org.webphone.gateway.signalling;

import io.netty.handler.codec.http.QueryStringDecoder;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.http.ServerWebSocketHandshake;
import io.vertx.core.http.WebSocketFrame;
import io.vertx.core.http.WebSocketFrameType;
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
 * {@code /ws}. At connect: origin, sockets waiting for their Hello per address; then nothing is leased until
 * the first frame, {@code Hello {token?, resume?}}, arrives within {@link #HELLO_TIMEOUT_MS} (else close 1008):
 * the token is checked, and the socket gets a new {@link ClientSession} or the one its resume token names.
 * Tokens in the URL ({@code ?token=}, {@code ?resume=}) are still taken at connect for one release, counted
 * and logged as deprecated. A refusal before the session is an {@code Error} frame and close 1008.
 *
 * <p>Per frame, every type alike (text, binary, continuation, ping, pong): the session's rate limit; then for
 * text the size in UTF-8 bytes and validation. A refused frame is an {@code Error} frame and the socket stays
 * open. Event loop only; a socket owns its Hello timer, cancelled on Hello, refusal or close.
 */
final class WebSocketEndpoint {
  private static final Logger LOG = LoggerFactory.getLogger(WebSocketEndpoint.class);
  private static final short POLICY = 1008;
  /** A socket must say Hello this soon; until then it holds no session and no account. */
  static final long HELLO_TIMEOUT_MS = 5000;
  private static final long DEPRECATION_LOG_MS = 60_000;

  /** One socket: its client address, and the session it drives (null until Hello; changes on Resume). */
  private static final class Binding {
    final String ip;
    final WebSocketTransport t;
    /** Frames before the Hello (WebSocket pings) have no session's rate window yet. */
    final RateWindow beforeHello;
    ClientSession session;
    /** Instead of a session: the session of another node this socket carries (resume on any node). */
    RemoteSession remote;
    /** The Hello named a session of another node, which has not answered yet. */
    boolean resuming;
    boolean closed;
    long helloTimer = -1;
    boolean awaitingHello;
    boolean refused;

    Binding(String ip, WebSocketTransport t, int perSecond) {
      this.ip = ip;
      this.t = t;
      this.beforeHello = new RateWindow(perSecond, 1000);
    }
  }

  private final SignallingVerticle host;
  private final int maxFrame;
  private final int perSecond;
  private final TrustedProxies proxies;
  private long lastDeprecationLogMs = -DEPRECATION_LOG_MS;

  WebSocketEndpoint(SignallingVerticle host) {
    this.host = host;
    this.maxFrame = host.cfg().getInt("limits.maxFrameBytes");
    this.perSecond = host.cfg().getInt("limits.messagesPerSecond");
    this.proxies = new TrustedProxies(host.cfg().getArray("http.trustedProxies"));
  }

  void handshake(ServerWebSocketHandshake h) {
    if ("/ws".equals(h.path())) {
      h.accept();
    } else {
      h.reject(404);
    }
  }

  void connected(ServerWebSocket ws) {
    String peer = ws.remoteAddress() == null ? "unknown" : ws.remoteAddress().hostAddress();
    String ip = proxies.clientOf(peer, ws.headers().get("X-Forwarded-For"));
    Binding b = new Binding(ip, new WebSocketTransport(ws, host.vertx(), () -> host.metrics().notReading()), perSecond);
    Map<String, List<String>> query = new QueryStringDecoder("/?" + (ws.query() == null ? "" : ws.query()))
        .parameters();
    try {
      if (host.draining()) {
        throw new ProtocolException(ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
      }
      host.gate().checkOrigin(ws.headers());
      String urlToken = first(query, "token");
      String urlResume = first(query, "resume");
      if (urlToken != null || urlResume != null) {
        deprecatedUrlToken(ip);
        begin(b, urlToken, urlResume, null);
      } else {
        host.gate().awaitHello(ip);
        b.awaitingHello = true;
        b.helloTimer = host.vertx().setTimer(HELLO_TIMEOUT_MS, x -> noHello(b));
      }
    } catch (ProtocolException e) {
      refuseConnection(b, e, null);
      return;
    }
    ws.textMessageHandler(text -> onText(b, text));
    ws.frameHandler(f -> onFrame(b, f));
    ws.exceptionHandler(e -> {
      String id = b.session == null ? "-" : b.session.id();
      if (e instanceof IllegalStateException && String.valueOf(e.getMessage()).startsWith("Cannot process")) {
        // Vert.x's aggregator refused a message above the hard cap (4 x limits.maxFrameBytes): the rest of
        // that message cannot be read sensibly, so this socket ends.
        LOG.info("line={} message above the hard size cap; closing the socket", id);
        refuse(b.t, ErrorCode.FRAME_TOO_LARGE, "message far larger than " + maxFrame + " bytes", null, null);
        b.t.close((short) 1009, "message too big");
      } else {
        LOG.debug("line={} WebSocket error: {}", id, e.toString());
      }
    });
    ws.closeHandler(x -> {
      endHelloWait(b);
      b.closed = true;
      follow(b);
      if (b.remote != null) {
        b.remote.socketClosed();
      }
      if (b.session != null) {
        b.session.current().detach(b.t);
      }
    });
  }

  /**
   * The socket's session, from its Hello (or its URL): the token is checked, then the session named by
   * {@code resume} is taken back, or a new one starts (leasing an account). Throws the refusal.
   */
  private void begin(Binding b, String token, String resume, ClientFrame hello) {
    if (host.draining()) {
      throw new ProtocolException(ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
    }
    // A token only too old still takes its session back (the resume token is the session's credential), and opens
    // the one session that follows a move of its own (fresh, ClientSession#start); anything else is refused now.
    if (!host.gate().tokenOnlyTooOld(token)) {
      host.gate().checkToken(token);
    }
    ClientSession target = host.byToken(resume);
    if (target != null) {
      b.session = target;
      acknowledge(b, hello, target, true);
      host.attach(target, b.t);
      return;
    }
    if (host.moving()) {
      // A draining node neither opens nor forwards a session: 4002 sends the page to another node, where a
      // foreign token is forwarded to its owner (the page keeps its token while it has a call).
      moved(b, hello);
      return;
    }
    if (host.remotes().foreign(resume)) {
      resumeElsewhere(b, token, resume, hello);
      return;
    }
    fresh(b, token, resume, hello, RemoteSessions.unknownTokenWhy(resume));
  }

  /** A new session for the socket; a resume token that did not work is named in an Error 302 first. */
  private void fresh(Binding b, String token, String resume, ClientFrame hello, String why) {
    if (host.moving()) {
      moved(b, hello);
      return;
    }
    boolean tooOld = host.gate().tokenOnlyTooOld(token);
    if (tooOld && AuthToken.claims(token).jti() == null) {
      host.gate().checkToken(token); // no id that a move could have left usable: refused as expired
    }
    ClientSession s = host.newSession(b.ip);
    if (resume != null) {
      b.t.send(ServerEvent.error(ErrorCode.NOT_FOUND, why + "; new session",
          hello == null ? null : hello.ref(), hello == null ? ClientMethod.Resume.name() : ClientMethod.Hello.name()));
    }
    if (tooOld || host.gate().tokenValid(token)) {
      s.tokenHolder();
      s.claims(AuthToken.claims(token), tooOld);
    }
    b.session = s;
    acknowledge(b, hello, s, false);
    host.start(s, b.t);
  }

  /**
   * The token names another node: that node is asked to give its session to this socket. Until it answers,
   * frames get Error 104; when it refuses (or is gone) the socket gets a fresh session here, as for an unknown token.
   */
  private void resumeElsewhere(Binding b, String token, String resume, ClientFrame hello) {
    b.resuming = true;
    host.remotes().attach(resume, b.ip, b.t).onComplete(ar -> {
      b.resuming = false;
      if (ar.succeeded()) {
        RemoteSession r = ar.result();
        if (b.closed) {
          r.socketClosed();
          return;
        }
        b.remote = r;
        if (hello != null) {
          b.t.send(ack(hello, new JsonObject().put(ServerEventFields.SESSION_ID, r.sessionId())
              .put(ServerEventFields.RESUMED, true)));
        }
        r.deliver();
        return;
      }
      if (b.closed) {
        return;
      }
      LOG.info("WebSocket from {}: {}", b.ip, ar.cause().getMessage());
      try {
        fresh(b, token, resume, hello, ar.cause().getMessage());
      } catch (ProtocolException e) {
        refuseConnection(b, e, hello == null ? null : hello.ref());
      }
    });
  }

  private static void acknowledge(Binding b, ClientFrame hello, ClientSession s, boolean resumed) {
    if (hello != null) {
      b.t.send(ack(hello, new JsonObject().put(ServerEventFields.SESSION_ID, s.id()).put(ServerEventFields.RESUMED, resumed)));
    }
  }

  /** The node drains and this is no resume of one of its sessions: close {@code 4002}, the page connects again. */
  private void moved(Binding b, ClientFrame hello) {
    LOG.info("WebSocket from {} moved: this node drains", b.ip);
    b.refused = true;
    host.metrics().refused(ErrorCode.SHUTTING_DOWN);
    b.t.send(ServerEvent.error(ErrorCode.SHUTTING_DOWN, "this node is draining; connect again",
        hello == null ? null : hello.ref(), hello == null ? null : ClientMethod.Hello.name()));
    b.t.close(SignallingVerticle.MOVED, "moved");
  }

  private void noHello(Binding b) {
    b.helloTimer = -1;
    if (b.session == null && !b.refused) {
      host.metrics().noHello();
      refuseConnection(b, new ProtocolException(ErrorCode.WRONG_STATE,
          "no Hello within " + HELLO_TIMEOUT_MS / 1000 + " s"), null);
    }
  }

  private void endHelloWait(Binding b) {
    if (b.awaitingHello) {
      b.awaitingHello = false;
      host.gate().helloDone(b.ip);
    }
    if (b.helloTimer >= 0) {
      host.vertx().cancelTimer(b.helloTimer);
      b.helloTimer = -1;
    }
  }

  /** Before a session exists: one Error frame (no method: the connection is refused) and close 1008. */
  private void refuseConnection(Binding b, ProtocolException e, Object ref) {
    LOG.info("WebSocket from {} refused: {} {}", b.ip, e.code(), e.getMessage());
    endHelloWait(b);
    b.refused = true;
    host.metrics().refused(e.code());
    b.t.send(ServerEvent.error(e.code(), e.getMessage(), ref, null));
    b.t.close(POLICY, e.code().code() + " " + e.code().name());
  }

  /** A bad frame: before the Hello it refuses the connection, after it only the frame (the socket stays open). */
  private void refuseFrame(Binding b, ProtocolException e, Object ref) {
    if (b.session == null && b.remote == null && !b.resuming) {
      refuseConnection(b, e, ref);
    } else {
      refuse(b.t, e.code(), e.getMessage(), ref, null);
    }
  }

  private void refuse(WebSocketTransport t, ErrorCode code, String message, Object ref, String method) {
    host.metrics().refused(code);
    t.send(ServerEvent.error(code, message, ref, method));
  }

  /**
   * Counts one frame of any type against {@code limits.messagesPerSecond}. Over the limit the frame is dropped,
   * with one rate Error a second; before the Hello a flood is a refusal.
   */
  private boolean admit(Binding b, long now) {
    ClientSession s = b.session;
    if (s == null) {
      if (b.beforeHello.tryAcquire(now)) {
        return true;
      }
      if (b.remote != null) { // the owner counts the frames it gets too; this bounds what this node forwards
        if (b.remote.rateErrorDue(now)) {
          refuse(b.t, ErrorCode.RATE_LIMITED, "more than " + perSecond + " messages per second; frames dropped", null, null);
        }
        return false;
      }
      refuseConnection(b, new ProtocolException(ErrorCode.RATE_LIMITED,
          "more than " + perSecond + " frames a second before Hello"), null);
      return false;
    }
    if (s.admitMessage(now)) {
      return true;
    }
    if (s.rateErrorDue(now)) {
      refuse(b.t, ErrorCode.RATE_LIMITED, "more than " + perSecond + " messages per second; frames dropped", null, null);
    }
    return false;
  }

  /** Every frame but text (counted as a message by {@link #onText}): binary, continuation, ping and pong. */
  private void onFrame(Binding b, WebSocketFrame f) {
    if (b.refused || f.isText() || f.isClose()) {
      return;
    }
    if (f.type() == WebSocketFrameType.PING && b.t.pinged(f.binaryData().length())) {
      return; // Vert.x answered with a pong by itself; a client that never reads them is cut there
    }
    if (!admit(b, host.nowMs()) || !f.isBinary() || !f.isFinal()) {
      return;
    }
    refuseFrame(b, new ProtocolException(ErrorCode.BAD_JSON, b.session == null
        ? "binary frames are not supported; send Hello" : "binary frames are not supported; send JSON text"), null);
  }

  private void onText(Binding b, String text) {
    if (b.refused) {
      return;
    }
    long now = host.nowMs();
    if (!admit(b, now)) {
      return;
    }
    if (tooLarge(text)) {
      refuseFrame(b, new ProtocolException(ErrorCode.FRAME_TOO_LARGE, "frame larger than " + maxFrame + " bytes"), null);
      return;
    }
    ClientFrame f;
    try {
      f = ClientFrame.parse(text);
    } catch (ProtocolException e) {
      refuseFrame(b, e, refOf(text));
      return;
    }
    follow(b);
    if (b.remote != null || b.resuming) {
      toOtherNode(b, f);
      return;
    }
    if (b.session == null) {
      hello(b, f);
      return;
    }
    if (f.method() == ClientMethod.Resume) {
      resume(b, f);
      return;
    }
    ClientSession s = b.session;
    s.handle(f).onComplete(ar -> {
      if (ar.succeeded()) {
        b.t.send(ack(f, ar.result()));
      } else {
        ProtocolException p = VerticleRequests.toProtocol(f.method().name(), ar.cause());
        LOG.info("line={} {} refused: {} {}", s.id(), f.method(), p.code(), p.getMessage());
        refuse(b.t, p.code(), p.getMessage(), f.ref(), f.method().name());
      }
    });
  }

  /**
   * A takeover that moved a call handed the socket to the agent's other session: on this node
   * (ClientSession#handTo), or on another one, which this socket now carries (ClientSession#handToRemote).
   */
  private static void follow(Binding b) {
    if (b.session == null) {
      return;
    }
    b.session = b.session.current();
    if (b.session.forwardedTo() != null) {
      b.remote = b.session.forwardedTo();
      b.session = null;
    }
  }

  /** A frame of a socket that carries (or is about to carry) a session of another node. */
  private void toOtherNode(Binding b, ClientFrame f) {
    if (b.resuming) {
      refuse(b.t, ErrorCode.WRONG_STATE, "the session is being resumed; wait for the Ack of the Hello", f.ref(),
          f.method().name());
    } else if (f.method() == ClientMethod.Resume) {
      refuse(b.t, ErrorCode.WRONG_STATE, "this socket carries a session of another node; to take another session"
          + " back, open a new socket with Hello {resume}", f.ref(), f.method().name());
    } else {
      b.remote.forward(f);
    }
  }

  /** The first frame: it must be Hello. */
  private void hello(Binding b, ClientFrame f) {
    try {
      if (f.method() != ClientMethod.Hello) {
        throw new ProtocolException(ErrorCode.WRONG_STATE, "the first frame must be Hello, not " + f.method());
      }
      endHelloWait(b);
      begin(b, f.string(ClientMethod.Fields.ACCESS_TOKEN_OPT), f.string(ClientMethod.Fields.RESUME_OPT), f);
    } catch (ProtocolException e) {
      refuseConnection(b, e, f.ref());
    }
  }

  /** Resume as a method: this socket leaves its fresh session (which closes) for the one named by the token. */
  private void resume(Binding b, ClientFrame f) {
    ClientSession target = host.byToken(f.string(ClientMethod.Fields.RESUME_TOKEN));
    if (target == null || target == b.session) {
      refuse(b.t, ErrorCode.NOT_FOUND, "resume token unknown or expired", f.ref(), f.method().name());
      return;
    }
    ClientSession fresh = b.session;
    fresh.releaseTransport(b.t);
    fresh.close("replaced by a resumed session", (short) 1000);
    b.session = target;
    host.attach(target, b.t);
    b.t.send(ack(f, new JsonObject().put(ServerEventFields.SESSION_ID, target.id())));
  }

  /** More than {@code limits.maxFrameBytes} bytes in UTF-8 (what the client sent), not in UTF-16 chars. */
  private boolean tooLarge(String text) {
    if (text.length() > maxFrame) {
      return true;
    }
    if ((long) text.length() * 3 <= maxFrame) {
      return false; // no UTF-16 unit takes more than 3 bytes in UTF-8
    }
    return utf8Bytes(text) > maxFrame;
  }

  static long utf8Bytes(String s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }

  private void deprecatedUrlToken(String ip) {
    host.metrics().urlToken();
    long now = host.nowMs();
    if (now - lastDeprecationLogMs >= DEPRECATION_LOG_MS) {
      lastDeprecationLogMs = now;
      LOG.warn("WebSocket from {} passed its token in the URL: deprecated (tokens end up in proxy logs), accepted"
          + " for one release; send it in the Hello frame (logged once a minute)", ip);
    }
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
