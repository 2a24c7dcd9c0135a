package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sip.ServerTransaction;
import javax.sip.address.SipURI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.ContentTypeHeader;
import javax.sip.header.SubscriptionStateHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * The in-dialog part of a confirmed call: hold and resume (our re-INVITE), the PBX's re-INVITE (remote
 * hold), DTMF by SIP INFO both ways, blind and attended transfer (REFER and its NOTIFY progress). Only one local
 * re-INVITE, INFO run or REFER is in flight at a time; a PBX re-INVITE crossing ours gets 491.
 */
final class InDialog {
  private static final Logger LOG = LoggerFactory.getLogger(InDialog.class);
  private static final Pattern SIGNAL = Pattern.compile("(?im)^\\s*signal\\s*=\\s*([0-9*#A-Da-d])");
  private static final Pattern SIPFRAG = Pattern.compile("^SIP/2\\.0\\s+(\\d{3})\\s*(.*)$", Pattern.MULTILINE);

  private final SipCall call;
  private Promise<Void> pending;
  private boolean transferring;
  /** The consult call our pending attended transfer replaces, or null. */
  private SipCall replaced;
  /** How long a consult call may outlive its completed attended transfer before we end it. */
  static final long REPLACED_BYE_MS = 8_000;

  InDialog(SipCall call) {
    this.call = call;
  }

  private boolean busy() {
    return pending != null && !pending.future().isComplete();
  }

  void failPending(String why) {
    if (pending != null) {
      pending.tryFail(why);
    }
  }

  // ------------------------------------------------------------------ hold

  /** Our hold/resume: the media verticle gives the re-offer; the state changes after the 200. */
  Future<Void> hold(boolean hold) {
    if (busy()) {
      return Future.failedFuture("another request is in progress");
    }
    Promise<Void> p = Promise.promise();
    pending = p;
    String direction = hold ? "sendonly" : "sendrecv";
    call.sip.request(Addresses.MEDIA_DIRECTION,
        new JsonObject().put(Fields.CALL_ID, call.callId).put(Fields.DIRECTION, direction))
        .onFailure(p::tryFail)
        .onSuccess(reply -> {
          String sdp = reply.getString(Fields.SDP, call.localSdp);
          try {
            Request re = call.dialog.createRequest(Request.INVITE);
            // The dialog's request has the stack's Contact (no user part) already: ours replaces it, one value.
            re.setHeader(call.sip.contact(call.line.account.username()));
            re.setContent(sdp, call.sip.headers().createContentTypeHeader("application", "sdp"));
            call.localSdp = sdp;
            call.sip.sendRequest(re, call.dialog, TxHandler.of((r, tx) -> onReInviteResponse(r, hold, p),
                () -> p.tryFail("re-INVITE timed out")),
                tx -> LOG.info("call={} line={} re-INVITE {} sent", call.callId, call.line.lineId, direction),
                e -> p.tryFail(e.toString()));
          } catch (Exception e) {
            p.tryFail(e.toString());
          }
        });
    return p.future();
  }

  private void onReInviteResponse(Response r, boolean hold, Promise<Void> p) {
    int code = r.getStatusCode();
    if (code < 200) {
      return;
    }
    if (code >= 300) {
      p.tryFail("re-INVITE refused: " + code + " " + r.getReasonPhrase());
      return;
    }
    try {
      long cseq = ((CSeqHeader) r.getHeader(CSeqHeader.NAME)).getSeqNumber();
      call.sip.sendAck(call.dialog, call.dialog.createAck(cseq)).onFailure(e -> LOG.warn(
          "call={} line={} cannot ACK the re-INVITE: {}", call.callId, call.line.lineId, e.toString()));
    } catch (Exception e) {
      p.tryFail("cannot ACK: " + e);
      return;
    }
    String answer = SipCall.sdpOf(r);
    call.serial(() -> (answer == null ? Future.<Void>succeededFuture() : call.givePbxSdp(answer)).map(x -> {
      call.report(hold ? CallState.LocalHeld : CallState.InCall, code, r.getReasonPhrase(), null);
      p.tryComplete();
      return (Void) null;
    }).recover(err -> {
      p.tryFail(err.getMessage());
      return Future.succeededFuture();
    }));
  }

  /** The PBX's re-INVITE: the media verticle answers; sendonly/inactive means the far end holds us. */
  void onReInvite(Request req, ServerTransaction st) {
    if (busy()) {
      respond(st, req, Response.REQUEST_PENDING, null);
      return;
    }
    String offer = SipCall.sdpOf(req);
    if (offer == null) {
      // Offerless re-INVITE: our last SDP is the offer, the ACK brings the answer (onLateAnswer).
      respond(st, req, Response.OK, call.localSdp);
      return;
    }
    CallState next = remoteHolds(offer) ? CallState.RemoteHeld : CallState.InCall;
    call.serial(() -> call.sip.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put(Fields.CALL_ID, call.callId)
        .put(Fields.SDP, offer)).map(reply -> {
          String answer = reply.getString(Fields.SDP, call.localSdp);
          call.localSdp = answer;
          respond(st, req, Response.OK, answer);
          if (call.reported != CallState.LocalHeld || next == CallState.RemoteHeld) {
            call.report(next, 200, "OK", null);
          }
          return (Void) null;
        }).recover(err -> {
          LOG.warn("call={} line={} re-offer refused by media: {}", call.callId, call.line.lineId, err.getMessage());
          respond(st, req, Response.NOT_ACCEPTABLE_HERE, null);
          return Future.succeededFuture();
        }));
  }

  void onLateAnswer(String sdp) {
    call.serial(() -> call.givePbxSdp(sdp).recover(e -> Future.succeededFuture()));
  }

  static boolean remoteHolds(String sdp) {
    String s = sdp.toLowerCase(Locale.ROOT);
    return s.contains("a=sendonly") || s.contains("a=inactive") || s.contains("c=in ip4 0.0.0.0");
  }

  // ------------------------------------------------------------------ DTMF by INFO

  Future<Void> sendDtmf(String digits) {
    if (busy()) {
      return Future.failedFuture("another request is in progress");
    }
    Promise<Void> p = Promise.promise();
    pending = p;
    sendDigit(digits, 0, p);
    return p.future();
  }

  private void sendDigit(String digits, int i, Promise<Void> p) {
    if (i >= digits.length()) {
      p.tryComplete();
      return;
    }
    try {
      Request info = call.dialog.createRequest(Request.INFO);
      String body = "Signal=" + digits.charAt(i) + "\r\nDuration=160\r\n";
      info.setContent(body, call.sip.headers().createContentTypeHeader("application", "dtmf-relay"));
      call.sip.sendRequest(info, call.dialog, TxHandler.of((r, tx) -> {
        if (r.getStatusCode() >= 300) {
          p.tryFail("INFO refused: " + r.getStatusCode());
        } else if (r.getStatusCode() >= 200) {
          sendDigit(digits, i + 1, p);
        }
      }, () -> p.tryFail("INFO timed out")), tx -> { }, e -> p.tryFail(e.toString()));
    } catch (Exception e) {
      p.tryFail(e.toString());
    }
  }

  void onInfo(Request req, ServerTransaction st) {
    ContentTypeHeader ct = (ContentTypeHeader) req.getHeader(ContentTypeHeader.NAME);
    byte[] raw = req.getRawContent();
    String body = raw == null ? "" : new String(raw, StandardCharsets.UTF_8);
    String digit = null;
    if (ct != null && "dtmf-relay".equalsIgnoreCase(ct.getContentSubType())) {
      Matcher m = SIGNAL.matcher(body);
      digit = m.find() ? m.group(1).toUpperCase(Locale.ROOT) : null;
    } else if (ct != null && "dtmf".equalsIgnoreCase(ct.getContentSubType())) {
      String b = body.trim();
      digit = b.length() == 1 ? b.toUpperCase(Locale.ROOT) : b.equals("10") ? "*" : b.equals("11") ? "#"
          : b.matches("[0-9]") ? b : null;
    }
    respond(st, req, Response.OK, null);
    if (digit != null) {
      LOG.info("call={} line={} DTMF {} by INFO", call.callId, call.line.lineId, digit);
      call.sip.emit(call.line.sessionId, SessionEvent.DTMF.json().put(Fields.CALL_ID, call.callId)
          .put(Fields.DIGIT, digit).put(Fields.SOURCE, SessionEvent.DTMF_INFO));
    }
  }

  // ------------------------------------------------------------------ transfer

  /** Blind transfer: REFER to {@code target}; done when the PBX accepts it (202), progress by NOTIFY. */
  Future<Void> transfer(String target) {
    return refer(target, null);
  }

  /**
   * Attended transfer (RFC 5589): REFER to the far end of our confirmed {@code consult} call, with
   * {@code ?Replaces=<its Call-ID;to-tag (the consultee's);from-tag (ours)>}, so that the far end's INVITE takes
   * the consult call's place there. The consult call then ends by the consultee's BYE (or ours, see onNotify).
   */
  Future<Void> transferTo(SipCall consult) {
    return refer(null, consult);
  }

  private Future<Void> refer(String target, SipCall consult) {
    if (busy()) {
      return Future.failedFuture("another request is in progress");
    }
    Promise<Void> p = Promise.promise();
    pending = p;
    try {
      Request refer = call.dialog.createRequest(Request.REFER);
      SipURI to = consult == null ? call.sip.pbxUri(target.replace("#", "%23")) : replacing(consult);
      replaced = consult;
      if (target == null) {
        target = to.toString();
      }
      refer.addHeader(call.sip.headers().createReferToHeader(call.sip.sip.addresses().createAddress(to)));
      String shown = target;
      refer.setHeader(call.sip.contact(call.line.account.username()));
      call.sip.sendRequest(refer, call.dialog, TxHandler.of((r, tx) -> {
        int code = r.getStatusCode();
        if (code >= 300) {
          p.tryFail("REFER refused: " + code + " " + r.getReasonPhrase());
        } else if (code >= 200) {
          transferring = true;
          p.tryComplete();
        }
      }, () -> p.tryFail("REFER timed out")),
          tx -> LOG.info("call={} line={} REFER to {} sent", call.callId, call.line.lineId, shown),
          e -> p.tryFail(e.toString()));
    } catch (Exception e) {
      p.tryFail(e.toString());
    }
    return p.future();
  }

  /** The consult call's far-end URI with the Replaces header naming its dialog, escaped as a URI header. */
  private static SipURI replacing(SipCall consult) throws java.text.ParseException {
    javax.sip.Dialog d = consult.dialog;
    SipURI u = (SipURI) d.getRemoteParty().getURI().clone();
    String replaces = d.getCallId().getCallId() + ";to-tag=" + d.getRemoteTag() + ";from-tag=" + d.getLocalTag();
    u.setHeader("Replaces", escapeHeader(replaces));
    return u;
  }

  /** RFC 3261 25.1 hvalue: what is not unreserved (or one of []/?:+$) is %-escaped. */
  static String escapeHeader(String value) {
    StringBuilder b = new StringBuilder();
    for (byte x : value.getBytes(StandardCharsets.UTF_8)) {
      char c = (char) (x & 0xff);
      if (c < 128 && (Character.isLetterOrDigit(c) || "-_.!~*'()[]/?:+$".indexOf(c) >= 0)) {
        b.append(c);
      } else {
        b.append('%').append(String.format("%02X", x & 0xff));
      }
    }
    return b.toString();
  }

  /** NOTIFY with a sipfrag: progress of our REFER; a final 2xx ends our leg (the transfer is done). */
  void onNotify(Request req, ServerTransaction st) {
    respond(st, req, Response.OK, null);
    byte[] raw = req.getRawContent();
    Matcher m = SIPFRAG.matcher(raw == null ? "" : new String(raw, StandardCharsets.UTF_8));
    if (!m.find()) {
      return;
    }
    int code = Integer.parseInt(m.group(1));
    String reason = m.group(2).trim();
    call.sip.emit(call.line.sessionId, SessionEvent.TRANSFER.json().put(Fields.CALL_ID, call.callId)
        .put(Fields.CODE, code).put(Fields.REASON, reason).put(Fields.DIRECTION, SessionEvent.DIRECTION_OUT));
    SubscriptionStateHeader ss = (SubscriptionStateHeader) req.getHeader(SubscriptionStateHeader.NAME);
    boolean last = ss != null && "terminated".equalsIgnoreCase(ss.getState());
    if (transferring && code >= 200 && code < 300) {
      transferring = false;
      LOG.info("call={} line={} transferred", call.callId, call.line.lineId);
      call.sendBye();
      call.end(CallState.Completed, code, "transferred", null);
      endReplacedLater();
    } else if (last || code >= 300) {
      transferring = false;
    }
  }

  /**
   * The consult call of a completed attended transfer ends by the consultee's BYE (its INVITE with Replaces
   * took the call's place); a consultee that never sends it is sent ours, so no call of the line is left.
   */
  private void endReplacedLater() {
    SipCall consult = replaced;
    replaced = null;
    if (consult == null) {
      return;
    }
    call.sip.vertx.setTimer(REPLACED_BYE_MS, t -> {
      if (!consult.ended()) {
        LOG.info("call={} line={} consult call not replaced within {} ms: BYE", consult.callId,
            consult.line.lineId, REPLACED_BYE_MS);
        consult.sendBye();
        consult.end(CallState.Completed, 0, "transferred", null);
      }
    });
  }

  void respond(ServerTransaction st, Request req, int code, String sdp) {
    try {
      Response r = call.sip.sip.messages().createResponse(code, req);
      if (code >= 200 && code < 300 && Request.INVITE.equals(req.getMethod())) {
        r.addHeader(call.sip.contact(call.line.account.username()));
      }
      if (sdp != null) {
        r.setContent(sdp, call.sip.headers().createContentTypeHeader("application", "sdp"));
      }
      call.sip.sendResponse(st, r).onFailure(e -> LOG.warn("call={} line={} cannot answer {}: {}", call.callId,
          call.line.lineId, req.getMethod(), e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} cannot answer {}: {}", call.callId, call.line.lineId, req.getMethod(), e.toString());
    }
  }
}
