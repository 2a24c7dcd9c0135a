package org.webphone.gateway.sip;

import io.vertx.core.Future;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.function.Predicate;
import javax.sip.ClientTransaction;
import javax.sip.Dialog;
import javax.sip.DialogState;
import javax.sip.ServerTransaction;
import javax.sip.address.Address;
import javax.sip.address.SipURI;
import javax.sip.address.URI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContentTypeHeader;
import javax.sip.header.EventHeader;
import javax.sip.header.ReferToHeader;
import javax.sip.header.SubscriptionStateHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * The far end transfers us (RFC 3515): an in-dialog REFER of a confirmed call is checked, accepted (202) and
 * followed by a new INVITE to the Refer-To target, its progress reported back by NOTIFY (message/sipfrag: 100
 * Trying, then the final status line).
 *
 * <p>What is accepted: a Refer-To that is a {@code sip:}/{@code sips:} URI with a user part the dial policy
 * allows, and no embedded header but {@code Replaces} (which the new INVITE carries: the PBX side's attended
 * transfer). Anything else gets 403 and nothing is dialled; a REFER without Refer-To gets 400. The Refer-To's
 * host is not used: the new INVITE goes to the user at our PBX, as every call of a line does, so a REFER can
 * never make us call another server.
 *
 * <p>The gateway call stays the same (same call id for the page, same media session, same browser leg): only
 * the PBX leg changes. When the target answers, its SDP goes to the media verticle as an answer to our
 * unchanged offer (the PBX leg's address and codec), the call moves onto the new dialog, the old one gets
 * BYE (unless the far end already sent it) and the page gets {@code transfer} events with direction
 * {@code in}. When the target fails, the call stays on the old dialog if the far end kept it, else it ends
 * with the target's status. A BYE of the old dialog while the new INVITE runs does not end the call.
 *
 * <p>Event-loop only, like its {@link SipCall}, which holds at most one at a time and ends it with itself.
 */
final class IncomingRefer {
  private static final Logger LOG = LoggerFactory.getLogger(IncomingRefer.class);

  private final SipCall call;
  private final Dialog oldDialog;
  private final String target;
  private final String replaces;
  private final long referCseq;
  private final DigestAuth auth;
  private Request invite;
  private ClientTransaction tx;
  private int authTries;
  private boolean provisional;
  private boolean abandoned;
  private boolean oldEnded;
  private boolean done;

  private IncomingRefer(SipCall call, String target, String replaces, long referCseq) {
    this.call = call;
    this.oldDialog = call.dialog;
    this.target = target;
    this.replaces = replaces;
    this.referCseq = referCseq;
    this.auth = new DigestAuth(call.line.account.authUser(), call.line.account.password());
  }

  /**
   * A REFER inside {@code call}'s dialog. {@code allowed} is the dial policy (true: the number may be called).
   */
  static void onRefer(SipCall call, Request req, ServerTransaction st, Predicate<String> allowed) {
    ReferToHeader rt = (ReferToHeader) req.getHeader(ReferToHeader.NAME);
    String why = null;
    int code = Response.FORBIDDEN;
    String[] targetAndReplaces = null;
    if (rt == null) {
      code = Response.BAD_REQUEST;
      why = "no Refer-To";
    } else if (call.phase != SipCall.Phase.CONFIRMED) {
      why = "the call is not established";
    } else if (call.referral != null) {
      code = Response.REQUEST_PENDING;
      why = "another transfer is in progress";
    } else {
      targetAndReplaces = new String[2];
      why = check(rt.getAddress(), allowed, targetAndReplaces);
    }
    if (why != null) {
      LOG.info("call={} line={} REFER refused with {}: {}", call.callId, call.line.lineId, code, why);
      call.inDialog.respond(st, req, code, null);
      return;
    }
    long cseq = ((CSeqHeader) req.getHeader(CSeqHeader.NAME)).getSeqNumber();
    IncomingRefer r = new IncomingRefer(call, targetAndReplaces[0], targetAndReplaces[1], cseq);
    call.referral = r;
    call.inDialog.respond(st, req, Response.ACCEPTED, null);
    LOG.info("call={} line={} transferred by the far end to {}{}", call.callId, call.line.lineId, r.target,
        r.replaces == null ? "" : " (replacing " + r.replaces + ")");
    r.notifyProgress(100, "Trying", false);
    r.report(100, "Transferred by the far end to " + r.target);
    r.sendInvite();
  }

  /** Null when {@code to} may be followed (then out = {target, replaces or null}), else why not. */
  static String check(Address to, Predicate<String> allowed, String[] out) {
    URI uri = to.getURI();
    if (!(uri instanceof SipURI u) || !("sip".equalsIgnoreCase(uri.getScheme())
        || "sips".equalsIgnoreCase(uri.getScheme()))) {
      return "Refer-To is not a sip: or sips: URI";
    }
    String method = u.getMethodParam();
    if (method != null && !Request.INVITE.equalsIgnoreCase(method)) {
      return "Refer-To asks for method " + method;
    }
    String replaces = null;
    for (Iterator<?> it = u.getHeaderNames(); it != null && it.hasNext(); ) {
      String name = String.valueOf(it.next());
      if (!"Replaces".equalsIgnoreCase(name)) {
        return "Refer-To carries header " + name;
      }
      replaces = URLDecoder.decode(u.getHeader(name), StandardCharsets.UTF_8);
      if (replaces.indexOf('\r') >= 0 || replaces.indexOf('\n') >= 0) {
        return "Refer-To's Replaces has a line break";
      }
    }
    String user = u.getUser() == null ? "" : URLDecoder.decode(u.getUser(), StandardCharsets.UTF_8);
    if (!allowed.test(user)) {
      return "the dial policy refuses " + (user.isEmpty() ? "an empty number" : user);
    }
    out[0] = user;
    out[1] = replaces;
    return null;
  }

  boolean pending() {
    return !done;
  }

  /** The far end sent BYE on the old dialog while the new INVITE runs: the call goes on, waiting for it. */
  void oldDialogEnded() {
    oldEnded = true;
    LOG.info("call={} line={} the transferor hung up; waiting for {}", call.callId, call.line.lineId, target);
  }

  /** The call ended (hang-up, line closed) while the new INVITE runs: CANCEL it, or BYE a 200 that comes. */
  void abandon() {
    if (done) {
      return;
    }
    abandoned = true;
    if (provisional) {
      cancel();
    }
  }

  // ------------------------------------------------------------------ the new INVITE

  private void sendInvite() {
    try {
      SipURI ruri = call.sip.pbxUri(target.replace("#", "%23"));
      Address to = call.sip.sip.addresses().createAddress(ruri);
      CallIdHeader cid = call.sip.newCallId();
      Request r = call.sip.newRequest(Request.INVITE, ruri, call.line.aor(), PbxTrunk.newTag(), to, cid, 1);
      r.addHeader(call.sip.contact(call.line.account.username()));
      r.addHeader(call.sip.headers().createHeader(call.sip.callIdHeader, call.callId));
      r.addHeader(call.sip.headers().createAllowHeader("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY"));
      if (replaces != null) {
        r.addHeader(call.sip.headers().createHeader("Replaces", replaces));
      }
      r.setContent(call.localSdp, call.sip.headers().createContentTypeHeader("application", "sdp"));
      send(r);
      LOG.info("call={} line={} INVITE to transfer target {} sent (sip call-id {})", call.callId, call.line.lineId,
          target, cid.getCallId());
    } catch (Exception e) {
      LOG.warn("call={} line={} INVITE to {} not sent: {}", call.callId, call.line.lineId, target, e.toString());
      failed(500, "INVITE not sent");
    }
  }

  private void send(Request r) {
    invite = r;
    // The trunk's path: over TCP/TLS the transaction's connect happens off the event loop, in order.
    call.sip.sendRequest(r, null, TxHandler.of(this::onResponse, () -> failed(408, "Request Timeout")),
        t -> tx = t, e -> {
          LOG.warn("call={} line={} INVITE to {} not sent: {}", call.callId, call.line.lineId, target, e.toString());
          failed(500, "INVITE not sent");
        });
  }

  private void onResponse(Response r, ClientTransaction t) {
    int code = r.getStatusCode();
    if (code < 200) {
      provisional = true;
      if (abandoned) {
        cancel();
      }
      return;
    }
    if (code < 300) {
      answered(r, t);
      return;
    }
    if ((code == 401 || code == 407) && !abandoned && authTries < 2 && auth.accept(r)) {
      authTries++;
      try {
        send(call.sip.reinviteWithCredentials(invite, auth));
        return;
      } catch (Exception e) {
        LOG.warn("call={} line={} cannot answer the challenge: {}", call.callId, call.line.lineId, e.toString());
      }
    }
    failed(code, r.getReasonPhrase());
  }

  private void answered(Response r, ClientTransaction t) {
    Dialog d = t.getDialog();
    if (done || d == null) {
      return; // a retransmitted 200: the stack ACKs it on the confirmed dialog
    }
    done = true;
    try {
      call.sip.sendAck(d, d.createAck(((CSeqHeader) r.getHeader(CSeqHeader.NAME)).getSeqNumber()))
          .onFailure(e -> LOG.warn("call={} line={} cannot ACK the transfer target: {}", call.callId,
              call.line.lineId, e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} cannot ACK the transfer target: {}", call.callId, call.line.lineId, e.toString());
    }
    if (abandoned || call.ended()) {
      call.sendBye(d);
      return;
    }
    String answer = SipCall.sdpOf(r);
    call.serial(() -> (answer == null ? Future.<Void>succeededFuture() : call.givePbxAnswer(answer))
        .map(x -> {
          moveTo(d);
          return (Void) null;
        }).recover(err -> {
          LOG.warn("call={} line={} media refused the transfer target's SDP: {}", call.callId, call.line.lineId,
              err.getMessage());
          call.sendBye(d);
          done = false; // failed() reports and decides what the call does
          failed(488, "Not Acceptable Here");
          return Future.succeededFuture();
        }));
  }

  /** The call now lives on {@code d}: the old dialog is told and released. */
  private void moveTo(Dialog d) {
    call.referral = null;
    if (call.ended()) {
      call.sendBye(d);
      return;
    }
    d.setApplicationData(call);
    call.dialog = d;
    notifyProgress(200, "OK", true);
    oldDialog.setApplicationData(null);
    if (!oldEnded) {
      call.sendBye(oldDialog);
    }
    LOG.info("call={} line={} now talking to transfer target {}", call.callId, call.line.lineId, target);
    report(200, "Connected to " + target);
  }

  private void failed(int code, String reason) {
    if (done) {
      return;
    }
    done = true;
    call.referral = null;
    LOG.info("call={} line={} transfer to {} failed: {} {}", call.callId, call.line.lineId, target, code, reason);
    if (call.ended()) {
      return;
    }
    notifyProgress(code, reason, true);
    report(code, "Transfer by the far end to " + target + " failed: " + code + " " + reason);
    if (oldEnded) {
      call.end(CallState.Completed, code, "transfer target " + target + ": " + reason, null);
    }
  }

  private void cancel() {
    try {
      call.sip.sendRequest(tx.createCancel(), null, TxHandler.of((r, t) -> { }, () -> { }), t -> { },
          e -> LOG.debug("call={} CANCEL to transfer target not sent: {}", call.callId, e.toString()));
    } catch (Exception e) {
      LOG.debug("call={} CANCEL to transfer target not sent: {}", call.callId, e.toString());
    }
  }

  // ------------------------------------------------------------------ progress

  /** NOTIFY on the old dialog (RFC 3515 2.4.4), unless the transferor already ended it. */
  private void notifyProgress(int code, String reason, boolean last) {
    if (oldEnded || oldDialog.getState() == DialogState.TERMINATED) {
      return;
    }
    try {
      Request n = oldDialog.createRequest(Request.NOTIFY);
      EventHeader event = call.sip.headers().createEventHeader("refer");
      event.setEventId(Long.toString(referCseq));
      n.addHeader(event);
      SubscriptionStateHeader state = call.sip.headers().createSubscriptionStateHeader(
          last ? SubscriptionStateHeader.TERMINATED : SubscriptionStateHeader.ACTIVE);
      if (last) {
        state.setReasonCode(SubscriptionStateHeader.NO_RESOURCE);
      } else {
        state.setExpires(60);
      }
      n.addHeader(state);
      n.setHeader(call.sip.contact(call.line.account.username()));
      ContentTypeHeader sipfrag = call.sip.headers().createContentTypeHeader("message", "sipfrag");
      sipfrag.setParameter("version", "2.0");
      n.setContent("SIP/2.0 " + code + " " + reason + "\r\n", sipfrag);
      call.sip.sendRequest(n, oldDialog, TxHandler.of((r, t) -> { }, () -> { }), t -> { },
          e -> LOG.warn("call={} line={} NOTIFY {} not sent: {}", call.callId, call.line.lineId, code, e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} NOTIFY {} not sent: {}", call.callId, call.line.lineId, code, e.toString());
    }
  }

  private void report(int code, String reason) {
    call.sip.emit(call.line.sessionId, SessionEvent.TRANSFER.json().put(Fields.CALL_ID, call.callId)
        .put(Fields.CODE, code).put(Fields.REASON, reason).put(Fields.DIRECTION, SessionEvent.DIRECTION_IN));
  }
}
