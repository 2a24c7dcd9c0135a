package org.webphone.gateway.common;

import io.vertx.core.Vertx;
import io.vertx.core.shareddata.LocalMap;
import java.util.Locale;

/**
 * The facts of this node that several verticles read: its id, its {@link State} and its mode ({@code demo}
 * or {@code pbx}). They live in a Vert.x local map ({@link #MAP}, one per Vert.x instance, so one per node
 * and never shared with the cluster). {@code GatewayNode} writes them as it starts, drains and stops;
 * {@code /health}, the node verticle and the load tool read them. Any thread: a local map is thread-safe,
 * and this view holds nothing else.
 */
public final class NodeFacts {
  /** The local map's name. */
  public static final String MAP = "gateway.node";
  private static final String NODE_ID = "nodeId";
  private static final String STATE = "state";
  private static final String MODE = "mode";

  /** Where the node is in its life; {@link #wire()} is how {@code /health} and {@code gateway.node.<id>} say it. */
  public enum State {
    STARTING, READY, DRAINING, STOPPED;

    public String wire() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final LocalMap<String, String> map;

  private NodeFacts(LocalMap<String, String> map) {
    this.map = map;
  }

  /** The facts of the node whose Vert.x instance this is. */
  public static NodeFacts of(Vertx vertx) {
    return new NodeFacts(vertx.sharedData().getLocalMap(MAP));
  }

  /** Records a node that starts: its id, {@link State#STARTING}, and its mode. */
  public void starting(String nodeId, boolean demo) {
    map.put(NODE_ID, nodeId);
    map.put(STATE, State.STARTING.wire());
    map.put(MODE, demo ? "demo" : "pbx");
  }

  public void state(State state) {
    map.put(STATE, state.wire());
  }

  /** The node's state; {@link State#STARTING} until the node recorded one. */
  public State state() {
    String s = map.get(STATE);
    return s == null ? State.STARTING : State.valueOf(s.toUpperCase(Locale.ROOT));
  }

  /** The node's id, or null before the node recorded it. */
  public String nodeId() {
    return map.get(NODE_ID);
  }

  /** {@code demo} (the embedded demo PBX) or {@code pbx}, or null before the node recorded it. */
  public String mode() {
    return map.get(MODE);
  }
}
