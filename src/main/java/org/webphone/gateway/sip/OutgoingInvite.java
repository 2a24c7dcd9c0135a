package org.webphone.gateway.sip;

import io.vertx.core.Future;
import javax.sip.ClientTransaction;
import javax.sip.Dialog;
import javax.sip.header.CSeqHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.CallError;
import org.webphone.gateway.common.CallState;

/**
 * The INVITE transaction of an outgoing call: provisional responses, the answer and its ACK, digest
 * challenges, CANCEL (also when the user hung up before anything came back) and the mapping of a failure
 * to the Ozeki webphone call states ({@link CallOutcome}). Event-loop only, like its {@link SipCall}.
 */
final class OutgoingInvite {
  private static final Logger LOG = LoggerFactory.getLogger(OutgoingInvite.class);

  private final SipCall call;
  private final DigestAuth auth;
  private Request invite;
  private ClientTransaction inviteTx;
  private int authTries;
  private boolean provisionalSeen;
  private boolean cancelRequested;
  private boolean cancelSent;

  OutgoingInvite(SipCall call, Request invite, DigestAuth auth) {
    this.call = call;
    this.invite = invite;
    this.auth = auth;
  }

  /** HangUp before the answer: CANCEL now if the far end answered provisionally, else on its first answer. */
  void cancel() {
    cancelRequested = true;
    if (provisionalSeen) {
      sendCancel();
    }
  }

  /**
   * Sends the INVITE (a first one or one with credentials); {@code sent} runs once the stack has it, before any
   * response is handled. A failure to send it ends the call.
   */
  void send(Request r, Runnable sent) {
    call.sip.sendRequest(r, null, TxHandler.of(this::onResponse, this::onTimeout), tx -> {
      call.dialog = tx.getDialog();
      if (call.dialog != null) {
        call.dialog.setApplicationData(call);
      }
      inviteTx = tx;
      sent.run();
    }, e -> {
      LOG.warn("call={} line={} INVITE not sent: {}", call.callId, call.line.lineId, e.toString());
      call.end(CallState.Error, 0, "INVITE not sent: " + e.getMessage(), CallError.Unavailable);
    });
  }

  private void onResponse(Response r, ClientTransaction tx) {
    long receivedNanos = System.nanoTime();
    int code = r.getStatusCode();
    if (call.phase == SipCall.Phase.ENDED) {
      if (code >= 200 && code < 300) {
        ackAndBye(r, tx);
      } else if (code < 200 && cancelRequested) {
        sendCancel(); // ended locally before any provisional: the far end must still stop ringing
      }
      return;
    }
    if (code < 200) {
      provisionalSeen = true;
      if (cancelRequested) {
        sendCancel();
        return;
      }
      call.phase = SipCall.Phase.EARLY;
      String body = SipCall.sdpOf(r);
      if (body != null && (code == 183 || code == 180)) {
        String early = body;
        call.serial(() -> call.givePbxSdp(early).map(x -> {
          call.report(CallState.RingingWithEarlyMedia, code, r.getReasonPhrase(), null);
          return null;
        }));
      } else if (call.reported != CallState.RingingWithEarlyMedia) {
        call.serial(() -> {
          call.report(CallState.Ringing, code, r.getReasonPhrase(), null);
          return Future.succeededFuture();
        });
      }
      return;
    }
    if (code < 300) {
      if (call.answerNanos == 0) {
        call.answerNanos = receivedNanos; // a retransmitted 200 must not restart the clock
      }
      call.dialog = tx.getDialog() != null ? tx.getDialog() : call.dialog;
      if (call.dialog != null) {
        call.dialog.setApplicationData(call);
      }
      if (!sendAck(r)) {
        return;
      }
      if (cancelRequested) {
        // CANCEL crossed the 200: the call exists on the far side now; end it as the user asked.
        call.sendBye();
        call.end(CallState.Cancelled, code, "cancelled after answer", null);
        return;
      }
      call.phase = SipCall.Phase.CONFIRMED;
      String body = SipCall.sdpOf(r);
      call.serial(() -> (body == null ? Future.<Void>succeededFuture() : call.givePbxSdp(body)).map(x -> {
        LOG.info("call={} line={} answered", call.callId, call.line.lineId);
        call.report(CallState.InCall, code, r.getReasonPhrase(), null);
        return (Void) null;
      }).recover(err -> {
        LOG.warn("call={} line={} media refused the answer: {}", call.callId, call.line.lineId, err.getMessage());
        call.sendBye();
        // The reason says which part of the SDP (e.g. "PBX answer: crypto tag 3 was not offered").
        call.end(CallState.Error, code, "media refused the PBX's SDP: " + err.getMessage(), CallError.UnknownError);
        return Future.succeededFuture();
      }));
      return;
    }
    if ((code == 401 || code == 407) && !cancelRequested && authTries < 2 && auth.accept(r)) {
      authTries++;
      try {
        Request again = call.sip.reinviteWithCredentials(invite, auth);
        invite = again;
        provisionalSeen = false; // a CANCEL waits for a provisional answer to this INVITE
        send(again, () -> { });
        return;
      } catch (Exception e) {
        LOG.warn("call={} line={} cannot answer the challenge: {}", call.callId, call.line.lineId, e.toString());
      }
    }
    if (cancelRequested) {
      call.end(CallState.Cancelled, code, r.getReasonPhrase(), null);
      return;
    }
    CallOutcome o = CallOutcome.of(code);
    LOG.info("call={} line={} failed: {} {}", call.callId, call.line.lineId, code, r.getReasonPhrase());
    call.end(o.state(), code, r.getReasonPhrase(), o.error());
  }

  private void onTimeout() {
    if (call.phase == SipCall.Phase.ENDED) {
      return;
    }
    LOG.info("call={} line={} INVITE timed out", call.callId, call.line.lineId);
    if (cancelRequested) {
      call.end(CallState.Cancelled, 408, "Request Timeout", null);
    } else {
      call.end(CallState.Error, 408, "Request Timeout", CallError.Unavailable);
    }
  }

  /** The ACK of the 2xx: false when it cannot be built; a failure to send it ends the call later. */
  private boolean sendAck(Response r) {
    try {
      long cseq = ((CSeqHeader) r.getHeader(CSeqHeader.NAME)).getSeqNumber();
      Request ack = call.dialog.createAck(cseq);
      call.sip.sendAck(call.dialog, ack).onFailure(e -> ackFailed(r, e));
      return true;
    } catch (Exception e) {
      ackFailed(r, e);
      return false;
    }
  }

  private void ackFailed(Response r, Throwable e) {
    LOG.warn("call={} line={} cannot ACK: {}", call.callId, call.line.lineId, e.toString());
    call.end(CallState.Error, r.getStatusCode(), "cannot acknowledge the answer", CallError.UnknownError);
  }

  private void ackAndBye(Response r, ClientTransaction tx) {
    Dialog d = tx != null && tx.getDialog() != null ? tx.getDialog() : call.dialog;
    if (d == null) {
      return;
    }
    try {
      long cseq = ((CSeqHeader) r.getHeader(CSeqHeader.NAME)).getSeqNumber();
      call.sip.sendAck(d, d.createAck(cseq));
      Request bye = d.createRequest(Request.BYE);
      call.sip.sendRequest(bye, d, TxHandler.of((resp, t) -> { }, () -> { }), t -> { },
          e -> LOG.debug("call={} late 200 not cleared: {}", call.callId, e.toString()));
    } catch (Exception e) {
      LOG.debug("call={} late 200 not cleared: {}", call.callId, e.toString());
    }
  }

  private void sendCancel() {
    if (cancelSent) {
      return;
    }
    cancelSent = true;
    try {
      Request cancel = inviteTx.createCancel();
      call.sip.sendRequest(cancel, null, TxHandler.of((r, t) -> { }, () -> { }),
          t -> LOG.info("call={} line={} CANCEL sent", call.callId, call.line.lineId),
          e -> LOG.warn("call={} line={} cannot CANCEL: {}", call.callId, call.line.lineId, e.toString()));
    } catch (Exception e) {
      LOG.warn("call={} line={} cannot CANCEL: {}", call.callId, call.line.lineId, e.toString());
    }
  }
}
