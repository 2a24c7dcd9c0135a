package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * One browser session, over a WebSocket or the event bus (the same frames). Life cycle, as the Ozeki webphone server's:
 * lease an account ({@code pool.account.lease}; none → "Connection limit" and close) → open the SIP line
 * → registration events → Ready; calls ({@link CallControl}); on close: end the call, close the line,
 * release the lease. A session whose WebSocket drops waits {@code session.resumeGraceSec} for a client
 * with its resume token, keeping its line and its call.
 *
 * <p>Owns: its lease, its line, its call, its event consumer and its timers; {@link #close} frees them all,
 * whatever state the session is in (lease or line open still pending included). Event loop only.
 */
final class ClientSession implements CallControl.Owner {
  private static final Logger LOG = LoggerFactory.getLogger(ClientSession.class);

  enum Phase { LEASING, REGISTERING, READY, CLOSING }

  private final SignallingVerticle host;
  private final String id;
  private final String clientIp;
  private final CallControl calls;
  private final AudioPathControl audio;
  private final RateWindow messages;
  private final RateWindow callAttempts;
  private String resumeToken;
  private Transport transport;
  private Phase phase = Phase.LEASING;
  private String registration = ServerEvent.REG_REGISTERING;
  private JsonObject lease;
  private boolean waiting;
  private Future<JsonObject> leasing;
  private Future<JsonObject> lineOpening;
  private MessageConsumer<JsonObject> events;
  private long graceTimer = -1;
  /** Repeats fresh TURN credentials ({@code OnIceServers}) every half lifetime; cancelled by {@link #close}. */
  private long iceServersTimer = -1;
  private long lastSeenMs = System.currentTimeMillis();
  private long lastRateErrorMs;
  private Promise<Void> closed;
  /** Holds a valid access token: not bound by its address's share of the pool. */
  private boolean tokenHolder;
  /** Took one of its address's places at the pool ({@link Gate#takeShare}); given back by {@link #close}. */
  private boolean shareTaken;
  /**
   * Close the line (un-REGISTER) before the socket: a moving session's page connects again elsewhere only
   * once the PBX no longer routes calls of its account here.
   */
  private boolean lineFirst;

  /** The agent whose named line this session leases (its token's sub, with pool.agents set), or null: anonymous. */
  private String agent;
  /** The token's id: used once cluster-wide ({@link TokenIds}) before anything is leased. */
  private String jti;
  /** An agent's availability; null for anonymous sessions. Closed by {@link #close}. */
  private Availability availability;
  /** availability.whenNotAvailable=unregister: the line is closed (un-REGISTERed) while the lease stays ours. */
  private boolean parked;
  /** The line was closed by {@link #parkLine}: its Unregistered event is ours, not a lost line. */
  private boolean lineParked;
  private Future<?> parking = Future.succeededFuture();
  /** The agent's session this one handed its carrier to ({@link #handTo}: a takeover that moves a call), or null. */
  private ClientSession successor;
  /** The agent's session on another node that this one's socket now carries ({@link #handToRemote}), or null. */
  private RemoteSession forwardedTo;
  /** The token is past its age: it may only follow a move of its own session ({@link TokenIds#useMovedOnly}). */
  private boolean tokenTooOld;
  /** While this agent's session holds the named line: another node's session of the agent may take it over. */
  private MessageConsumer<JsonObject> takeovers;

  ClientSession(SignallingVerticle host, String clientIp) {
    this.host = host;
    this.id = "s-" + Randoms.uuid();
    this.clientIp = clientIp;
    this.resumeToken = RemoteSessions.newToken(host.nodeId());
    this.calls = new CallControl(this);
    this.audio = new AudioPathControl(this, host.cfg().getInt("session.autoAnswerDelayMs"));
    this.messages = new RateWindow(host.cfg().getInt("limits.messagesPerSecond"), 1000);
    this.callAttempts = new RateWindow(host.cfg().getInt("limits.callsPerMinutePerSession"), 60_000);
  }

  String id() {
    return id;
  }

  String clientIp() {
    return clientIp;
  }

  String resumeToken() {
    return resumeToken;
  }

  boolean hasCall() {
    return calls.current() != null;
  }

  boolean isDetached() {
    return transport == null && phase != Phase.CLOSING;
  }

  long lastSeenMs() {
    return lastSeenMs;
  }

  Phase phase() {
    return phase;
  }

  String agent() {
    return agent;
  }

  /** The session that now drives this one's carrier: this one, or the one it was handed to ({@link #handTo}). */
  ClientSession current() {
    return successor == null ? this : successor.current();
  }

  /** The session of another node this one's socket was handed to ({@link #handToRemote}), or null. */
  RemoteSession forwardedTo() {
    return forwardedTo;
  }

  /** This session now belongs to the page whose token has id {@code jti}: a move of it frees that id. */
  void countsTokenId(String tokenId) {
    jti = tokenId;
  }

  /** Leases an account and opens the line; progress goes to the client over {@code t} as events. */
  void start(Transport t) {
    transport = t;
    events = host.vertx().eventBus().localConsumer(Addresses.session(id), this::onMessage);
    send(sessionEvent(false));
    TurnCredentials turn = host.turnCredentials();
    if (turn.expires()) {
      iceServersTimer = host.vertx().setPeriodic(turn.refreshEveryMs(),
          x -> send(ServerEvent.of(ServerEvent.ICE_SERVERS).put(ServerEventFields.ICE_SERVERS, turn.iceServers(id))));
    }
    LOG.info("line={} session opened from {} over {}", id, clientIp == null ? "the bus" : clientIp, t.describe());
    if (clientIp != null && !tokenHolder) {
      if (!host.gate().takeShare(clientIp)) {
        connectionLimit("address " + clientIp + " holds its share of the pool (" + host.gate().accountsPerIp() + ")");
        return;
      }
      shareTaken = true;
    }
    if (availability != null) {
      send(availability.event());
    }
    if (jti == null) {
      lease();
      return;
    }
    Future<Boolean> used = tokenTooOld ? host.tokenIds().useMovedOnly(jti) : host.tokenIds().useOnce(jti, id);
    used.onComplete(ar -> {
      if (phase == Phase.CLOSING) {
        return;
      }
      if (ar.succeeded() && ar.result()) {
        ClientSession held = host.agentInCall(agent, this);
        if (held != null) {
          handTo(held);
          return;
        }
        takeOverElsewhereOrLease();
        return;
      }
      String why = tokenTooOld ? "expired" : "already used (a new session needs a fresh token)";
      LOG.warn("line={} token id refused: {}", id, ar.failed() ? ar.cause().toString() : why);
      ErrorCode code = ar.failed() ? ErrorCode.INTERNAL : ErrorCode.TOKEN_REFUSED;
      host.metrics().refused(code);
      send(ServerEvent.error(code, ar.failed() ? "the token's id could not be checked"
          : "access token refused: " + why, null, null));
      close("access token " + (tokenTooOld ? "expired" : "already used"), ar.failed() ? (short) 1011 : (short) 1008);
    });
  }

  /**
   * An agent's new WebSocket session: when the agent's session on another node has a call in progress, this socket
   * takes that session over like a resume ({@link #handToRemote}); else the line is leased (a takeover without a
   * call, if another session holds it).
   */
  private void takeOverElsewhereOrLease() {
    if (agent == null || !(transport instanceof WebSocketTransport ws)) {
      lease();
      return;
    }
    host.remotes().takeOver(agent, jti, clientIp, ws).onComplete(ar -> {
      RemoteSession r = ar.succeeded() ? ar.result() : null;
      if (r == null) {
        if (phase != Phase.CLOSING) {
          lease();
        }
      } else if (phase == Phase.CLOSING || transport != ws) {
        r.socketClosed(); // the socket went (or this session closed) meanwhile: the owner's session waits for a resume
      } else {
        handToRemote(r);
      }
    });
  }

  private void lease() {
    // wait:true only matters when the pool runs a waiting line (pool.waitingLine); else it refuses at once.
    JsonObject ask = new JsonObject().put(Fields.SESSION_ID, id).put(Fields.NODE_ID, host.nodeId()).put(Fields.WAIT, true);
    leasing = host.replies().request(Addresses.POOL_LEASE, agent == null ? ask : ask.put(Fields.AGENT, agent));
    leasing.onComplete(ar -> {
      if (phase == Phase.CLOSING) {
        if (ar.succeeded() && !ar.result().getBoolean(Fields.QUEUED, false)) {
          lease = ar.result(); // close() is waiting for this reply and releases it
        }
        return;
      }
      if (ar.failed()) {
        ProtocolException p = VerticleRequests.toProtocol(Addresses.POOL_LEASE, ar.cause());
        if (p.code() == ErrorCode.NO_ACCOUNT) {
          connectionLimit("no free account");
        } else if (p.code() == ErrorCode.UNKNOWN_AGENT) {
          LOG.info("line={} refused: {}", id, p.getMessage());
          host.metrics().refused(p.code());
          send(ServerEvent.error(p.code(), p.getMessage(), null, null));
          close("no line for this agent", (short) 1008);
        } else {
          LOG.warn("line={} lease failed: {}", id, p.getMessage());
          send(ServerEvent.error(p.code(), "no account: " + p.getMessage(), null, null));
          close("lease failed", (short) 1011);
        }
        return;
      }
      if (ar.result().getBoolean(Fields.QUEUED, false)) {
        waiting = true;
        onQueue(ar.result().getInteger(Fields.POSITION, 0));
        return;
      }
      leased(ar.result());
    });
  }

  /** The Ozeki webphone's "Connection limit": no account for this session now; the socket closes with 1013 (try later). */
  private void connectionLimit(String why) {
    LOG.info("line={} {}: Connection limit", id, why);
    host.metrics().refused(ErrorCode.NO_ACCOUNT);
    send(ServerEvent.registration(ServerEvent.REG_CONNECTION_LIMIT, ErrorCode.NO_ACCOUNT.code(),
        ErrorCode.NO_ACCOUNT.text()));
    close("Connection limit", (short) 1013);
  }

  /** The client proved a valid access token: its address's share of the pool does not apply. */
  void tokenHolder() {
    tokenHolder = true;
  }

  /**
   * The valid token's claims: with pool.agents set its sub names the agent's line; its jti counts once.
   * {@code tooOld}: the token is past its age, and opens this session only if it follows a move of its own.
   */
  void claims(AuthToken.Claims c, boolean tooOld) {
    jti = c.jti();
    tokenTooOld = tooOld;
    if (host.agentsConfigured() && c.sub() != null) {
      agent = c.sub();
      availability = new Availability(host.vertx(), host.cfg(), host.agentBoard(), host.nodeId(),
          new Availability.Agent() {
            @Override
            public String sessionId() {
              return id;
            }

            @Override
            public String agent() {
              return agent;
            }

            @Override
            public void send(JsonObject frame) {
              ClientSession.this.send(frame);
            }

            @Override
            public void applyToLine(boolean available) {
              applyAvailability();
            }
          });
    }
  }

  private void onQueue(int position) {
    LOG.info("line={} waits for an account at position {}", id, position);
    registration = ServerEvent.REG_WAITING;
    send(ServerEvent.registration(ServerEvent.REG_WAITING, ErrorCode.NO_ACCOUNT.code(), "Connection limit")
        .put(ServerEventFields.POSITION, position));
  }

  private void leased(JsonObject granted) {
    lease = granted;
    if (agent != null && takeovers == null) {
      takeovers = host.vertx().eventBus().consumer(Addresses.SIGNALLING_AGENT_TAKEOVER.of(agent),
          m -> host.remotes().takeOverHere(m, this));
    }
    waiting = false;
    phase = Phase.REGISTERING;
    registration = ServerEvent.REG_REGISTERING;
    send(ServerEvent.registration(ServerEvent.REG_REGISTERING, null, null));
    JsonObject open = new JsonObject().put(Fields.LINE_ID, id).put(Fields.SESSION_ID, id)
        .put(Fields.ACCOUNT_ID, lease.getString(Fields.ACCOUNT_ID)).put(Fields.TOKEN, lease.getValue(Fields.TOKEN))
        .put(Fields.ACCOUNT, lease.getJsonObject(Fields.ACCOUNT));
    lineOpening = host.replies().request(Addresses.SIP_LINE_OPEN, open);
    lineOpening.onFailure(e -> {
      if (phase != Phase.CLOSING) {
        ProtocolException p = VerticleRequests.toProtocol(Addresses.SIP_LINE_OPEN, e);
        LOG.warn("line={} open failed: {}", id, p.getMessage());
        send(ServerEvent.registration(ServerEvent.REG_FAILED, p.code().code(), p.getMessage()));
        close("line failed", (short) 1011);
      }
    });
  }

  // ------------------------------------------------------------------ frames from the client

  /**
   * Handles one client frame; the future carries the acknowledgement body, or fails with a
   * {@link ProtocolException}. Bad frames never change the session or its call.
   */
  Future<JsonObject> handle(ClientFrame f) {
    lastSeenMs = System.currentTimeMillis();
    try {
      return switch (f.method()) {
        case Call -> host.moving() ? movedInstead() : calls.call(f);
        case HangUp -> calls.hangUp(f);
        case Accept -> calls.accept(f);
        case Reject -> calls.reject(f);
        case SendDTMF -> calls.dtmf(f);
        case Hold -> calls.hold(f, true);
        case Unhold -> calls.hold(f, false);
        case Transfer -> calls.transfer(f);
        case Consult -> calls.consult(f);
        case CompleteTransfer -> calls.completeTransfer(f);
        case CancelTransfer -> calls.cancelTransfer(f);
        case Swap -> calls.swap(f);
        case Offer -> calls.offer(f);
        case Candidate -> calls.candidate(f);
        case AudioPath -> audio.open(f);
        // Over a WebSocket the verticle handles Resume before this; a bus client opens with resumeToken.
        case Resume -> Future.failedFuture(new ProtocolException(ErrorCode.WRONG_STATE,
            "resume a bus session with signalling.session.open {resumeToken}"));
        case Ping -> Future.succeededFuture(new JsonObject().put(ServerEventFields.REGISTERED, phase == Phase.READY)
            .put(ServerEventFields.CALL_ID, hasCall() ? calls.current().id : null));
        case Hello -> Future.failedFuture(new ProtocolException(ErrorCode.WRONG_STATE,
            "Hello is the first frame of a WebSocket only"));
        case SetAvailability -> setAvailability(f);
      };
    } catch (ProtocolException e) {
      return Future.failedFuture(e);
    }
  }

  /**
   * Counts a frame against {@code limits.messagesPerSecond}. Returns false when over the limit; the
   * caller then drops it, and an error is due at most once a second so a flood is not echoed.
   */
  boolean admitMessage(long nowMs) {
    lastSeenMs = nowMs;
    return messages.tryAcquire(nowMs);
  }

  boolean rateErrorDue(long nowMs) {
    if (nowMs - lastRateErrorMs < 1000) {
      return false;
    }
    lastRateErrorMs = nowMs;
    return true;
  }

  // ------------------------------------------------------------------ events from sip and media

  private void onMessage(Message<JsonObject> m) {
    JsonObject ev = m.body();
    SessionEvent kind = SessionEvent.of(ev);
    if (kind == SessionEvent.TAKEN_OVER) {
      takenOver(m, ev);
      return;
    }
    if (kind == SessionEvent.LEASE) {
      // The waiting line's grant is a request: accepting makes the account ours, refusing gives it back.
      boolean take = waiting && phase == Phase.LEASING && lease == null;
      m.reply(new JsonObject().put(Fields.ACCEPTED, take));
      if (take) {
        LOG.info("line={} got account {} from the waiting line", id, ev.getString(Fields.ACCOUNT_ID));
        leased(ev);
      }
      return;
    }
    if (kind == null || phase == Phase.CLOSING) {
      return;
    }
    switch (kind) {
      case QUEUE -> {
        if (waiting) {
          onQueue(ev.getInteger(Fields.POSITION, 0));
        }
      }
      case REGISTRATION -> onRegistration(ev);
      case REVOKED -> onRevoked(ev);
      case INCOMING -> {
        if (availability != null && !availability.available()) {
          // Crossed the change of availability on its way: refused as the SIP side refuses the next ones.
          host.replies().request(Addresses.SIP_CALL_REJECT, new JsonObject().put(Fields.LINE_ID, id)
              .put(Fields.CALL_ID, ev.getString(Fields.CALL_ID)).put(Fields.CODE,
                  host.cfg().getInt("availability.rejectCode")));
        } else {
          calls.onIncoming(ev);
        }
      }
      case CALL_STATE -> {
        calls.onCallState(ev);
        if (host.moving()) {
          moveIfIdle(); // the node drains and this session's call just ended: it moves now
        }
      }
      case MEDIA -> {
        if (ev.getValue(Fields.AUDIO_PATH) != null) {
          audio.onEvent(ev);
        } else {
          calls.onMedia(ev);
        }
      }
      case DTMF -> calls.onDtmf(ev);
      case TRANSFER -> calls.onTransfer(ev);
    }
  }

  /**
   * The pool took this session's account away (this node was silent past the lease TTL or dropped from the
   * cluster): the account may be someone else's already, so the session ends as for a lost line; its SIP line
   * closes (its un-REGISTER removes only this node's Contact) and the page reconnects into a fresh lease.
   */
  private void onRevoked(JsonObject ev) {
    if (!holds(ev)) {
      return; // an older lease of this session, already given back
    }
    LOG.warn("line={} lost account {}: the pool revoked lease {}", id, ev.getString(Fields.ACCOUNT_ID),
        ev.getLong(Fields.TOKEN));
    String why = "the account was taken away by the pool";
    endWithoutLine(null, why, why);
  }

  /** Whether the pool's event names this session's current lease (account and token; tokens compared as numbers). */
  private boolean holds(JsonObject ev) {
    JsonObject held = lease;
    Long token = held == null ? null : held.getLong(Fields.TOKEN);
    return token != null && held.getString(Fields.ACCOUNT_ID, "").equals(ev.getString(Fields.ACCOUNT_ID))
        && token.equals(ev.getLong(Fields.TOKEN));
  }

  /** The session lost its line (or the account behind it): the browser hears Unregistered, then the end. */
  private void endWithoutLine(Integer code, String reason, String closeReason) {
    registration = ServerEvent.REG_UNREGISTERED;
    send(ServerEvent.registration(ServerEvent.REG_UNREGISTERED, code, reason));
    send(ServerEvent.ready(false));
    close(closeReason, (short) 1011);
  }

  private void onRegistration(JsonObject ev) {
    String state = ev.getString(Fields.STATE, "");
    Integer code = ev.getInteger(Fields.CODE);
    String reason = ev.getString(Fields.REASON);
    switch (state) {
      case SessionEvent.REG_REGISTERED -> {
        boolean wasReady = phase == Phase.READY;
        phase = Phase.READY;
        registration = ServerEvent.REG_REGISTERED;
        if (!wasReady) {
          LOG.info("line={} registered", id);
          send(ServerEvent.registration(ServerEvent.REG_REGISTERED, code, reason));
          send(ServerEvent.ready(true));
          if (availability != null && !availability.available()) {
            applyAvailability(); // chosen while the line was still registering
          }
        }
      }
      case SessionEvent.REG_FAILED -> {
        LOG.warn("line={} registration failed: {} {}", id, code, reason);
        phase = phase == Phase.LEASING ? phase : Phase.REGISTERING;
        registration = ServerEvent.REG_FAILED;
        send(ServerEvent.registration(ServerEvent.REG_FAILED, code, reason));
        send(ServerEvent.ready(false));
      }
      case SessionEvent.REG_UNREGISTERED -> {
        if (lineParked) {
          return; // our own un-REGISTER: the agent is not available (availability.whenNotAvailable=unregister)
        }
        // We did not close the line (closing sessions ignore events): it was fenced or lost. A session
        // without a line is useless; it ends, and the page reconnects into a fresh one.
        LOG.warn("line={} unregistered by the SIP side: {}", id, reason);
        endWithoutLine(code, reason, "the line was lost");
      }
      default -> {
        // "registering"/"unregistering" refreshes of a registered line are not news for the browser.
      }
    }
  }

  // ------------------------------------------------------------------ transport, resume

  /** The WebSocket dropped: wait for a resume during the grace period, or close now. */
  void detach(Transport t) {
    if (transport != t || phase == Phase.CLOSING) {
      return;
    }
    transport = null;
    int grace = host.cfg().getInt("session.resumeGraceSec");
    if (grace <= 0) {
      close("disconnected", (short) 1000);
      return;
    }
    LOG.info("line={} transport gone; waiting {} s for a resume{}", id, grace,
        hasCall() ? " with call=" + calls.current().id : "");
    graceTimer = host.vertx().setTimer(grace * 1000L, x -> {
      graceTimer = -1;
      LOG.info("line={} not resumed within {} s", id, grace);
      close("not resumed", (short) 1000);
    });
  }

  /** A client came back with the token: it gets this session (and its call) over {@code t}. */
  void attach(Transport t) {
    attach(t, (short) 4001, "session taken over");
  }

  /** {@link #attach(Transport)}; a carrier still attached is closed with {@code oldCode} and {@code why}. */
  void attach(Transport t, short oldCode, String why) {
    if (graceTimer >= 0) {
      host.vertx().cancelTimer(graceTimer);
      graceTimer = -1;
    }
    Transport old = transport;
    transport = t;
    if (old != null) {
      old.close(oldCode, why);
    }
    resumeToken = RemoteSessions.newToken(host.nodeId()); // a token works once
    lastSeenMs = System.currentTimeMillis();
    LOG.info("line={} resumed over {}{}", id, t.describe(), hasCall() ? " with call=" + calls.current().id : "");
    send(sessionEvent(true));
    if (availability != null) {
      send(availability.event());
    }
    if (phase == Phase.READY) {
      send(ServerEvent.registration(registration, null, null));
      send(ServerEvent.ready(true));
    } else if (phase == Phase.REGISTERING || waiting) {
      send(ServerEvent.registration(registration, null, null));
    }
  }

  /** Lets go of the carrier without closing it (it now belongs to another session). */
  void releaseTransport(Transport t) {
    if (transport == t) {
      transport = null;
    }
  }

  private JsonObject sessionEvent(boolean resumed) {
    JsonObject e = ServerEvent.of(ServerEvent.SESSION).put(ServerEventFields.SESSION_ID, id)
        .put(ServerEventFields.RESUME_TOKEN, resumeToken).put(ServerEventFields.RESUMED, resumed)
        .put(ServerEventFields.RESUME_GRACE_SEC, host.cfg().getInt("session.resumeGraceSec"))
        .put(ServerEventFields.ICE_SERVERS, host.turnCredentials().iceServers(id));
    if (agent != null) {
      e.put(ServerEventFields.AGENT, agent);
    }
    JsonArray all = calls.describe();
    if (!all.isEmpty()) {
      JsonObject active = all.getJsonObject(0);
      e.put(ServerEventFields.CALL, new JsonObject().put(ServerEventFields.CALL_ID, active.getString(ServerEventFields.CALL_ID))
          .put(ServerEventFields.STATE, active.getString(ServerEventFields.STATE))
          .put(ServerEventFields.DIRECTION, active.getString(ServerEventFields.DIRECTION)));
      e.put(ServerEventFields.CALLS, all);
    }
    return e;
  }

  // ------------------------------------------------------------------ moving (the node drains)

  /** The node drains: a session without a call moves now (close 4002); one with a call waits for its end. */
  void moveIfIdle() {
    if (phase != Phase.CLOSING && !hasCall()) {
      lineFirst = true;
      if (jti == null) {
        close("moved: this node is draining", SignallingVerticle.MOVED);
        return;
      }
      // The page connects again elsewhere with the token it has: its id must open that session (4002 comes after).
      host.tokenIds().release(jti).onComplete(x -> close("moved: this node is draining", SignallingVerticle.MOVED));
    }
  }

  /** A new call on a draining node: refused, and the session moves right after the refusal went out. */
  private Future<JsonObject> movedInstead() {
    host.vertx().runOnContext(x -> moveIfIdle());
    return Future.failedFuture(new ProtocolException(ErrorCode.SHUTTING_DOWN,
        "this node is draining; connect again and call from the new session"));
  }

  // ------------------------------------------------------------------ closing

  /** Completes once a {@link #close} begun finished (line closed, lease given back); only during or after one. */
  Future<Void> closing() {
    return closed.future();
  }

  /**
   * Ends the session: call, line, lease, consumer, timers, in that order; each step bounded by the
   * request timeout and failures logged, so a close always finishes. Idempotent.
   */
  Future<Void> close(String reason, short wsCode) {
    if (closed != null) {
      return closed.future();
    }
    closed = Promise.promise();
    phase = Phase.CLOSING;
    if (graceTimer >= 0) {
      host.vertx().cancelTimer(graceTimer);
      graceTimer = -1;
    }
    if (iceServersTimer >= 0) {
      host.vertx().cancelTimer(iceServersTimer);
      iceServersTimer = -1;
    }
    host.forget(this);
    if (availability != null) {
      availability.close();
    }
    if (takeovers != null) {
      takeovers.unregister();
      takeovers = null;
    }
    if (shareTaken) {
      shareTaken = false;
      host.gate().returnShare(clientIp);
    }
    Runnable endTransport = () -> {
      Transport t = transport;
      transport = null;
      if (t != null) {
        t.send(ServerEvent.of(ServerEvent.CLOSED).put(ServerEventFields.REASON, reason));
        t.close(wsCode, reason);
      }
    };
    if (!lineFirst) {
      endTransport.run();
    }
    LOG.info("line={} closing: {}", id, reason);
    Future<Void> call = calls.endForClose().transform(x -> audio.close());
    Future<?> line = call.transform(x -> parking).transform(x -> lineOpening == null || lineParked ? Future.succeededFuture()
        // An open that timed out may still be carried out (or be under way): closed by its line id all the same.
        : lineOpening.transform(o -> o.failed() && !VerticleRequests.timedOut(o.cause()) ? Future.succeededFuture()
            : host.replies().request(Addresses.SIP_LINE_CLOSE, new JsonObject().put(Fields.LINE_ID, id))))
        .recover(e -> {
          LOG.warn("line={} line close failed: {}", id, e.getMessage());
          return Future.succeededFuture();
        }).onComplete(x -> endTransport.run());
    Future<?> released = line.transform(x -> leasing == null ? Future.succeededFuture() : leasing.transform(l -> {
      JsonObject lz = lease;
      if (lz != null) {
        return host.replies().request(Addresses.POOL_RELEASE, new JsonObject()
            .put(Fields.ACCOUNT_ID, lz.getString(Fields.ACCOUNT_ID)).put(Fields.TOKEN, lz.getValue(Fields.TOKEN)));
      }
      if (l.succeeded() && l.result().getBoolean(Fields.QUEUED, false)) {
        return host.replies().request(Addresses.POOL_CANCEL_WAIT, new JsonObject().put(Fields.SESSION_ID, id));
      }
      if (l.failed() && VerticleRequests.timedOut(l.cause())) {
        // The pool may have granted it (or queued us) after we stopped waiting: whatever this session holds.
        return host.replies().request(Addresses.POOL_RELEASE, new JsonObject().put(Fields.SESSION_ID, id));
      }
      return Future.succeededFuture();
    })).recover(e -> {
      LOG.warn("line={} lease release failed: {}", id, e.getMessage());
      return Future.succeededFuture();
    });
    released.onComplete(x -> {
      MessageConsumer<JsonObject> ev = events;
      events = null;
      Future<Void> unreg = ev == null ? Future.succeededFuture() : ev.unregister();
      unreg.onComplete(y -> {
        LOG.info("line={} closed", id);
        closed.complete();
      });
    });
    return closed.future();
  }

  // ------------------------------------------------------------------ agents

  private Future<JsonObject> setAvailability(ClientFrame f) {
    if (availability == null) {
      throw new ProtocolException(ErrorCode.NOT_AN_AGENT, "only an agent's session (a token whose sub names a line "
          + "of pool.agents) has an availability");
    }
    availability.set(Availability.State.valueOf(f.string(ClientMethod.Fields.AVAILABILITY)));
    return Future.succeededFuture(new JsonObject());
  }

  /**
   * Another session of the same agent took the named line over (the pool already gave it a newer token): this
   * session ends with 4003, its line un-REGISTERs, and the reply tells the pool the new session may register.
   * The lease is not released: it is the new session's now.
   */
  private void takenOver(Message<JsonObject> m, JsonObject ev) {
    if (!holds(ev) || phase == Phase.CLOSING) {
      m.reply(new JsonObject().put(Fields.RELEASED, false));
      return;
    }
    lease = null;
    LOG.info("line={} agent {} signed in again elsewhere: this session ends", id, agent);
    host.agentBoard().takenOver();
    close("taken over: the same agent signed in again in another session", SignallingVerticle.TAKEN_OVER)
        .onComplete(x -> m.reply(new JsonObject().put(Fields.RELEASED, true)));
  }

  /**
   * The same agent's other session on this node has a call in progress: a takeover moves it like a resume. That
   * session gets this one's carrier (its old page closes with 4003) and keeps its line, lease and call untouched
   * (no BYE, no re-INVITE: the new page offers a new browser leg on the call, as a reloaded page does); this
   * session, which holds no lease or line yet, closes without a word to the page.
   */
  private void handTo(ClientSession held) {
    Transport t = transport;
    transport = null;
    successor = held;
    held.countsTokenId(jti);
    LOG.info("line={} agent {} signed in again while session {} has call={}: the call moves to this page", id, agent,
        held.id, held.calls.current().id);
    close("handed to the agent's session " + held.id, (short) 1000);
    host.takeOverCall(held, t);
  }

  /**
   * {@link #handTo} across nodes: the agent's session with a call lives on another node, which has given it to this
   * session's socket through {@code r} (its old page closes with 4003, its line, lease and call untouched). This
   * session, which holds no lease or line, closes without a word to the page; the socket's frames go to {@code r}.
   */
  private void handToRemote(RemoteSession r) {
    transport = null;
    forwardedTo = r;
    LOG.info("line={} agent {} signed in again while session {} on node {} has a call: the call moves to this page",
        id, agent, r.sessionId(), r.owner());
    close("handed to the agent's session " + r.sessionId() + " on node " + r.owner(), (short) 1000);
    r.deliver();
  }

  /** Makes the line follow the agent's availability: refused INVITEs, or an un-REGISTERed line (config). */
  private void applyAvailability() {
    if (availability == null || phase == Phase.CLOSING || lease == null) {
      return;
    }
    boolean available = availability.available();
    if ("unregister".equals(host.cfg().getString("availability.whenNotAvailable"))) {
      parkLine(!available);
    } else if (phase == Phase.READY) {
      int code = available ? 0 : host.cfg().getInt("availability.rejectCode");
      host.replies().request(Addresses.SIP_LINE_AVAILABILITY, new JsonObject().put(Fields.LINE_ID, id)
          .put(Fields.CODE, code)).onFailure(e -> LOG.warn("line={} availability not applied: {}", id, e.getMessage()));
    }
  }

  /**
   * Un-REGISTERs the line (keeping the lease) or registers it again. Not during a call: the call keeps the line,
   * and the end of the call applies the availability again ({@link #callEnded}).
   */
  private void parkLine(boolean park) {
    if (park == parked || hasCall() && park) {
      return;
    }
    parked = park;
    if (park) {
      lineParked = true;
      LOG.info("line={} agent not available: un-REGISTERing the line", id);
      phase = Phase.REGISTERING;
      registration = ServerEvent.REG_UNREGISTERED;
      send(ServerEvent.registration(ServerEvent.REG_UNREGISTERED, null, "not available"));
      send(ServerEvent.ready(false));
      Future<?> opened = lineOpening == null ? Future.succeededFuture() : lineOpening;
      parking = opened.transform(x -> host.replies().request(Addresses.SIP_LINE_CLOSE,
          new JsonObject().put(Fields.LINE_ID, id))).transform(x -> Future.succeededFuture());
    } else {
      parking.onComplete(x -> {
        if (!parked && phase != Phase.CLOSING && lease != null) {
          lineParked = false;
          LOG.info("line={} agent available again: registering the line", id);
          leased(lease);
        }
      });
    }
  }

  @Override
  public void callEnded(boolean answered) {
    if (availability == null) {
      return;
    }
    if (answered) {
      availability.answeredCallEnded();
    }
    applyAvailability(); // Busy chosen during the call: the line leaves now
  }

  // ------------------------------------------------------------------ CallControl.Owner

  @Override
  public String lineId() {
    return id;
  }

  @Override
  public boolean isReady() {
    return phase == Phase.READY;
  }

  @Override
  public void send(JsonObject frame) {
    Transport t = transport;
    if (t != null) {
      t.send(frame);
    }
  }

  @Override
  public VerticleRequests replies() {
    return host.replies();
  }

  @Override
  public DialPolicy dialPolicy() {
    return host.dialPolicy();
  }

  @Override
  public void countCallAttempt() {
    long now = System.currentTimeMillis();
    if (!callAttempts.tryAcquire(now)) {
      throw new ProtocolException(ErrorCode.CALL_LIMIT, "too many call attempts from this session; wait a minute");
    }
    if (!host.gate().callAllowed(clientIp, now)) {
      throw new ProtocolException(ErrorCode.CALL_LIMIT, "too many call attempts from this address; wait a minute");
    }
  }

  @Override
  public String nodeId() {
    return host.nodeId();
  }

  @Override
  public AudioPathControl audioPath() {
    return audio;
  }

  @Override
  public long setTimer(long delayMs, Runnable action) {
    return host.vertx().setTimer(Math.max(1, delayMs), x -> action.run());
  }

  @Override
  public void cancelTimer(long id) {
    host.vertx().cancelTimer(id);
  }

  @Override
  public boolean dtmfByInfo() {
    return "info".equals(host.cfg().getString("sip.dtmfMode"));
  }
}
