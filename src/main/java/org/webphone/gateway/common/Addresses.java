package org.webphone.gateway.common;

/**
 * Every event-bus address of the gateway, in one place. {@code docs/event-bus.md} is the long form of
 * this contract (fields, replies, failure codes) and must be kept in step with it.
 *
 * <p>Conventions:
 * <ul>
 *   <li>All bodies are {@link io.vertx.core.json.JsonObject}s, so that they cross cluster nodes.</li>
 *   <li>Commands are request/reply with an explicit timeout ({@code limits.requestTimeoutMs}). A
 *       refused command is failed with {@code message.fail(ErrorCode.x.code(), text)}.</li>
 *   <li>Commands to {@code sip.*} and {@code media.*} are node-local (registered with
 *       {@code localConsumer}): a session's line, calls and media live on the node that holds its
 *       WebSocket. The account pool is cluster-wide through Hazelcast, but its verticle is also
 *       addressed locally; it talks to the cluster through {@code vertx.sharedData()}.</li>
 *   <li>Events for one session are sent to {@link #session(String)}; the signalling verticle
 *       consumes them and turns them into the seed's {@code On...} events.</li>
 * </ul>
 */
public final class Addresses {
  private Addresses() {
  }

  // ---- account pool (pool.AccountPoolVerticle) ----
  /**
   * Lease a free account. Body {sessionId, nodeId, wait?}. Reply: the lease, or {queued, position} when
   * wait:true and the waiting line is on (the lease then comes as event "lease" to {@link #session}).
   * Fails NO_ACCOUNT ("Connection limit").
   */
  public static final String POOL_LEASE = "pool.account.lease";
  /** Return a lease. Body {accountId, token}. Reply {released}; a repeat succeeds. Fails STALE_TOKEN, NOT_FOUND. */
  public static final String POOL_RELEASE = "pool.account.release";
  /** Is this lease still current (fencing)? Body {accountId, token}. Reply {current}. */
  public static final String POOL_VALIDATE = "pool.account.validate";
  /** Pool state. Body {}. Reply {total, free, leased, waiting, leases:[...]}. */
  public static final String POOL_STATUS = "pool.status";
  /** Published (cluster-wide) whenever the pool changes. Body as {@link #POOL_STATUS} without leases. */
  public static final String POOL_CHANGED = "pool.changed";
  /**
   * Node-local, published by the pool verticle to the SIP verticle of the same node: the leases of this node
   * the pool confirmed recently, which need no {@link #POOL_VALIDATE} round trip until {untilNanos}. Body
   * {full?, leases?: {accountId: token}, released?: {accountId: token}, untilNanos?}; see
   * {@link ConfirmedLeases}.
   */
  public static final String POOL_LEASES_CONFIRMED = "pool.leases.confirmed";
  /** Leave the waiting line (the session ended while waiting). Body {sessionId}. Reply {removed}. */
  public static final String POOL_CANCEL_WAIT = "pool.account.cancel-wait";

  /** Internal, cluster-wide: hands a lease made on another node to the pool verticle of member {@code member}. */
  public static String poolNode(String member) {
    return "pool.node." + member;
  }

  // ---- SIP lines and calls (sip.SipLineVerticle) ----
  /** Register a leased account. Body {lineId, sessionId, account:{...}, token}. Reply {lineId}. */
  public static final String SIP_LINE_OPEN = "sip.line.open";
  /** Unregister and forget a line, ending its calls. Body {lineId}. Reply {lineId} once unregistered. */
  public static final String SIP_LINE_CLOSE = "sip.line.close";
  /** Place a call. Body {lineId, callId, target, sdp}. Reply {callId}. */
  public static final String SIP_CALL_MAKE = "sip.call.make";
  /** Answer a ringing incoming call. Body {lineId, callId, sdp}. Reply {callId}. */
  public static final String SIP_CALL_ACCEPT = "sip.call.accept";
  /** Decline a ringing incoming call. Body {lineId, callId, code?}. Reply {callId}. */
  public static final String SIP_CALL_REJECT = "sip.call.reject";
  /** End a call in any state (CANCEL before answer, BYE after). Body {lineId, callId}. Reply {callId}. */
  public static final String SIP_CALL_HANGUP = "sip.call.hangup";
  /** Put on hold / take off hold. Body {lineId, callId, hold}. Reply {callId}. */
  public static final String SIP_CALL_HOLD = "sip.call.hold";
  /** Send DTMF by SIP INFO (when dtmf.mode is "info"). Body {lineId, callId, digits}. Reply {callId}. */
  public static final String SIP_CALL_DTMF = "sip.call.dtmf";
  /** Blind transfer (REFER). Body {lineId, callId, target}. Reply {callId}. */
  public static final String SIP_CALL_TRANSFER = "sip.call.transfer";
  /** Line and call counts. Body {}. Reply {lines, registered, calls}. */
  public static final String SIP_STATUS = "sip.status";

  // ---- media relay (media.MediaRelayVerticle) ----
  /**
   * Create the media of a call. Body {callId, sessionId, browserOffer, pbxOffer?}.
   * Reply {browserAnswer, pbxSdp}: pbxSdp is an offer when pbxOffer was absent, else the answer to it.
   */
  public static final String MEDIA_CREATE = "media.session.create";
  /** The PBX's SDP: its answer, or a re-offer (hold). Body {callId, sdp}. Reply {sdp?} (answer to a re-offer). */
  public static final String MEDIA_PBX_SDP = "media.session.pbx-sdp";
  /** Rebuild the browser leg (resume, ICE restart). Body {callId, browserOffer}. Reply {browserAnswer}. */
  public static final String MEDIA_BROWSER_OFFER = "media.session.browser-offer";
  /** Local hold state of the PBX leg's SDP. Body {callId, direction}. Reply {sdp}: the re-offer to send. */
  public static final String MEDIA_DIRECTION = "media.session.direction";
  /** Send RFC 4733 digits toward the PBX. Body {callId, digits}. Reply {callId}. */
  public static final String MEDIA_DTMF = "media.session.dtmf";
  /** Free everything of a call's media. Body {callId}. Reply {callId}; closing an unknown call succeeds. */
  public static final String MEDIA_CLOSE = "media.session.close";
  /** Media counts. Body {}. Reply {sessions, ports, agents, ...}. */
  public static final String MEDIA_STATUS = "media.status";

  // ---- signalling (signalling.SignallingVerticle) ----
  /**
   * Open a session without a WebSocket (load tests, integrations). Body {clientIp?, resumeToken?, events?}:
   * {@code events} is an address the caller already consumes, so no frame is missed. Reply {sessionId,
   * resumeToken, commands, events, resumed}: where to send commands and where events are published.
   * Fails SESSION_LIMIT (with clientIp), NOT_FOUND (unknown resumeToken), SHUTTING_DOWN.
   */
  public static final String SIGNALLING_OPEN = "signalling.session.open";
  /** Close a session opened over the bus. Body {sessionId}. Reply {sessionId}. */
  public static final String SIGNALLING_CLOSE = "signalling.session.close";
  /** Session counts. Body {}. Reply {sessions, calls}. */
  public static final String SIGNALLING_STATUS = "signalling.status";

  // ---- node operations (node.NodeOpsVerticle) ----
  /**
   * Cluster-wide address of one node. Body {} or {peer}: reply {nodeId, state, mode, clustered, members}
   * and, with {peer}, that node's own reply as {peer} plus {peerRttMs}. Fails 302 (no such node), 501.
   */
  public static String node(String nodeId) {
    return "gateway.node." + nodeId;
  }

  /** Address where line, call and media events of one session are sent (consumed by signalling). */
  public static String session(String sessionId) {
    return "session." + sessionId;
  }

  /** Commands of a bus session: the same JSON as WebSocket frames. Reply: the command's acknowledgement. */
  public static String sessionCommands(String sessionId) {
    return "signalling.session." + sessionId + ".commands";
  }

  /** Events of a bus session, published: the same JSON as WebSocket frames. */
  public static String sessionEvents(String sessionId) {
    return "signalling.session." + sessionId + ".events";
  }
}
