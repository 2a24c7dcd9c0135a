package org.webphone.gateway.signalling;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * An agent's availability (docs/protocol.md, SetAvailability): Available, Busy (do not disturb) or WrapUp (for
 * {@code availability.wrapUpSec}, then Available by itself; after every answered call too when
 * {@code availability.wrapUpAfterCall}). What "not available" does to the line is the session's
 * ({@link Agent#applyToLine}): INVITEs refused with {@code availability.rejectCode} before they ring, or the line
 * un-REGISTERed. Every change goes to the page ({@code OnAvailabilityChanged}), to the bus
 * ({@link Addresses#AGENT_AVAILABILITY}, published) and to /metrics ({@link AgentBoard}).
 *
 * <p>Owned by its agent's {@link ClientSession}; event loop only. {@link #close} cancels the wrap-up timer and takes
 * the session off the board.
 */
final class Availability {
  private static final Logger LOG = LoggerFactory.getLogger(Availability.class);

  enum State { Available, Busy, WrapUp }

  /** The agent's session, as this class needs it. */
  interface Agent {
    String sessionId();

    String agent();

    void send(JsonObject frame);

    /** The line takes calls again ({@code available}) or not any more. */
    void applyToLine(boolean available);
  }

  private final Vertx vertx;
  private final AgentBoard board;
  private final Agent owner;
  private final String nodeId;
  private final long wrapUpMs;
  private final boolean wrapUpAfterCall;
  private State state = State.Available;
  private String reason = "signed in";
  private long untilMs;
  private long wrapUpTimer = -1;
  private boolean closed;

  Availability(Vertx vertx, GatewayConfig cfg, AgentBoard board, String nodeId, Agent owner) {
    this.vertx = vertx;
    this.board = board;
    this.owner = owner;
    this.nodeId = nodeId;
    this.wrapUpMs = cfg.getLong("availability.wrapUpSec") * 1000;
    this.wrapUpAfterCall = cfg.getBoolean("availability.wrapUpAfterCall");
    board.moved(null, state);
  }

  State state() {
    return state;
  }

  boolean available() {
    return state == State.Available;
  }

  /** The agent chose {@code to}. Setting the current state again restarts a wrap-up's time. */
  void set(State to) {
    change(to, "set by the agent");
  }

  /** The line's call ended after it was answered: wrap-up, when configured; else nothing changes. */
  void answeredCallEnded() {
    if (wrapUpAfterCall && state == State.Available) {
      change(State.WrapUp, "after a call");
    }
  }

  /** {@code OnAvailabilityChanged} with the current state (also for a page that resumed the session). */
  JsonObject event() {
    JsonObject e = ServerEvent.of(ServerEvent.AVAILABILITY).put(ServerEventFields.STATE, state.name())
        .put(ServerEventFields.REASON, reason);
    if (state == State.WrapUp) {
      e.put(ServerEventFields.UNTIL_MS, untilMs);
    }
    return e;
  }

  private void change(State to, String why) {
    if (closed) {
      return;
    }
    if (wrapUpTimer >= 0) {
      vertx.cancelTimer(wrapUpTimer);
      wrapUpTimer = -1;
    }
    State from = state;
    state = to;
    reason = why;
    board.moved(from, to);
    if (to == State.WrapUp) {
      untilMs = System.currentTimeMillis() + wrapUpMs;
      wrapUpTimer = vertx.setTimer(Math.max(1, wrapUpMs), t -> {
        wrapUpTimer = -1;
        change(State.Available, "wrap-up ended");
      });
    }
    LOG.info("line={} agent {} is {} ({})", owner.sessionId(), owner.agent(), to, why);
    owner.send(event());
    JsonObject bus = new JsonObject().put(Fields.SESSION_ID, owner.sessionId()).put(Fields.AGENT, owner.agent())
        .put(Fields.NODE_ID, nodeId).put(Fields.STATE, to.name()).put(Fields.REASON, why);
    if (to == State.WrapUp) {
      bus.put(Fields.UNTIL_MS, untilMs);
    }
    vertx.eventBus().publish(Addresses.AGENT_AVAILABILITY, bus);
    if ((from == State.Available) != (to == State.Available)) {
      owner.applyToLine(to == State.Available);
    }
  }

  void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (wrapUpTimer >= 0) {
      vertx.cancelTimer(wrapUpTimer);
      wrapUpTimer = -1;
    }
    board.moved(state, null);
  }
}
