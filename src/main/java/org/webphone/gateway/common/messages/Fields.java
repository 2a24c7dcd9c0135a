package org.webphone.gateway.common.messages;

/**
 * The field names of every event-bus body ({@link BusMessage}) and session event ({@link SessionEvent}).
 * Producer and consumer both write the constant, never the string, so renaming a field is one edit here and
 * a compile error wherever a caller still spells the old constant.
 */
public final class Fields {
  private Fields() {
  }

  // ---- ids (docs/event-bus.md, "Conventions")
  public static final String EVENT = "event";
  public static final String SESSION_ID = "sessionId";
  /** The cluster format's major version (common.ClusterFormat) on messages between nodes. */
  public static final String V = "v";
  public static final String LINE_ID = "lineId";
  public static final String CALL_ID = "callId";
  public static final String NODE_ID = "nodeId";
  public static final String ACCOUNT_ID = "accountId";
  public static final String TOKEN = "token";

  // ---- pool
  public static final String WAIT = "wait";
  public static final String ACCOUNT = "account";
  public static final String USERNAME = "username";
  public static final String PASSWORD = "password";
  public static final String AUTH_USER = "authUser";
  public static final String DISPLAY_NAME = "displayName";
  public static final String QUEUED = "queued";
  public static final String POSITION = "position";
  public static final String RELEASED = "released";
  public static final String CURRENT = "current";
  public static final String REMOVED = "removed";
  public static final String ACCEPTED = "accepted";
  public static final String TOTAL = "total";
  public static final String FREE = "free";
  public static final String LEASED = "leased";
  public static final String WAITING = "waiting";
  public static final String LEASES = "leases";
  public static final String WAITING_LINE = "waitingLine";
  public static final String LAST_TOKEN = "lastToken";
  public static final String SINCE = "since";
  public static final String FULL = "full";
  public static final String UNTIL_NANOS = "untilNanos";

  // ---- sip
  public static final String STATE = "state";
  public static final String CODE = "code";
  public static final String REASON = "reason";
  public static final String FROM = "from";
  public static final String SDP = "sdp";
  /** The call's codec as its rtpmap names it, e.g. opus/48000/2 (media's renegotiate event). */
  public static final String CODEC = "codec";
  /** An RFC 4733 digit's duration in milliseconds (its timestamp units over the codec's clock rate). */
  public static final String DURATION_MS = "durationMs";
  public static final String DIRECTION = "direction";
  public static final String ERROR = "error";
  public static final String TARGET = "target";
  /** sip.call.transfer: the consult call (same line) whose dialog the REFER's Replaces names (attended transfer). */
  public static final String REPLACES = "replaces";
  /** sip.call.make: true for a session's second call on the line (an agent's consult call); else the line must be idle. */
  public static final String SECOND = "second";
  public static final String HOLD = "hold";
  public static final String DIGITS = "digits";
  public static final String DIGIT = "digit";
  public static final String SOURCE = "source";
  public static final String CALL_NANOS = "callNanos";
  public static final String ANSWER_NANOS = "answerNanos";
  public static final String LINES = "lines";
  public static final String REGISTERED = "registered";
  public static final String DROPPED = "dropped";
  /** sip.status: the registrars ({@code current, preferred, targets, failovers, failbacks}), docs/sip.md. */
  public static final String PBX = "pbx";
  /** sip.status: the TLS listening point ({@code pbxCertificate}, {@code inboundConnections}); null without one. */
  public static final String TLS = "tls";
  public static final String PBX_CERTIFICATE = "pbxCertificate";
  public static final String INBOUND_CONNECTIONS = "inboundConnections";
  public static final String CALLS = "calls";

  // ---- media
  public static final String BROWSER_OFFER = "browserOffer";
  public static final String PBX_OFFER = "pbxOffer";
  public static final String ANSWER_LATER = "answerLater";
  /** A persistent browser leg (audio path) of a session: its id; a create with it attaches the call to it. */
  public static final String AUDIO_PATH = "audioPath";
  /** media.status: how many audio paths are open. */
  public static final String AUDIO_PATHS = "audioPaths";
  /** incoming: the INVITE asks to be answered automatically after this many ms (from the PBX only). */
  public static final String AUTO_ANSWER_MS = "autoAnswerMs";
  public static final String BROWSER_ANSWER = "browserAnswer";
  public static final String PBX_SDP = "pbxSdp";
  /** A trickled ICE candidate (media.session.candidate). */
  public static final String CANDIDATE = "candidate";
  /** The ICE ufrag (generation) a trickled candidate belongs to. */
  public static final String UFRAG = "ufrag";
  public static final String ADDED = "added";
  public static final String TYPE = "type";
  public static final String SESSIONS = "sessions";
  public static final String CREATING = "creating";
  public static final String RTP_PORTS = "rtpPorts";
  public static final String AGENTS = "agents";
  public static final String DTLS_SESSIONS = "dtlsSessions";
  public static final String DTLS_THREADS = "dtlsThreads";
  public static final String DTLS_HANDSHAKES = "dtlsHandshakes";
  public static final String DTLS_WAITING = "dtlsWaiting";
  public static final String DTLS_HELLO_TIMERS = "dtlsHelloTimers";
  public static final String DTLS_HELLO_TIMEOUTS = "dtlsHelloTimeouts";
  public static final String DTLS_POOL_THREADS = "dtlsPoolThreads";
  public static final String STUN_UNKNOWN_UFRAG = "stunUnknownUfrag";
  public static final String STUN_DROPPED = "stunDropped";
  public static final String ICE_ANSWERING = "iceAnswering";
  public static final String RTP_REGISTRATIONS = "rtpRegistrations";
  public static final String RTCP_TASKS = "rtcpTasks";
  public static final String WEBRTC_PORT = "webrtcPort";
  public static final String ICE_TCP_PORT = "iceTcpPort";
  public static final String ICE_TCP_CONNECTIONS = "iceTcpConnections";
  public static final String ICE_TCP_PENDING = "iceTcpPending";
  public static final String ICE_TCP_THREADS = "iceTcpThreads";
  public static final String ICE_TCP_JUNK = "iceTcpJunk";
  public static final String ICE_TCP_IDLE_CLOSED = "iceTcpIdleClosed";
  public static final String ICE_TCP_OVER_CAP = "iceTcpOverCap";
  public static final String FINGERPRINT = "fingerprint";
  public static final String COUNTERS = "counters";
  public static final String SESSION = "session";

  // ---- signalling
  public static final String CLIENT_IP = "clientIp";
  public static final String RESUME_TOKEN = "resumeToken";
  public static final String EVENTS = "events";
  public static final String COMMANDS = "commands";
  public static final String RESUMED = "resumed";
  public static final String DETACHED = "detached";
  public static final String WEB_SOCKETS = "webSockets";
  /** Sessions of other nodes whose WebSocket this node carries (resume on any node). */
  public static final String FORWARDS = "forwards";
  public static final String FORWARDED = "forwarded";
  public static final String MEMBER_ID = "memberId";
  public static final String CLOSE_CODE = "closeCode";

  // ---- node
  public static final String MODE = "mode";
  public static final String CLUSTERED = "clustered";
  public static final String MEMBERS = "members";
  public static final String PEER = "peer";
  public static final String PEER_RTT_MS = "peerRttMs";
  public static final String SETUP_LATENCY = "setupLatency";
  /** An agent identity: the access token's {@code sub} that names a line of {@code pool.agents}. */
  public static final String AGENT = "agent";
  /** An access token's id (its {@code jti}). */
  public static final String JTI = "jti";
  /** Epoch milliseconds at which something ends (an agent's wrap-up). */
  public static final String UNTIL_MS = "untilMs";
}
