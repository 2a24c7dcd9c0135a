package org.webphone.gateway.sip.demo;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipListener;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.SipURI;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContactHeader;
import javax.sip.header.ExpiresHeader;
import javax.sip.header.MaxForwardsHeader;
import javax.sip.header.ToHeader;
import javax.sip.header.ViaHeader;
import javax.sip.header.WWWAuthenticateHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.AccountList;
import org.webphone.gateway.config.GatewayConfig;
import org.webphone.gateway.sip.SipEndpoint;

/**
 * The embedded demo PBX, deployed when {@code pbx.host} is empty: a fixture and a first-run experience,
 * not a product. On {@code demo.bindAddress:demo.port} (UDP) it is
 * <ul>
 *   <li>a registrar with digest authentication for the pool accounts ({@link DemoRegistrar});</li>
 *   <li>the echo extension {@code demo.echoExtension} ("600"), which answers and sends every RTP packet
 *       back where it came from ({@link EchoCalls});</li>
 *   <li>a stateless proxy for calls between registered pool lines: an INVITE for 1001 goes to the Contact
 *       registered as 1001. No Record-Route, so the dialog then runs end to end between the two lines.</li>
 * </ul>
 * Everything it logs goes to the logger {@code demo}. It shares no state with the gateway's own verticles.
 */
public final class DemoPbxVerticle extends VerticleBase implements SipListener {
  private static final Logger LOG = LoggerFactory.getLogger("demo");
  private static final int MAX_GRANT_SEC = 3600;

  private SipEndpoint sip;
  private DemoRegistrar registrar;
  private EchoCalls echo;
  private final Map<String, String> echoAnswers = new HashMap<>();
  private String host;
  private int port;
  private String echoExtension;

  @Override
  public Future<?> start() {
    GatewayConfig cfg = GatewayConfig.from(config());
    host = cfg.getString("demo.bindAddress");
    port = cfg.getInt("demo.port");
    echoExtension = cfg.getString("demo.echoExtension");
    registrar = new DemoRegistrar(AccountList.fromConfig(cfg));
    echo = new EchoCalls(vertx, host);
    return SipEndpoint.start(vertx, context, new SipEndpoint.Options("webphone-demo", host, port, false, 0, false, null), this)
        .map(ep -> {
          sip = ep;
          LOG.info("demo PBX on {}:{}: pool accounts register here, {} is the echo", host, port, echoExtension);
          return null;
        });
  }

  @Override
  public Future<?> stop() {
    echo.closeAll();
    return sip == null ? Future.succeededFuture() : sip.stop(vertx);
  }

  @Override
  public void processRequest(RequestEvent e) {
    Request req = e.getRequest();
    String method = req.getMethod();
    String callId = ((CallIdHeader) req.getHeader(CallIdHeader.NAME)).getCallId();
    String user = req.getRequestURI() instanceof SipURI u ? u.getUser() : null;
    long now = System.currentTimeMillis();
    boolean toEcho = echoExtension.equals(user) || echo.has(callId);
    if (Request.ACK.equals(method)) {
      if (!toEcho && registrar.knows(user)) {
        forward(req, user, now);
      }
      return;
    }
    if (!toEcho && registrar.knows(user) && !Request.REGISTER.equals(method)) {
      forward(req, user, now);
      return;
    }
    ServerTransaction st = serverTransaction(e);
    if (st == null) {
      return;
    }
    switch (method) {
      case Request.REGISTER -> register(req, st, now);
      case Request.OPTIONS -> respond(st, req, Response.OK, null);
      case Request.INVITE -> {
        if (toEcho) {
          answerEcho(req, st, callId);
        } else {
          respond(st, req, Response.NOT_FOUND, null);
        }
      }
      case Request.BYE -> {
        respond(st, req, echo.has(callId) ? Response.OK : Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, null);
        echo.close(callId);
        echoAnswers.remove(callId);
      }
      case Request.INFO -> respond(st, req, toEcho ? Response.OK : Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, null);
      case Request.CANCEL -> respond(st, req, Response.OK, null);
      default -> respond(st, req, Response.NOT_IMPLEMENTED, null);
    }
  }

  private void register(Request req, ServerTransaction st, long now) {
    ToHeader to = (ToHeader) req.getHeader(ToHeader.NAME);
    String user = to.getAddress().getURI() instanceof SipURI u ? u.getUser() : null;
    if (!registrar.knows(user)) {
      LOG.info("demo: REGISTER for unknown account {}", user);
      respond(st, req, Response.NOT_FOUND, null);
      return;
    }
    if (!registrar.authorized(req, user, now)) {
      try {
        Response r = sip.messages().createResponse(Response.UNAUTHORIZED, req);
        WWWAuthenticateHeader w = sip.headers().createWWWAuthenticateHeader("Digest");
        w.setRealm(DemoRegistrar.REALM);
        w.setNonce(registrar.newNonce(now));
        w.setAlgorithm("MD5");
        w.setQop("auth");
        r.addHeader(w);
        tag(r);
        st.sendResponse(r);
      } catch (Exception ex) {
        LOG.warn("demo: cannot challenge {}: {}", user, ex.toString());
      }
      return;
    }
    ContactHeader c = (ContactHeader) req.getHeader(ContactHeader.NAME);
    try {
      Response ok = sip.messages().createResponse(Response.OK, req);
      tag(ok);
      if (c != null && c.getAddress().getURI() instanceof SipURI contact) {
        ExpiresHeader eh = (ExpiresHeader) req.getHeader(ExpiresHeader.NAME);
        int asked = c.getExpires() >= 0 ? c.getExpires() : eh != null ? eh.getExpires() : MAX_GRANT_SEC;
        int grant = Math.min(asked, MAX_GRANT_SEC);
        registrar.bind(user, (SipURI) contact.clone(), grant, now);
        LOG.info("demo: {} {} at {}", user, grant > 0 ? "registered for " + grant + " s" : "unregistered", contact);
        if (grant > 0) {
          ContactHeader back = (ContactHeader) c.clone();
          back.setExpires(grant);
          ok.addHeader(back);
          ok.addHeader(sip.headers().createExpiresHeader(grant));
        }
      }
      st.sendResponse(ok);
    } catch (Exception ex) {
      LOG.warn("demo: REGISTER of {} failed: {}", user, ex.toString());
    }
  }

  private void answerEcho(Request req, ServerTransaction st, String callId) {
    String offer = req.getRawContent() == null ? null : new String(req.getRawContent(), StandardCharsets.UTF_8);
    if (echoAnswers.containsKey(callId)) {
      respond(st, req, Response.OK, echoAnswers.get(callId)); // a re-INVITE (hold): same media, still echoing
      return;
    }
    respond(st, req, Response.TRYING, null);
    echo.open(callId, offer).onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("demo: echo socket for {} failed: {}", callId, ar.cause().toString());
        respond(st, req, Response.SERVICE_UNAVAILABLE, null);
        return;
      }
      echoAnswers.put(callId, ar.result());
      respond(st, req, Response.OK, ar.result());
    });
  }

  /** Stateless forwarding to the Contact registered for {@code user}; 480 when it is not registered now. */
  private void forward(Request req, String user, long now) {
    SipURI target = registrar.lookup(user, now);
    boolean ack = Request.ACK.equals(req.getMethod());
    try {
      if (target == null) {
        if (!ack) {
          ServerTransaction st = sip.provider().getNewServerTransaction(req);
          respond(st, req, Response.TEMPORARILY_UNAVAILABLE, null);
        }
        return;
      }
      Request out = (Request) req.clone();
      out.setRequestURI((SipURI) target.clone());
      MaxForwardsHeader mf = (MaxForwardsHeader) out.getHeader(MaxForwardsHeader.NAME);
      if (mf != null) {
        if (mf.getMaxForwards() <= 0) {
          if (!ack) {
            respond(sip.provider().getNewServerTransaction(req), req, Response.TOO_MANY_HOPS, null);
          }
          return;
        }
        mf.decrementMaxForwards();
      }
      ViaHeader top = (ViaHeader) req.getHeader(ViaHeader.NAME);
      // Derived from the incoming branch, so a CANCEL or the ACK of a failure follows its INVITE exactly.
      String branch = "z9hG4bK-demo-" + HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5")
          .digest((top.getBranch() + top.getHost() + top.getPort()).getBytes(StandardCharsets.UTF_8)));
      out.addFirst(sip.headers().createViaHeader(host, port, "udp", branch));
      sip.provider().sendRequest(out);
      LOG.debug("demo: {} for {} forwarded to {}", req.getMethod(), user, target);
    } catch (Exception ex) {
      LOG.warn("demo: cannot forward {} for {}: {}", req.getMethod(), user, ex.toString());
    }
  }

  @Override
  public void processResponse(ResponseEvent e) {
    Response r = e.getResponse();
    ViaHeader top = (ViaHeader) r.getHeader(ViaHeader.NAME);
    if (top == null || top.getBranch() == null || !top.getBranch().startsWith("z9hG4bK-demo-")) {
      return;
    }
    try {
      Response back = (Response) r.clone();
      back.removeFirst(ViaHeader.NAME);
      sip.provider().sendResponse(back);
    } catch (Exception ex) {
      LOG.debug("demo: response not relayed: {}", ex.toString());
    }
  }

  private ServerTransaction serverTransaction(RequestEvent e) {
    if (e.getServerTransaction() != null) {
      return e.getServerTransaction();
    }
    try {
      return sip.provider().getNewServerTransaction(e.getRequest());
    } catch (Exception ex) {
      return null; // a retransmission: the existing transaction answers it
    }
  }

  private void respond(ServerTransaction st, Request req, int code, String sdp) {
    try {
      Response r = sip.messages().createResponse(code, req);
      tag(r);
      if (code >= 200 && code < 300 && Request.INVITE.equals(req.getMethod())) {
        SipURI me = sip.addresses().createSipURI(echoExtension, host);
        me.setPort(port);
        r.addHeader(sip.headers().createContactHeader(sip.addresses().createAddress(me)));
      }
      if (sdp != null) {
        r.setContent(sdp, sip.headers().createContentTypeHeader("application", "sdp"));
      }
      st.sendResponse(r);
    } catch (Exception ex) {
      LOG.debug("demo: cannot answer {} with {}: {}", req.getMethod(), code, ex.toString());
    }
  }

  private static void tag(Response r) throws java.text.ParseException {
    ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
    if (to.getTag() == null && r.getStatusCode() > 100) {
      String callId = ((CallIdHeader) r.getHeader(CallIdHeader.NAME)).getCallId();
      to.setTag(Integer.toHexString(callId.hashCode()) + "d");
    }
  }

  @Override
  public void processTimeout(TimeoutEvent e) {
  }

  @Override
  public void processIOException(IOExceptionEvent e) {
    LOG.debug("demo: I/O error toward {}:{}", e.getHost(), e.getPort());
  }

  @Override
  public void processTransactionTerminated(TransactionTerminatedEvent e) {
  }

  @Override
  public void processDialogTerminated(DialogTerminatedEvent e) {
  }
}
