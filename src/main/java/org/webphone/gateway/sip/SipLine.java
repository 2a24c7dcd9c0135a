package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import java.util.ListIterator;
import java.util.function.Supplier;
import javax.sip.ClientTransaction;
import javax.sip.address.Address;
import javax.sip.address.SipURI;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContactHeader;
import javax.sip.header.ExpiresHeader;
import javax.sip.header.MinExpiresHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.config.AccountList.Account;

/**
 * One leased account registered on the PBX, owned by the session that leased it (the line's id is the
 * session's id). Keeps the registration alive (refresh before the granted expiry, 423 honoured, capped
 * exponential backoff while the PBX is unreachable), reports every registration state to the session,
 * and holds at most two calls ({@link #call} and {@link #second}: a call waiting, or an agent's consult call).
 * Runs on the SIP verticle's event loop only.
 */
final class SipLine {
  private static final Logger LOG = LoggerFactory.getLogger(SipLine.class);
  private static final long MAX_BACKOFF_MS = 60_000;
  private static final long UNREGISTER_BOUND_MS = 3_000;
  /** A PBX silent this long counts as unreachable (SIP's own timer F would wait 32 s). */
  static final long ATTEMPT_TIMEOUT_MS = 5_000;

  enum State {
    REGISTERING(SessionEvent.REG_REGISTERING), REGISTERED(SessionEvent.REG_REGISTERED),
    FAILED(SessionEvent.REG_FAILED), UNREGISTERING(SessionEvent.REG_UNREGISTERING),
    UNREGISTERED(SessionEvent.REG_UNREGISTERED);

    /** The state as the registration event names it. */
    final String event;

    State(String event) {
      this.event = event;
    }
  }

  final String lineId;
  final String sessionId;
  final String accountId;
  final long token;
  final Account account;
  private final PbxTrunk sip;
  private final Supplier<Future<Boolean>> leaseCurrent;
  private final Address aor;
  private final String fromTag = PbxTrunk.newTag();
  private final CallIdHeader regCallId;
  private final DigestAuth auth;
  private long cseq;
  private State state = State.REGISTERING;
  private int expiresAsked;
  private int authTries;
  private boolean minExpiresApplied;
  /**
   * The first REGISTER of a fresh lease is {@code Contact: *, Expires: 0} (sip.clearBindingsOnLease): a node
   * killed with SIGKILL never un-REGISTERed, and its contact would otherwise stay at the PBX until it expires.
   */
  private boolean clearing;
  private long timer = -1;
  private long backoffMs = 1000;
  private Promise<Void> unregistered;
  private boolean everRegistered;
  private ClientTransaction pending;
  /** Counts REGISTERs handed to the stack; one still being sent when this moved on was given up (stopWatching). */
  private int attempts;
  private long attemptTimer = -1;
  /** The registrar the last REGISTER went to: its silence is reported against it, not against a newer one. */
  private PbxTarget sentTo;
  /** The registrar that accepted the last REGISTER (for sip.status: where the lines are). */
  private PbxTarget registeredWith;
  SipCall call;
  /** The line's second call (a call waiting, or an agent's consult call), or null; only while {@link #call} is set. */
  SipCall second;
  /** An agent that is not available: incoming INVITEs get this code before they ring; 0 rings as usual. */
  int rejectIncoming;

  SipLine(PbxTrunk sip, String lineId, String sessionId, String accountId, long token, Account account,
      Supplier<Future<Boolean>> leaseCurrent) throws java.text.ParseException {
    this.sip = sip;
    this.lineId = lineId;
    this.sessionId = sessionId;
    this.accountId = accountId;
    this.token = token;
    this.account = account;
    this.leaseCurrent = leaseCurrent;
    SipURI u = sip.sip.addresses().createSipURI(account.username(), sip.domain);
    u.setSecure(sip.sips);
    this.aor = sip.sip.addresses().createAddress(u);
    if (account.displayName() != null && !account.displayName().isBlank()) {
      aor.setDisplayName(account.displayName());
    }
    this.regCallId = sip.newCallId();
    this.auth = new DigestAuth(account.authUser(), account.password());
  }

  /** Both call slots are taken. */
  boolean full() {
    return call != null && second != null;
  }

  /** Puts {@code c} in the free slot (the caller checked {@link #full}). */
  void place(SipCall c) {
    if (call == null) {
      call = c;
    } else {
      second = c;
    }
  }

  /** Frees the slot of {@code callId}, if it still holds it; a remaining second call becomes the first. */
  void drop(String callId) {
    if (second != null && second.callId.equals(callId)) {
      second = null;
    } else if (call != null && call.callId.equals(callId)) {
      call = second;
      second = null;
    }
  }

  /** The line's call with this id, or null. */
  SipCall callById(String callId) {
    return call != null && call.callId.equals(callId) ? call
        : second != null && second.callId.equals(callId) ? second : null;
  }

  State state() {
    return state;
  }

  boolean registered() {
    return state == State.REGISTERED;
  }

  /** The registrar this line is registered with, or null while it is not registered. */
  PbxTarget registeredWith() {
    return registered() ? registeredWith : null;
  }

  Address aor() {
    return aor;
  }

  String fromTagForRegister() {
    return fromTag;
  }

  DigestAuth auth() {
    return auth;
  }

  long nextCseq() {
    return ++cseq;
  }

  /** Starts registering (the lease was validated by the caller). */
  void open() {
    report(State.REGISTERING, 0, null);
    clearing = sip.clearBindings;
    sendRegister(clearing ? 0 : sip.registerExpires);
  }

  private void sendRegister(int expires) {
    expiresAsked = expires;
    try {
      SipURI ruri = sip.sip.addresses().createSipURI(null, sip.domain);
      ruri.setSecure(sip.sips);
      SipURI pbx = sip.pbxUri(account.username());
      if (pbx.getPort() > 0) {
        ruri.setPort(pbx.getPort());
      }
      sentTo = sip.target();
      Request r = sip.newRequest(sentTo, Request.REGISTER, ruri, aor, fromTag, aor, regCallId, nextCseq());
      ContactHeader c = clearing ? sip.headers().createContactHeader() : sip.contact(account.username());
      r.addHeader(c);
      r.addHeader(sip.headers().createExpiresHeader(expires));
      auth.authorize(r, sip.headers());
      TxHandler handler = TxHandler.of(this::onResponse, (ClientTransaction tx) -> {
        if (tx == pending) {
          stopWatching();
          onTimeout();
        }
      });
      int attempt = ++attempts;
      sip.sendRequest(r, null, handler, tx -> {
        if (attempt == attempts) {
          watch(tx);
        } else {
          terminate(tx);
        }
      }, e -> {
        if (attempt == attempts) {
          LOG.warn("line={} cannot send REGISTER: {}", lineId, e.toString());
          onTimeout();
        }
      });
      LOG.debug("line={} REGISTER expires={} sent", lineId, expires);
    } catch (Exception e) {
      LOG.warn("line={} cannot send REGISTER: {}", lineId, e.toString());
      onTimeout();
    }
  }

  private void watch(ClientTransaction tx) {
    pending = tx;
    if (attemptTimer >= 0) {
      sip.vertx.cancelTimer(attemptTimer);
    }
    attemptTimer = sip.vertx.setTimer(ATTEMPT_TIMEOUT_MS, t -> {
      attemptTimer = -1;
      if (pending == tx) {
        pending = null;
        try {
          tx.terminate();
        } catch (Exception e) {
          LOG.debug("line={} REGISTER transaction not terminated: {}", lineId, e.toString());
        }
        onTimeout();
      }
    });
  }

  private void stopWatching() {
    pending = null;
    attempts++;
    if (attemptTimer >= 0) {
      sip.vertx.cancelTimer(attemptTimer);
      attemptTimer = -1;
    }
  }

  private void onResponse(Response r, ClientTransaction tx) {
    int code = r.getStatusCode();
    if (code < 200 || tx != pending) {
      return;
    }
    stopWatching();
    if ((code == 401 || code == 407) && authTries < 3 && auth.accept(r)) {
      authTries++;
      sendRegister(expiresAsked);
      return;
    }
    authTries = 0;
    if (clearing && unregistered == null) {
      // Whatever the answer, the line's own REGISTER comes next (a registrar refusing "*" still takes it).
      clearing = false;
      sendRegister(sip.registerExpires);
      return;
    }
    if (code == 423 && !minExpiresApplied && r.getHeader(MinExpiresHeader.NAME) instanceof MinExpiresHeader m) {
      minExpiresApplied = true;
      LOG.info("line={} PBX wants Min-Expires {}", lineId, m.getExpires());
      sendRegister(m.getExpires());
      return;
    }
    if (expiresAsked == 0) {
      finishUnregister();
      return;
    }
    if (code >= 200 && code < 300) {
      backoffMs = 1000;
      int granted = grantedExpires(r);
      long refreshMs = refreshDelayMs(granted);
      LOG.info("line={} registered as {} with {} for {} s (refresh in {} ms)", lineId, account.username(), sentTo,
          granted, refreshMs);
      everRegistered = true;
      registeredWith = sentTo;
      if (state != State.REGISTERED) {
        report(State.REGISTERED, code, r.getReasonPhrase());
      }
      schedule(refreshMs, this::refresh);
      return;
    }
    auth.reset();
    LOG.warn("line={} registration refused: {} {}", lineId, code, r.getReasonPhrase());
    report(State.FAILED, code, r.getReasonPhrase());
    if (code == 408 || code >= 500) {
      retryLater();
    }
  }

  private void onTimeout() {
    if (clearing && unregistered == null) {
      clearing = false;
      expiresAsked = sip.registerExpires; // retried below as the line's own REGISTER
    }
    if (expiresAsked == 0) {
      finishUnregister();
      return;
    }
    LOG.warn("line={} PBX {} unreachable; retrying in {} ms", lineId, sentTo, backoffMs);
    report(State.FAILED, 408, "PBX unreachable");
    retryLater();
    if (sentTo != null) {
      sip.registrars.registerUnanswered(sentTo); // a failover re-registers this line too, sooner than the retry
    }
  }

  /**
   * Registers again with the registrar that is now current (failover, failback, re-resolution) after
   * {@code delayMs}, so a node's lines do not all arrive at once. A REGISTER still waiting for the old one is
   * forgotten; a call in progress keeps its dialog (its route set and remote target do not change).
   */
  void reRegister(long delayMs) {
    if (unregistered != null || state == State.UNREGISTERING || state == State.UNREGISTERED) {
      return;
    }
    if (pending != null) {
      ClientTransaction old = pending;
      stopWatching();
      try {
        old.terminate();
      } catch (Exception e) {
        LOG.debug("line={} old REGISTER transaction not terminated: {}", lineId, e.toString());
      }
    }
    auth.reset(); // the new registrar sends its own challenge
    backoffMs = 1000;
    schedule(delayMs, () -> {
      if (state == State.FAILED) {
        report(State.REGISTERING, 0, null);
      }
      refresh();
    });
  }

  /**
   * The TLS connection to the PBX closed (the PBX closed it, or it went idle): a registered line REGISTERs again after
   * {@code delayMs} (spread by the caller so a thousand lines do not reconnect at once) over a new connection,
   * so the PBX can reach the line again. A REGISTER in flight on the old connection is given up; a first REGISTER
   * fails at once as "PBX unreachable" and is retried with the usual backoff.
   */
  void connectionLost(long delayMs) {
    if (state == State.REGISTERING && pending != null && expiresAsked != 0) {
      // closed before the PBX answered (not TLS, a handshake it broke off): no need to wait for the attempt timer
      abandonPending();
      onTimeout();
      return;
    }
    // A failed line keeps its backoff: a refused certificate also closes the connection, and re-REGISTERing
    // within 2 s each time would hammer the PBX.
    if (state != State.REGISTERED || unregistered != null) {
      return;
    }
    abandonPending();
    schedule(delayMs, this::refresh);
  }

  /**
   * The PBX's TLS certificate was refused: a REGISTER waiting for its answer fails at once with the reason
   * (instead of timing out as "PBX unreachable") and is retried with the usual backoff.
   */
  void certificateRefused(String why) {
    if (pending == null || expiresAsked == 0) {
      return;
    }
    abandonPending();
    LOG.warn("line={} registration failed: PBX certificate: {}", lineId, why);
    report(State.FAILED, 0, "PBX certificate: " + why);
    retryLater();
  }

  private void abandonPending() {
    ClientTransaction tx = pending;
    stopWatching();
    if (tx != null) {
      terminate(tx);
    }
  }

  private void terminate(ClientTransaction tx) {
    try {
      tx.terminate();
    } catch (Exception e) {
      LOG.debug("line={} REGISTER transaction not terminated: {}", lineId, e.toString());
    }
  }

  private void retryLater() {
    long delay = backoffMs;
    backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
    schedule(delay, () -> {
      report(State.REGISTERING, 0, null);
      refresh();
    });
  }

  /** Refresh (or retry): the lease is checked first, a fenced line unregisters instead. */
  private void refresh() {
    leaseCurrent.get().onComplete(ar -> {
      if (state == State.UNREGISTERING || state == State.UNREGISTERED) {
        return;
      }
      if (ar.succeeded() && !ar.result()) {
        LOG.warn("line={} lease of {} is no longer current: unregistering", lineId, accountId);
        report(State.FAILED, 0, "lease no longer current");
        close();
        return;
      }
      minExpiresApplied = false;
      sendRegister(Math.max(expiresAsked, 1));
    });
  }

  private void schedule(long ms, Runnable r) {
    cancelTimer();
    timer = sip.vertx.setTimer(Math.max(1, ms), t -> {
      timer = -1;
      r.run();
    });
  }

  private void cancelTimer() {
    if (timer >= 0) {
      sip.vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  /**
   * Unregisters (Expires: 0) and completes when the PBX answered, or after a short bound: a PBX that is
   * gone must not hold the session's release.
   */
  Future<Void> close() {
    if (unregistered != null) {
      return unregistered.future();
    }
    unregistered = Promise.promise();
    cancelTimer();
    // A line the PBX never accepted has nothing to remove there (and a refused password would only be refused again).
    if (!everRegistered && state != State.REGISTERING || state == State.UNREGISTERED) {
      finishUnregister();
      return unregistered.future();
    }
    report(State.UNREGISTERING, 0, null);
    sendRegister(0);
    timer = sip.vertx.setTimer(UNREGISTER_BOUND_MS, t -> {
      timer = -1;
      LOG.warn("line={} no answer to un-REGISTER within {} ms", lineId, UNREGISTER_BOUND_MS);
      finishUnregister();
    });
    return unregistered.future();
  }

  private void finishUnregister() {
    cancelTimer();
    stopWatching();
    if (state != State.UNREGISTERED) {
      report(State.UNREGISTERED, 0, null);
      LOG.info("line={} unregistered", lineId);
    }
    if (unregistered == null) {
      unregistered = Promise.promise();
    }
    unregistered.tryComplete();
  }

  private int grantedExpires(Response r) {
    String ourHost = sip.announced;
    for (ListIterator<?> it = r.getHeaders(ContactHeader.NAME); it.hasNext(); ) {
      ContactHeader c = (ContactHeader) it.next();
      if (c.getAddress().getURI() instanceof SipURI u && ourHost.equals(u.getHost())
          && account.username().equals(u.getUser()) && (u.getPort() == sip.contactPort) && c.getExpires() >= 0) {
        return c.getExpires();
      }
    }
    if (r.getHeader(ExpiresHeader.NAME) instanceof ExpiresHeader e) {
      return e.getExpires();
    }
    return expiresAsked;
  }

  /** Well before the granted expiry: at most 85 %, and at least 5 s early when the grant allows it. */
  static long refreshDelayMs(int grantedSec) {
    long g = Math.max(1, grantedSec) * 1000L;
    long early = Math.max(g * 15 / 100, Math.min(5_000, g / 2));
    return Math.max(500, g - early);
  }

  private void report(State s, int code, String reason) {
    state = s;
    JsonObject ev = SessionEvent.REGISTRATION.json().put(Fields.LINE_ID, lineId).put(Fields.STATE, s.event);
    if (code > 0) {
      ev.put(Fields.CODE, code);
    }
    if (reason != null) {
      ev.put(Fields.REASON, reason);
    }
    sip.emit(sessionId, ev);
  }
}
