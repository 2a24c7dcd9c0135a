package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ClusterFormat;
import org.webphone.gateway.common.NodeIds;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;

/**
 * On a node that is not the owner: one browser WebSocket carrying a session of another node (resume on any
 * node). The owner publishes the session's server frames to this socket's {@code signalling.forward.<id>}, which
 * writes them to the socket; the browser's frames go to the session's {@code signalling.session.<id>.commands},
 * exactly as a bus client's, and their Ack or Error comes back to the socket. The line, the call and the media
 * stay on the owner (the SDP the browser gets is the owner's, with the owner's media address).
 *
 * <p>Event loop of the signalling verticle. Owns its events consumer and its entry in {@link RemoteSessions};
 * every ending (the socket closed, the owner closed the carrier, the owner left the cluster or stopped answering,
 * this node stops) goes through {@link #end}, which frees both, once. No timer.
 */
final class RemoteSession {
  private static final Logger LOG = LoggerFactory.getLogger(RemoteSession.class);
  /** Close code when the owner is gone: like a lost line, the page reconnects and gets a fresh session. */
  static final short OWNER_GONE = 1012;

  private final SignallingVerticle host;
  private final RemoteSessions registry;
  private final WebSocketTransport socket;
  private final String forwardId;
  /** The owner's node id; for a takeover, learnt from its reply. */
  private String owner;
  private final DeliveryOptions options;
  private MessageConsumer<JsonObject> events;
  /** Server frames that came before the Hello's Ack went out; null once {@link #deliver} ran. */
  private List<JsonObject> early = new ArrayList<>();
  private String sessionId;
  private String commands;
  private String memberId;
  private boolean ended;
  private long lastRateErrorMs;

  RemoteSession(SignallingVerticle host, RemoteSessions registry, WebSocketTransport socket, String forwardId,
      String owner) {
    this.host = host;
    this.registry = registry;
    this.socket = socket;
    this.forwardId = forwardId;
    this.owner = owner;
    this.options = new DeliveryOptions().setSendTimeout(host.cfg().getLong("limits.requestTimeoutMs"));
  }

  String forwardId() {
    return forwardId;
  }

  String owner() {
    return owner;
  }

  String memberId() {
    return memberId;
  }

  String sessionId() {
    return sessionId;
  }

  /**
   * Listens on this socket's forward address (cluster-wide before the owner is asked), then asks {@code address}
   * (the owner's resume, or an agent's takeover) to give its session to this socket with {@code ask} (the resume
   * token, or the agent); fails with the raw bus failure (the caller words it).
   */
  Future<Void> attach(String address, JsonObject ask, String clientIp) {
    events = host.vertx().eventBus().consumer(Addresses.SIGNALLING_FORWARD.of(forwardId), this::fromOwner);
    JsonObject body = ClusterFormat.stamp(ask.copy().put(Fields.CLIENT_IP, clientIp)
        .put(Fields.EVENTS, Addresses.SIGNALLING_FORWARD.of(forwardId)).put(Fields.FORWARDED, true));
    return events.completion()
        .compose(x -> host.vertx().eventBus().<JsonObject>request(address, body, options))
        .<Void>map(m -> {
          String why = ClusterFormat.unreadable(m.body(), "resume reply of node " + owner);
          if (why != null) {
            ClusterFormat.refused(ClusterFormat.Channel.BUS, why);
            throw new IllegalStateException(why);
          }
          sessionId = m.body().getString(Fields.SESSION_ID);
          commands = m.body().getString(Fields.COMMANDS);
          memberId = m.body().getString(Fields.MEMBER_ID);
          if (owner == null) { // a takeover: the agent's session says where it lives
            owner = m.body().getString(Fields.NODE_ID);
            if (!NodeIds.valid(owner)) {
              throw new IllegalStateException("the agent's session names no valid node (" + NodeIds.problem(owner) + ")");
            }
          }
          LOG.info("line={} resumed here over {}, forwarded to its node {}", sessionId, socket.describe(), owner);
          return null;
        }).onFailure(e -> end());
  }

  /** The Hello's Ack went out: the frames that came before it follow, later ones go straight to the socket. */
  void deliver() {
    List<JsonObject> held = early;
    early = null;
    if (held != null) {
      held.forEach(socket::send);
    }
  }

  private void fromOwner(Message<JsonObject> m) {
    JsonObject body = m.body();
    if (ended || body == null) {
      return;
    }
    if (body.containsKey(Fields.CLOSE_CODE)) {
      short code = body.getInteger(Fields.CLOSE_CODE, 1000).shortValue();
      String reason = body.getString(Fields.REASON, "");
      LOG.info("line={} its node {} let go of this socket: {} {}", sessionId, owner, code, reason);
      end();
      socket.close(code, reason);
    } else if (early != null) {
      early.add(body);
    } else {
      socket.send(body);
    }
  }

  /** A browser frame (after the Hello): to the owner's session; its Ack, or its Error, back to the socket. */
  void forward(ClientFrame f) {
    host.vertx().eventBus().<JsonObject>request(commands, f.body(), options).onComplete(ar -> {
      if (ended) {
        return;
      }
      if (ar.succeeded()) {
        socket.send(ar.result().body());
      } else if (ar.cause() instanceof ReplyException r && r.failureType() == ReplyFailure.NO_HANDLERS) {
        ownerGone("its node " + owner + " no longer has the session");
      } else {
        ProtocolException p = VerticleRequests.toProtocol(f.method().name(), ar.cause());
        socket.send(ServerEvent.error(p.code(), p.getMessage(), f.ref(), f.method().name()));
      }
    });
  }

  boolean rateErrorDue(long nowMs) {
    if (nowMs - lastRateErrorMs < 1000) {
      return false;
    }
    lastRateErrorMs = nowMs;
    return true;
  }

  /** The browser's socket closed: the owner's session waits for a resume, as for a socket of its own. */
  void socketClosed() {
    if (ended) {
      return;
    }
    end();
    if (sessionId != null) {
      host.vertx().eventBus().<JsonObject>request(Addresses.SIGNALLING_NODE_DETACH.of(owner), ClusterFormat.stamp(
          new JsonObject().put(Fields.SESSION_ID, sessionId).put(Fields.EVENTS, Addresses.SIGNALLING_FORWARD.of(forwardId))),
          options)
          .onFailure(e -> LOG.info("line={} its node {} did not take the detach: {}", sessionId, owner, e.getMessage()));
    }
  }

  /** The owner left the cluster (or lost the session): the page reconnects and, its token refused, starts afresh. */
  void ownerGone(String why) {
    if (ended) {
      return;
    }
    LOG.warn("line={} forwarded socket closed: {}", sessionId, why);
    end();
    socket.close(OWNER_GONE, why);
  }

  /** This node stops: the owner's session waits for a resume elsewhere, the socket closes (the page reconnects). */
  void nodeStopping() {
    socketClosed();
    socket.close((short) 1001, "this node is shutting down");
  }

  private void end() {
    if (ended) {
      return;
    }
    ended = true;
    early = null;
    if (events != null) {
      events.unregister();
    }
    registry.forget(this);
  }
}
