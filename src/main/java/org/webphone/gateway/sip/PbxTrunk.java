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
import javax.sip.InvalidArgumentException;
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
    SipURI u = sip.addresses().createSipURI(user, domain);
    if (!explicitDomain && pbxPort != 5060) {
      u.setPort(pbxPort);
    }
    if (!"udp".equals(pbxTransport)) {
      u.setTransportParam(pbxTransport);
    }
    return u;
  }

  /** Our Contact: the announced address, never the browser's. */
  ContactHeader contact(String user) throws ParseException {
    SipURI u = sip.addresses().createSipURI(user, announced);
    u.setPort(contactPort);
    if (!"udp".equals(pbxTransport)) {
      u.setTransportParam(pbxTransport);
    }
    return sip.headers().createContactHeader(sip.addresses().createAddress(u));
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
      SipURI route = sip.addresses().createSipURI(null, pbx.uriHost());
      route.setPort(pbx.port());
      route.setLrParam();
      if (!"udp".equals(pbxTransport)) {
        route.setTransportParam(pbxTransport);
      }
      r.addHeader(h.createRouteHeader(sip.addresses().createAddress(route)));
    }
    r.addHeader(h.createUserAgentHeader(List.of(userAgent)));
    return r;
  }

  /**
   * Sends an out-of-dialog request (REGISTER, OPTIONS: the ones that open the connection to the PBX). Over TLS
   * it is sent from a worker, in order: JAIN-SIP starts the handshake of a new connection in the sending thread
   * (the ClientHello's key pair), which must not be an event loop. {@code failed} runs on the event loop.
   */
  void send(javax.sip.ClientTransaction tx, java.util.function.Consumer<Throwable> failed) {
    if (!"tls".equals(pbxTransport)) {
      try {
        tx.sendRequest();
      } catch (Exception e) {
        failed.accept(e);
      }
      return;
    }
    vertx.executeBlocking(() -> {
      tx.sendRequest();
      return null;
    }, true).onFailure(failed::accept);
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
