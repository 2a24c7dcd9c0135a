package org.webphone.gateway.media;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.media.ice.IceCandidate;

/**
 * The browser's trickled ICE candidates ({@code media.session.candidate}): parsed, mDNS {@code .local} names
 * resolved (bounded, on a worker), and added to the browser leg whose ICE ufrag they carry. A candidate for a leg
 * not built yet (the create's agent still being made, or an ICE restart's new leg) waits here until
 * {@link #legReady}; {@link #forget} drops a closed call's.
 *
 * <p>Threads: the media verticle's event loop only (no locks); ice4j is called in {@code executeBlocking}
 * (it takes its own locks) and name lookups too, each raced against a timer so the reply never waits longer
 * than {@link #MDNS_BOUND_MS}.
 */
final class TrickledCandidates {
  private static final Logger LOG = LoggerFactory.getLogger(TrickledCandidates.class);
  /** How long an mDNS lookup may take before its candidate is ignored (srflx/relay or peer-reflexive remain). */
  static final long MDNS_BOUND_MS = 1500;
  /** Candidates one call may trickle; more are ignored (a browser sends a handful per network interface). */
  static final int MAX_PER_CALL = 32;
  /** mDNS lookups in flight on the node; each may hold a worker thread for the resolver's own timeout. */
  static final int MAX_LOOKUPS = 4;
  static final String END = "end-of-candidates";

  /** A name lookup (blocking): the system's resolver (nss-mdns where installed), or a test's. */
  interface Lookup {
    InetAddress resolve(String name) throws UnknownHostException;
  }

  private final Vertx vertx;
  private final Lookup lookup;
  private final Function<String, MediaSession> current;
  private final Predicate<String> creatingNow;
  private final Map<String, List<IceCandidate>> waiting = new HashMap<>();
  private final Map<String, Integer> counts = new HashMap<>();
  private int lookups;

  /**
   * @param current     the call's registered session, or null
   * @param creatingNow whether the call's create is still running (no session registered yet)
   */
  TrickledCandidates(Vertx vertx, Lookup lookup, Function<String, MediaSession> current,
                     Predicate<String> creatingNow) {
    this.vertx = vertx;
    this.lookup = lookup;
    this.current = current;
    this.creatingNow = creatingNow;
  }

  /** Handles one {@code media.session.candidate}; replies {added, reason?} or fails 102, 302, 103. */
  void handle(Message<JsonObject> m) {
    take(m.body()).onComplete(ar -> {
      if (ar.succeeded()) {
        m.reply(ar.result());
      } else if (ar.cause() instanceof ReplyException r) {
        m.fail(r.failureCode(), r.getMessage());
      } else {
        m.fail(ErrorCode.INTERNAL.code(), ar.cause().toString());
      }
    });
  }

  /** One candidate, from the bus or from an offer ({@code .local} ones); the reply body, or a refusal. */
  Future<JsonObject> take(JsonObject b) {
    String callId = b == null ? null : b.getString(Fields.CALL_ID);
    String text = b == null ? null : b.getString(Fields.CANDIDATE);
    if (callId == null || text == null || text.isBlank()) {
      return refuse(ErrorCode.MISSING_FIELD, "media.session.candidate needs callId and candidate");
    }
    if (current.apply(callId) == null && !creatingNow.test(callId)) {
      return refuse(ErrorCode.NOT_FOUND, "no media for call " + callId);
    }
    String t = text.trim();
    if (t.equals(END) || t.equals("a=" + END)) {
      return Future.succeededFuture(outcome(false, "end of candidates"));
    }
    IceCandidate c = IceCandidate.parse(t);
    if (c == null) {
      String shown = t.length() > 80 ? t.substring(0, 80) + "..." : t;
      return refuse(ErrorCode.BAD_FIELD, "not an ICE candidate (RFC 8839 candidate-attribute): " + shown);
    }
    String ufrag = b.getString(Fields.UFRAG) != null ? b.getString(Fields.UFRAG) : c.ufrag();
    if (!c.usable() && !c.isMdns()) {
      return Future.succeededFuture(
          outcome(false, "unusable: the gateway takes UDP candidates of component 1 at IPv4 or .local addresses"));
    }
    if (counts.merge(callId, 1, Integer::sum) > MAX_PER_CALL) {
      return Future.succeededFuture(outcome(false, "more than " + MAX_PER_CALL + " candidates for this call"));
    }
    return resolved(c).transform(ar -> {
      if (ar.failed()) {
        LOG.debug("call={} candidate {} ignored: {}", callId, c.ip(), ar.cause().getMessage());
        return Future.succeededFuture(outcome(false, ar.cause().getMessage()));
      }
      return add(callId, ar.result(), ufrag);
    });
  }

  private static Future<JsonObject> refuse(ErrorCode code, String message) {
    return Future.failedFuture(new ReplyException(ReplyFailure.RECIPIENT_FAILURE, code.code(), message));
  }

  /** The candidate at an IPv4 literal: as it is, or its mDNS name looked up within the bound. */
  private Future<IceCandidate> resolved(IceCandidate c) {
    if (c.usable()) {
      return Future.succeededFuture(c);
    }
    if (lookups >= MAX_LOOKUPS) {
      return Future.failedFuture("too many mDNS lookups at once");
    }
    lookups++;
    Promise<IceCandidate> p = Promise.promise();
    long timer = vertx.setTimer(MDNS_BOUND_MS, x -> p.tryFail(c.ip() + " did not resolve within " + MDNS_BOUND_MS
        + " ms"));
    vertx.executeBlocking(() -> lookup.resolve(c.ip()), false).onComplete(ar -> {
      lookups--;
      vertx.cancelTimer(timer);
      if (ar.succeeded() && ar.result() instanceof Inet4Address a) {
        p.tryComplete(c.withIp(a.getHostAddress()));
      } else {
        p.tryFail(c.ip() + " does not resolve to an IPv4 address");
      }
    });
    return p.future();
  }

  /** On the event loop, after any lookup: the session may have gone or changed legs meanwhile. */
  private Future<JsonObject> add(String callId, IceCandidate c, String ufrag) {
    MediaSession s = current.apply(callId);
    WebRtcLeg leg = s == null ? null : s.browserLeg();
    if (leg == null || (ufrag != null && !ufrag.equals(leg.remoteUfrag()))) {
      if (s == null && !creatingNow.test(callId)) {
        return Future.succeededFuture(outcome(false, "the call's media ended"));
      }
      // The leg of this ufrag is being built (a create with answerLater, or an ICE restart): it takes it then.
      waiting.computeIfAbsent(callId, k -> new ArrayList<>()).add(ufrag == null ? c : withUfrag(c, ufrag));
      return Future.succeededFuture(outcome(true, "kept for the browser leg being built"));
    }
    return vertx.executeBlocking(() -> leg.addRemoteCandidate(c), false)
        .map(added -> outcome(added, added ? null : "ICE of this leg is already done"));
  }

  /** On the event loop, when {@code leg} became the call's browser leg: adds the candidates kept for it. */
  void legReady(String callId, WebRtcLeg leg) {
    List<IceCandidate> kept = waiting.get(callId);
    if (kept == null) {
      return;
    }
    List<IceCandidate> mine = kept.stream().filter(c -> c.ufrag() == null || c.ufrag().equals(leg.remoteUfrag()))
        .toList();
    kept.removeAll(mine);
    if (kept.isEmpty()) {
      waiting.remove(callId);
    }
    if (!mine.isEmpty()) {
      vertx.executeBlocking(() -> {
        mine.forEach(leg::addRemoteCandidate);
        return null;
      }, false);
    }
  }

  /** The call's media closed: nothing kept for it. */
  void forget(String callId) {
    waiting.remove(callId);
    counts.remove(callId);
  }

  private static IceCandidate withUfrag(IceCandidate c, String ufrag) {
    return new IceCandidate(c.foundation(), c.component(), c.transport(), c.priority(), c.ip(), c.port(), c.type(),
        ufrag);
  }

  private static JsonObject outcome(boolean added, String reason) {
    JsonObject r = new JsonObject().put(Fields.ADDED, added);
    return reason == null ? r : r.put(Fields.REASON, reason);
  }
}
