package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import javax.sip.Dialog;
import javax.sip.DialogState;
import javax.sip.ServerTransaction;
import javax.sip.address.Address;
import javax.sip.address.SipURI;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContentTypeHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.ToHeader;
import javax.sip.message.Message;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.CallError;
import org.webphone.gateway.common.CallState;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * One call of a line, either direction, from the first INVITE to its ending. Reports every state change
 * to the line's session, in order (a state that waits for the media verticle holds back the next one), and
 * calls {@code onEnded} exactly once, however the call ends, so the line is idle again. Event-loop only.
 * In-dialog requests (hold, DTMF, transfer, re-INVITE) are in {@link InDialog}.
 */
final class SipCall {
  private static final Logger LOG = LoggerFactory.getLogger(SipCall.class);
  /** How long a CANCELled or answered-but-not-ACKed call may take before it is ended locally. */
  static final long SETTLE_MS = 4_000;

  enum Phase { CALLING, EARLY, RINGING_IN, ANSWERING, CONFIRMED, ENDED }

  final String callId;
  final SipLine line;
  final boolean outgoing;
  final PbxTrunk sip;
  private final Runnable onEnded;
  Phase phase;
  Dialog dialog;
  CallState reported;
  private Future<Void> chain = Future.succeededFuture();
  private long timer = -1;
  private OutgoingInvite out;
  private String pbxSdp;
  /** System.nanoTime when the 200 of our INVITE arrived; sent with InCall so the session can time it. */
  long answerNanos;
  // incoming
  private ServerTransaction inviteSt;
  private Request incomingInvite;
  private boolean hangupAfterAck;
  String localSdp;
  final InDialog inDialog;
  /** The far end's transfer being followed (its new INVITE in progress), or null. */
  IncomingRefer referral;

  private SipCall(String callId, SipLine line, boolean outgoing, PbxTrunk sip, Runnable onEnded) {
    this.callId = callId;
    this.line = line;
    this.outgoing = outgoing;
    this.sip = sip;
    this.onEnded = onEnded;
    this.inDialog = new InDialog(this);
  }

  // ------------------------------------------------------------------ outgoing

  /**
   * Sends the INVITE (throws when it could not be built; a failure to send it ends the call); {@code inviteSent}
   * runs as soon as the stack has it, before any response, as the end of the gateway's Call-to-INVITE time.
   */
  static SipCall outgoing(PbxTrunk sip, SipLine line, String callId, String target, String sdp,
      Runnable inviteSent, Runnable onEnded) throws Exception {
    SipCall c = new SipCall(callId, line, true, sip, onEnded);
    c.phase = Phase.CALLING;
    c.localSdp = sdp;
    // '#' is not allowed in a SIP URI user part; the other dial characters are.
    SipURI ruri = sip.pbxUri(target.replace("#", "%23"));
    Address to = sip.sip.addresses().createAddress(ruri);
    CallIdHeader cid = sip.newCallId();
    Request r = sip.newRequest(Request.INVITE, ruri, line.aor(), PbxTrunk.newTag(), to, cid, 1);
    r.addHeader(sip.contact(line.account.username()));
    r.addHeader(sip.headers().createHeader(sip.callIdHeader, callId));
    r.addHeader(sip.headers().createAllowHeader("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY"));
    r.setContent(sdp, sip.headers().createContentTypeHeader("application", "sdp"));
    c.out = new OutgoingInvite(c, r, new DigestAuth(line.account.authUser(), line.account.password()));
    c.report(CallState.Setup, 0, null, null);
    c.out.send(r, () -> {
      inviteSent.run();
      LOG.info("call={} line={} INVITE to {} sent (sip call-id {})", callId, line.lineId, target, cid.getCallId());
    });
    return c;
  }

  // ------------------------------------------------------------------ incoming

  /** A new incoming INVITE for {@code line}: 180 with our tag, then the {@code incoming} event. */
  static SipCall incoming(PbxTrunk sip, SipLine line, String callId, ServerTransaction st, Request req,
      Integer autoAnswerMs, Runnable onEnded) throws Exception {
    SipCall c = new SipCall(callId, line, false, sip, onEnded);
    c.phase = Phase.RINGING_IN;
    c.inviteSt = st;
    c.incomingInvite = req;
    st.setApplicationData(c);
    c.dialog = st.getDialog();
    if (c.dialog != null) {
      c.dialog.setApplicationData(c);
    }
    Response ringing = c.response(Response.RINGING);
    sip.sendResponse(st, ringing).onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("call={} line={} cannot send 180: {}", callId, line.lineId, ar.cause().toString());
      }
      if (c.dialog == null && st.getDialog() != null) {
        c.dialog = st.getDialog();
        c.dialog.setApplicationData(c);
      }
    });
    FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
    String user = from.getAddress().getURI() instanceof SipURI u ? u.getUser() : from.getAddress().getURI().toString();
    String display = from.getAddress().getDisplayName();
    JsonObject ev = SessionEvent.INCOMING.json().put(Fields.LINE_ID, line.lineId).put(Fields.CALL_ID, callId)
        .put(Fields.FROM, user == null ? "" : user).put(Fields.DISPLAY_NAME, display == null ? "" : display)
        .put(Fields.SDP, sdpOf(req) == null ? "" : sdpOf(req));
    if (autoAnswerMs != null) {
      ev.put(Fields.AUTO_ANSWER_MS, autoAnswerMs);
    }
    LOG.info("call={} line={} incoming from {}{}", callId, line.lineId, user,
        autoAnswerMs == null ? "" : ", asks for auto-answer after " + autoAnswerMs + " ms");
    sip.emit(line.sessionId, ev);
    return c;
  }

  Response response(int code) throws ParseException {
    Response r = sip.sip.messages().createResponse(code, incomingInvite);
    ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
    if (to.getTag() == null) {
      to.setTag(localTag());
    }
    if (code < 300) {
      r.addHeader(sip.contact(line.account.username()));
    }
    return r;
  }

  private String localTagValue;

  private String localTag() {
    if (localTagValue == null) {
      localTagValue = PbxTrunk.newTag();
    }
    return localTagValue;
  }

  /** The client's Accept: 200 OK with our SDP; InCall follows the ACK. */
  void accept(String sdp) throws Exception {
    Response ok = response(Response.OK);
    ok.setContent(sdp, sip.headers().createContentTypeHeader("application", "sdp"));
    localSdp = sdp;
    sip.sendResponse(inviteSt, ok).onFailure(e -> {
      LOG.warn("call={} line={} cannot send 200: {}", callId, line.lineId, e.toString());
      end(CallState.Error, 0, "200 OK not sent", CallError.Unavailable);
    });
    phase = Phase.ANSWERING;
    LOG.info("call={} line={} accepted, waiting for ACK", callId, line.lineId);
    startTimer(SETTLE_MS * 8, () -> {
      if (phase == Phase.ANSWERING) {
        LOG.warn("call={} line={} no ACK for our 200", callId, line.lineId);
        sendBye();
        end(CallState.Error, 408, "no ACK", CallError.Unavailable);
      }
    });
  }

  /** The client's Reject, or the session vanishing while ringing (480). */
  void reject(int code, CallState state) {
    try {
      sip.sendResponse(inviteSt, response(code))
          .onFailure(e -> LOG.warn("call={} line={} cannot send {}: {}", callId, line.lineId, code, e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} cannot send {}: {}", callId, line.lineId, code, e.toString());
    }
    end(state, code, null, null);
  }

  void onAck(Request ack) {
    if (phase == Phase.CONFIRMED) {
      String body = sdpOf(ack);
      if (body != null) {
        inDialog.onLateAnswer(body);
      }
      return;
    }
    if (phase != Phase.ANSWERING) {
      return;
    }
    cancelTimer();
    phase = Phase.CONFIRMED;
    if (hangupAfterAck) {
      sendBye();
      end(CallState.Completed, 0, null, null);
      return;
    }
    String offerless = sdpOf(incomingInvite) == null ? sdpOf(ack) : null;
    serial(() -> (offerless == null ? Future.<Void>succeededFuture() : givePbxSdp(offerless)).map(x -> {
      LOG.info("call={} line={} in call", callId, line.lineId);
      report(CallState.InCall, 200, "OK", null);
      return (Void) null;
    }).recover(err -> {
      sendBye();
      end(CallState.Error, 0, "media refused the PBX's SDP", CallError.UnknownError);
      return Future.succeededFuture();
    }));
  }

  void onCancel() {
    if (phase != Phase.RINGING_IN) {
      return;
    }
    try {
      sip.sendResponse(inviteSt, response(Response.REQUEST_TERMINATED))
          .onFailure(e -> LOG.debug("call={} 487 not sent: {}", callId, e.toString()));
    } catch (Exception e) {
      LOG.debug("call={} 487 not sent: {}", callId, e.toString());
    }
    LOG.info("call={} line={} cancelled by the caller", callId, line.lineId);
    end(CallState.Cancelled, 487, "Request Terminated", null);
  }

  void onInviteServerTimeout() {
    if (phase == Phase.ANSWERING) {
      sendBye();
      end(CallState.Error, 408, "no ACK", CallError.Unavailable);
    }
  }

  // ------------------------------------------------------------------ both

  /** HangUp in any state: CANCEL before answer, BYE after, a decline while our phone rings. */
  void hangup() {
    switch (phase) {
      case CALLING, EARLY -> {
        out.cancel();
        startTimer(SETTLE_MS, () -> end(CallState.Cancelled, 0, "no answer to CANCEL", null));
      }
      case RINGING_IN -> reject(sip.rejectCode, CallState.Rejected);
      case ANSWERING -> {
        hangupAfterAck = true;
        startTimer(SETTLE_MS, () -> end(CallState.Completed, 0, null, null));
      }
      case CONFIRMED -> {
        sendBye();
        end(CallState.Completed, 0, null, null);
      }
      case ENDED -> { }
    }
  }

  void onBye() {
    if (referral != null && referral.pending()) {
      referral.oldDialogEnded(); // the transferor leaves; the call waits for the transfer target
      return;
    }
    LOG.info("call={} line={} ended by the far end", callId, line.lineId);
    end(phase == Phase.RINGING_IN || phase == Phase.CALLING || phase == Phase.EARLY ? CallState.Cancelled
        : CallState.Completed, 0, null, null);
  }

  void sendBye() {
    sendBye(dialog);
  }

  /** BYE on {@code d} (the call's dialog, or one it leaves: a transfer's old or abandoned new dialog). */
  void sendBye(Dialog d) {
    if (d == null || d.getState() == DialogState.TERMINATED) {
      return;
    }
    try {
      Request bye = d.createRequest(Request.BYE);
      sip.sendRequest(bye, d, TxHandler.of((r, t) -> { }, () -> { }),
          t -> LOG.info("call={} line={} BYE sent", callId, line.lineId),
          e -> LOG.warn("call={} line={} cannot send BYE: {}", callId, line.lineId, e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} cannot send BYE: {}", callId, line.lineId, e.toString());
    }
  }

  /** Ends the call: the final state to the session, the line idle again, timers and pending work freed. */
  void end(CallState state, int code, String reason, CallError error) {
    if (phase == Phase.ENDED) {
      return;
    }
    phase = Phase.ENDED;
    cancelTimer();
    inDialog.failPending("call ended");
    if (referral != null) {
      referral.abandon();
    }
    // The final state goes after any state still waiting for the media verticle.
    serial(() -> {
      report(state, code, reason, error);
      return Future.succeededFuture();
    });
    onEnded.run();
  }

  boolean ended() {
    return phase == Phase.ENDED;
  }

  Future<Void> givePbxSdp(String sdp) {
    if (sdp.equals(pbxSdp)) {
      return Future.succeededFuture();
    }
    pbxSdp = sdp;
    return sip.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put(Fields.CALL_ID, callId).put(Fields.SDP, sdp))
        .mapEmpty();
  }

  /** The SDP of a transfer target's 200: an answer to our unchanged offer (the call's PBX leg). */
  Future<Void> givePbxAnswer(String sdp) {
    pbxSdp = sdp;
    return sip.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put(Fields.CALL_ID, callId).put(Fields.SDP, sdp)
        .put(Fields.TYPE, SessionEvent.MEDIA_ANSWER)).mapEmpty();
  }

  /** Runs {@code step} after the steps before it, so that state reports keep the order of SIP events. */
  void serial(java.util.function.Supplier<Future<Void>> step) {
    Promise<Void> done = Promise.promise();
    chain.onComplete(x -> {
      try {
        step.get().onComplete(y -> done.complete());
      } catch (RuntimeException e) {
        LOG.warn("call={} step failed: {}", callId, e.toString());
        done.complete();
      }
    });
    chain = done.future();
  }

  void report(CallState state, int code, String reason, CallError error) {
    if (state == reported && !state.isFinal()) {
      return;
    }
    if (reported != null && reported.isFinal()) {
      return;
    }
    reported = state;
    JsonObject ev = SessionEvent.CALL_STATE.json().put(Fields.LINE_ID, line.lineId).put(Fields.CALL_ID, callId)
        .put(Fields.STATE, state.name())
        .put(Fields.DIRECTION, outgoing ? SessionEvent.DIRECTION_OUT : SessionEvent.DIRECTION_IN);
    if (code > 0) {
      ev.put(Fields.CODE, code);
    }
    if (reason != null) {
      ev.put(Fields.REASON, reason);
    }
    if (error != null) {
      ev.put(Fields.ERROR, error.name());
    }
    if (state == CallState.InCall && outgoing && answerNanos != 0) {
      ev.put(Fields.ANSWER_NANOS, answerNanos);
    }
    sip.emit(line.sessionId, ev);
  }

  void startTimer(long ms, Runnable r) {
    cancelTimer();
    timer = sip.vertx.setTimer(ms, t -> {
      timer = -1;
      r.run();
    });
  }

  void cancelTimer() {
    if (timer >= 0) {
      sip.vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  static String sdpOf(Message m) {
    byte[] raw = m.getRawContent();
    if (raw == null || raw.length == 0) {
      return null;
    }
    ContentTypeHeader ct = (ContentTypeHeader) m.getHeader(ContentTypeHeader.NAME);
    if (ct != null && !("application".equalsIgnoreCase(ct.getContentType())
        && "sdp".equalsIgnoreCase(ct.getContentSubType()))) {
      return null;
    }
    return new String(raw, StandardCharsets.UTF_8);
  }
}
