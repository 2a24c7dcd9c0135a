package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.Locale;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sip.Dialog;
import javax.sip.ServerTransaction;
import javax.sip.address.SipURI;
import javax.sip.header.FromHeader;
import javax.sip.header.Header;
import javax.sip.header.ToHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;

/**
 * An INVITE with {@code Replaces} (RFC 3891) naming one of our confirmed calls takes its place: the PBX side's
 * attended transfer. The new dialog is answered at once (no ringing: the user is already talking) with the
 * media verticle's answer on the call's existing PBX leg, so the browser's leg (ICE, DTLS) stays as it is and
 * only the PBX side of the relay changes; the call moves onto the new dialog and the old one gets BYE. The
 * page keeps its call id and gets a {@code transfer} event with direction {@code in}.
 *
 * <p>Matching: Call-ID, to-tag = our tag, from-tag = the far end's tag (RFC 3891 3). No such dialog: 481;
 * {@code early-only} for a confirmed call, or a call in the middle of another transfer: 486; an offerless
 * INVITE gets our last SDP as the offer and its ACK brings the answer. Only requests from the PBX's allowed
 * sources reach this class (the SIP port's guard drops the others before the stack parses them).
 *
 * <p>Event-loop only, called by {@link SipDispatcher}.
 */
final class IncomingReplaces {
  private static final Logger LOG = LoggerFactory.getLogger(IncomingReplaces.class);
  private static final Pattern TAG = Pattern.compile(";\\s*(to-tag|from-tag)\\s*=\\s*([^;\\s]+)",
      Pattern.CASE_INSENSITIVE);

  /** The dialog a Replaces header names. */
  record Target(String callId, String toTag, String fromTag, boolean earlyOnly) {
  }

  private IncomingReplaces() {
  }

  /** The parsed header value, or null when it lacks a Call-ID or either tag. */
  static Target parse(String value) {
    if (value == null) {
      return null;
    }
    int semi = value.indexOf(';');
    String callId = (semi < 0 ? value : value.substring(0, semi)).trim();
    String toTag = null;
    String fromTag = null;
    Matcher m = TAG.matcher(value);
    while (m.find()) {
      if (m.group(1).toLowerCase(Locale.ROOT).equals("to-tag")) {
        toTag = m.group(2);
      } else {
        fromTag = m.group(2);
      }
    }
    boolean earlyOnly = value.toLowerCase(Locale.ROOT).matches(".*;\\s*early-only\\b.*");
    return callId.isEmpty() || toTag == null || fromTag == null ? null : new Target(callId, toTag, fromTag, earlyOnly);
  }

  /** The Replaces header's value, or null when the INVITE has none. */
  static String headerValue(Request req) {
    Header h = req.getHeader("Replaces");
    if (h == null) {
      return null;
    }
    String s = h.toString();
    int colon = s.indexOf(':');
    return s.substring(colon + 1).trim();
  }

  /** An INVITE carrying Replaces; {@code calls} finds our call by the dialog the header names. */
  static void onInvite(PbxTrunk trunk, Request req, ServerTransaction st, Function<Target, SipCall> calls) {
    Target t = parse(headerValue(req));
    SipCall c = t == null ? null : calls.apply(t);
    if (t == null) {
      respond(trunk, st, req, Response.BAD_REQUEST);
      return;
    }
    if (c == null || c.ended() || c.phase != SipCall.Phase.CONFIRMED) {
      LOG.info("INVITE with Replaces for unknown dialog {}: 481", t.callId());
      respond(trunk, st, req, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST);
      return;
    }
    if (t.earlyOnly() || c.referral != null) {
      LOG.info("call={} line={} Replaces refused (early-only, or a transfer in progress): 486", c.callId,
          c.line.lineId);
      respond(trunk, st, req, Response.BUSY_HERE);
      return;
    }
    FromHeader from = (FromHeader) req.getHeader(FromHeader.NAME);
    String who = from.getAddress().getURI() instanceof SipURI u && u.getUser() != null ? u.getUser() : "unknown";
    LOG.info("call={} line={} replaced by an INVITE from {}", c.callId, c.line.lineId, who);
    String offer = SipCall.sdpOf(req);
    Future<String> answer = offer == null ? Future.succeededFuture(c.localSdp)
        // An offer by type: its o= line may repeat the old party's (same PBX), which alone would read as an answer.
        : c.sip.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put(Fields.CALL_ID, c.callId)
            .put(Fields.SDP, offer).put(Fields.TYPE, "offer")).map(r -> r.getString(Fields.SDP, c.localSdp));
    c.serial(() -> answer.map(sdp -> {
      take(c, req, st, sdp, who);
      return (Void) null;
    }).recover(err -> {
      LOG.warn("call={} line={} media refused the replacing offer: {}", c.callId, c.line.lineId, err.getMessage());
      respond(trunk, st, req, Response.NOT_ACCEPTABLE_HERE);
      return Future.succeededFuture();
    }));
  }

  private static void take(SipCall c, Request req, ServerTransaction st, String sdp, String who) {
    if (c.ended()) {
      respond(c.sip, st, req, Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST);
      return;
    }
    Response ok;
    try {
      ok = c.sip.sip.messages().createResponse(Response.OK, req);
      ((ToHeader) ok.getHeader(ToHeader.NAME)).setTag(PbxTrunk.newTag());
      ok.addHeader(c.sip.contact(c.line.account.username()));
      ok.setContent(sdp, c.sip.headers().createContentTypeHeader("application", "sdp"));
    } catch (Exception e) {
      LOG.warn("call={} line={} 200 to the replacing INVITE not built: {}", c.callId, c.line.lineId, e.toString());
      return;
    }
    c.localSdp = sdp;
    c.sip.sendResponse(st, ok).onFailure(e -> LOG.warn("call={} line={} 200 to the replacing INVITE not sent: {}",
        c.callId, c.line.lineId, e.toString())).onSuccess(v -> {
          Dialog old = c.dialog;
          Dialog d = st.getDialog();
          d.setApplicationData(c);
          c.dialog = d;
          old.setApplicationData(null);
          c.sendBye(old);
          c.sip.emit(c.line.sessionId, SessionEvent.TRANSFER.json().put(Fields.CALL_ID, c.callId).put(Fields.CODE, 200)
              .put(Fields.REASON, "Replaced by a call from " + who).put(Fields.DIRECTION, SessionEvent.DIRECTION_IN));
        });
  }

  private static void respond(PbxTrunk trunk, ServerTransaction st, Request req, int code) {
    trunk.sendResponse(st, ((gov.nist.javax.sip.message.SIPRequest) req).createResponse(code))
        .onFailure(e -> LOG.debug("cannot answer a Replaces INVITE with {}: {}", code, e.toString()));
  }
}
