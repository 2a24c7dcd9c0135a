package org.webphone.gateway.sip;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.backends.BackendRegistries;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.ConfirmedLeases;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.PbxSources;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.SetupLatency;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.config.AccountList.Account;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.config.IpRanges;

/**
 * The gateway's telephone: one JAIN-SIP stack per node, a registered line per leased account, calls both
 * ways. Commands arrive on {@code sip.*} (see {@code docs/event-bus.md}); everything the session should
 * know goes as events to {@code session.<sessionId>}. SIP requests are dispatched in {@link SipDispatcher}.
 *
 * <p>All state (lines, calls, dialogs' application data) is touched only on this verticle's event loop.
 */
public final class SipLineVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(SipLineVerticle.class);
  private static final int RECONNECT_SPREAD_MS = 2000;
  private static final Pattern ID = Pattern.compile("^[A-Za-z0-9._:-]{1,64}$");

  private PbxTrunk sip;
  private SipEndpoint endpoint;
  private final Map<String, SipLine> lines = new HashMap<>();
  private final Map<String, SipLine> linesByUser = new HashMap<>();
  private final Map<String, SipCall> calls = new HashMap<>();
  /**
   * Opens and makes still waiting for their lease check, by line id and call id; true once a close (hang-up)
   * came for one meanwhile. A session whose request timed out undoes it by id at once; without this the undo
   * would find nothing and the line (call) would be made afterwards, held by no session.
   */
  private final Map<String, Boolean> opening = new HashMap<>();
  private final Map<String, Boolean> making = new HashMap<>();
  private Pattern dialPattern;
  /** The browsers' dial policy, applied to the targets the far end transfers a call to (REFER). */
  private org.webphone.gateway.signalling.DialPolicy dialPolicy;
  /** Re-REGISTERs after a registrar change are spread over this many milliseconds. */
  private static final int MOVE_SPREAD_MS = 2_000;
  private PbxRegistrars registrars;
  private PbxWatch watch;
  /** True when pbx.allowedSources is configured: the SIP port's sources then do not follow the registrars. */
  private boolean fixedSources;
  private boolean stopping;
  private String nodeId;
  /** This node's pool's recent confirmations: a lease in it needs no pool.account.validate round trip. */
  private final ConfirmedLeases confirmed;
  private MeterRegistry registry;
  private Counter checkedByConfirmation;
  private Counter checkedByRoundTrip;
  private SipPortGuard guard;
  private List<io.micrometer.core.instrument.Meter> guardMeters = List.of();

  public SipLineVerticle() {
    this(System::nanoTime);
  }

  /** {@code nanoClock}: the node's System.nanoTime, the one the pool's confirmations are bounded in. */
  public SipLineVerticle(java.util.function.LongSupplier nanoClock) {
    this.confirmed = new ConfirmedLeases(nanoClock);
  }

  @Override
  public Future<?> start() {
    GatewayConfig cfg = GatewayConfig.from(config());
    nodeId = config().getString("nodeId");
    dialPattern = Pattern.compile("^[0-9*#+]{1," + cfg.getInt("dial.maxLength") + "}$");
    dialPolicy = new org.webphone.gateway.signalling.DialPolicy(cfg);
    registry = nodeId == null ? null : BackendRegistries.getNow(nodeId);
    if (registry != null) {
      checkedByConfirmation = leaseChecks("confirmed");
      checkedByRoundTrip = leaseChecks("round_trip");
    }
    vertx.eventBus().<JsonObject>localConsumer(Addresses.POOL_LEASES_CONFIRMED, m -> confirmed.apply(m.body()));
    SipDispatcher dispatcher = new SipDispatcher(this);
    // The registrars are looked up here, once, on a worker (and again later by PbxWatch): a host name in a
    // request would make the stack do a blocking DNS lookup on the event loop for every request.
    List<PbxResolver.Entry> entries = PbxWatch.entries(cfg);
    PbxResolver resolver = PbxResolver.system(cfg.pbxTransport(), cfg.getString("sip.bindAddress"));
    return vertx.executeBlocking(() -> resolver.resolve(entries)).compose(targets -> {
      if (targets.isEmpty()) {
        // Without the PBX's address no line could register and nobody could call in: no half-open start.
        return Future.failedFuture(new java.net.UnknownHostException("PBX host " + cfg.pbxHost()
            + " does not resolve: no registrar to send to (fix the name, or give an IP address)"));
      }
      registrars = new PbxRegistrars(targets, cfg.getInt("pbx.failoverAfter"), cfg.getInt("pbx.failbackAfter"),
          new Moves());
      IpRanges configured = IpRanges.configuredPbxSources(cfg);
      fixedSources = !configured.isEmpty();
      guard = new SipPortGuard(fixedSources ? configured : IpRanges.ofPbxAddresses(addresses(targets)),
          cfg.getInt("sip.maxTcpConnections"));
      if (registry != null) {
        guardMeters = new ArrayList<>(guard.register(registry, nodeId));
        guardMeters.addAll(registrars.register(registry, nodeId));
      }
      LOG.info("SIP requests accepted from {} (pbx.allowedSources{})", guard.sources(),
          fixedSources ? "" : ": the registrars' addresses");
      PbxSources.publish(vertx, guard.sources()); // the media side's NAT learning follows them
      // A TCP listener only when the lines use TCP: an unused listener is only attack surface.
      SipEndpoint.Options o = new SipEndpoint.Options("webphone-sip", cfg.getString("sip.bindAddress"),
          cfg.getInt("sip.port"), "tcp".equals(cfg.pbxTransport()), cfg.getInt("sip.tlsPort"), true,
          cfg.sipAnnouncedAddress(), guard, cfg.getInt("sip.tcpIdleSec"), cfg.getInt("sip.maxMessageBytes"),
          tls(cfg));
      return SipEndpoint.start(vertx, context, o, dispatcher)
          .map(ep -> ready(cfg, dispatcher, ep, resolver, entries));
    });
  }

  private static List<InetAddress> addresses(List<PbxTarget> targets) {
    return targets.stream().map(t -> IpRanges.literal(t.address())).toList();
  }

  /** What a registrar change means for the lines and the SIP port (on the event loop). */
  private final class Moves implements PbxRegistrars.Listener {
    @Override
    public void moved(PbxTarget from, PbxTarget to, String why) {
      // Spread over 2 s: a PBX coming back should not get every line's REGISTER in the same instant.
      for (SipLine line : lines.values()) {
        line.reRegister(Randoms.secure().nextInt(MOVE_SPREAD_MS));
      }
      LOG.warn("{} lines re-register with {} ({})", lines.size(), to, why);
      if (why.startsWith("failover") && watch != null) {
        watch.resolveNow("failover");
      }
    }

    @Override
    public void targetsChanged(List<PbxTarget> targets) {
      if (!fixedSources) {
        guard.allow(IpRanges.ofPbxAddresses(addresses(targets)));
        PbxSources.publish(vertx, guard.sources());
      }
    }
  }

  /** The TLS listening point's settings, or null when there is none. */
  private static SipEndpoint.Tls tls(GatewayConfig cfg) {
    if (cfg.getInt("sip.tlsPort") == 0) {
      return null;
    }
    boolean verify = cfg.getBoolean("pbx.tlsVerify");
    if (!verify) {
      LOG.warn("pbx.tlsVerify=false: the PBX's TLS certificate is NOT checked (no CA, expiry or name check). Lab use"
          + " only: anyone on the path can pose as the PBX");
    }
    return new SipEndpoint.Tls(cfg.getString("sip.tlsCert"), cfg.getString("sip.tlsKey"),
        cfg.getString("pbx.tlsTrust"), cfg.pbxTlsServerName(), verify, cfg.getString("sip.tlsClientAuth"));
  }

  private Counter leaseChecks(String how) {
    return Counter.builder("webphone.pool.validations")
        .description("lease checks of SIP lines: answered from the pool's recent confirmation, or by asking the pool")
        .tag("node", nodeId).tag("how", how).register(registry);
  }

  private Void ready(GatewayConfig cfg, SipDispatcher dispatcher, SipEndpoint ep, PbxResolver resolver,
      List<PbxResolver.Entry> entries) {
    endpoint = ep;
    sip = new PbxTrunk(vertx, ep, cfg, registrars);
    dispatcher.init(sip);
    consume(Addresses.SIP_LINE_OPEN, this::open);
    consume(Addresses.SIP_LINE_CLOSE, this::close);
    consume(Addresses.SIP_CALL_MAKE, this::make);
    consume(Addresses.SIP_CALL_ACCEPT, this::accept);
    consume(Addresses.SIP_CALL_REJECT, this::reject);
    consume(Addresses.SIP_CALL_HANGUP, this::hangup);
    consume(Addresses.SIP_CALL_HOLD, this::hold);
    consume(Addresses.SIP_CALL_DTMF, this::dtmf);
    consume(Addresses.SIP_CALL_TRANSFER, this::transfer);
    consume(Addresses.SIP_STATUS, (m, b) -> m.reply(status()));
    consume(Addresses.SIP_LINE_AVAILABILITY, this::availability);
    ep.onTlsEvents(context, this::pbxCertificate, this::connectionClosed);
    watch = new PbxWatch(vertx, sip, resolver, entries, cfg, () -> !lines.isEmpty());
    watch.start();
    LOG.info("SIP lines ready; PBX {}:{} (registrars {}) domain {}", sip.pbxHost, sip.pbxPort, registrars.targets(),
        sip.domain);
    return null;
  }

  @Override
  public Future<?> stop() {
    stopping = true;
    if (watch != null) {
      watch.stop();
    }
    if (registry != null) {
      registry.remove(checkedByConfirmation);
      registry.remove(checkedByRoundTrip);
      guardMeters.forEach(registry::remove);
    }
    List<Future<Void>> closing = new ArrayList<>();
    for (SipLine line : new ArrayList<>(lines.values())) {
      closing.add(closeLine(line));
    }
    return Future.join(closing).eventually(() -> endpoint == null ? Future.succeededFuture() : endpoint.stop(vertx));
  }

  private void consume(String address, BiConsumer<Message<JsonObject>, JsonObject> handler) {
    vertx.eventBus().<Object>localConsumer(address, raw -> {
      @SuppressWarnings("unchecked")
      Message<JsonObject> m = (Message<JsonObject>) (Message<?>) raw;
      if (!(raw.body() instanceof JsonObject b)) {
        fail(m, ErrorCode.BAD_JSON, "body must be a JSON object");
        return;
      }
      try {
        handler.accept(m, b);
      } catch (RuntimeException e) {
        LOG.error("{} failed", address, e);
        fail(m, ErrorCode.INTERNAL, e.toString());
      }
    });
  }

  // ------------------------------------------------------------------ lines

  private void open(Message<JsonObject> m, JsonObject b) {
    String lineId = b.getValue(Fields.LINE_ID) instanceof String s ? s : null;
    String sessionId = b.getValue(Fields.SESSION_ID) instanceof String s ? s : lineId;
    String accountId = b.getValue(Fields.ACCOUNT_ID) instanceof String s ? s : null;
    JsonObject acc = b.getValue(Fields.ACCOUNT) instanceof JsonObject o ? o : null;
    Object tokenObj = b.getValue(Fields.TOKEN);
    if (stopping) {
      fail(m, ErrorCode.SHUTTING_DOWN, "the gateway is shutting down");
      return;
    }
    if (lineId == null || !ID.matcher(lineId).matches() || sessionId == null || !ID.matcher(sessionId).matches()
        || acc == null || !(acc.getValue(Fields.USERNAME) instanceof String)
        || !(acc.getValue(Fields.PASSWORD) instanceof String)
        || !(tokenObj instanceof Number)) {
      fail(m, ErrorCode.BAD_FIELD, "sip.line.open needs lineId, sessionId, accountId, token and account");
      return;
    }
    Account account = Account.fromJson(acc);
    String accId = accountId == null ? account.username() : accountId;
    long token = ((Number) tokenObj).longValue();
    if (lines.containsKey(lineId) || linesByUser.containsKey(account.username()) || opening.containsKey(lineId)) {
      fail(m, ErrorCode.WRONG_STATE, "line " + lineId + " or account " + account.username() + " is already open");
      return;
    }
    opening.put(lineId, false);
    validateLease(accId, token).onComplete(ar -> {
      if (Boolean.TRUE.equals(opening.remove(lineId))) {
        LOG.info("line={} not opened: closed while its lease was checked", lineId);
        fail(m, ErrorCode.WRONG_STATE, "line " + lineId + " was closed while it opened");
        return;
      }
      if (ar.failed()) {
        LOG.warn("line={} lease check failed: {}", lineId, ar.cause().getMessage());
        fail(m, ErrorCode.STALE_TOKEN, "lease could not be confirmed: " + ar.cause().getMessage());
        return;
      }
      if (!ar.result()) {
        LOG.warn("line={} refused: lease of {} token {} is stale", lineId, accId, token);
        fail(m, ErrorCode.STALE_TOKEN, ErrorCode.STALE_TOKEN.text());
        return;
      }
      if (lines.containsKey(lineId) || linesByUser.containsKey(account.username())) {
        fail(m, ErrorCode.WRONG_STATE, "line " + lineId + " is already open");
        return;
      }
      try {
        SipLine line = new SipLine(sip, lineId, sessionId, accId, token, account, () -> validateLease(accId, token));
        lines.put(lineId, line);
        linesByUser.put(account.username(), line);
        LOG.info("line={} opened for account {} (session {})", lineId, account.username(), sessionId);
        m.reply(new JsonObject().put(Fields.LINE_ID, lineId));
        line.open();
      } catch (Exception e) {
        fail(m, ErrorCode.BAD_FIELD, "account cannot be used in SIP: " + e.getMessage());
      }
    });
  }

  /** {lineId, code}: an agent's availability; while code is not 0 incoming INVITEs get it and never ring. */
  private void availability(Message<JsonObject> m, JsonObject b) {
    SipLine line = lines.get(b.getString(Fields.LINE_ID, ""));
    int code = b.getValue(Fields.CODE) instanceof Number n ? n.intValue() : -1;
    if (code != 0 && (code < 400 || code > 699)) {
      fail(m, ErrorCode.BAD_FIELD, "code must be 0 or a SIP failure code 400..699");
    } else if (line == null) {
      fail(m, ErrorCode.NOT_FOUND, "no line " + b.getValue(Fields.LINE_ID));
    } else {
      line.rejectIncoming = code;
      m.reply(new JsonObject().put(Fields.LINE_ID, line.lineId));
    }
  }

  /**
   * Fencing before every call, REGISTER and refresh: a lease the pool confirmed recently is current without
   * asking (docs/pool.md, "Fencing without a round trip"); any other is checked with the pool.
   */
  private Future<Boolean> validateLease(String accountId, long token) {
    if (confirmed.confirms(accountId, token)) {
      if (checkedByConfirmation != null) {
        checkedByConfirmation.increment();
      }
      return Future.succeededFuture(true);
    }
    if (checkedByRoundTrip != null) {
      checkedByRoundTrip.increment();
    }
    return sip.request(Addresses.POOL_VALIDATE,
            new JsonObject().put(Fields.ACCOUNT_ID, accountId).put(Fields.TOKEN, token))
        .map(r -> r.getBoolean(Fields.CURRENT, false));
  }

  private void close(Message<JsonObject> m, JsonObject b) {
    String lineId = b.getString(Fields.LINE_ID, "");
    SipLine line = lines.get(lineId);
    if (line == null && opening.containsKey(lineId)) {
      opening.put(lineId, true); // the open, once its lease check answers, makes no line
      m.reply(new JsonObject().put(Fields.LINE_ID, lineId));
      return;
    }
    if (line == null) {
      fail(m, ErrorCode.NOT_FOUND, "no line " + b.getValue(Fields.LINE_ID));
      return;
    }
    closeLine(line).onComplete(ar -> m.reply(new JsonObject().put(Fields.LINE_ID, line.lineId)));
  }

  /** Ends the line's call (480 while it rings, CANCEL or BYE otherwise), then unregisters. */
  private Future<Void> closeLine(SipLine line) {
    for (SipCall c : new SipCall[] {line.second, line.call}) {
      endForClose(c);
    }
    return line.close().onComplete(ar -> {
      lines.remove(line.lineId, line);
      linesByUser.remove(line.account.username(), line);
    });
  }

  private static void endForClose(SipCall c) {
    if (c != null && !c.ended()) {
      if (c.phase == SipCall.Phase.RINGING_IN) {
        c.reject(480, CallState.Cancelled);
      } else {
        c.hangup();
        // An answered incoming call waits for its ACK to send the BYE (RFC 3261 15); it ends by itself.
        if (!c.ended() && c.phase != SipCall.Phase.ANSWERING) {
          c.end(CallState.Cancelled, 0, "line closed", null);
        }
      }
    }
  }

  // ------------------------------------------------------------------ calls

  private void make(Message<JsonObject> m, JsonObject b) {
    SipLine line = lines.get(b.getString(Fields.LINE_ID, ""));
    String callId = b.getValue(Fields.CALL_ID) instanceof String s ? s : null;
    String target = b.getValue(Fields.TARGET) instanceof String s ? s : null;
    String sdp = b.getValue(Fields.SDP) instanceof String s ? s : null;
    // The session's clock: sip.call.make is a local consumer and a line lives on its session's node.
    long callNanos = SetupLatency.stamp(b, Fields.CALL_NANOS);
    if (line == null) {
      fail(m, ErrorCode.NOT_FOUND, "no line " + b.getValue(Fields.LINE_ID));
      return;
    }
    if (callId == null || !ID.matcher(callId).matches() || sdp == null || sdp.isBlank()) {
      fail(m, ErrorCode.BAD_FIELD, "sip.call.make needs callId (letters, digits, ._:-) and sdp");
      return;
    }
    if (target == null || !dialPattern.matcher(target).matches()) {
      fail(m, ErrorCode.NUMBER_REFUSED, "number must be 1-" + sip.dialMaxLength + " of 0-9 * # +");
      return;
    }
    if (!line.registered()) {
      fail(m, ErrorCode.LINE_NOT_READY, ErrorCode.LINE_NOT_READY.text());
      return;
    }
    // A second call (an agent's consult call) only when the session asks for one; the line holds at most two.
    boolean second = Boolean.TRUE.equals(b.getValue(Fields.SECOND));
    if (busyFor(line, second) || calls.containsKey(callId) || making.containsKey(callId)) {
      fail(m, ErrorCode.LINE_BUSY, ErrorCode.LINE_BUSY.text());
      return;
    }
    making.put(callId, false);
    validateLease(line.accountId, line.token).onComplete(ar -> {
      if (Boolean.TRUE.equals(making.remove(callId))) {
        LOG.info("call={} line={} no INVITE: hung up while the lease was checked", callId, line.lineId);
        fail(m, ErrorCode.WRONG_STATE, "call " + callId + " was hung up before its INVITE");
        return;
      }
      if (ar.failed() || !ar.result()) {
        LOG.warn("call={} line={} refused: lease is not current", callId, line.lineId);
        fail(m, ErrorCode.STALE_TOKEN, ErrorCode.STALE_TOKEN.text());
        if (ar.succeeded()) {
          closeLine(line);
        }
        return;
      }
      if (busyFor(line, second) || !line.registered() || lines.get(line.lineId) != line) {
        fail(m, ErrorCode.LINE_BUSY, "line changed while checking the lease");
        return;
      }
      try {
        SipCall c = SipCall.outgoing(sip, line, callId, target, sdp,
            () -> SetupLatency.record(nodeId, SetupLatency.CALL_TO_INVITE, callNanos), () -> forget(line, callId));
        line.place(c);
        calls.put(callId, c);
        m.reply(new JsonObject().put(Fields.CALL_ID, callId));
      } catch (Exception e) {
        LOG.warn("call={} line={} INVITE not sent: {}", callId, line.lineId, e.toString());
        fail(m, ErrorCode.INTERNAL, "INVITE not sent: " + e.getMessage());
      }
    });
  }

  private static boolean busyFor(SipLine line, boolean second) {
    return second ? line.full() || line.call == null : line.call != null;
  }

  /** Incoming INVITE for a registered line with a free slot (checked by the dispatcher). */
  SipCall newIncoming(SipLine line, javax.sip.ServerTransaction st, javax.sip.message.Request req) throws Exception {
    String callId = "in-" + Randoms.uuid();
    // Auto-answer headers count only from the PBX's allowed sources (docs/sip.md, Auto-answer).
    boolean fromPbx = req instanceof gov.nist.javax.sip.message.SIPRequest r && r.getPeerPacketSourceAddress() != null
        && guard.allowed(r.getPeerPacketSourceAddress());
    Integer autoAnswerMs = fromPbx ? AutoAnswerRequest.delayMs(req) : null;
    SipCall c = SipCall.incoming(sip, line, callId, st, req, autoAnswerMs, () -> forget(line, callId));
    line.place(c);
    calls.put(callId, c);
    return c;
  }

  private void forget(SipLine line, String callId) {
    calls.remove(callId);
    line.drop(callId);
  }

  private void accept(Message<JsonObject> m, JsonObject b) {
    SipCall c = call(m, b);
    if (c == null) {
      return;
    }
    String sdp = b.getValue(Fields.SDP) instanceof String s ? s : null;
    if (sdp == null || sdp.isBlank()) {
      fail(m, ErrorCode.BAD_FIELD, "sip.call.accept needs sdp");
      return;
    }
    if (c.outgoing || c.phase != SipCall.Phase.RINGING_IN) {
      fail(m, ErrorCode.WRONG_STATE, "call " + c.callId + " is not ringing here");
      return;
    }
    try {
      c.accept(sdp);
      m.reply(new JsonObject().put(Fields.CALL_ID, c.callId));
    } catch (Exception e) {
      fail(m, ErrorCode.INTERNAL, "200 OK not sent: " + e.getMessage());
    }
  }

  private void reject(Message<JsonObject> m, JsonObject b) {
    SipCall c = call(m, b);
    if (c == null) {
      return;
    }
    int code = b.getValue(Fields.CODE) instanceof Number n ? n.intValue() : sip.rejectCode;
    if (code < 400 || code > 699) {
      fail(m, ErrorCode.BAD_FIELD, "code must be 400..699");
      return;
    }
    if (c.outgoing || c.phase != SipCall.Phase.RINGING_IN) {
      fail(m, ErrorCode.WRONG_STATE, "call " + c.callId + " is not ringing here");
      return;
    }
    c.reject(code, CallState.Rejected);
    m.reply(new JsonObject().put(Fields.CALL_ID, c.callId));
  }

  private void hangup(Message<JsonObject> m, JsonObject b) {
    String callId = b.getString(Fields.CALL_ID, "");
    if (!calls.containsKey(callId) && making.containsKey(callId)) {
      making.put(callId, true); // the make, once its lease check answers, sends no INVITE
      m.reply(new JsonObject().put(Fields.CALL_ID, callId));
      return;
    }
    SipCall c = call(m, b);
    if (c != null) {
      boolean cancelling = c.phase == SipCall.Phase.CALLING || c.phase == SipCall.Phase.EARLY;
      c.hangup();
      // A cancelled INVITE still waits for its 487 (or ACKs and BYEs a 200 that crossed the CANCEL) for up to
      // a few seconds. The session already counts the call as over, so the line is free for the next call at
      // once: load runs saw a Call right after such a HangUp refused with 304 LINE_BUSY. The settling call
      // stays in `calls` and forgets itself; forget() only clears the slot if it still holds this call.
      if (cancelling && !c.ended()) {
        c.line.drop(c.callId);
      }
      m.reply(new JsonObject().put(Fields.CALL_ID, c.callId));
    }
  }

  private void hold(Message<JsonObject> m, JsonObject b) {
    SipCall c = call(m, b);
    if (c == null) {
      return;
    }
    if (!(b.getValue(Fields.HOLD) instanceof Boolean hold)) {
      fail(m, ErrorCode.BAD_FIELD, "hold must be true or false");
      return;
    }
    if (c.phase != SipCall.Phase.CONFIRMED) {
      fail(m, ErrorCode.WRONG_STATE, "call " + c.callId + " is not established");
      return;
    }
    c.inDialog.hold(hold).onComplete(ar -> replyOrFail(m, c, ar.cause()));
  }

  private void dtmf(Message<JsonObject> m, JsonObject b) {
    SipCall c = call(m, b);
    if (c == null) {
      return;
    }
    String digits = b.getValue(Fields.DIGITS) instanceof String s ? s : null;
    if (digits == null || !digits.matches("^[0-9*#A-Da-d]{1,32}$")) {
      fail(m, ErrorCode.BAD_FIELD, "digits must be 1-32 of 0-9 * # A-D");
      return;
    }
    if (c.phase != SipCall.Phase.CONFIRMED) {
      fail(m, ErrorCode.WRONG_STATE, "call " + c.callId + " is not established");
      return;
    }
    c.inDialog.sendDtmf(digits.toUpperCase()).onComplete(ar -> replyOrFail(m, c, ar.cause()));
  }

  private void transfer(Message<JsonObject> m, JsonObject b) {
    SipCall c = call(m, b);
    if (c == null) {
      return;
    }
    String target = b.getValue(Fields.TARGET) instanceof String s ? s : null;
    String replaces = b.getValue(Fields.REPLACES) instanceof String s ? s : null;
    SipCall consult = replaces == null ? null : c.line.callById(replaces);
    if (replaces != null && (consult == null || consult == c)) {
      fail(m, ErrorCode.NOT_FOUND, "no consult call " + replaces + " on line " + c.line.lineId);
      return;
    }
    if (consult == null && (target == null || !dialPattern.matcher(target).matches())) {
      fail(m, ErrorCode.NUMBER_REFUSED, "number must be 1-" + sip.dialMaxLength + " of 0-9 * # +");
      return;
    }
    if (c.phase != SipCall.Phase.CONFIRMED || consult != null && consult.phase != SipCall.Phase.CONFIRMED) {
      fail(m, ErrorCode.WRONG_STATE, "call " + (consult == null ? c : consult).callId + " is not established");
      return;
    }
    (consult == null ? c.inDialog.transfer(target) : c.inDialog.transferTo(consult))
        .onComplete(ar -> replyOrFail(m, c, ar.cause()));
  }

  private void replyOrFail(Message<JsonObject> m, SipCall c, Throwable cause) {
    if (cause == null) {
      m.reply(new JsonObject().put(Fields.CALL_ID, c.callId));
    } else {
      int code = cause instanceof ReplyException re ? re.failureCode() : ErrorCode.WRONG_STATE.code();
      m.fail(code, cause.getMessage());
    }
  }

  private SipCall call(Message<JsonObject> m, JsonObject b) {
    SipCall c = calls.get(b.getString(Fields.CALL_ID, ""));
    String lineId = b.getValue(Fields.LINE_ID) instanceof String s ? s : null;
    if (c == null || (lineId != null && !lineId.equals(c.line.lineId))) {
      fail(m, ErrorCode.NOT_FOUND, "no call " + b.getValue(Fields.CALL_ID) + " on line " + lineId);
      return null;
    }
    return c;
  }

  // ------------------------------------------------------------------ TLS toward the PBX

  /** Each line waiting for its REGISTER's answer fails at once with the reason; null means accepted again. */
  private void pbxCertificate(String why) {
    if (why != null) {
      for (SipLine line : new ArrayList<>(lines.values())) {
        line.certificateRefused(why);
      }
    }
  }

  /**
   * A TLS connection we opened closed. When it was the one to the current registrar, every line REGISTERs again over a new
   * one, spread at random over {@value #RECONNECT_SPREAD_MS} ms so that a thousand lines do not hit the PBX
   * (and its TLS handshakes, one per connection, only the first opens it) in the same instant.
   */
  private void connectionClosed(java.net.InetSocketAddress remote) {
    PbxTarget current = registrars.current();
    if (stopping || !new PbxTarget(remote.getAddress().getHostAddress(), remote.getPort(), "").equals(current)) {
      return; // not the connection the lines use (one to a registrar they left, or a duplicate)
    }
    LOG.info("TLS connection to the PBX {} closed; {} line(s) register again within {} ms", remote, lines.size(),
        RECONNECT_SPREAD_MS);
    for (SipLine line : lines.values()) {
      line.connectionLost(java.util.concurrent.ThreadLocalRandom.current().nextInt(RECONNECT_SPREAD_MS));
    }
  }

  // ------------------------------------------------------------------ for the dispatcher

  SipLine lineForUser(String user) {
    return user == null ? null : linesByUser.get(user);
  }

  boolean stopping() {
    return stopping;
  }

  /** The call whose dialog a Replaces header names (RFC 3891: to-tag is ours, from-tag the far end's), or null. */
  SipCall callOfDialog(IncomingReplaces.Target t) {
    for (SipCall c : calls.values()) {
      javax.sip.Dialog d = c.dialog;
      if (d != null && t.callId().equals(d.getCallId().getCallId()) && t.toTag().equals(d.getLocalTag())
          && t.fromTag().equals(d.getRemoteTag())) {
        return c;
      }
    }
    return null;
  }

  /** Whether a transfer target (a received Refer-To's user part) may be called: the dial policy, unchanged. */
  boolean mayDial(String number) {
    try {
      return dialPattern.matcher(number).matches() && dialPolicy.check(number).equals(number);
    } catch (org.webphone.gateway.signalling.protocol.ProtocolException refused) {
      return false;
    }
  }

  /** The node drains ({@code GatewayNode#drain}): its lines take no new incoming call. */
  boolean nodeDraining() {
    return org.webphone.gateway.common.NodeFacts.of(vertx).state() == org.webphone.gateway.common.NodeFacts.State.DRAINING;
  }

  private JsonObject status() {
    long registered = lines.values().stream().filter(SipLine::registered).count();
    JsonObject s = new JsonObject().put(Fields.LINES, lines.size()).put(Fields.REGISTERED, registered)
        .put(Fields.CALLS, calls.size())
        .put(Fields.DROPPED, guard.counts()).put(Fields.PBX, registrarStatus());
    if (endpoint.tls()) {
      s.put(Fields.TLS, tlsStatus());
    }
    return s;
  }

  /** The registrars' status plus {@code registeredWith}: how many lines each registrar holds now. */
  private JsonObject registrarStatus() {
    JsonObject where = new JsonObject();
    for (SipLine l : lines.values()) {
      PbxTarget t = l.registeredWith();
      if (t != null) {
        where.put(t.hostPort(), where.getInteger(t.hostPort(), 0) + 1);
      }
    }
    return registrars.status().put("registeredWith", where);
  }

  /**
   * {@code {inboundConnections, pbxCertificate: "ok" | "PBX certificate: <why>"}}
   * (what the full /health shows).
   */
  private JsonObject tlsStatus() {
    String problem = endpoint.pbxCertificateProblem();
    return new JsonObject().put(Fields.PBX_CERTIFICATE, problem == null ? "ok" : "PBX certificate: " + problem)
        .put(Fields.INBOUND_CONNECTIONS, guard.tcpConnections());
  }

  private static void fail(Message<JsonObject> m, ErrorCode code, String text) {
    m.fail(code.code(), text);
  }
}
