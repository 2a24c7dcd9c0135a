package org.webphone.gateway.common.messages;

import static org.webphone.gateway.common.messages.Fields.*;

import java.util.List;
import org.webphone.gateway.common.Addresses;

/**
 * The body and reply of every event-bus address of {@link Addresses}, one constant per address, with its
 * one-line contract. Field names are {@link Fields}; failure codes are {@code common.ErrorCode}; the long form
 * (which failure when, what each field means) is docs/event-bus.md. Commands are request/reply; a refusal is
 * {@code message.fail(code, text)}. Events to {@code session.<sessionId>} are {@link SessionEvent}s.
 */
public enum BusMessage {
  // ---- account pool (pool.AccountPoolVerticle)
  /**
   * Lease a free account; with wait: true and the waiting line on, a place in line, then a lease event. With agent:
   * that agent's named line, taken over from another session of it. Fails 300, 307.
   */
  POOL_LEASE(Addresses.POOL_LEASE, List.of(SESSION_ID, NODE_ID, WAIT, AGENT),
      List.of(ACCOUNT_ID, TOKEN, ACCOUNT, QUEUED, POSITION)),
  /** Give a lease back, by {accountId, token} or by {sessionId} alone; a repeat succeeds. Fails 301, 302. */
  POOL_RELEASE(Addresses.POOL_RELEASE, List.of(ACCOUNT_ID, TOKEN, SESSION_ID), List.of(RELEASED)),
  /** Is this lease still current (fencing)? */
  POOL_VALIDATE(Addresses.POOL_VALIDATE, List.of(ACCOUNT_ID, TOKEN), List.of(CURRENT)),
  /** Leave the waiting line (the session ended while waiting). */
  POOL_CANCEL_WAIT(Addresses.POOL_CANCEL_WAIT, List.of(SESSION_ID), List.of(REMOVED)),
  /** The pool's counts and, unless leases: false, every lease and waiter. */
  POOL_STATUS(Addresses.POOL_STATUS, List.of(LEASES),
      List.of(TOTAL, FREE, LEASED, WAITING, LEASES, WAITING_LINE, NODE_ID, LAST_TOKEN)),
  /** Published cluster-wide, coalesced: the pool's counts changed (a hint; pool.status is the truth). */
  POOL_CHANGED(Addresses.POOL_CHANGED, List.of(TOTAL, FREE, LEASED, WAITING), List.of()),
  /** Published node-local, pool to SIP verticle: leases confirmed until untilNanos (common.ConfirmedLeases). */
  POOL_LEASES_CONFIRMED(Addresses.POOL_LEASES_CONFIRMED, List.of(FULL, LEASES, RELEASED, UNTIL_NANOS), List.of()),
  /**
   * Cluster-wide, to the pool of a session's node: a waiting-line lease granted on another node (sent), or the
   * takeover of a named line held there (a request: replied once the old session's line has unregistered).
   */
  POOL_NODE(Addresses.POOL_NODE.toString(), List.of(V, SESSION_ID, ACCOUNT_ID, TOKEN, ACCOUNT, AGENT), List.of(RELEASED)),

  // ---- SIP lines and calls (sip.SipLineVerticle)
  /** Register a leased account once its lease is current; registration events follow. Fails 301, 103, 104, 502. */
  SIP_LINE_OPEN(Addresses.SIP_LINE_OPEN, List.of(LINE_ID, SESSION_ID, ACCOUNT_ID, TOKEN, ACCOUNT), List.of(LINE_ID)),
  /** End the line's call, unregister, forget the line (replies after the un-REGISTER, or 3 s). Fails 302. */
  SIP_LINE_CLOSE(Addresses.SIP_LINE_CLOSE, List.of(LINE_ID), List.of(LINE_ID)),
  /** Send an INVITE to target with sdp; callNanos times the set-up. Fails 302, 303, 304, 202, 103, 301. */
  SIP_CALL_MAKE(Addresses.SIP_CALL_MAKE, List.of(LINE_ID, CALL_ID, TARGET, SDP, CALL_NANOS, SECOND), List.of(CALL_ID)),
  /** Answer the ringing incoming call with sdp (200 OK). Fails 302, 104, 103. */
  SIP_CALL_ACCEPT(Addresses.SIP_CALL_ACCEPT, List.of(LINE_ID, CALL_ID, SDP), List.of(CALL_ID)),
  /** Decline the ringing incoming call with code (default sip.rejectCode). Fails 302, 104, 103. */
  SIP_CALL_REJECT(Addresses.SIP_CALL_REJECT, List.of(LINE_ID, CALL_ID, CODE), List.of(CALL_ID)),
  /** End the call in any state: CANCEL before the answer, BYE after, a decline while it rings. Fails 302. */
  SIP_CALL_HANGUP(Addresses.SIP_CALL_HANGUP, List.of(LINE_ID, CALL_ID), List.of(CALL_ID)),
  /** Hold (hold: true) or unhold by re-INVITE; replies after its 200 and ACK. Fails 302, 104. */
  SIP_CALL_HOLD(Addresses.SIP_CALL_HOLD, List.of(LINE_ID, CALL_ID, HOLD), List.of(CALL_ID)),
  /** Send digits as SIP INFO (sip.dtmfMode info); replies when every INFO was answered. Fails 302, 103, 104. */
  SIP_CALL_DTMF(Addresses.SIP_CALL_DTMF, List.of(LINE_ID, CALL_ID, DIGITS), List.of(CALL_ID)),
  /** Blind transfer by REFER; replies when the PBX accepted it (202). Fails 302, 202, 104. */
  SIP_CALL_TRANSFER(Addresses.SIP_CALL_TRANSFER, List.of(LINE_ID, CALL_ID, TARGET, REPLACES), List.of(CALL_ID)),
  /** An agent's availability: incoming INVITEs get code (0: ring as usual) before they ring. Fails 302, 103. */
  SIP_LINE_AVAILABILITY(Addresses.SIP_LINE_AVAILABILITY, List.of(LINE_ID, CODE), List.of(LINE_ID)),
  /** Line and call counts, drops at the SIP port, the registrars. */
  SIP_STATUS(Addresses.SIP_STATUS, List.of(), List.of(LINES, REGISTERED, CALLS, DROPPED, PBX)),

  // ---- media relay (media.MediaRelayVerticle)
  /**
   * Create a call's media: replies the PBX SDP (an offer, or the answer to pbxOffer) and the browser answer, or
   * with answerLater the PBX SDP alone and the browser answer as a media event. Fails 102, 104, 306, 305, 302, 500.
   */
  MEDIA_CREATE(Addresses.MEDIA_CREATE, List.of(CALL_ID, SESSION_ID, BROWSER_OFFER, PBX_OFFER, ANSWER_LATER, AUDIO_PATH),
      List.of(BROWSER_ANSWER, PBX_SDP)),
  /** The PBX's SDP, an answer or a re-offer (type, or guessed); replies the answer to a re-offer. Fails 302, 306. */
  MEDIA_PBX_SDP(Addresses.MEDIA_PBX_SDP, List.of(CALL_ID, SDP, TYPE), List.of(SDP)),
  /** Rebuild the browser leg (resume, ICE restart) from a new offer. Fails 302, 306, 500. */
  MEDIA_BROWSER_OFFER(Addresses.MEDIA_BROWSER_OFFER, List.of(CALL_ID, BROWSER_OFFER), List.of(BROWSER_ANSWER)),
  /**
   * A candidate the browser trickled (or end-of-candidates), for the leg of its ufrag; replies added, or not and
   * why (unusable, an mDNS name that does not resolve, ICE already done). Fails 102, 302, 103.
   */
  MEDIA_CANDIDATE(Addresses.MEDIA_CANDIDATE, List.of(CALL_ID, CANDIDATE, UFRAG), List.of(ADDED, REASON)),
  /** Set the PBX leg's direction (hold); replies the re-offer to send. Fails 302, 103. */
  MEDIA_DIRECTION(Addresses.MEDIA_DIRECTION, List.of(CALL_ID, DIRECTION), List.of(SDP)),
  /** Send digits as RFC 4733 toward the PBX; replies at once. Fails 302, 102, 103. */
  MEDIA_DTMF(Addresses.MEDIA_DTMF, List.of(CALL_ID, DIGITS), List.of(CALL_ID)),
  /** Free all of a call's media; closing an unknown call succeeds. Fails 102. */
  MEDIA_CLOSE(Addresses.MEDIA_CLOSE, List.of(CALL_ID, REASON), List.of(CALL_ID)),
  /**
   * Open a session's persistent browser leg (audio path) on the browser's offer, with the one codec of
   * media.pathCodec; replies the browser answer. Fails 102, 104, 306, 500.
   */
  MEDIA_PATH_OPEN(Addresses.MEDIA_PATH_OPEN, List.of(AUDIO_PATH, SESSION_ID, BROWSER_OFFER), List.of(BROWSER_ANSWER)),
  /** Free an audio path (its ICE agent and DTLS association); a repeat succeeds. Fails 102. */
  MEDIA_PATH_CLOSE(Addresses.MEDIA_PATH_CLOSE, List.of(AUDIO_PATH), List.of(AUDIO_PATH)),
  /**
   * Make the path carry this call of its session (the session's active call); the call it carried is held, its
   * PBX leg relaying nothing. Fails 102, 302 (no such path, or the call is not on it).
   */
  MEDIA_PATH_ATTACH(Addresses.MEDIA_PATH_ATTACH, List.of(AUDIO_PATH, CALL_ID), List.of(AUDIO_PATH, CALL_ID)),
  /** What the relay holds now and its counters; with callId also that call's session. */
  MEDIA_STATUS(Addresses.MEDIA_STATUS, List.of(CALL_ID),
      List.of(SESSIONS, CREATING, RTP_PORTS, AGENTS, DTLS_SESSIONS, DTLS_THREADS, DTLS_HANDSHAKES, DTLS_WAITING,
          DTLS_HELLO_TIMERS, DTLS_HELLO_TIMEOUTS, DTLS_POOL_THREADS, STUN_UNKNOWN_UFRAG, STUN_DROPPED, ICE_ANSWERING, RTP_REGISTRATIONS, RTCP_TASKS,
          WEBRTC_PORT, ICE_TCP_PORT, ICE_TCP_CONNECTIONS, ICE_TCP_PENDING, ICE_TCP_THREADS, ICE_TCP_JUNK,
          ICE_TCP_IDLE_CLOSED, ICE_TCP_OVER_CAP, FINGERPRINT, COUNTERS, AUDIO_PATHS, Fields.SESSION)),

  // ---- signalling (signalling.SignallingVerticle)
  /** Open a session without a WebSocket (or take one back by resumeToken). Fails 300, 204, 302, 502. */
  SIGNALLING_OPEN(Addresses.SIGNALLING_OPEN, List.of(CLIENT_IP, RESUME_TOKEN, EVENTS),
      List.of(SESSION_ID, RESUME_TOKEN, COMMANDS, EVENTS, RESUMED)),
  /** Close a bus session; replies once its call, line and lease are gone. Fails 302. */
  SIGNALLING_CLOSE(Addresses.SIGNALLING_CLOSE, List.of(SESSION_ID), List.of(SESSION_ID)),
  /** Session counts. */
  SIGNALLING_STATUS(Addresses.SIGNALLING_STATUS, List.of(), List.of(SESSIONS, CALLS, DETACHED, FORWARDS, WEB_SOCKETS)),
  /** To the owner named by a resume token: take the session back over events (forwarded: a WebSocket elsewhere). Fails 302. */
  SIGNALLING_NODE_RESUME(Addresses.SIGNALLING_NODE_RESUME.toString(), List.of(V, RESUME_TOKEN, CLIENT_IP, EVENTS, FORWARDED),
      List.of(V, SESSION_ID, RESUME_TOKEN, COMMANDS, EVENTS, RESUMED, NODE_ID, MEMBER_ID)),
  /**
   * To the agent's session holding its named line: a new session of the agent (token id jti) takes it over with its
   * call in progress, over events (a WebSocket on the asking node). Fails 302 (no call in progress there).
   */
  SIGNALLING_AGENT_TAKEOVER(Addresses.SIGNALLING_AGENT_TAKEOVER.toString(),
      List.of(V, AGENT, JTI, CLIENT_IP, EVENTS, FORWARDED),
      List.of(V, SESSION_ID, RESUME_TOKEN, COMMANDS, EVENTS, RESUMED, NODE_ID, MEMBER_ID)),
  /** To the owner: the forwarding node's WebSocket of the session closed. Fails 302. */
  SIGNALLING_NODE_DETACH(Addresses.SIGNALLING_NODE_DETACH.toString(), List.of(V, SESSION_ID, EVENTS), List.of(V, DETACHED)),
  /** Sent by the owner to a forwarded WebSocket's node: a server frame, or the close notice {closeCode, reason}. */
  SIGNALLING_FORWARD(Addresses.SIGNALLING_FORWARD.toString(), List.of(CLOSE_CODE, REASON), List.of()),
  /** Node-local: the node drains (sessions move to other nodes); the reply is the status at that moment. */
  SIGNALLING_DRAIN(Addresses.SIGNALLING_DRAIN, List.of(), List.of(SESSIONS, CALLS, DETACHED, FORWARDS, WEB_SOCKETS)),

  /** Published cluster-wide: an agent's availability changed (dashboards). */
  AGENT_AVAILABILITY(Addresses.AGENT_AVAILABILITY, List.of(SESSION_ID, AGENT, NODE_ID, STATE, REASON, UNTIL_MS),
      List.of()),
  /** A client frame of docs/protocol.md; replies its Ack (or Pong) body, fails with its Error code. */
  SESSION_COMMANDS(Addresses.SESSION_COMMANDS.toString(), List.of(), List.of()),
  /** Published: a server frame of docs/protocol.md. */
  SESSION_EVENTS(Addresses.SESSION_EVENTS.toString(), List.of(), List.of()),
  /** Sent (lease: a request) to the session's signalling: a {@link SessionEvent}. */
  SESSION(Addresses.SESSION.toString(), List.of(EVENT), List.of(ACCEPTED)),

  // ---- node operations (node.NodeOpsVerticle)
  /** Node-local, consumed by GatewayNode: start the drain (the admin surface's request); the node's state. */
  NODE_DRAIN(Addresses.NODE_DRAIN, List.of(), List.of(STATE)),
  /** A node's state; with peer also that node's reply and round trip, with setupLatency its timers. Fails 302, 501. */
  NODE(Addresses.NODE.toString(), List.of(PEER, SETUP_LATENCY),
      List.of(NODE_ID, STATE, MODE, CLUSTERED, MEMBERS, PEER, PEER_RTT_MS, SETUP_LATENCY));

  private final String address;
  private final List<String> body;
  private final List<String> reply;

  BusMessage(String address, List<String> body, List<String> reply) {
    this.address = address;
    this.body = body;
    this.reply = reply;
  }

  /** The address, or for one with an id its pattern ({@link Addresses.Pattern#toString()}). */
  public String address() {
    return address;
  }

  /** Every field the body may carry (optional ones included). */
  public List<String> body() {
    return body;
  }

  /** Every field the reply may carry; empty for what is published or sent without a reply. */
  public List<String> reply() {
    return reply;
  }
}
