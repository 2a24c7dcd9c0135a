package org.webphone.gateway.media.ice;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.ice4j.StackProperties;
import org.ice4j.Transport;
import org.webphone.gateway.media.dtls.DtlsHandshakePool;
import org.ice4j.TransportAddress;
import org.ice4j.ice.harvest.AbstractUdpListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.node.IdleEndingExecutors;

/**
 * The node's single ICE port: one ice4j {@link SinglePortUdpHarvester} shared by every browser leg,
 * demultiplexed by ICE ufrag and then by remote address (the Jitsi Videobridge model). It is also the only
 * harvester that offers loopback candidates, which tests need.
 */
public final class IceService implements AutoCloseable {
  static {
    // ice4j reads this static when the harvester is constructed: push mode hands us every datagram on its
    // receive thread through Component.setBufferCallback, with no per-call socket thread.
    AbstractUdpListener.USE_PUSH_API = true;
    configureIce4j();
    Ice4jPools.endIdleThreadsAfter(IdleEndingExecutors.KEEP_ALIVE_SEC);
  }

  /**
   * ice4j settings that must hold before the first Agent: no AWS metadata probe (it blocks the first agent
   * for about 1.6 s), a large receive buffer on the single port, no STUN mapping, and checks without
   * MESSAGE-INTEGRITY refused. ice4j reads system properties through jitsi-metaconfig, where an
   * empty {@code -Dice4j.harvest.mapping.stun.addresses=} is a STRING, not a list, and makes every
   * {@code new Agent()} throw; such a blank value is removed so the library default (none) applies.
   */
  public static void configureIce4j() {
    if (System.getProperty("ice4j.harvest.mapping.aws.enabled") == null) {
      System.setProperty("ice4j.harvest.mapping.aws.enabled", "false");
    }
    if (System.getProperty("ice4j.harvest.udp.receive-buffer-size") == null) {
      // Every browser leg of the node arrives on this one socket; the OS default (about 200 KB) overflows
      // within milliseconds at a few hundred calls whenever the receive thread is descheduled.
      System.setProperty("ice4j.harvest.udp.receive-buffer-size", String.valueOf(4 * 1024 * 1024));
    }
    if (System.getProperty("ice4j.harvest.udp.socket-pool-size") == null) {
      // With more than one socket ice4j binds them with SO_REUSEADDR, which lets our media channel share the
      // port (see the constructor); ice4j itself then sends only STUN and DTLS.
      System.setProperty("ice4j.harvest.udp.socket-pool-size", "2");
    }
    if (System.getProperty(StackProperties.REQUIRE_MESSAGE_INTEGRITY) == null) {
      // RFC 8445 7.2.2: a connectivity check carries MESSAGE-INTEGRITY; ice4j answers one without it unless told
      // otherwise, and IceLeg takes media from any address whose check ice4j answered.
      System.setProperty(StackProperties.REQUIRE_MESSAGE_INTEGRITY, "true");
    }
    String stun = System.getProperty("ice4j.harvest.mapping.stun.addresses");
    if (stun != null && stun.isBlank()) {
      System.clearProperty("ice4j.harvest.mapping.stun.addresses");
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(IceService.class);
  private final WebRtcPort harvester;
  private final DatagramChannel mediaChannel;
  private final String announcedAddress;
  private final List<String> candidateAddresses;
  private final int port;
  private final AtomicInteger liveAgents = new AtomicInteger();
  private final DtlsHandshakePool dtlsPool;
  private volatile IceTcpPort tcp;
  /** Legs that answer their own STUN (agent freed after ICE completed on UDP), ticked for consent. */
  private final java.util.Set<IceLeg> answering = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /**
   * The node's one ICE thread {@code media-ice-consent}: frees the agents of legs whose ICE completed on UDP and
   * sends their consent checks; one thread however many calls.
   */
  private final java.util.concurrent.ScheduledExecutorService consentThread;

  /**
   * Binds the port; blocking, call from a worker thread.
   *
   * <p>Media toward the browsers is sent on a channel of our own bound to the same port, not through
   * ice4j's {@code Component.send} (a socket-wrapper lookup, a packet object, a lock and a blocking send per
   * packet). It is bound first, with SO_REUSEADDR: on Linux the socket bound last receives a port's unicast
   * datagrams, so ice4j's receive socket, bound after it, still gets every packet and keeps doing ICE and
   * consent, while the browser sees our media come from the port of its selected pair. When the port cannot
   * be shared (ice4j configured with one socket, no SO_REUSEADDR) the harvester is bound alone and media goes
   * through ice4j.
   *
   * @param dtls the limits of the node's DTLS pool ({@link #dtlsPool})
   */
  public IceService(String bindAddress, int port, String announcedAddress, DtlsHandshakePool.Limits dtls)
      throws IOException {
    this(bindAddress, port, List.of(announcedAddress), dtls);
  }

  /**
   * Binds the port, as above, with one host candidate per address of {@code candidateAddresses} (IP literals,
   * from {@link CandidateAddresses#choose}; the first also stands for the node where one address is wanted).
   */
  public IceService(String bindAddress, int port, List<String> candidateAddresses, DtlsHandshakePool.Limits dtls)
      throws IOException {
    IceBufferPool.install();
    DatagramChannel ch = null;
    WebRtcPort h;
    try {
      ch = DatagramChannel.open(StandardProtocolFamily.INET);
      ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      ch.setOption(StandardSocketOptions.SO_SNDBUF, 1 << 20);
      ch.bind(new InetSocketAddress(bindAddress, port));
      ch.configureBlocking(false);
      int shared = ((InetSocketAddress) ch.getLocalAddress()).getPort();
      h = new WebRtcPort(new TransportAddress(bindAddress, shared, Transport.UDP));
    } catch (IOException | RuntimeException e) {
      LOG.info("media to browsers goes through ice4j: the WebRTC port cannot be shared ({})", e.toString());
      closeQuietly(ch);
      ch = null;
      h = new WebRtcPort(new TransportAddress(bindAddress, port, Transport.UDP));
    }
    this.harvester = h;
    this.mediaChannel = ch;
    this.port = harvester.getLocalAddress().getPort();
    this.announcedAddress = candidateAddresses.get(0);
    this.candidateAddresses = List.copyOf(candidateAddresses);
    this.dtlsPool = new DtlsHandshakePool(dtls);
    this.consentThread = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "media-ice-consent");
      t.setDaemon(true);
      return t;
    });
    consentThread.scheduleWithFixedDelay(this::tickConsent, CONSENT_TICK_MS, CONSENT_TICK_MS,
        java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  private static final long CONSENT_TICK_MS = 500;

  private void tickConsent() {
    long now = System.nanoTime();
    for (IceLeg leg : answering) {
      try {
        if (!leg.tickConsent(now)) {
          answering.remove(leg);
        }
      } catch (RuntimeException e) {
        LOG.warn("ICE consent check of leg {} failed: {}", leg.localUfrag(), e.toString(), e);
      }
    }
  }

  /**
   * Whether legs answer their own STUN once ICE completed on UDP (freeing their ice4j agent): only where our
   * readers carry the port and media goes out on our channel; otherwise ice4j keeps every agent to the end.
   */
  boolean answersStun() {
    return mediaChannel != null && harvester.readersActive();
  }

  /** Frees {@code leg}'s agent on the node's ICE thread, not on the ice4j thread that reported COMPLETED. */
  void releaseLater(IceLeg leg) {
    try {
      consentThread.execute(() -> {
        try {
          leg.release();
        } catch (RuntimeException e) {
          LOG.warn("ICE leg {}: agent not freed after COMPLETED: {}", leg.localUfrag(), e.toString(), e);
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // the node is stopping; the leg frees its agent when it closes
    }
  }

  void answering(IceLeg leg, boolean on) {
    if (on) {
      answering.add(leg);
    } else {
      answering.remove(leg);
    }
  }

  /** Legs answering their own STUN now (their agent freed after ICE completed on UDP). */
  public int answeringLegs() {
    return answering.size();
  }

  /**
   * STUN messages that legs answering their own STUN dropped unanswered since start: a Binding Request with a
   * wrong USERNAME, bad MESSAGE-INTEGRITY or FINGERPRINT, truncated, a response without the browser's integrity...
   */
  public long stunDropped() {
    return harvester.stunDropped();
  }

  /**
   * Our non-blocking send-only channel on the WebRTC port (see the constructor), or null when media must go
   * through ice4j. Safe to send on from any thread.
   */
  public DatagramChannel mediaChannel() {
    return mediaChannel;
  }

  private static void closeQuietly(DatagramChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // nothing to flush on a datagram channel
      }
    }
  }

  WebRtcPort harvester() {
    return harvester;
  }

  /** Threads of ours reading the WebRTC port (0 when ice4j's own thread does), for leak checks. */
  public int readerThreads() {
    return harvester.readerThreads();
  }

  /** The address written in the SDP candidates (the 1:1 NAT address when configured). */
  public String announcedAddress() {
    return announcedAddress;
  }

  /** The addresses of the node's host candidates, in priority order (see {@link CandidateAddresses}). */
  public List<String> candidateAddresses() {
    return candidateAddresses;
  }

  public int port() {
    return port;
  }

  /**
   * The few threads that run the DTLS handshakes over this port (and the rare records after them), with the
   * rules that hand them out; stopped with the port.
   */
  public DtlsHandshakePool dtlsPool() {
    return dtlsPool;
  }

  /**
   * STUN Binding Requests dropped unanswered because no agent holds their ufrag (a stale one after an ICE
   * restart, or one never ours); counted only where our readers carry the port.
   */
  public long unknownUfragRequests() {
    return harvester.unknownUfragRequests();
  }

  /**
   * Opens the node's ICE-TCP port beside the UDP one (RFC 6544 passive; {@code port} 0 = none): every agent
   * created afterwards also gets a {@code tcptype passive} host candidate on it. Blocking, call from a worker,
   * before the first leg.
   */
  public void listenTcp(int port, IceTcpPort.Limits limits) throws IOException {
    if (port > 0) {
      tcp = new IceTcpPort(harvester.getLocalAddress().getAddress().getHostAddress(), port, limits);
    }
  }

  /** The ICE-TCP port, or null when there is none. */
  public IceTcpPort tcp() {
    return tcp;
  }

  /**
   * ICE legs open: an ice4j agent, or, once ICE completed on UDP, the leg answering its own STUN (its agent freed).
   */
  public int liveAgents() {
    return liveAgents.get();
  }

  void agentCreated() {
    liveAgents.incrementAndGet();
  }

  void agentFreed() {
    liveAgents.decrementAndGet();
  }

  @Override
  public void close() {
    if (tcp != null) {
      tcp.close();
    }
    dtlsPool.close();
    consentThread.shutdownNow();
    harvester.close();
    closeQuietly(mediaChannel);
  }
}
