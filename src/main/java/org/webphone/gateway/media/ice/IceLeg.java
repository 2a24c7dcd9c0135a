package org.webphone.gateway.media.ice;

import java.beans.PropertyChangeEvent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
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

/**
 * One browser leg's ICE agent: full ICE in the controlled role (the browser made the offer; ice4j has no
 * ICE-lite), one component (rtcp-mux), candidates from the node's single port.
 *
 * <p>Threading: {@link Listener#onPacket} runs on the WebRTC port's reader thread that carries this
 * browser's address ({@code media-webrtc-rx-<n>}, shared with the other browsers hashed to it, see
 * {@link WebRtcPort}), or on ice4j's single receive thread when the port could not be shared, or, for a
 * browser on ICE-TCP, on the ICE-TCP port's thread {@code media-icetcp} ({@link IceTcpPort});
 * {@link Listener#onState} runs on ice4j's agent threads. Both must hand off quickly and never block.
 */
public final class IceLeg implements AutoCloseable {
  /** Callbacks from ice4j threads. */
  public interface Listener {
    void onState(IceProcessingState state);

    /**
     * A non-STUN datagram from a remote address ICE accepted (not necessarily the selected pair); the
     * array is reused once this returns.
     */
    void onPacket(byte[] b, int off, int len, InetSocketAddress from);
  }

  private final IceService service;
  private final String remoteUfrag;
  private final Agent agent;
  private final Component component;
  private final AtomicBoolean freed = new AtomicBoolean();
  private volatile InetSocketAddress selectedRemote;
  /** The selected pair's ICE-TCP connection; null while the pair is UDP (or none). */
  private volatile TcpLink selectedTcp;
  private WebRtcPort.Target target;

  /** Creates the agent and starts connectivity checks; blocking (harvesting), call from a worker. */
  public IceLeg(IceService service, String remoteUfrag, String remotePwd, List<IceCandidate> remote,
                Listener listener) throws IOException {
    this.service = service;
    this.remoteUfrag = remoteUfrag;
    agent = new Agent();
    service.agentCreated();
    try {
      agent.setControlling(false);
      agent.setUseDynamicPorts(false);
      agent.addCandidateHarvester(service.harvester());
      if (service.tcp() != null) {
        agent.addCandidateHarvester(service.tcp());
      }
      IceMediaStream stream = agent.createMediaStream("audio");
      component = agent.createComponent(stream, KeepAliveStrategy.SELECTED_ONLY, false);
      component.setBufferCallback((Buffer buf) -> {
        try {
          listener.onPacket(buf.getBuffer(), buf.getOffset(), buf.getLength(),
              (InetSocketAddress) buf.getRemoteAddress());
        } finally {
          // Push mode: the buffer is ours once delivered; the listener copied what it kept.
          IceBufferPool.release(buf);
        }
      });
      target = listener::onPacket;
      service.harvester().register(agent.getLocalUfrag(), target);
      if (service.tcp() != null) {
        service.tcp().register(agent.getLocalUfrag(), target);
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
              service.tcp().closeUnselected(agent.getLocalUfrag(), selectedTcp);
            }
          }
          listener.onState(s);
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
    return agent.getLocalUfrag();
  }

  public String localPassword() {
    return agent.getLocalPassword();
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

  /** Records the selected pair's remote address and, for an ICE-TCP pair, its connection (for sending). */
  private void select(CandidatePair pair, InetSocketAddress remote) {
    IceTcpPort tcp = service.tcp();
    selectedTcp = tcp != null && pair.getLocalCandidate().getTransport() == Transport.TCP ? tcp.link(remote) : null;
    selectedRemote = remote;
  }

  /** The browser's address on the selected pair; null until ICE completed. Packets from elsewhere are junk. */
  public InetSocketAddress selectedRemote() {
    return selectedRemote;
  }

  /**
   * Whether {@code from} is the browser's address on the ICE-selected pair. Fast path: the address cached at
   * COMPLETED; a different address is checked against ice4j's current selected pair (the browser may
   * nominate another pair later), so only media from the selected pair is ever accepted.
   */
  public boolean isSelected(java.net.SocketAddress from) {
    InetSocketAddress cached = selectedRemote;
    if (cached != null && cached.equals(from)) {
      return true;
    }
    if (cached == null) {
      return false;
    }
    CandidatePair pair = component.getSelectedPair();
    if (pair == null || !(from instanceof InetSocketAddress f)) {
      return false;
    }
    TransportAddress ta = pair.getRemoteCandidate().getTransportAddress();
    if (ta.getPort() == f.getPort() && ta.getAddress().equals(f.getAddress())) {
      select(pair, f);
      return true;
    }
    return false;
  }

  /**
   * Sends on the selected pair; throws until ICE has validated a pair. Non-blocking (UDP, or our framed
   * non-blocking write on an ICE-TCP pair).
   */
  public void send(byte[] data, int off, int len) throws IOException {
    component.send(data, off, len);
  }

  /**
   * Sends media ({@code view}'s position to limit) to the browser's address on the selected pair, from the
   * node's WebRTC port, without ice4j's per-packet work; through ice4j when the port has no media channel; on
   * the connection itself, one RFC 4571 frame, when the selected pair is ICE-TCP. Returns false when ICE has not
   * completed or the socket's send buffer was full (the packet is dropped).
   */
  public boolean sendMedia(ByteBuffer view) throws IOException {
    InetSocketAddress to = selectedRemote;
    if (to == null) {
      return false;
    }
    TcpLink link = selectedTcp;
    if (link != null) {
      return link.send(view);
    }
    DatagramChannel ch = service.mediaChannel();
    if (ch == null) {
      component.send(view.array(), view.position(), view.remaining());
      return true;
    }
    return ch.send(view, to) > 0;
  }

  /** Frees the agent (its threads and its ufrag registration in the shared harvester). Idempotent. */
  @Override
  public void close() {
    if (freed.compareAndSet(false, true)) {
      if (target != null) {
        service.harvester().unregister(agent.getLocalUfrag(), target);
        if (service.tcp() != null) {
          service.tcp().unregister(agent.getLocalUfrag());
        }
      }
      agent.free();
      service.agentFreed();
    }
  }
}
