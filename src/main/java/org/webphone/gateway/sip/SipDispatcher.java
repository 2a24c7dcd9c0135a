package org.webphone.gateway.sip;

import gov.nist.javax.sip.stack.SIPServerTransaction;
import javax.sip.ClientTransaction;
import javax.sip.Dialog;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipListener;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionAlreadyExistsException;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.SipURI;
import javax.sip.header.ToHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes what the stack delivers (already on the verticle's event loop, see {@link SipEndpoint}):
 * responses and timeouts to the {@link TxHandler} of their client transaction, in-dialog requests to the
 * {@link SipCall} stored on their dialog, new INVITEs to the line registered under the Request-URI's user.
 * Anything else gets a plain answer (200 for OPTIONS, 481 for unknown dialogs, 405/501 otherwise). Only
 * what {@link SipPortGuard} let through arrives here: a stranger's requests never get any of these answers.
 */
final class SipDispatcher implements SipListener {
  private static final Logger LOG = LoggerFactory.getLogger(SipDispatcher.class);

  private final SipLineVerticle verticle;
  private PbxTrunk sip;

  SipDispatcher(SipLineVerticle verticle) {
    this.verticle = verticle;
  }

  void init(PbxTrunk support) {
    this.sip = support;
  }

  @Override
  public void processRequest(RequestEvent e) {
    if (sip == null) {
      return;
    }
    Request req = e.getRequest();
    String method = req.getMethod();
    if (Request.ACK.equals(method)) {
      if (e.getDialog() != null && e.getDialog().getApplicationData() instanceof SipCall c) {
        c.onAck(req);
      }
      return;
    }
    ServerTransaction st = e.getServerTransaction();
    if (st == null) {
      try {
        st = sip.sip.provider().getNewServerTransaction(req);
      } catch (TransactionAlreadyExistsException dup) {
        return; // a retransmission the stack already handles
      } catch (Exception ex) {
        LOG.debug("no server transaction for {}: {}", method, ex.toString());
        return;
      }
    }
    if (Request.CANCEL.equals(method)) {
      onCancel(req, st);
      return;
    }
    Dialog d = st.getDialog() != null ? st.getDialog() : e.getDialog();
    String toTag = ((ToHeader) req.getHeader(ToHeader.NAME)).getTag();
    if (toTag != null) {
      SipCall c = d != null && d.getApplicationData() instanceof SipCall sc ? sc : null;
      if (c == null || c.ended()) {
        if (Request.OPTIONS.equals(method)) {
          respond(st, req, Response.OK);
        } else {
          respond(st, req, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST);
        }
        return;
      }
      inDialog(c, req, st);
      return;
    }
    switch (method) {
      case Request.INVITE -> onInvite(req, st);
      case Request.OPTIONS -> respond(st, req, Response.OK);
      case Request.BYE, Request.INFO, Request.NOTIFY, Request.PRACK, Request.UPDATE ->
          respond(st, req, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST);
      case Request.REGISTER, Request.SUBSCRIBE, Request.MESSAGE, Request.PUBLISH, Request.REFER ->
          respond(st, req, Response.METHOD_NOT_ALLOWED);
      default -> respond(st, req, Response.NOT_IMPLEMENTED);
    }
  }

  private void inDialog(SipCall c, Request req, ServerTransaction st) {
    switch (req.getMethod()) {
      case Request.BYE -> {
        respond(st, req, Response.OK);
        c.onBye();
      }
      case Request.INVITE -> c.inDialog.onReInvite(req, st);
      case Request.INFO -> c.inDialog.onInfo(req, st);
      case Request.NOTIFY -> c.inDialog.onNotify(req, st);
      case Request.OPTIONS -> respond(st, req, Response.OK);
      case Request.REFER -> IncomingRefer.onRefer(c, req, st, verticle::mayDial);
      default -> respond(st, req, Response.NOT_IMPLEMENTED);
    }
  }

  private void onInvite(Request req, ServerTransaction st) {
    String user = req.getRequestURI() instanceof SipURI u ? u.getUser() : null;
    SipLine line = verticle.lineForUser(user);
    if (verticle.stopping()) {
      respond(st, req, Response.SERVICE_UNAVAILABLE);
    } else if (IncomingReplaces.headerValue(req) != null) {
      IncomingReplaces.onInvite(sip, req, st, verticle::callOfDialog);
    } else if (line == null) {
      LOG.info("INVITE for unknown line {}: 404", user);
      respond(st, req, Response.NOT_FOUND);
    } else if (!line.registered()) {
      LOG.info("line={} INVITE while not registered: 480", line.lineId);
      respond(st, req, Response.TEMPORARILY_UNAVAILABLE);
    } else if (verticle.nodeDraining()) {
      // Its lines leave as their calls end: a PBX queue then tries the next agent at once.
      LOG.info("line={} INVITE while the node drains: 480", line.lineId);
      respond(st, req, Response.TEMPORARILY_UNAVAILABLE);
    } else if (line.rejectIncoming > 0) {
      LOG.info("line={} INVITE while the agent is not available: {}", line.lineId, line.rejectIncoming);
      respond(st, req, line.rejectIncoming);
    } else if (line.call != null && (line.second != null || line.call.phase != SipCall.Phase.CONFIRMED)) {
      // A call waiting only beside one established call; the session may still refuse it (486).
      LOG.info("line={} INVITE while busy with call={}: 486", line.lineId, line.call.callId);
      respond(st, req, Response.BUSY_HERE);
    } else {
      try {
        respond(st, req, Response.TRYING);
        verticle.newIncoming(line, st, req);
      } catch (Exception ex) {
        LOG.warn("line={} incoming INVITE failed: {}", line.lineId, ex.toString());
        respond(st, req, Response.SERVER_INTERNAL_ERROR);
      }
    }
  }

  private void onCancel(Request req, ServerTransaction st) {
    SIPServerTransaction invite = st instanceof SIPServerTransaction s ? s.getCanceledInviteTransaction() : null;
    if (invite == null || !(invite.getApplicationData() instanceof SipCall c)) {
      respond(st, req, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST);
      return;
    }
    respond(st, req, Response.OK);
    c.onCancel();
  }

  @Override
  public void processResponse(ResponseEvent e) {
    ClientTransaction tx = e.getClientTransaction();
    if (tx != null && tx.getApplicationData() instanceof TxHandler h) {
      h.response(e.getResponse(), tx);
    }
  }

  @Override
  public void processTimeout(TimeoutEvent e) {
    if (e.isServerTransaction()) {
      if (e.getServerTransaction().getApplicationData() instanceof SipCall c) {
        c.onInviteServerTimeout();
      }
      return;
    }
    ClientTransaction tx = e.getClientTransaction();
    if (tx != null && tx.getApplicationData() instanceof TxHandler h) {
      h.timeout(tx);
    }
  }

  @Override
  public void processIOException(IOExceptionEvent e) {
    LOG.warn("SIP I/O error toward {}:{} ({})", e.getHost(), e.getPort(), e.getTransport());
  }

  @Override
  public void processTransactionTerminated(TransactionTerminatedEvent e) {
  }

  @Override
  public void processDialogTerminated(DialogTerminatedEvent e) {
  }

  private void respond(ServerTransaction st, Request req, int code) {
    try {
      sip.sendResponse(st, sip.sip.messages().createResponse(code, req)).onFailure(ex ->
          LOG.debug("cannot answer {} with {}: {}", req.getMethod(), code, ex.toString()));
    } catch (Exception ex) {
      LOG.debug("cannot answer {} with {}: {}", req.getMethod(), code, ex.toString());
    }
  }
}
