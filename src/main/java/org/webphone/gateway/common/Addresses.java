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
 *   <li>Events for one session are sent to {@link #SESSION}; the signalling verticle consumes them and
 *       turns them into the WebSocket protocol's {@code On...} events.</li>
 * </ul>
 */
public final class Addresses {
  private Addresses() {
  }

  /**
   * An address with one id in it, e.g. {@code session.<sessionId>}: {@link #of} makes one, {@link #matches}
   * recognises one (or the pattern itself, as the docs write it).
   */
  public record Pattern(String prefix, String placeholder, String suffix) {
    public String of(String id) {
      return prefix + id + suffix;
    }

    public boolean matches(String address) {
      if (!address.startsWith(prefix) || !address.endsWith(suffix)
          || address.length() <= prefix.length() + suffix.length()) {
        return false;
      }
      String id = address.substring(prefix.length(), address.length() - suffix.length());
      return id.startsWith("<") && id.endsWith(">") || !id.contains(".");
    }

    @Override
    public String toString() {
      return prefix + "<" + placeholder + ">" + suffix;
    }
  }

  // Contracts (body, reply, failures) are the constants of common.messages.BusMessage; the long form is
  // docs/event-bus.md (EventBusDocTest keeps the two in step).

  // ---- account pool (pool.AccountPoolVerticle)
  public static final String POOL_LEASE = "pool.account.lease";
  public static final String POOL_RELEASE = "pool.account.release";
  public static final String POOL_VALIDATE = "pool.account.validate";
  public static final String POOL_STATUS = "pool.status";
  public static final String POOL_CHANGED = "pool.changed";
  public static final String POOL_LEASES_CONFIRMED = "pool.leases.confirmed";
  public static final String POOL_CANCEL_WAIT = "pool.account.cancel-wait";
  public static final Pattern POOL_NODE = new Pattern("pool.node.", "memberUuid", "");

  // ---- SIP lines and calls (sip.SipLineVerticle)
  public static final String SIP_LINE_OPEN = "sip.line.open";
  public static final String SIP_LINE_CLOSE = "sip.line.close";
  public static final String SIP_CALL_MAKE = "sip.call.make";
  public static final String SIP_CALL_ACCEPT = "sip.call.accept";
  public static final String SIP_CALL_REJECT = "sip.call.reject";
  public static final String SIP_CALL_HANGUP = "sip.call.hangup";
  public static final String SIP_CALL_HOLD = "sip.call.hold";
  public static final String SIP_CALL_DTMF = "sip.call.dtmf";
  public static final String SIP_CALL_TRANSFER = "sip.call.transfer";
  public static final String SIP_STATUS = "sip.status";
  public static final String SIP_LINE_AVAILABILITY = "sip.line.availability";

  // ---- media relay (media.MediaRelayVerticle)
  public static final String MEDIA_CREATE = "media.session.create";
  public static final String MEDIA_PBX_SDP = "media.session.pbx-sdp";
  public static final String MEDIA_BROWSER_OFFER = "media.session.browser-offer";
  public static final String MEDIA_CANDIDATE = "media.session.candidate";
  public static final String MEDIA_DIRECTION = "media.session.direction";
  public static final String MEDIA_DTMF = "media.session.dtmf";
  public static final String MEDIA_CLOSE = "media.session.close";
  public static final String MEDIA_PATH_OPEN = "media.path.open";
  public static final String MEDIA_PATH_CLOSE = "media.path.close";
  public static final String MEDIA_PATH_ATTACH = "media.path.attach";
  public static final String MEDIA_STATUS = "media.status";

  // ---- signalling (signalling.SignallingVerticle)
  public static final String SIGNALLING_OPEN = "signalling.session.open";
  public static final String SIGNALLING_CLOSE = "signalling.session.close";
  public static final String SIGNALLING_STATUS = "signalling.status";
  /** Node-local: the node drains; signalling moves idle sessions, refuses new ones, stops taking bus opens. */
  public static final String SIGNALLING_DRAIN = "signalling.drain";

  public static final String AGENT_AVAILABILITY = "signalling.agent.availability";
  public static final Pattern SESSION_COMMANDS = new Pattern("signalling.session.", "sessionId", ".commands");
  public static final Pattern SESSION_EVENTS = new Pattern("signalling.session.", "sessionId", ".events");
  /** A session of this node taken back through another node (resume on any node): only its owner answers. */
  public static final Pattern SIGNALLING_NODE_RESUME = new Pattern("signalling.node.", "nodeId", ".resume");
  /** The forwarding node's WebSocket of a session of this node closed: the session waits for a resume. */
  public static final Pattern SIGNALLING_NODE_DETACH = new Pattern("signalling.node.", "nodeId", ".detach");
  /**
   * An agent's session holding the named line (cluster-wide): a new session of the same agent on another node takes
   * it over with its call in progress, as a resume.
   */
  public static final Pattern SIGNALLING_AGENT_TAKEOVER = new Pattern("signalling.agent.", "agent", ".takeover");
  /** One forwarded WebSocket on the node that holds it: the owner's server frames and its close notice. */
  public static final Pattern SIGNALLING_FORWARD = new Pattern("signalling.forward.", "forwardId", "");
  /** The events of one session ({@link org.webphone.gateway.common.messages.SessionEvent}). */
  public static final Pattern SESSION = new Pattern("session.", "sessionId", "");

  // ---- node operations (node.NodeOpsVerticle)
  /** Node-local, consumed by {@code GatewayNode}: start this node's drain (the admin surface's request). */
  public static final String NODE_DRAIN = "gateway.drain";
  public static final Pattern NODE = new Pattern("gateway.node.", "nodeId", "");

  public static String poolNode(String member) {
    return POOL_NODE.of(member);
  }

  public static String node(String nodeId) {
    return NODE.of(nodeId);
  }

  public static String session(String sessionId) {
    return SESSION.of(sessionId);
  }

  public static String sessionCommands(String sessionId) {
    return SESSION_COMMANDS.of(sessionId);
  }

  public static String sessionEvents(String sessionId) {
    return SESSION_EVENTS.of(sessionId);
  }
}
