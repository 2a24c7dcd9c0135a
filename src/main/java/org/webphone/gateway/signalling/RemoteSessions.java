package org.webphone.gateway.signalling;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ClusterFormat;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.NodeIds;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.signalling.protocol.ProtocolException;

/**
 * Resume on any node. A resume token names the node that owns its session ({@code <nodeId>.<random>}); a token
 * of another node that arrives here (a WebSocket's {@code Hello {resume}}, a bus {@code signalling.session.open})
 * is sent to that node, and only the owner checks it. Both sides of it live here:
 * <ul>
 *   <li>owner: {@code signalling.node.<self>.resume} gives a session back over the bus to the asking node
 *       ({@link ForwardedTransport} for a WebSocket held there, {@link BusTransport} for a bus client);
 *       {@code signalling.node.<self>.detach} is that socket closing, and the session waits for a resume;</li>
 *   <li>forwarding node: the {@link RemoteSession} of each socket it holds for another node, ended when the owner
 *       leaves the cluster (Hazelcast membership, handed off to the event loop).</li>
 * </ul>
 * A resume is never refused because the owner drains: its calls in progress stay reachable.
 *
 * <p>Event loop of the signalling verticle. Owns the membership listener (removed by {@link #close}) and the
 * two maps; its consumers go with the verticle's undeploy.
 */
final class RemoteSessions {
  private static final Logger LOG = LoggerFactory.getLogger(RemoteSessions.class);

  private final SignallingVerticle host;
  private final BusEndpoint bus;
  /** Sockets this node holds for sessions of other nodes, by forward id. */
  private final Map<String, RemoteSession> forwards = new HashMap<>();
  /** This node's sessions whose socket another node holds, by that socket's forward address. */
  private final Map<String, ForwardedTransport> forwardedHere = new HashMap<>();
  private HazelcastInstance hazelcast;
  private UUID membershipListener;
  /** This node's Hazelcast member UUID (what membership events name), or null standalone. */
  private String member;

  RemoteSessions(SignallingVerticle host, BusEndpoint bus) {
    this.host = host;
    this.bus = bus;
  }

  void register() {
    host.vertx().eventBus().<JsonObject>consumer(Addresses.SIGNALLING_NODE_RESUME.of(host.nodeId()), this::resumeHere);
    host.vertx().eventBus().<JsonObject>consumer(Addresses.SIGNALLING_NODE_DETACH.of(host.nodeId()), this::detachHere);
    if (((VertxInternal) host.vertx()).clusterManager() instanceof HazelcastClusterManager cm) {
      hazelcast = cm.getHazelcastInstance();
      Context context = host.vertx().getOrCreateContext();
      host.vertx().executeBlocking(() -> {
        member = hazelcast.getCluster().getLocalMember().getUuid().toString();
        // Hazelcast's event thread: only hand the member's id to our context.
        return hazelcast.getCluster().addMembershipListener(new MembershipListener() {
          @Override
          public void memberAdded(MembershipEvent e) {
          }

          @Override
          public void memberRemoved(MembershipEvent e) {
            String gone = e.getMember().getUuid().toString();
            context.runOnContext(x -> memberGone(gone));
          }
        });
      }).onSuccess(id -> membershipListener = id)
          .onFailure(e -> LOG.warn("no membership listener: forwarded sockets of a failed node end only with"
              + " their next frame: {}", e.toString()));
    }
  }

  /**
   * The node a token names, or null for a token of no node (an older form, or garbage): only a valid node id
   * ({@link NodeIds}) is ever used to build the owner's bus address.
   */
  static String ownerOf(String token) {
    int dot = token == null ? -1 : token.lastIndexOf('.');
    String owner = dot <= 0 ? null : token.substring(0, dot);
    return NodeIds.valid(owner) ? owner : null;
  }

  /** Why a token that no session here holds, and that names no other node, is refused (Error 302's text). */
  static String unknownTokenWhy(String token) {
    int dot = token == null ? -1 : token.lastIndexOf('.');
    if (dot > 0 && ownerOf(token) == null) {
      return "resume token names no valid node (" + NodeIds.problem(token.substring(0, dot)) + ")";
    }
    return "resume token unknown or expired";
  }

  /** A token of another node: only that node can say whether it is valid. */
  boolean foreign(String token) {
    String owner = ownerOf(token);
    return owner != null && !owner.equals(host.nodeId());
  }

  /** A fresh resume token of this node: same entropy as ever (24 random bytes), its owner in front. */
  static String newToken(String nodeId) {
    byte[] b = new byte[24];
    Randoms.nextBytes(b);
    return nodeId + "." + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  int size() {
    return forwards.size();
  }

  // ------------------------------------------------------------------ forwarding node

  /**
   * Attaches {@code socket} to the session of the node {@code token} names. Fails with 302 and a sentence
   * saying why (owner gone or unknown, token refused, no answer): the caller starts a fresh session.
   */
  Future<RemoteSession> attach(String token, String clientIp, WebSocketTransport socket) {
    String owner = ownerOf(token);
    return forward(owner, Addresses.SIGNALLING_NODE_RESUME.of(owner), new JsonObject().put(Fields.RESUME_TOKEN, token),
        clientIp, socket).recover(e -> Future.failedFuture(refusal(owner, e)));
  }

  /**
   * A new session of {@code agent} (its token's id {@code jti}) takes over the agent's session that holds the named
   * line with a call in progress on another node, as a resume: {@code socket} carries it from now on (docs/protocol.md,
   * "Agents"). Null when no session of the agent has a call anywhere (nobody listens, or it has no call): the new
   * session leases the line as usual.
   */
  Future<RemoteSession> takeOver(String agent, String jti, String clientIp, WebSocketTransport socket) {
    JsonObject ask = new JsonObject().put(Fields.AGENT, agent).put(Fields.JTI, jti);
    return forward(null, Addresses.SIGNALLING_AGENT_TAKEOVER.of(agent), ask, clientIp, socket).recover(e -> {
      if (!(e instanceof ReplyException r && (r.failureType() == ReplyFailure.NO_HANDLERS
          || r.failureType() == ReplyFailure.RECIPIENT_FAILURE && r.failureCode() == ErrorCode.NOT_FOUND.code()))) {
        LOG.warn("agent {}: asking for a session with a call elsewhere failed ({}); leasing the line", agent, e.toString());
      }
      return Future.succeededFuture();
    });
  }

  private Future<RemoteSession> forward(String owner, String address, JsonObject ask, String clientIp,
      WebSocketTransport socket) {
    RemoteSession r = new RemoteSession(host, this, socket, Randoms.uuid().toString().replace("-", ""), owner);
    forwards.put(r.forwardId(), r);
    return r.attach(address, ask, clientIp).map(r);
  }

  /** A bus client's open with a token of another node: the owner answers it (its commands are cluster-wide). */
  void openElsewhere(Message<JsonObject> m, JsonObject body) {
    String token = body.getString(Fields.RESUME_TOKEN);
    String owner = ownerOf(token);
    JsonObject ask = ClusterFormat.stamp(body.copy().put(Fields.FORWARDED, false));
    host.vertx().eventBus().<JsonObject>request(Addresses.SIGNALLING_NODE_RESUME.of(owner), ask,
        new DeliveryOptions().setSendTimeout(host.cfg().getLong("limits.requestTimeoutMs"))).onComplete(ar -> {
          if (ar.succeeded()) {
            m.reply(ar.result().body());
          } else {
            ProtocolException p = refusal(owner, ar.cause());
            m.fail(p.code().code(), p.getMessage());
          }
        });
  }

  private static ProtocolException refusal(String owner, Throwable e) {
    String why;
    if (e instanceof ReplyException r && r.failureType() == ReplyFailure.NO_HANDLERS) {
      why = "its node " + owner + " is not in the cluster (stopped, failed or unknown)";
    } else if (e instanceof ReplyException r && r.failureType() == ReplyFailure.TIMEOUT) {
      why = "its node " + owner + " did not answer in time";
    } else if (e instanceof ReplyException r && r.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
      why = "its node " + owner + " refused it: " + e.getMessage();
    } else {
      why = "its node " + owner + " could not be reached: " + e.getMessage();
    }
    return new ProtocolException(ErrorCode.NOT_FOUND, "resume token not usable: " + why);
  }

  void forget(RemoteSession r) {
    forwards.remove(r.forwardId());
  }

  private void memberGone(String member) {
    for (RemoteSession r : new ArrayList<>(forwards.values())) {
      if (member.equals(r.memberId())) {
        r.ownerGone("its node " + r.owner() + " left the cluster");
      }
    }
  }

  // ------------------------------------------------------------------ owner

  private void resumeHere(Message<JsonObject> m) {
    JsonObject body = m.body() == null ? new JsonObject() : m.body();
    if (refusedFormat(m, body, "resume request")) {
      return;
    }
    String token = body.getValue(Fields.RESUME_TOKEN) instanceof String s ? s : null;
    ClientSession session = host.byToken(token);
    if (session == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "unknown, expired or already used on node " + host.nodeId());
      return;
    }
    giveAway(m, body, session, () -> host.byToken(token) == session, carrier -> host.attach(session, carrier));
  }

  /**
   * {@code signalling.agent.<agent>.takeover} at {@code session}, the agent's session holding the named line: with a
   * call in progress it goes to the asking socket like a resume (its page closes with 4003), and from now on counts
   * the new page's token id (a move frees that one); without a call, 302 (the asking session leases the line).
   */
  void takeOverHere(Message<JsonObject> m, ClientSession session) {
    JsonObject body = m.body() == null ? new JsonObject() : m.body();
    if (refusedFormat(m, body, "takeover request")) {
      return;
    }
    String jti = body.getValue(Fields.JTI) instanceof String s ? s : null;
    String agent = body.getValue(Fields.AGENT) instanceof String s ? s : null;
    if (!session.hasCall() || session.phase() == ClientSession.Phase.CLOSING || agent == null
        || !agent.equals(session.agent()) || jti == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no call in progress for that agent on node " + host.nodeId());
      return;
    }
    giveAway(m, body, session, () -> session.hasCall() && session.phase() != ClientSession.Phase.CLOSING, carrier -> {
      session.countsTokenId(jti);
      host.takeOverCall(session, carrier);
    });
  }

  /**
   * Gives {@code session} to the client that asked with {@code m} ({@code events}: its address; {@code forwarded}: a
   * WebSocket of another node), once its carrier is ready and {@code stillValid} (not closed or taken meanwhile).
   */
  private void giveAway(Message<JsonObject> m, JsonObject body, ClientSession session,
      BooleanSupplier stillValid, Consumer<Transport> attach) {
    String events = body.getValue(Fields.EVENTS) instanceof String s ? s : null;
    boolean forwarded = body.getBoolean(Fields.FORWARDED, false);
    if (forwarded && events == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "a forwarded socket needs its events address");
      return;
    }
    BusTransport inner = bus.transport(session, events);
    Transport t = inner;
    if (forwarded) {
      ForwardedTransport f = new ForwardedTransport(host.vertx().eventBus(), inner, () -> forwardedHere.remove(events));
      forwardedHere.put(events, f);
      t = f;
    }
    Transport carrier = t;
    inner.ready().onComplete(x -> {
      if (!stillValid.getAsBoolean()) { // closed, or taken back by another client, meanwhile
        carrier.close((short) 1000, "resume token used meanwhile");
        m.fail(ErrorCode.NOT_FOUND.code(), "already used on node " + host.nodeId());
        return;
      }
      attach.accept(carrier);
      m.reply(ClusterFormat.stamp(BusEndpoint.reply(session, inner).put(Fields.RESUMED, true)
          .put(Fields.NODE_ID, host.nodeId()).put(Fields.MEMBER_ID, member)));
    });
  }

  private void detachHere(Message<JsonObject> m) {
    JsonObject body = m.body() == null ? new JsonObject() : m.body();
    if (refusedFormat(m, body, "detach request")) {
      return;
    }
    ForwardedTransport f = forwardedHere.get(body.getString(Fields.EVENTS, ""));
    ClientSession s = host.session(body.getString(Fields.SESSION_ID, ""));
    if (f == null || s == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no session of node " + host.nodeId() + " on that socket");
      return;
    }
    s.detach(f);
    f.release();
    m.reply(ClusterFormat.stamp(new JsonObject().put(Fields.DETACHED, true)));
  }

  /** A request of a node of a newer major format (docs/pool.md, "Mixed versions"): refused, logged, counted. */
  static boolean refusedFormat(Message<JsonObject> m, JsonObject body, String what) {
    String why = ClusterFormat.unreadable(body, what);
    if (why == null) {
      return false;
    }
    ClusterFormat.refused(ClusterFormat.Channel.BUS, why);
    m.fail(ErrorCode.BAD_FIELD.code(), why);
    return true;
  }

  /** This node stops: the sockets it holds for other nodes close (their sessions wait for a resume elsewhere). */
  void close() {
    for (RemoteSession r : new ArrayList<>(forwards.values())) {
      r.nodeStopping();
    }
    UUID listener = membershipListener;
    membershipListener = null;
    if (hazelcast != null && listener != null) {
      host.vertx().executeBlocking(() -> hazelcast.getCluster().removeMembershipListener(listener))
          .onFailure(e -> LOG.debug("membership listener not removed (Hazelcast already down): {}", e.toString()));
    }
  }
}
