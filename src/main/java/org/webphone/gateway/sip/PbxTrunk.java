package org.webphone.gateway.sip;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import javax.sip.ClientTransaction;
import javax.sip.Dialog;
import javax.sip.InvalidArgumentException;
import javax.sip.ListeningPoint;
import javax.sip.ServerTransaction;
import javax.sip.address.Address;
import javax.sip.address.SipURI;
import javax.sip.header.CSeqHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContactHeader;
import javax.sip.header.FromHeader;
import javax.sip.header.HeaderFactory;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.config.GatewayConfig;

/**
 * The trunk to the PBX that every line and call uses: where the PBX is and how it is addressed (the
 * {@code pbx.*} and {@code sip.*} settings, read once at start; the registrar requests go to now, from
 * {@link PbxRegistrars}), the factory of out-of-dialog requests toward
 * it, and the event-bus sends lines and calls make. Lives on the SIP verticle's event loop; owns nothing
 * that needs freeing (the endpoint is the verticle's).
 */
final class PbxTrunk {
  final Vertx vertx;
  final SipEndpoint sip;
  final String domain;
  final String pbxHost;
  final int pbxPort;
  final String pbxTransport;
  /** {@code pbx.sipsUri}: our URIs (Contact, Request-URI, From, To) are {@code sips:} (TLS only, checked at load). */
  final boolean sips;
  final boolean explicitDomain;
  /** Where requests go now (primary or secondary, resolved off the event loop): see docs/sip.md "PBX redundancy". */
  final PbxRegistrars registrars;
  final String announced;
  final int sipPort;
  /** The port of our Contact and Via: the TLS listening point's when the lines use TLS, else {@link #sipPort}. */
  final int contactPort;
  final String userAgent;
  final String callIdHeader;
  final int registerExpires;
  /** sip.clearBindingsOnLease: a fresh line first removes every binding of its account (Contact: *). */
  final boolean clearBindings;
  final int rejectCode;
  final boolean dtmfInfo;
  final long requestTimeoutMs;
  final int dialMaxLength;

  PbxTrunk(Vertx vertx, SipEndpoint sip, GatewayConfig cfg, PbxRegistrars registrars) {
    this.vertx = vertx;
    this.sip = sip;
    this.pbxHost = cfg.pbxHost();
    this.registrars = registrars;
    this.pbxPort = cfg.pbxPort();
    this.explicitDomain = !cfg.getString("pbx.domain").isBlank();
    this.domain = cfg.pbxDomain();
    this.pbxTransport = cfg.pbxTransport();
    this.sips = cfg.getBoolean("pbx.sipsUri");
    this.announced = cfg.sipAnnouncedAddress();
    this.sipPort = cfg.getInt("sip.port");
    this.contactPort = "tls".equals(pbxTransport) ? cfg.getInt("sip.tlsPort") : sipPort;
    this.userAgent = cfg.getString("sip.userAgent");
    this.callIdHeader = cfg.getString("sip.callIdHeader");
    this.registerExpires = cfg.getInt("sip.registerExpires");
    this.clearBindings = cfg.getBoolean("sip.clearBindingsOnLease");
    this.rejectCode = cfg.getInt("sip.rejectCode");
    this.dtmfInfo = "info".equals(cfg.getString("sip.dtmfMode"));
    this.requestTimeoutMs = cfg.getLong("limits.requestTimeoutMs");
    this.dialMaxLength = cfg.getInt("dial.maxLength");
  }

  HeaderFactory headers() {
    return sip.headers();
  }

  /** {@code sip:user@domain}; with no separate domain the PBX's port is part of the URI. */
  SipURI pbxUri(String user) throws ParseException {
    SipURI u = uri(user, domain);
    if (!explicitDomain && pbxPort != 5060) {
      u.setPort(pbxPort);
    }
    return u;
  }

  /** Our Contact: the announced address, never the browser's. */
  ContactHeader contact(String user) throws ParseException {
    SipURI u = uri(user, announced);
    u.setPort(contactPort);
    return sip.headers().createContactHeader(sip.addresses().createAddress(u));
  }

  /**
   * {@code sip:user@host;transport=<tcp|tls>} (no parameter for UDP), or with {@code pbx.sipsUri}
   * {@code sips:user@host}: RFC 5630 deprecates {@code transport=tls}, the scheme already says TLS.
   */
  SipURI uri(String user, String host) throws ParseException {
    SipURI u = sip.addresses().createSipURI(user, host);
    if (sips) {
      u.setSecure(true);
    } else if (!"udp".equals(pbxTransport)) {
      u.setTransportParam(pbxTransport);
    }
    return u;
  }

  /** The registrar new out-of-dialog requests go to now. */
  PbxTarget target() {
    return registrars.current();
  }

  /** A new out-of-dialog request toward the current registrar ({@link #target()}). */
  Request newRequest(String method, SipURI requestUri, Address from, String fromTag, Address to, CallIdHeader callId,
      long cseq) throws ParseException, InvalidArgumentException {
    return newRequest(target(), method, requestUri, from, fromTag, to, callId, cseq);
  }

  /**
   * A new out-of-dialog request toward {@code pbx}. When {@code pbx.domain} names a domain other than the PBX
   * host, or the target is not the Request-URI's host and port (a host name, a secondary, an SRV target), a
   * loose Route to the target's IP address makes the stack send it there (no DNS on the event loop).
   */
  Request newRequest(PbxTarget pbx, String method, SipURI requestUri, Address from, String fromTag, Address to,
      CallIdHeader callId, long cseq) throws ParseException, InvalidArgumentException {
    HeaderFactory h = sip.headers();
    FromHeader fromH = h.createFromHeader(from, fromTag);
    ToHeader toH = h.createToHeader(to, null);
    CSeqHeader cseqH = h.createCSeqHeader(cseq, method);
    MaxForwardsHeader mf = h.createMaxForwardsHeader(70);
    List<ViaHeader> via = new ArrayList<>();
    via.add(h.createViaHeader(announced, contactPort, pbxTransport, null));
    Request r = sip.messages().createRequest(requestUri, method, callId, cseqH, fromH, toH, via, mf);
    if (explicitDomain || !pbx.address().equals(pbxHost) || pbx.port() != pbxPort) {
      SipURI route = uri(null, pbx.uriHost());
      route.setPort(pbx.port());
      route.setLrParam();
      r.addHeader(h.createRouteHeader(sip.addresses().createAddress(route)));
    }
    r.addHeader(h.createUserAgentHeader(List.of(userAgent)));
    return r;
  }

  /**
   * {@code invite} again after a 401/407 that {@code auth} accepted: the next CSeq, a fresh Via (a new branch: a
   * new transaction) and the credentials for the challenge.
   */
  Request reinviteWithCredentials(Request invite, DigestAuth auth) throws ParseException, InvalidArgumentException {
    Request again = (Request) invite.clone();
    CSeqHeader cs = (CSeqHeader) again.getHeader(CSeqHeader.NAME);
    cs.setSeqNumber(cs.getSeqNumber() + 1);
    again.removeHeader(ViaHeader.NAME);
    again.addHeader(headers().createViaHeader(announced, contactPort, pbxTransport, null));
    auth.authorize(again, headers());
    return again;
  }

  /**
   * Creates the client transaction of {@code r} and sends it, within {@code dialog} when it is not null, on the
   * path {@link #handOff} chooses. {@code sent} then runs on the event loop with the transaction, before any of
   * its responses or its timeout reach {@code handler} (they are held until then, so the caller may keep the
   * transaction in a field first); {@code failed} runs there instead when it could not be created or sent.
   */
  void sendRequest(Request r, Dialog dialog, TxHandler handler, Consumer<ClientTransaction> sent,
      Consumer<Throwable> failed) {
    sendRequest(r, dialog, handler, sent, failed, true);
  }

  /**
   * As above; {@code ordered} false sends it on any worker, outside the ordered queue: for a request of its own
   * (an OPTIONS probe) whose connect to a dead registrar must not hold every other message for up to 2 s.
   */
  void sendRequest(Request r, Dialog dialog, TxHandler handler, Consumer<ClientTransaction> sent,
      Consumer<Throwable> failed, boolean ordered) {
    HeldUntilSent held = new HeldUntilSent(handler);
    handOff(r, ordered, () -> {
      // Creating the transaction creates its message channel: over TCP/TLS that connects when none is open.
      ClientTransaction tx = sip.provider().getNewClientTransaction(r);
      tx.setApplicationData(held);
      if (dialog == null) {
        tx.sendRequest();
      } else {
        dialog.sendRequest(tx);
      }
      return tx;
    }).onComplete(ar -> {
      if (ar.succeeded()) {
        sent.accept(ar.result());
      } else {
        failed.accept(ar.cause());
      }
      held.release();
    });
  }

  /** Sends the ACK of a 2xx within {@code dialog} on the path {@link #handOff} chooses. */
  Future<Void> sendAck(Dialog dialog, Request ack) {
    return handOff(ack, true, () -> {
      dialog.sendAck(ack);
      return null;
    });
  }

  /** Sends {@code r} on its server transaction on the path {@link #handOff} chooses. */
  Future<Void> sendResponse(ServerTransaction st, Response r) {
    return handOff(r, true, () -> {
      st.sendResponse(r);
      return null;
    });
  }

  /**
   * Runs {@code send}, a step that hands {@code m} to the stack. Over TCP and TLS (the transport of its top Via)
   * the stack opens a connection inside it when none is open (the PBX closed it, or it went idle): a connect of up
   * to {@code CONNECTION_TIMEOUT} and the start of the TLS handshake, which must not run on an event loop. So
   * these steps run on the verticle's ordered worker queue: one at a time and in the order they were asked for,
   * which keeps the messages of a dialog in order (a 100 before its 180, an ACK before the BYE after it). Over UDP
   * the stack only writes a datagram (to an IP address: our requests carry no host name to resolve), so the step
   * runs here and saves two thread hops per message. The future completes on the verticle's context.
   */
  <T> Future<T> handOff(javax.sip.message.Message m, boolean ordered, Callable<T> send) {
    ViaHeader via = (ViaHeader) m.getHeader(ViaHeader.NAME);
    String transport = via == null ? pbxTransport : via.getTransport();
    if (ListeningPoint.UDP.equalsIgnoreCase(transport)) {
      try {
        return Future.succeededFuture(send.call());
      } catch (Exception e) {
        return Future.failedFuture(e);
      }
    }
    return vertx.executeBlocking(send, ordered);
  }

  /**
   * A transaction's handler that holds its responses and timeout until {@link #release()}: a response can come
   * back (on the event loop) before the worker that sent the request has handed the transaction back.
   * Event-loop only.
   */
  private static final class HeldUntilSent implements TxHandler {
    private final TxHandler handler;
    private List<Runnable> held = new ArrayList<>();

    HeldUntilSent(TxHandler handler) {
      this.handler = handler;
    }

    @Override
    public void response(Response r, ClientTransaction tx) {
      run(() -> handler.response(r, tx));
    }

    @Override
    public void timeout(ClientTransaction tx) {
      run(() -> handler.timeout(tx));
    }

    private void run(Runnable event) {
      if (held != null) {
        held.add(event);
      } else {
        event.run();
      }
    }

    void release() {
      List<Runnable> events = held;
      held = null;
      events.forEach(Runnable::run);
    }
  }

  CallIdHeader newCallId() {
    return sip.provider().getNewCallId();
  }

  /** 48 random bits as 12 lower-case hex digits (RFC 3261 19.3 asks for at least 32). */
  static String newTag() {
    byte[] b = new byte[6];
    Randoms.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  void emit(String sessionId, JsonObject event) {
    vertx.eventBus().send(Addresses.session(sessionId), event);
  }

  Future<JsonObject> request(String address, JsonObject body) {
    return vertx.eventBus().<JsonObject>request(address, body, new DeliveryOptions().setSendTimeout(requestTimeoutMs))
        .map(Message::body);
  }
}
