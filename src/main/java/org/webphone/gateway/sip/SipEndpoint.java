package org.webphone.gateway.sip;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.Properties;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.ListeningPoint;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.SipFactory;
import javax.sip.SipListener;
import javax.sip.SipProvider;
import javax.sip.SipStack;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.AddressFactory;
import javax.sip.header.HeaderFactory;
import javax.sip.message.MessageFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One JAIN-SIP stack with its listening points (UDP; TCP on the same port and TLS only when asked) and one
 * provider, plus the three factories. With a {@link SipPortGuard} in the options, every request passes it
 * before the stack creates anything for it, and inbound TCP connections are capped and length-checked.
 *
 * <p>Threading: the stack is created and stopped on a worker thread (it binds sockets and starts threads).
 * JAIN-SIP calls the listener on its single message worker (REENTRANT_LISTENER: no event-scanner hop);
 * this class only hands every event over to the owner's Vert.x context, so all SIP state lives on one event
 * loop and needs no locks. Sending requests and responses from the event loop is fine over UDP (a datagram
 * send); DNS is never involved because every address we build is an IP literal.
 */
public final class SipEndpoint {
  private static final Logger LOG = LoggerFactory.getLogger(SipEndpoint.class);

  private final SipStack stack;
  private final SipProvider provider;
  private final AddressFactory addresses;
  private final HeaderFactory headers;
  private final MessageFactory messages;
  private final Handoff handoff;
  private PbxTlsSecurity tls;
  private GuardedNioFactory nio;

  private SipEndpoint(SipStack stack, SipProvider provider, AddressFactory a, HeaderFactory h, MessageFactory m,
      Handoff handoff) {
    this.handoff = handoff;
    this.stack = stack;
    this.provider = provider;
    this.addresses = a;
    this.headers = h;
    this.messages = m;
  }

  /**
   * Options of {@link #start}. {@code tlsPort} 0 means no TLS listening point. {@code announcedAddress}, when
   * not blank and not the bind address, is the "sent-by" of the listening points (1:1 NAT).
   */
  public record Options(String name, String bindAddress, int port, boolean tcp, int tlsPort, boolean dialogSupport,
      String announcedAddress, SipPortGuard guard, int tcpIdleSec, int maxMessageBytes, Tls tls) {
    /** No TLS settings (the TLS listening point, if any, uses JAIN-SIP's defaults). */
    public Options(String name, String bindAddress, int port, boolean tcp, int tlsPort, boolean dialogSupport,
        String announcedAddress, SipPortGuard guard, int tcpIdleSec, int maxMessageBytes) {
      this(name, bindAddress, port, tcp, tlsPort, dialogSupport, announcedAddress, guard, tcpIdleSec, maxMessageBytes,
          null);
    }

    /** No guard (every source is served), 60 s TCP idle time, 64 KiB messages. */
    public Options(String name, String bindAddress, int port, boolean tcp, int tlsPort, boolean dialogSupport,
        String announcedAddress) {
      this(name, bindAddress, port, tcp, tlsPort, dialogSupport, announcedAddress, null, 60, 65536);
    }
  }

  /**
   * The TLS listening point's material: our certificate and key (PEM), the CA file the PBX's certificate must
   * lead to (blank: the JVM's), the name it must carry, whether it is checked at all, and whether a connecting
   * PBX is asked for a certificate ({@code Want}, {@code Enabled} = required, {@code Disabled}).
   */
  public record Tls(String cert, String key, String trust, String serverName, boolean verify, String clientAuth) {
  }

  /**
   * Creates and starts the stack on a worker thread. {@code listener} is called on {@code context}, one
   * event at a time.
   */
  public static Future<SipEndpoint> start(Vertx vertx, Context context, Options o, SipListener listener) {
    return vertx.executeBlocking(() -> {
      Properties p = new Properties();
      p.setProperty("javax.sip.STACK_NAME", o.name() + "-" + o.port());
      p.setProperty("gov.nist.javax.sip.STACK_LOGGER", Slf4jStackLogger.class.getName());
      p.setProperty("gov.nist.javax.sip.SERVER_LOGGER", Slf4jServerLogger.class.getName());
      // Messages are logged only when the logger sip.wire is at TRACE (see Slf4jServerLogger).
      p.setProperty("gov.nist.javax.sip.TRACE_LEVEL", Slf4jServerLogger.wireEnabled() ? "16" : "0");
      p.setProperty("javax.sip.AUTOMATIC_DIALOG_SUPPORT", o.dialogSupport() ? "on" : "off");
      // Oversized datagrams and bodies are refused by the parser instead of being buffered.
      p.setProperty("gov.nist.javax.sip.MAX_MESSAGE_SIZE", Integer.toString(o.maxMessageBytes()));
      // TCP on JAIN-SIP's NIO transport: one selector thread per listening point instead of two threads per
      // connection, idle connections closed by the stack. MAX_CONNECTIONS is not read by the NIO transport;
      // GuardedNioFactory enforces sip.maxTcpConnections. Connects stay BLOCKING (bounded by CONNECTION_TIMEOUT,
      // as with the old transport); NONBLOCKING lost the REGISTERs in SipKamailioTest over TCP (tried before the
      // socket-table fix in GuardedNioFactory.KeepingHandler, not since).
      p.setProperty("gov.nist.javax.sip.MESSAGE_PROCESSOR_FACTORY", GuardedNioFactory.class.getName());
      p.setProperty("gov.nist.javax.sip.NIO_BLOCKING_MODE", "BLOCKING");
      if (o.tls() != null && o.tlsPort() > 0) {
        tlsProperties(p, o.tls());
      }
      p.setProperty("gov.nist.javax.sip.NIO_MAX_SOCKET_IDLE_TIME", Long.toString(o.tcpIdleSec() * 1000L));
      p.setProperty("gov.nist.javax.sip.MAX_SERVER_TRANSACTIONS", "10000");
      p.setProperty("gov.nist.javax.sip.MAX_CLIENT_TRANSACTIONS", "10000");
      // One worker keeps the messages of a call in arrival order (a 100 or 180 is not overtaken by its 200);
      // parsing is cheap and the listener only hands off, so one thread is not a bottleneck.
      p.setProperty("gov.nist.javax.sip.THREAD_POOL_SIZE", "1");
      // The listener (Handoff) is called on that worker itself instead of through the stack's event-scanner
      // thread: Handoff only queues the event on our context and returns, so the scanner's queue added one thread
      // hand-off to every message received (the 407 and the 200 of each outgoing call among them) and nothing else.
      // Order is kept: one worker delivers every message, in arrival order. Timeouts come from the stack's timer.
      p.setProperty("gov.nist.javax.sip.REENTRANT_LISTENER", "true");
      p.setProperty("gov.nist.javax.sip.CACHE_CLIENT_CONNECTIONS", "true");
      // A TCP/TLS connect happens inside sendRequest, i.e. on the event loop: bound it.
      p.setProperty("gov.nist.javax.sip.CONNECTION_TIMEOUT", "2000");
      p.setProperty("gov.nist.javax.sip.DELIVER_UNSOLICITED_NOTIFY", "false");
      p.setProperty("gov.nist.javax.sip.AGGRESSIVE_CLEANUP", "true");
      // JAIN-SIP asks for a 64 KB UDP receive buffer: ~60 small datagrams, under 0.1 s of traffic at 200 calls/s,
      // so a short pause of the stack's reader (GC, a busy core) dropped 100s and 200s and the INVITE timed out
      // (load run at 200/s). 4 MB rides out a pause of seconds; the kernel caps it at net.core.rmem_max.
      p.setProperty("gov.nist.javax.sip.RECEIVE_UDP_BUFFER_SIZE", Integer.toString(4 * 1024 * 1024));
      SipFactory f = SipFactory.getInstance();
      f.setPathName("gov.nist");
      SipStack stack = f.createSipStack(p);
      PbxTlsSecurity tls = PbxTlsSecurity.take(p.getProperty("javax.sip.STACK_NAME"));
      GuardedNioFactory factory = null;
      if (o.guard() != null && stack instanceof gov.nist.javax.sip.stack.SIPTransactionStack t) {
        // Before the first listening point opens a socket: no request passes unchecked.
        o.guard().attach(t);
        t.sipMessageValves.add(o.guard());
        if (t.getMessageProcessorFactory() instanceof GuardedNioFactory g) {
          g.guard(o.guard(), o.maxMessageBytes());
          factory = g;
        }
      }
      SipProvider provider = null;
      Handoff handoff;
      GuardedNioFactory nio = factory;
      try {
        ListeningPoint udp = stack.createListeningPoint(o.bindAddress(), o.port(), ListeningPoint.UDP);
        provider = stack.createSipProvider(udp);
        if (o.tcp()) {
          provider.addListeningPoint(stack.createListeningPoint(o.bindAddress(), o.port(), ListeningPoint.TCP));
        }
        if (o.tlsPort() > 0) {
          provider.addListeningPoint(stack.createListeningPoint(o.bindAddress(), o.tlsPort(), ListeningPoint.TLS));
        }
        String announced = o.announcedAddress();
        if (announced != null && !announced.isBlank() && !announced.equals(o.bindAddress())) {
          for (ListeningPoint lp : provider.getListeningPoints()) {
            ((gov.nist.javax.sip.ListeningPointExt) lp).setSentBy(announced + ":" + lp.getPort());
          }
        }
        handoff = new Handoff(context, listener);
        provider.addSipListener(handoff);
        stack.start();
      } catch (Exception e) {
        stack.stop();
        throw e;
      }
      LOG.info("SIP stack {} listening on {}:{} (udp{}{})", o.name(), o.bindAddress(), o.port(), o.tcp() ? ", tcp" : "",
          o.tlsPort() > 0 ? ", tls " + o.tlsPort() : "");
      SipEndpoint ep = new SipEndpoint(stack, provider, f.createAddressFactory(), f.createHeaderFactory(),
          f.createMessageFactory(), handoff);
      ep.tls = tls;
      ep.nio = nio;
      return ep;
    });
  }

  /**
   * TLS on JAIN-SIP's NIO transport with our key material ({@link PbxTlsSecurity}), TLS 1.2+ and the JVM's
   * default cipher suites (JAIN-SIP's own defaults are TLS 1.0-1.2 and two CBC/anonymous suites). Connects stay
   * blocking: non-blocking ones let each of a storm's REGISTERs find the first connection still pending and open
   * another (1000 lines never registered); PbxTrunk#send sends the requests that open it from a worker instead.
   */
  private static void tlsProperties(Properties p, Tls t) throws java.security.NoSuchAlgorithmException {
    p.setProperty("gov.nist.javax.sip.SECURITY_MANAGER_PROVIDER", PbxTlsSecurity.class.getName());
    p.setProperty(PbxTlsSecurity.CERT, t.cert());
    p.setProperty(PbxTlsSecurity.KEY, t.key());
    p.setProperty(PbxTlsSecurity.TRUST, t.trust());
    p.setProperty(PbxTlsSecurity.SERVER_NAME, t.serverName());
    p.setProperty(PbxTlsSecurity.VERIFY, Boolean.toString(t.verify()));
    p.setProperty("gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE", t.clientAuth());
    p.setProperty("gov.nist.javax.sip.TLS_CLIENT_PROTOCOLS", "TLSv1.3,TLSv1.2");
    p.setProperty("gov.nist.javax.sip.ENABLED_CIPHER_SUITES",
        String.join(",", javax.net.ssl.SSLContext.getDefault().getDefaultSSLParameters().getCipherSuites()));
  }

  /**
   * Tells {@code context}, one event at a time, when the PBX's certificate is refused (the reason) or accepted
   * again (null), and when a TLS connection we opened closed (its remote address). No-op without TLS.
   */
  public void onTlsEvents(Context context, java.util.function.Consumer<String> certificate,
      java.util.function.Consumer<java.net.InetSocketAddress> closed) {
    if (tls != null) {
      tls.onCertificateFailure(why -> context.runOnContext(v -> certificate.accept(why)));
    }
    if (nio != null) {
      nio.onOutboundClosed(a -> {
        if (!handoff.closed) {
          context.runOnContext(v -> closed.accept(a));
        }
      });
    }
  }

  /** True when the stack has a TLS listening point with our key material. */
  public boolean tls() {
    return tls != null;
  }

  /** Why the PBX's certificate was last refused; null when it passed, or without TLS. */
  public String pbxCertificateProblem() {
    return tls == null ? null : tls.lastFailure();
  }

  /**
   * Stops the stack and ends its event-scanner thread: JAIN-SIP 1.3.0-91's {@code stop()} only sets a flag
   * while that thread waits in {@code take()} for the next event, so it would stay forever. One harmless event
   * (ignored by our hand-off, which is closed first) wakes it; it then sees the flag and ends.
   */
  public Future<Void> stop(Vertx vertx) {
    handoff.closed = true;
    return vertx.executeBlocking(() -> {
      // taken before stop(), which forgets it
      gov.nist.javax.sip.EventScanner scanner = stack instanceof gov.nist.javax.sip.SipStackImpl impl
          ? impl.getEventScanner() : null;
      String prefix = stack.getStackName() + "-";
      stack.stop();
      if (scanner != null) {
        scanner.forceStop();
        scanner.addEvent(new gov.nist.javax.sip.EventWrapper(
            new javax.sip.IOExceptionEvent(provider, "0.0.0.0", 0, "udp"), null));
      }
      // The UDP message-channel workers wait in take() and look at the stopped flag only when woken; now and
      // then one stays (seen in DemoPbxTest). The stack is stopped, so waking them ends them.
      for (Thread t : Thread.getAllStackTraces().keySet()) {
        if (t.getName().startsWith(prefix) && t.getName().contains("MessageChannelThread")) {
          t.interrupt();
        }
      }
      return null;
    });
  }

  public SipProvider provider() {
    return provider;
  }

  public AddressFactory addresses() {
    return addresses;
  }

  public HeaderFactory headers() {
    return headers;
  }

  public MessageFactory messages() {
    return messages;
  }

  /** Moves every JAIN-SIP callback onto the owner's context; never blocks the stack's thread. */
  private static final class Handoff implements SipListener {
    private final Context context;
    private final SipListener target;
    volatile boolean closed;

    Handoff(Context context, SipListener target) {
      this.context = context;
      this.target = target;
    }

    private void hand(Runnable r) {
      if (!closed) {
        context.runOnContext(v -> safely(r));
      }
    }

    @Override
    public void processRequest(RequestEvent e) {
      hand(() -> target.processRequest(e));
    }

    @Override
    public void processResponse(ResponseEvent e) {
      hand(() -> target.processResponse(e));
    }

    @Override
    public void processTimeout(TimeoutEvent e) {
      hand(() -> target.processTimeout(e));
    }

    @Override
    public void processIOException(IOExceptionEvent e) {
      hand(() -> target.processIOException(e));
    }

    @Override
    public void processTransactionTerminated(TransactionTerminatedEvent e) {
      hand(() -> target.processTransactionTerminated(e));
    }

    @Override
    public void processDialogTerminated(DialogTerminatedEvent e) {
      hand(() -> target.processDialogTerminated(e));
    }

    private static void safely(Runnable r) {
      try {
        r.run();
      } catch (RuntimeException ex) {
        LOG.error("SIP event handling failed", ex);
      }
    }
  }
}
