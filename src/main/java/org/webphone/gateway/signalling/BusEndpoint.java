package org.webphone.gateway.signalling;

import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * Sessions without a WebSocket (the load test, integrations): {@code signalling.session.open} gives a
 * session whose commands are the WebSocket frames sent to {@code signalling.session.<id>.commands}
 * (reply: the Ack/Pong body; failure: the Error code) and whose events are published as the same frames.
 * Bus clients are trusted: no origin or token check; per-IP limits only when {@code clientIp} is given.
 */
final class BusEndpoint {
  /** Marks a close passed on by the node that got {@code signalling.session.close} to the session's owner. */
  static final String CLOSE_HEADER = "webphone-close";
  /** What a session id looks like ({@code s-<uuid>}); anything else is never made into an address. */
  private static final java.util.regex.Pattern SESSION_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_-]{1,64}");
  private final SignallingVerticle host;
  private io.vertx.core.eventbus.MessageConsumer<JsonObject> opens;

  BusEndpoint(SignallingVerticle host) {
    this.host = host;
  }

  void register() {
    opens = host.vertx().eventBus().<JsonObject>consumer(Addresses.SIGNALLING_OPEN, this::open);
    host.vertx().eventBus().<JsonObject>consumer(Addresses.SIGNALLING_CLOSE, this::close);
  }

  /**
   * The node drains: it stops consuming {@code signalling.session.open}, so the clustered bus sends new bus
   * sessions to the other nodes (a bus resume then also lands elsewhere; the sessions here keep their
   * commands consumers).
   */
  void stopOpening() {
    if (opens != null) {
      opens.unregister();
      opens = null;
    }
  }

  private void open(Message<JsonObject> m) {
    JsonObject body = m.body() == null ? new JsonObject() : m.body();
    try {
      if (host.draining()) {
        throw new ProtocolException(ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
      }
      if (host.moving() && body.getValue(Fields.RESUME_TOKEN) == null) {
        // Sent before the unregistration reached every node: the client opens again and lands elsewhere.
        throw new ProtocolException(ErrorCode.SHUTTING_DOWN, "this node is draining; open again");
      }
      String ip = string(body, Fields.CLIENT_IP);
      String resumeToken = string(body, Fields.RESUME_TOKEN);
      String events = string(body, Fields.EVENTS);
      if (resumeToken != null) {
        ClientSession s = host.byToken(resumeToken);
        if (s == null && host.remotes().foreign(resumeToken)) {
          host.remotes().openElsewhere(m, body); // only the node the token names can check it
          return;
        }
        if (s == null) {
          throw new ProtocolException(ErrorCode.NOT_FOUND, RemoteSessions.unknownTokenWhy(resumeToken));
        }
        BusTransport t = transport(s, events);
        // In a cluster the commands consumer must be known everywhere before the client uses it.
        t.ready().onComplete(x -> {
          host.attach(s, t);
          m.reply(reply(s, t).put(Fields.RESUMED, true));
        });
        return;
      }
      ClientSession s = host.newSession(ip);
      BusTransport t = transport(s, events);
      t.ready().onComplete(x -> {
        // Reply first, so a client that did not name its own events address can subscribe before Ready.
        m.reply(reply(s, t).put(Fields.RESUMED, false));
        host.start(s, t);
      });
    } catch (ProtocolException e) {
      m.fail(e.code().code(), e.getMessage());
    }
  }

  /**
   * {@code signalling.session.close}: the bus picks any node, so a node that does not hold the session passes the
   * close to the one that does, over the session's commands address (consumed only by its owner, wherever the
   * client's transport is), marked {@link #CLOSE_HEADER}. One hop: the owner answers, or nobody holds it (302).
   */
  private void close(Message<JsonObject> m) {
    String id = m.body() == null ? null : m.body().getValue(Fields.SESSION_ID) instanceof String v ? v : null;
    ClientSession s = id == null ? null : host.session(id);
    if (s != null) {
      s.close("closed by request", (short) 1000).onComplete(x -> m.reply(new JsonObject().put(Fields.SESSION_ID, id)));
      return;
    }
    if (id == null || !SESSION_ID.matcher(id).matches()) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no session " + (id == null ? "id given" : "with that id"));
      return;
    }
    host.vertx().eventBus().<JsonObject>request(Addresses.sessionCommands(id), new JsonObject(), new DeliveryOptions()
        .addHeader(CLOSE_HEADER, "1").setSendTimeout(host.cfg().getLong("limits.requestTimeoutMs"))).onComplete(ar -> {
          if (ar.succeeded()) {
            m.reply(ar.result().body());
          } else if (ar.cause() instanceof ReplyException r && r.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
            m.fail(r.failureCode(), r.getMessage());
          } else {
            m.fail(ErrorCode.NOT_FOUND.code(), "no session " + id + " in the cluster");
          }
        });
  }

  BusTransport transport(ClientSession s, String events) {
    BusTransport t = new BusTransport(host.vertx().eventBus(),
        events != null ? events : Addresses.sessionEvents(s.id()));
    t.commands(host.vertx().eventBus().<JsonObject>consumer(Addresses.sessionCommands(s.id()),
        c -> command(s, c)));
    return t;
  }

  private void command(ClientSession s, Message<JsonObject> c) {
    if (c.headers().contains(CLOSE_HEADER)) { // another node's signalling.session.close: not a client frame
      s.close("closed by request", (short) 1000).onComplete(x -> c.reply(new JsonObject().put(Fields.SESSION_ID, s.id())));
      return;
    }
    long now = System.currentTimeMillis();
    if (!s.admitMessage(now)) {
      host.metrics().refused(ErrorCode.RATE_LIMITED);
      c.fail(ErrorCode.RATE_LIMITED.code(), "too many messages per second");
      return;
    }
    ClientFrame f;
    try {
      f = ClientFrame.of(c.body());
    } catch (ProtocolException e) {
      host.metrics().refused(e.code());
      c.fail(e.code().code(), e.getMessage());
      return;
    } catch (ClassCastException e) {
      c.fail(ErrorCode.BAD_JSON.code(), "the command is not a JSON object");
      return;
    }
    s.handle(f).onComplete(ar -> {
      if (ar.succeeded()) {
        c.reply(WebSocketEndpoint.ack(f, ar.result()));
      } else {
        ProtocolException p = VerticleRequests.toProtocol(f.method().name(), ar.cause());
        host.metrics().refused(p.code());
        c.fail(p.code().code(), p.getMessage());
      }
    });
  }

  static JsonObject reply(ClientSession s, BusTransport t) {
    return new JsonObject().put(Fields.SESSION_ID, s.id()).put(Fields.RESUME_TOKEN, s.resumeToken())
        .put(Fields.COMMANDS, Addresses.sessionCommands(s.id())).put(Fields.EVENTS, t.events());
  }

  private static String string(JsonObject body, String field) {
    Object v = body.getValue(field);
    if (v != null && !(v instanceof String)) {
      throw new ProtocolException(ErrorCode.BAD_FIELD, field + " must be a string");
    }
    return v == null || ((String) v).isEmpty() ? null : (String) v;
  }
}
