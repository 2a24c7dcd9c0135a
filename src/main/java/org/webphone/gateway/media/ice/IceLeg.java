package org.webphone.gateway.media.ice;

import java.beans.PropertyChangeEvent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.ice4j.Transport;
import org.ice4j.TransportAddress;
import org.ice4j.ice.Agent;
import org.ice4j.ice.CandidatePair;
import org.ice4j.ice.CandidateType;
import org.ice4j.ice.Component;
import org.ice4j.ice.IceMediaStream;
import org.ice4j.ice.IceProcessingState;
import org.ice4j.ice.KeepAliveStrategy;
import org.ice4j.ice.RemoteCandidate;
import org.ice4j.util.Buffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One browser leg's ICE agent: full ICE in the controlled role (the browser made the offer; ice4j has no
 * ICE-lite), one component (rtcp-mux), candidates from the node's single port.
 *
 * <p>Threading: {@link Listener#onPacket} runs on the WebRTC port's reader thread that carries this
 * browser's address ({@code media-webrtc-rx-<n>}, shared with the other browsers hashed to it, see
 * {@link WebRtcPort}), or on ice4j's single receive thread when the port could not be shared, or, for a
 * browser on ICE-TCP, on the ICE-TCP port's thread {@code media-icetcp} ({@link IceTcpPort});
 * {@link Listener#onState} runs on ice4j's agent threads (FAILED for lost consent: on the node's ICE thread
 * {@code media-ice-consent}). Both must hand off quickly and never block.
 *
 * <p><b>Which pair carries media: the browser's, not ice4j's.</b> ice4j, in the controlled role, keeps the
 * <i>first</i> pair the browser nominated as its selected pair for good ({@code CheckList.handleNominationConfirmed}),
 * while Chromium (controlling) may nominate the ICE-TCP pair first and move to a higher-priority UDP pair once
 * that one answers (or move for any later reason: RFC 8445 lets the controlling agent decide). So, per agent
 * (an ICE restart's agent has its own): media is <b>accepted</b> from any address that passed a connectivity
 * check for this agent, i.e. sent a Binding Request with valid MESSAGE-INTEGRITY for our ufrag (ice4j checks it:
 * {@link IceService#configureIce4j} makes integrity mandatory) that ice4j answered with success; media is
 * <b>sent</b> to the pair ice4j selected at COMPLETED until the browser sends authenticated SRTP from another
 * accepted address, and then to that one ({@link #latch}): SRTP authentication proves it is the browser, and
 * the browser sends on the pair it selected. This is what Chromium does on its side (it takes media from any
 * connection that passed a check) and what rtpengine and Janus do. ice4j keeps answering checks on every
 * succeeded pair after it terminates ({@link KeepAliveStrategy#ALL_SUCCEEDED}), else it would answer the
 * browser's consent checks on its new pair with 403 and the browser would drop that pair.
 *
 * <p><b>After ICE, no agent.</b> ice4j's STUN stack reads each browser address on a thread of its own
 * ({@code IceConnector}) with two 10 000-slot queues, for as long as the agent lives. So once ICE completed on a
 * UDP pair the leg frees its agent ({@link #release}) and answers the browser's checks itself on the WebRTC
 * port's reader ({@link #onStun}: the same addresses, the same short-term credentials), and checks the browser's
 * consent (RFC 7675, {@link #tickConsent}). An ICE-TCP pair, or a port read by ice4j's own thread, keeps the agent.
 */
public final class IceLeg implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(IceLeg.class);
  /** Remote addresses remembered per transport: a browser has a few candidates; more is not a browser. */
  static final int MAX_CHECKED = 16;

  /** Callbacks from ice4j threads. */
  public interface Listener {
    void onState(IceProcessingState state);

    /**
     * A non-STUN datagram from a remote address ICE accepted (not necessarily the selected pair), over UDP or
     * over an ICE-TCP connection ({@code tcp}); the array is reused once this returns.
     */
    void onPacket(byte[] b, int off, int len, InetSocketAddress from, boolean tcp);
  }

  /** Where media to the browser goes: its address and, on an ICE-TCP pair, the connection. Immutable. */
  private record SendPath(InetSocketAddress remote, TcpLink tcp) {
    boolean is(InetSocketAddress from, boolean overTcp) {
      return (tcp != null) == overTcp && remote.equals(from);
    }
  }

  /** RFC 7675: a consent check every 5 s (randomised by ±20 %), consent lost 30 s after the last answer. */
  static final long CONSENT_INTERVAL_MS = 5_000;
  static final long CONSENT_TIMEOUT_MS = 30_000;
  /** Transaction ids of our consent checks that an answer may still match (30 s of checks). */
  private static final int CONSENT_PENDING = 8;

  private final IceService service;
  private final Listener listener;
  private final String remoteUfrag;
  private final byte[] remotePwd;
  private final String localUfrag;
  private final byte[] localPwd;
  /** USERNAME of the browser's checks ("ourUfrag:theirUfrag") and of our consent checks ("theirs:ours"). */
  private final byte[] checkUsername;
  private final String consentUsername;
  private final long tieBreaker = java.util.concurrent.ThreadLocalRandom.current().nextLong();
  private final Agent agent;
  private final Component component;
  /** The agent was freed: at close, or once ICE completed on UDP ({@link #release}). */
  private final AtomicBoolean freed = new AtomicBoolean();
  private volatile boolean closed;
  /** ICE completed on UDP and the agent is freed: this leg answers its STUN and checks consent itself. */
  private volatile boolean answering;
  private volatile boolean consentLost;
  /** Monotonic times (ns): the last answer to our consent check (or the release), the next check due. */
  private volatile long consentNanos;
  private long nextCheckNanos;
  private final byte[][] pendingChecks = new byte[CONSENT_PENDING][];
  private int nextPending;
  /** Null until ICE completed; then ice4j's selected pair, later the pair the browser sends SRTP on. */
  private volatile SendPath path;
  /** Addresses that passed a connectivity check of this agent, per transport (ice4j's STUN threads add). */
  private final Set<InetSocketAddress> checkedUdp = ConcurrentHashMap.newKeySet();
  private final Set<InetSocketAddress> checkedTcp = ConcurrentHashMap.newKeySet();
  private WebRtcPort.Target target;

  /** Creates the agent and starts connectivity checks; blocking (harvesting), call from a worker. */
  public IceLeg(IceService service, String remoteUfrag, String remotePwd, List<IceCandidate> remote,
                Listener listener) throws IOException {
    this.service = service;
    this.listener = listener;
    this.remoteUfrag = remoteUfrag;
    this.remotePwd = remotePwd.getBytes(StandardCharsets.UTF_8);
    agent = new CheckedAgent();
    this.localUfrag = agent.getLocalUfrag();
    this.localPwd = agent.getLocalPassword().getBytes(StandardCharsets.UTF_8);
    this.checkUsername = (localUfrag + ":" + remoteUfrag).getBytes(StandardCharsets.UTF_8);
    this.consentUsername = remoteUfrag + ":" + localUfrag;
    service.agentCreated();
    try {
      agent.setControlling(false);
      agent.setUseDynamicPorts(false);
      agent.addCandidateHarvester(service.harvester());
      if (service.tcp() != null) {
        agent.addCandidateHarvester(service.tcp());
      }
      IceMediaStream stream = agent.createMediaStream("audio");
      component = agent.createComponent(stream, KeepAliveStrategy.ALL_SUCCEEDED, false);
      component.setBufferCallback((Buffer buf) -> {
        try {
          listener.onPacket(buf.getBuffer(), buf.getOffset(), buf.getLength(),
              (InetSocketAddress) buf.getRemoteAddress(), false);
        } finally {
          // Push mode: the buffer is ours once delivered; the listener copied what it kept.
          IceBufferPool.release(buf);
        }
      });
      target = (b, off, len, from) -> listener.onPacket(b, off, len, from, false);
      service.harvester().register(agent.getLocalUfrag(), target);
      if (service.tcp() != null) {
        service.tcp().register(agent.getLocalUfrag(), (b, off, len, from) -> listener.onPacket(b, off, len, from, true));
      }
      agent.addStateChangeListener((PropertyChangeEvent e) -> {
        if (e.getNewValue() instanceof IceProcessingState s) {
          if (s == IceProcessingState.COMPLETED) {
            CandidatePair pair = component.getSelectedPair();
            if (pair != null) {
              TransportAddress ta = pair.getRemoteCandidate().getTransportAddress();
              select(pair, new InetSocketAddress(ta.getAddress(), ta.getPort()));
            }
            if (service.tcp() != null) {
              SendPath p = path;
              service.tcp().closeUnselected(agent.getLocalUfrag(), p == null ? null : p.tcp());
            }
          }
          listener.onState(s);
          if (s == IceProcessingState.COMPLETED && service.answersStun()) {
            service.releaseLater(this);
          }
        }
      });
      stream.setRemoteUfrag(remoteUfrag);
      stream.setRemotePassword(remotePwd);
      for (IceCandidate c : remote) {
        if (c.usable()) {
          component.addRemoteCandidate(remote(c));
        }
      }
      agent.startConnectivityEstablishment();
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  public String localUfrag() {
    return localUfrag;
  }

  public String localPassword() {
    return new String(localPwd, StandardCharsets.UTF_8);
  }

  /**
   * The candidate lines for the answer: one host candidate per address of {@link IceService#candidateAddresses}
   * (announced in place of the bound one), all on the node's WebRTC port, priorities in that order (RFC 8445
   * 5.1.2.1: type preference 126, local preference 65535 down, component 1); then, with an ICE-TCP port, one
   * {@code tcptype passive} candidate per address (RFC 6544) below every UDP one (type preference 90, below a
   * server-reflexive UDP candidate's 100: UDP is preferred wherever it flows; local preference per RFC 6544
   * 4.2, direction preference 4 for passive).
   */
  public List<String> localCandidateLines() {
    List<String> addresses = service.candidateAddresses();
    List<String> lines = new ArrayList<>(addresses.size());
    for (int i = 0; i < addresses.size(); i++) {
      long priority = (126L << 24) + ((long) (65535 - i) << 8) + 255;
      lines.add((i + 1) + " 1 udp " + priority + " " + addresses.get(i) + " " + service.port() + " typ host");
    }
    IceTcpPort tcp = service.tcp();
    for (int i = 0; tcp != null && i < addresses.size(); i++) {
      long priority = (90L << 24) + ((long) ((4 << 13) + 8191 - i) << 8) + 255;
      lines.add((addresses.size() + i + 1) + " 1 tcp " + priority + " " + addresses.get(i) + " " + tcp.port()
          + " typ host tcptype passive");
    }
    return lines;
  }

  /**
   * Adds a candidate the browser trickled after the agent started (ice4j pairs it with our candidate and checks
   * it); ignored once ICE completed. Takes ice4j's locks: call from a worker, not an event loop.
   *
   * @return false when the agent is already done or freed (nothing added)
   */
  public boolean addRemoteCandidate(IceCandidate c) {
    IceProcessingState s = agent.getState();
    if (freed.get() || s == IceProcessingState.COMPLETED || s == IceProcessingState.TERMINATED
        || s == IceProcessingState.FAILED) {
      return false;
    }
    component.addUpdateRemoteCandidates(remote(c));
    component.updateRemoteCandidates();
    return true;
  }

  /** The browser's ICE ufrag this agent answers (a trickled candidate of another generation is not for it). */
  public String remoteUfrag() {
    return remoteUfrag;
  }

  private RemoteCandidate remote(IceCandidate c) {
    return new RemoteCandidate(new TransportAddress(c.ip(), c.port(), Transport.UDP), component,
        CandidateType.parse(c.type()), c.foundation(), c.priority(), null);
  }

  /** Sends to ice4j's selected pair from now on (at COMPLETED): its remote address, its connection if ICE-TCP. */
  private void select(CandidatePair pair, InetSocketAddress remote) {
    IceTcpPort tcp = service.tcp();
    TcpLink link = tcp != null && pair.getLocalCandidate().getTransport() == Transport.TCP ? tcp.link(remote) : null;
    path = new SendPath(remote, link);
  }

  /** The browser's address media goes to; null until ICE completed. */
  public InetSocketAddress selectedRemote() {
    SendPath p = path;
    return p == null ? null : p.remote();
  }

  /**
   * Whether media from {@code from} (over an ICE-TCP connection when {@code tcp}) may be taken: the address
   * media goes to, or any other that passed a connectivity check of this agent (the browser may use any pair
   * it validated; SRTP authentication still decides each packet). Allocation-free; any reader thread.
   */
  public boolean accepts(InetSocketAddress from, boolean tcp) {
    SendPath p = path;
    if (p != null && p.is(from, tcp)) {
      return true;
    }
    return (tcp ? checkedTcp : checkedUdp).contains(from);
  }

  /**
   * The browser sent authenticated SRTP from {@code from}: send there from now on if it is not where media
   * goes already (the browser moved to another pair it validated). Call only for an address {@link #accepts}
   * took; on the reader thread that received it. An ICE-TCP connection that has closed is not taken.
   */
  public void latch(InetSocketAddress from, boolean tcp) {
    SendPath p = path;
    if (p == null || p.is(from, tcp)) {
      return;
    }
    TcpLink link = null;
    if (tcp) {
      IceTcpPort port = service.tcp();
      link = port == null ? null : port.link(from);
      if (link == null) {
        return;
      }
    }
    path = new SendPath(from, link);
    LOG.info("ICE agent {}: the browser moved its media from {} ({}) to {} ({}); sending there",
        agent.getLocalUfrag(), p.remote(), p.tcp() != null ? "tcp" : "udp", from, tcp ? "tcp" : "udp");
  }

  /** From ice4j's STUN thread: {@code remote} sent a check with valid integrity that ice4j answered with success. */
  private void checked(TransportAddress remote, TransportAddress local) {
    boolean tcp = local.getTransport() == Transport.TCP || remote.getTransport() == Transport.TCP;
    Set<InetSocketAddress> set = tcp ? checkedTcp : checkedUdp;
    if (set.size() < MAX_CHECKED) {
      set.add(new InetSocketAddress(remote.getAddress(), remote.getPort()));
    }
  }

  /**
   * Sends DTLS or SRTCP where media goes ({@link #sendMedia}); before ICE completed, through ice4j (its
   * selected or valid pair). A datagram the socket cannot take now is dropped, as UDP would; the protocols
   * above retransmit.
   */
  public void send(byte[] data, int off, int len) throws IOException {
    if (path == null) {
      component.send(data, off, len);
      return;
    }
    sendMedia(ByteBuffer.wrap(data, off, len));
  }

  /**
   * Sends media ({@code view}'s position to limit) to the browser's address on the pair media goes to, from
   * the node's WebRTC port, without ice4j's per-packet work; through ice4j when the port has no media channel
   * (then on ice4j's selected pair); on the connection itself, one RFC 4571 frame, when the pair is ICE-TCP.
   * Returns false when ICE has not completed or the socket's send buffer was full (the packet is dropped).
   */
  public boolean sendMedia(ByteBuffer view) throws IOException {
    SendPath p = path;
    if (p == null || consentLost) {
      return false;
    }
    if (p.tcp() != null) {
      return p.tcp().send(view);
    }
    DatagramChannel ch = service.mediaChannel();
    if (ch == null) {
      component.send(view.array(), view.position(), view.remaining());
      return true;
    }
    return ch.send(view, p.remote()) > 0;
  }

  /**
   * ice4j's agent with one hook: the remote addresses of the checks it accepted (STUN integrity is checked
   * before, by its STUN stack), which {@link #accepts} takes media from. Runs on ice4j's STUN threads.
   */
  private final class CheckedAgent extends Agent {
    @Override
    protected boolean incomingCheckReceived(TransportAddress remoteAddress, TransportAddress localAddress,
                                            long priority, String remoteUFrag, String localUFrag,
                                            boolean useCandidate) {
      boolean ok = super.incomingCheckReceived(remoteAddress, localAddress, priority, remoteUFrag, localUFrag,
          useCandidate);
      if (ok) {
        checked(remoteAddress, localAddress);
      }
      return ok;
    }

    /**
     * Empty, so that the JVM does not register the agent for finalization: ice4j's {@code Agent.finalize()}
     * only calls {@code free()}, which {@link IceLeg#close()} always does. With it, every ended call's agent and
     * all it reaches (the media session, SRTP contexts, buffers: a few hundred kB) stayed in the heap until the
     * single finalizer thread ran and a second GC came: 129 ended calls 40 s after the last one on a busy node
     * (bench/RESULTS.md, "Memory footprint").
     */
    @Override
    @SuppressWarnings("deprecation")
    protected void finalize() {
    }
  }

  /**
   * On the node's ICE thread ({@link IceService#releaseLater}), after ICE COMPLETED on a UDP pair: frees the ice4j
   * agent (its per-address sockets, their two 10 000-slot queues and the {@code IceConnector} thread that reads
   * each) and answers the browser's checks itself from now on ({@link #onStun}), as ice4j did after COMPLETED
   * (every address that passed a check, {@link KeepAliveStrategy#ALL_SUCCEEDED}; a new address through a valid
   * check, up to {@link #MAX_CHECKED}); it also checks the browser's consent (RFC 7675, {@link #tickConsent}).
   * Nothing happens when the leg was closed meanwhile or media goes over ICE-TCP.
   */
  synchronized void release() {
    SendPath p = path;
    if (closed || p == null || p.tcp() != null || !freed.compareAndSet(false, true)) {
      return;
    }
    consentNanos = System.nanoTime();
    nextCheckNanos = consentNanos + jitter();
    answering = true;
    service.harvester().answerStun(localUfrag, target, this::onStun);
    if (service.tcp() != null) {
      service.tcp().unregister(localUfrag);
    }
    checkedTcp.clear();
    agent.free();
    service.answering(this, true);
  }

  /** Whether this leg answers its STUN itself (its agent freed after ICE completed on UDP). */
  public boolean answeringStun() {
    return answering;
  }

  /** Whether the browser stopped answering our consent checks for {@link #CONSENT_TIMEOUT_MS}: media stopped. */
  public boolean consentLost() {
    return consentLost;
  }

  private static long jitter() {
    return java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(
        CONSENT_INTERVAL_MS * 4 / 5 + java.util.concurrent.ThreadLocalRandom.current().nextLong(CONSENT_INTERVAL_MS * 2 / 5));
  }

  /**
   * A STUN message from {@code from} for this leg after its agent was freed, on the WebRTC port's reader thread.
   * A Binding Request with our USERNAME, valid MESSAGE-INTEGRITY (our password) and FINGERPRINT (required), from an address
   * that passed a check (or a new one while fewer than {@link #MAX_CHECKED} did) gets a success response with its
   * XOR-MAPPED-ADDRESS; a success response with the browser's integrity to one of our pending consent checks
   * refreshes consent (one to another check, e.g. ice4j's before the agent was freed, is taken silently); a
   * Binding Indication is taken silently; anything else is dropped unanswered and counted.
   *
   * @return true for a request accepted (its address then routes to this leg)
   */
  boolean onStun(byte[] b, int len, InetSocketAddress from) {
    int type = IceStun.type(b);
    if (type == IceStun.BINDING_INDICATION) {
      return false;
    }
    String why;
    if (type == IceStun.BINDING_REQUEST) {
      why = IceStun.refusal(b, len, localPwd, checkUsername);
      if (why == null && !checkedUdp.contains(from)) {
        if (checkedUdp.size() < MAX_CHECKED) {
          checkedUdp.add(from);
        } else {
          why = "too many addresses";
        }
      }
      if (why == null) {
        sendStun(IceStun.bindingSuccess(b, from, localPwd), from);
        return true;
      }
    } else if (type == IceStun.BINDING_SUCCESS) {
      why = IceStun.refusal(b, len, remotePwd, null);
      if (why == null) {
        // Authenticated by the browser: consent, when it answers one of our checks; otherwise a late answer to a
        // check ice4j sent before the agent was freed, taken silently.
        if (answeredCheck(b)) {
          consentNanos = System.nanoTime();
        }
        return false;
      }
    } else {
      why = "STUN type 0x" + Integer.toHexString(type);
    }
    service.harvester().countStunDropped();
    LOG.debug("ICE leg {}: STUN from {} dropped: {}", localUfrag, from, why);
    return false;
  }

  /** Whether {@code response} answers one of our last consent checks (its transaction id is then forgotten). */
  private boolean answeredCheck(byte[] response) {
    synchronized (pendingChecks) {
      for (int i = 0; i < pendingChecks.length; i++) {
        byte[] tx = pendingChecks[i];
        if (tx != null && java.util.Arrays.equals(response, 8, 20, tx, 0, 12)) {
          pendingChecks[i] = null;
          return true;
        }
      }
    }
    return false;
  }

  private void sendStun(byte[] msg, InetSocketAddress to) {
    try {
      service.mediaChannel().send(ByteBuffer.wrap(msg), to);
    } catch (IOException e) {
      LOG.debug("ICE leg {}: STUN to {} not sent: {}", localUfrag, to, e.toString());
    }
  }

  /**
   * On the node's ICE thread about twice a second while this leg answers STUN: sends a consent check (RFC 7675) to
   * where media goes when one is due; after {@link #CONSENT_TIMEOUT_MS} without an answer, stops sending media and
   * fails the leg ({@link Listener#onState} FAILED, on this thread). Returns false once consent is lost or the leg
   * closed (then it is not ticked again).
   */
  boolean tickConsent(long now) {
    if (closed || consentLost) {
      return false;
    }
    if (now - consentNanos > java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(CONSENT_TIMEOUT_MS)) {
      consentLost = true;
      LOG.info("ICE leg {}: the browser at {} answered no consent check for {} s: media stopped", localUfrag,
          selectedRemote(), CONSENT_TIMEOUT_MS / 1000);
      listener.onState(IceProcessingState.FAILED);
      return false;
    }
    SendPath p = path;
    if (now - nextCheckNanos >= 0 && p != null) {
      nextCheckNanos = now + jitter();
      byte[] tx = new byte[12];
      java.util.concurrent.ThreadLocalRandom.current().nextBytes(tx);
      synchronized (pendingChecks) {
        pendingChecks[nextPending] = tx;
        nextPending = (nextPending + 1) % pendingChecks.length;
      }
      // The priority our agent would give a peer-reflexive candidate of this host candidate (RFC 8445 7.1.1).
      sendStun(IceStun.consentRequest(tx, consentUsername, remotePwd, (110L << 24) + (65535L << 8) + 255,
          tieBreaker), p.remote());
    }
    return true;
  }

  /** Frees the agent (its threads and its ufrag registration in the shared harvester). Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    if (target != null) {
      service.harvester().unregister(localUfrag, target);
      if (service.tcp() != null) {
        service.tcp().unregister(localUfrag);
      }
    }
    if (freed.compareAndSet(false, true)) {
      agent.free();
    }
    service.answering(this, false);
    service.agentFreed();
  }
}
