package org.webphone.gateway.sip;

import gov.nist.javax.sip.message.SIPRequest;
import gov.nist.javax.sip.stack.MessageChannel;
import gov.nist.javax.sip.stack.SIPMessageValve;
import gov.nist.javax.sip.stack.SIPTransactionStack;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.json.JsonObject;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import javax.sip.SipStack;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.IpRanges;

/**
 * Who may talk to the gateway's SIP port. Installed as the stack's {@link SIPMessageValve}, so it sees every
 * request after parsing and before JAIN-SIP creates a transaction or dialog: a request from outside
 * {@code pbx.allowedSources} is dropped without any response, unless it belongs to a dialog or INVITE
 * transaction that already exists (a far end that talks to us directly inside a call the PBX set up). A
 * stranger therefore learns nothing: no 404 for an unknown account, no 480/486/100 for a leased one, no 200
 * to OPTIONS. Responses are not filtered (they only match transactions we created). The TCP listener asks
 * {@link #admitTcp} for every connection and reports oversized messages here.
 *
 * <p>Threads: called by JAIN-SIP's UDP worker and NIO selector threads and by the SIP verticle (counts);
 * everything here is thread-safe and never blocks. Owns no resources.
 */
final class SipPortGuard implements SIPMessageValve {
  private static final Logger LOG = LoggerFactory.getLogger(SipPortGuard.class);
  private static final long LOG_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);
  /** Sources remembered for the log's rate limit; beyond this the memory is cleared (a flood of sources). */
  private static final int LOG_SOURCES = 10_000;
  /** TCP connections one address outside the allowed sources may hold. */
  static final int TCP_PER_STRANGER = 4;

  /** Why something was dropped: the {@code reason} tag of {@code webphone_sip_dropped_total}. */
  enum Reason {
    /** A request from outside the allowed sources that starts something (INVITE, OPTIONS, REGISTER, ...). */
    stranger,
    /** A request from outside the allowed sources naming a dialog or transaction that does not exist. */
    unknown_dialog,
    /** A TCP connection refused: the total cap, or a stranger's per-address cap, was reached. */
    tcp_connection_cap,
    /** A TCP message with a Content-Length above {@code sip.maxMessageBytes} (or none we can read). */
    too_large,
    /** A connection to the TLS port that was not TLS, or whose handshake failed (a refused certificate). */
    tls_handshake
  }

  /** Replaced (never changed in place) when the registrars' addresses change, unless pbx.allowedSources is set. */
  private volatile IpRanges allowed;
  private final Map<Reason, LongAdder> counts = new EnumMap<>(Reason.class);
  private final Map<InetAddress, Long> lastLogged = new ConcurrentHashMap<>();
  private final Map<InetAddress, Integer> tcpByAddress = new ConcurrentHashMap<>();
  private final int maxTcpConnections;
  private int tcpConnections;
  private volatile SIPTransactionStack stack;

  SipPortGuard(IpRanges allowed, int maxTcpConnections) {
    this.allowed = allowed;
    this.maxTcpConnections = maxTcpConnections;
    for (Reason r : Reason.values()) {
      counts.put(r, new LongAdder());
    }
  }

  boolean allowed(InetAddress source) {
    return allowed.contains(source);
  }

  /** From now on these are the sources everything is accepted from (a re-resolution, a new registrar set). */
  void allow(IpRanges sources) {
    if (!sources.toString().equals(allowed.toString())) {
      LOG.info("SIP requests now accepted from {} (was {})", sources, allowed);
    }
    allowed = sources;
  }

  IpRanges sources() {
    return allowed;
  }

  /** The stack whose dialogs and transactions make a stranger's in-dialog request acceptable. */
  void attach(SIPTransactionStack s) {
    this.stack = s;
  }

  @Override
  public void init(SipStack s) {
    if (s instanceof SIPTransactionStack t) {
      attach(t);
    }
  }

  @Override
  public void destroy() {
  }

  @Override
  public boolean processRequest(SIPRequest req, MessageChannel channel) {
    InetAddress from = channel.getPeerPacketSourceAddress();
    if (allowed.contains(from)) {
      return true;
    }
    if (belongsToSomethingWeKnow(req)) {
      return true;
    }
    boolean inDialog = req.getToTag() != null || Request.CANCEL.equals(req.getMethod());
    drop(inDialog ? Reason.unknown_dialog : Reason.stranger, from, req.getMethod());
    return false;
  }

  private boolean belongsToSomethingWeKnow(SIPRequest req) {
    SIPTransactionStack s = stack;
    if (s == null) {
      return false;
    }
    if (Request.CANCEL.equals(req.getMethod())) {
      return s.findCancelTransaction(req, true) != null;
    }
    return req.getToTag() != null && s.getDialog(req.getDialogId(true)) != null;
  }

  @Override
  public boolean processResponse(Response response, MessageChannel channel) {
    return true;
  }

  /**
   * A new inbound TCP connection: true when it may stay. At most {@code sip.maxTcpConnections} in all, and
   * {@value #TCP_PER_STRANGER} per address outside the allowed sources. Each true needs one {@link #tcpClosed}.
   */
  synchronized boolean admitTcp(InetAddress from) {
    boolean stranger = !allowed.contains(from);
    int mine = tcpByAddress.getOrDefault(from, 0);
    if (tcpConnections >= maxTcpConnections || (stranger && mine >= TCP_PER_STRANGER)) {
      drop(Reason.tcp_connection_cap, from, "TCP connection");
      return false;
    }
    tcpConnections++;
    tcpByAddress.put(from, mine + 1);
    return true;
  }

  synchronized void tcpClosed(InetAddress from) {
    tcpConnections--;
    tcpByAddress.computeIfPresent(from, (a, n) -> n <= 1 ? null : n - 1);
  }

  synchronized int tcpConnections() {
    return tcpConnections;
  }

  /** Counts a drop and logs it, at most once a minute per source address. */
  void drop(Reason reason, InetAddress from, String what) {
    counts.get(reason).increment();
    long now = System.nanoTime();
    if (lastLogged.size() > LOG_SOURCES) {
      lastLogged.clear();
    }
    boolean[] log = {false};
    lastLogged.compute(from, (a, last) -> {
      if (last == null || now - last >= LOG_EVERY_NANOS) {
        log[0] = true;
        return now;
      }
      return last;
    });
    if (log[0]) {
      LOG.warn("SIP {} from {} dropped ({}): {}; more from this address within a minute are dropped without a log"
          + " line", what, from == null ? "?" : from.getHostAddress(), reason, why(reason));
    }
  }

  /** The reason in the words of the setting that decided it. */
  String why(Reason reason) {
    return switch (reason) {
      case stranger, unknown_dialog -> "not in pbx.allowedSources " + allowed;
      case tcp_connection_cap -> "over sip.maxTcpConnections (" + maxTcpConnections + ") or " + TCP_PER_STRANGER
          + " connections per address outside pbx.allowedSources";
      case too_large -> "Content-Length over sip.maxMessageBytes (or none that can be read)";
      case tls_handshake -> "not TLS, or the TLS handshake failed";
    };
  }

  /** {@code webphone_sip_dropped_total{node, reason}}, read from the counts; the caller removes them. */
  List<Meter> register(MeterRegistry registry, String nodeId) {
    List<Meter> meters = new ArrayList<>();
    for (Reason r : Reason.values()) {
      meters.add(FunctionCounter.builder("webphone.sip.dropped", this, g -> g.count(r))
          .description("SIP requests and TCP connections dropped at the SIP port, by reason")
          .tag("node", nodeId).tag("reason", r.name()).register(registry));
    }
    return meters;
  }

  long count(Reason r) {
    return counts.get(r).sum();
  }

  /** {@code {stranger, unknown_dialog, tcp_connection_cap, too_large, tls_handshake}}: drops since start, for sip.status. */
  JsonObject counts() {
    JsonObject j = new JsonObject();
    for (Reason r : Reason.values()) {
      j.put(r.name(), count(r));
    }
    return j;
  }
}
