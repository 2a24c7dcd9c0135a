package org.webphone.gateway.media.ice;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.ice4j.Transport;
import org.ice4j.TransportAddress;
import org.ice4j.ice.CandidateTcpType;
import org.ice4j.ice.Component;
import org.ice4j.ice.IceProcessingState;
import org.ice4j.ice.LocalCandidate;
import org.ice4j.ice.TcpHostCandidate;
import org.ice4j.ice.harvest.CandidateHarvester;
import org.ice4j.ice.harvest.HarvestStatistics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The node's ICE-TCP port (RFC 6544, passive only; RFC 4571 framing): one listening socket beside the WebRTC
 * UDP port, announced in every answer as a {@code tcptype passive} host candidate, for browsers that reach
 * the gateway's TCP port but not its UDP port.
 *
 * <p>Threads: one thread of ours, {@code media-icetcp}, accepts, reads and frames every connection of the
 * node through one selector, and closes the ones that break the limits below. A connection whose first frame
 * is a STUN Binding Request for a live leg's ufrag is handed to that leg's ice4j agent ({@link TcpLink}):
 * ice4j's STUN stack then runs <b>one thread per connection</b> ({@code IceConnector@...}, ice4j's
 * {@code Connector}, which blocks in {@code receive}; ice4j has no other way to take a TCP socket), fed
 * STUN frames by our reader. Everything else (DTLS, SRTP, SRTCP) goes from our reader straight to the leg,
 * like the UDP readers do. The ice4j threads are counted ({@link #ice4jThreads}) and end with their
 * connection: when the agent is freed ({@code TcpHostCandidate.free} closes its sockets) or the browser
 * closes it.
 *
 * <p>Limits (a new listener's, docs/security.md): a connection must send a valid first frame (a STUN Binding
 * Request of at most {@link #MAX_FIRST_FRAME} bytes naming one of our ufrags, while that agent is still
 * checking) within {@code firstStunMs}, else it is closed; at most {@code perAddress} connections from one
 * IP address and {@link #MAX_PENDING} awaiting their first frame on the node; a later frame longer than
 * {@link #MAX_FRAME} closes the connection. Each refusal is counted.
 *
 * <p>Owner: {@link IceService}, which closes it (every connection with it).
 */
public final class IceTcpPort implements CandidateHarvester, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(IceTcpPort.class);
  /** A Binding Request from a browser is about 100-200 bytes; nothing valid comes first that is longer. */
  static final int MAX_FIRST_FRAME = 1500;
  /** WebRTC never sends a datagram above the path MTU; RFC 4571 allows 65535, which we do not buffer. */
  static final int MAX_FRAME = 2048;
  static final int MAX_PENDING = 1024;

  /** How long a connection may take to send a valid first frame, and how many one address may hold. */
  public record Limits(int firstStunMs, int perAddress) {
  }

  private final ServerSocketChannel server;
  private final Selector selector;
  private final TransportAddress local;
  private final Limits limits;
  private final Thread thread;
  private volatile boolean closing;
  private final ConcurrentHashMap<String, TcpHostCandidate> candidates = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, WebRtcPort.Target> targets = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<InetSocketAddress, TcpLink> links = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<InetAddress, Integer> perAddress = new ConcurrentHashMap<>();
  private final AtomicInteger pending = new AtomicInteger();
  private final AtomicInteger handedToIce4j = new AtomicInteger();
  private final AtomicLong junk = new AtomicLong();
  private final AtomicLong idleClosed = new AtomicLong();
  private final AtomicLong overCap = new AtomicLong();
  private final HarvestStatistics stats = new HarvestStatistics();

  /** Binds {@code bindAddress:port} and starts the reader; blocking, call from a worker. */
  public IceTcpPort(String bindAddress, int port, Limits limits) throws IOException {
    this.limits = limits;
    selector = Selector.open();
    server = ServerSocketChannel.open();
    try {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(new InetSocketAddress(bindAddress, port), 256);
      server.configureBlocking(false);
      server.register(selector, SelectionKey.OP_ACCEPT);
    } catch (IOException | RuntimeException e) {
      server.close();
      selector.close();
      throw e;
    }
    InetSocketAddress bound = (InetSocketAddress) server.getLocalAddress();
    local = new TransportAddress(bound.getAddress(), bound.getPort(), Transport.TCP);
    thread = new Thread(this::run, "media-icetcp");
    thread.setDaemon(true);
    thread.start();
  }

  public int port() {
    return local.getPort();
  }

  // ------------------------------------------------------------------ ice4j's harvester

  /** ice4j, while the agent gathers (on the creating worker): the leg's passive TCP host candidate. */
  @Override
  public Collection<LocalCandidate> harvest(Component component) {
    TcpHostCandidate c = new TcpHostCandidate(local, component);
    c.setTcpType(CandidateTcpType.PASSIVE);
    component.addLocalCandidate(c);
    candidates.put(component.getParentStream().getParentAgent().getLocalUfrag(), c);
    return List.of(c);
  }

  @Override
  public HarvestStatistics getHarvestStatistics() {
    return stats;
  }

  @Override
  public boolean isHostHarvester() {
    return true;
  }

  /** Where the non-STUN frames of a connection accepted for {@code ufrag} go. */
  void register(String ufrag, WebRtcPort.Target target) {
    targets.put(ufrag, target);
  }

  /** Forgets a leg; its connections are closed by ice4j when the agent is freed. */
  void unregister(String ufrag) {
    targets.remove(ufrag);
    candidates.remove(ufrag);
  }

  /**
   * Closes the connections handed to the leg of {@code ufrag} except {@code keep} (its selected pair's, or
   * null): once ICE completed ice4j uses no other, and each would hold an ice4j thread for the whole call
   * (browsers open one beside their UDP pair). On ice4j's agent thread.
   */
  void closeUnselected(String ufrag, TcpLink keep) {
    TcpHostCandidate c = candidates.get(ufrag);
    if (c == null) {
      return;
    }
    for (TcpLink l : links.values()) {
      if (l != keep && l.candidate() == c) {
        LOG.debug("ICE-TCP connection from {} closed: ICE completed on another pair", l.remote());
        l.close();
      }
    }
  }

  /** The connection from {@code remote} handed to an agent, or null. */
  TcpLink link(InetSocketAddress remote) {
    TcpLink l = links.get(remote);
    return l != null && l.accepted() ? l : null;
  }

  // ------------------------------------------------------------------ status

  /** Open connections, awaiting their first frame or handed to an agent. */
  public int connections() {
    return links.size();
  }

  public int pending() {
    return pending.get();
  }

  /** ice4j's threads for this port: one {@code IceConnector} per connection handed to an agent. */
  public int ice4jThreads() {
    return handedToIce4j.get();
  }

  /** Connections closed for a bad first frame or an oversized frame, since start. */
  public long junk() {
    return junk.get();
  }

  /** Connections closed for sending no valid first frame in time, since start. */
  public long idleClosed() {
    return idleClosed.get();
  }

  /** Connections refused over the per-address or pending cap, since start. */
  public long overCap() {
    return overCap.get();
  }

  /** Our own reader thread, alive or not (0 or 1), for leak checks. */
  public int readerThreads() {
    return thread.isAlive() ? 1 : 0;
  }

  // ------------------------------------------------------------------ the reader

  private void run() {
    long nextSweep = System.nanoTime();
    while (!closing) {
      try {
        selector.select(250);
      } catch (IOException e) {
        LOG.warn("ICE-TCP reader stopped: {}", e.toString());
        return;
      }
      if (closing) {
        return;
      }
      var it = selector.selectedKeys().iterator();
      while (it.hasNext()) {
        SelectionKey key = it.next();
        it.remove();
        try {
          if (!key.isValid()) {
            continue;
          }
          if (key.isAcceptable()) {
            acceptAll();
            continue;
          }
          TcpLink l = (TcpLink) key.attachment();
          if (key.isWritable()) {
            l.flush();
          }
          if (key.isValid() && key.isReadable()) {
            read(l);
          }
        } catch (RuntimeException e) {
          LOG.warn("ICE-TCP connection event dropped: {}", e.toString(), e);
        }
      }
      long now = System.nanoTime();
      if (now - nextSweep >= 0) {
        nextSweep = now + 250_000_000L;
        closeIdle(now);
      }
    }
  }

  private void acceptAll() {
    for (int i = 0; i < 64; i++) {
      SocketChannel ch;
      try {
        ch = server.accept();
      } catch (IOException e) {
        LOG.info("ICE-TCP accept failed: {}", e.toString());
        return;
      }
      if (ch == null) {
        return;
      }
      InetSocketAddress remote;
      try {
        remote = (InetSocketAddress) ch.getRemoteAddress();
      } catch (IOException e) {
        closeQuietly(ch);
        continue;
      }
      if (perAddress.merge(remote.getAddress(), 1, Integer::sum) > limits.perAddress()
          || pending.get() >= MAX_PENDING) {
        giveBack(remote.getAddress());
        overCap.incrementAndGet();
        closeQuietly(ch);
        continue;
      }
      pending.incrementAndGet();
      try {
        ch.configureBlocking(false);
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        TcpLink l = new TcpLink(this, ch, remote, local,
            System.nanoTime() + limits.firstStunMs() * 1_000_000L);
        links.put(remote, l);
        l.key(ch.register(selector, SelectionKey.OP_READ, l));
      } catch (IOException e) {
        pending.decrementAndGet();
        links.remove(remote);
        giveBack(remote.getAddress());
        closeQuietly(ch);
      }
    }
  }

  private void read(TcpLink l) {
    ByteBuffer in = l.in();
    int n;
    try {
      n = l.channel().read(in);
    } catch (IOException e) {
      n = -1;
    }
    if (n < 0) {
      l.close();
      return;
    }
    in.flip();
    byte[] b = in.array();
    while (in.remaining() >= 2 && l.open()) {
      int p = in.position();
      int len = (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
      int max = l.accepted() ? MAX_FRAME : MAX_FIRST_FRAME;
      if (len > max) {
        refuse(l, "a frame of " + len + " bytes");
        return;
      }
      if (in.remaining() < 2 + len) {
        break;
      }
      in.position(p + 2 + len);
      if (len > 0) {
        frame(l, b, p + 2, len);
      }
    }
    if (l.open()) {
      in.compact();
    }
  }

  /** One RFC 4571 frame; the array is reused once this returns. */
  private void frame(TcpLink l, byte[] b, int off, int len) {
    if (l.accepted()) {
      if (isStun(b, off, len)) {
        l.toIce4j(b, off, len);
      } else {
        l.target().onDatagram(b, off, len, l.remote());
      }
      return;
    }
    // The first frame must be a Binding Request for a leg whose agent still checks, as ice4j's TcpHarvester asks.
    String ufrag = isStun(b, off, len) ? WebRtcPort.ufragOf(b, off, len) : null;
    TcpHostCandidate c = ufrag == null ? null : candidates.get(ufrag);
    WebRtcPort.Target target = ufrag == null ? null : targets.get(ufrag);
    if (c == null || target == null) {
      refuse(l, ufrag == null ? "a first frame that is no Binding Request" : "an unknown ufrag");
      return;
    }
    IceProcessingState state = c.getParentComponent().getParentStream().getParentAgent().getState();
    if (state != IceProcessingState.WAITING && state != IceProcessingState.RUNNING) {
      // A second path after ICE completed (browsers open TCP beside UDP): ice4j would not use it.
      LOG.debug("ICE-TCP connection from {} closed: its agent is {}", l.remote(), state);
      l.close();
      return;
    }
    pending.decrementAndGet();
    handedToIce4j.incrementAndGet();
    try {
      l.accept(target, c, b, off, len);
    } catch (RuntimeException e) {
      LOG.warn("ICE-TCP connection from {} not handed to its agent: {}", l.remote(), e.toString());
      l.close();
    }
  }

  private static boolean isStun(byte[] b, int off, int len) {
    return len >= 20 && (b[off] & 0xFF) < 4 && b[off + 4] == 0x21 && b[off + 5] == 0x12
        && (b[off + 6] & 0xFF) == 0xA4 && b[off + 7] == 0x42;
  }

  private void refuse(TcpLink l, String why) {
    junk.incrementAndGet();
    LOG.debug("ICE-TCP connection from {} closed: {}", l.remote(), why);
    l.close();
  }

  private void closeIdle(long now) {
    for (TcpLink l : links.values()) {
      if (!l.accepted() && l.open() && now - l.firstStunDeadline() > 0) {
        idleClosed.incrementAndGet();
        LOG.debug("ICE-TCP connection from {} closed: no valid STUN within {} ms", l.remote(), limits.firstStunMs());
        l.close();
      }
    }
  }

  /** Called once by {@link TcpLink#close} on whichever thread closes it. */
  void closed(TcpLink l, boolean wasAccepted) {
    links.remove(l.remote(), l);
    if (wasAccepted) {
      handedToIce4j.decrementAndGet();
    } else {
      pending.decrementAndGet();
    }
    giveBack(l.remote().getAddress());
  }

  /** Asks the reader to write what a link could not write at once. */
  void wantWrite(SelectionKey key) {
    if (key.isValid()) {
      key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
      selector.wakeup();
    }
  }

  private void giveBack(InetAddress a) {
    perAddress.computeIfPresent(a, (k, n) -> n <= 1 ? null : n - 1);
  }

  private static void closeQuietly(java.nio.channels.Channel ch) {
    try {
      ch.close();
    } catch (IOException ignored) {
      // nothing to flush
    }
  }

  /** Stops the reader, closes the listening socket and every connection; blocking (joins the reader). */
  @Override
  public void close() {
    closing = true;
    selector.wakeup();
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (TcpLink l : new ArrayList<>(links.values())) {
      l.close();
    }
    closeQuietly(server);
    try {
      selector.close();
    } catch (IOException ignored) {
      // the reader is gone
    }
  }
}
