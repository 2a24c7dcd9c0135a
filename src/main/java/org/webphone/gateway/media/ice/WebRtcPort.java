package org.webphone.gateway.media.ice;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import org.ice4j.TransportAddress;
import org.ice4j.ice.harvest.SinglePortUdpHarvester;
import org.ice4j.util.Buffer;
import org.ice4j.util.BufferPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The node's single WebRTC port, read by our own threads instead of ice4j's single receive thread.
 *
 * <p>ice4j binds its sockets first (SO_REUSEADDR) and keeps sending from them (STUN, DTLS); then a group of
 * {@link #READERS} channels is bound to the same port with SO_REUSEPORT. On Linux the group bound last
 * receives the port's datagrams, spread over its sockets by a hash of the sender's address, so each
 * browser's packets stay in order on one reader while the readers run in parallel. Each reader demultiplexes
 * as ice4j does (by remote address, a new address only through a STUN Binding Request carrying a local
 * ufrag, which ice4j accepts through {@link #maybeAcceptNewSession}): STUN goes to ice4j's per-remote socket
 * while the leg's connectivity checks run, and to the leg itself ({@link StunAnswerer}) once ICE completed and
 * the leg freed its agent (consent freshness, {@link IceLeg}); everything else goes straight to the leg
 * registered for that ufrag, without ice4j's per-datagram copy, buffer, clock read and hash lookup on one thread.
 *
 * <p>When the group cannot be bound (no SO_REUSEPORT, or ice4j configured with one socket and no
 * SO_REUSEADDR), nothing changes: ice4j's own thread keeps delivering through the push API.
 */
final class WebRtcPort extends SinglePortUdpHarvester {
  private static final Logger LOG = LoggerFactory.getLogger(WebRtcPort.class);
  static final int READERS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));

  /** Where a leg's non-STUN datagrams go; called on a reader thread, must not block. */
  interface Target {
    void onDatagram(byte[] b, int off, int len, InetSocketAddress from);
  }

  /**
   * Answers a leg's STUN once its ice4j agent is freed ({@link IceLeg}); called on a reader thread, must not block.
   * Returns true when the message was a Binding Request it accepted from {@code from} (the address then routes to
   * the leg).
   */
  interface StunAnswerer {
    boolean onStun(byte[] b, int len, InetSocketAddress from);
  }

  /**
   * A remote address accepted for a leg: ice4j's socket for its STUN (null once the leg answers STUN itself), the
   * leg, the ufrag it was accepted for.
   */
  private record Route(MySocket stun, Target target, String ufrag) {
  }

  private final ConcurrentHashMap<String, Target> byUfrag = new ConcurrentHashMap<>();
  /** The order legs were registered in: an ICE restart's leg comes after the leg it replaces. */
  private final ConcurrentHashMap<String, Long> registeredAt = new ConcurrentHashMap<>();
  private final java.util.concurrent.atomic.AtomicLong registrations = new java.util.concurrent.atomic.AtomicLong();
  /** Legs whose agent was freed after ICE completed: they answer their STUN themselves. */
  private final ConcurrentHashMap<String, StunAnswerer> answerers = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<InetSocketAddress, Route> routes = new ConcurrentHashMap<>();
  private final List<DatagramChannel> channels = new ArrayList<>();
  private final List<Thread> threads = new ArrayList<>();
  private volatile boolean closing;
  /** Binding Requests for a ufrag no leg holds (stale after an ICE restart, or never ours): dropped unanswered. */
  private final java.util.concurrent.atomic.AtomicLong unknownUfrag = new java.util.concurrent.atomic.AtomicLong();
  /** STUN messages dropped unanswered by a leg answering its own STUN (bad integrity, wrong ufrag, truncated...). */
  private final java.util.concurrent.atomic.AtomicLong stunDropped = new java.util.concurrent.atomic.AtomicLong();

  WebRtcPort(TransportAddress address) throws IOException {
    super(address);
    InetSocketAddress bound = new InetSocketAddress(address.getAddress(), getLocalAddress().getPort());
    try {
      for (int i = 0; i < READERS; i++) {
        DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
        channels.add(ch);
        ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
        ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
        ch.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
        ch.bind(bound);
      }
    } catch (IOException | RuntimeException | Error e) {
      LOG.info("WebRTC port {} read by ice4j's thread: the port cannot be shared ({})", bound, e.toString());
      closeChannels();
      channels.clear();
      return;
    }
    for (int i = 0; i < channels.size(); i++) {
      DatagramChannel ch = channels.get(i);
      Thread t = new Thread(() -> read(ch), "media-webrtc-rx-" + i);
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
  }

  /** Whether our readers carry the port (else ice4j's push thread does). */
  boolean readersActive() {
    return !channels.isEmpty();
  }

  int readerThreads() {
    int n = 0;
    for (Thread t : threads) {
      n += t.isAlive() ? 1 : 0;
    }
    return n;
  }

  void register(String localUfrag, Target target) {
    registeredAt.put(localUfrag, registrations.incrementAndGet());
    byUfrag.put(localUfrag, target);
  }

  /** Forgets a leg: its ufrag and every remote address routed to it. */
  void unregister(String localUfrag, Target target) {
    if (byUfrag.remove(localUfrag, target)) {
      answerers.remove(localUfrag);
      registeredAt.remove(localUfrag);
    }
    routes.values().removeIf(r -> r.target() == target);
  }

  /**
   * From now on the leg registered as {@code target} for {@code localUfrag} answers its STUN itself: every address
   * routed to it, and every new address whose Binding Request it accepts, hands its STUN to {@code answerer}
   * instead of ice4j (whose agent, and its per-address sockets, the leg frees next).
   */
  void answerStun(String localUfrag, Target target, StunAnswerer answerer) {
    answerers.put(localUfrag, answerer);
    routes.replaceAll((from, r) -> r.target() == target ? new Route(null, target, r.ufrag()) : r);
  }

  private void read(DatagramChannel ch) {
    ByteBuffer buf = ByteBuffer.allocate(2048);
    byte[] b = buf.array();
    while (!closing) {
      InetSocketAddress from;
      buf.clear();
      try {
        from = (InetSocketAddress) ch.receive(buf);
      } catch (IOException e) {
        if (!closing) {
          LOG.warn("WebRTC port reader stopped: {}", e.toString());
        }
        return;
      }
      int len = buf.position();
      try {
        dispatch(b, len, from);
      } catch (RuntimeException e) {
        LOG.warn("WebRTC datagram from {} dropped: {}", from, e.toString(), e);
      }
    }
  }

  long unknownUfragRequests() {
    return unknownUfrag.get();
  }

  /** Counts a STUN message a leg that answers its own STUN dropped unanswered (bad, or for no live leg). */
  void countStunDropped() {
    stunDropped.incrementAndGet();
  }

  long stunDropped() {
    return stunDropped.get();
  }

  private void dispatch(byte[] b, int len, InetSocketAddress from) {
    Route r = routes.get(from);
    boolean stun = Rtp.isStun(b, len);
    if (r != null && stun) {
      String ufrag = getUfragOf(b, len);
      if (ufrag != null && !ufrag.equals(r.ufrag())) {
        // A request for another ufrag from a known address: an ICE restart from the same address (the
        // restart's agent takes the address over below) or a stale ufrag (dropped).
        if (!byUfrag.containsKey(ufrag)) {
          unknownUfrag.incrementAndGet();
          return;
        }
        if (registeredAt.getOrDefault(ufrag, 0L) < registeredAt.getOrDefault(r.ufrag(), 0L)) {
          // The replaced leg's ufrag from an address its restart took over (the browser still checks its old
          // pairs for a while): never moved back; answered by that leg when it answers its own STUN.
          StunAnswerer old = answerers.get(ufrag);
          if (old != null) {
            old.onStun(b, len, from);
          }
          return;
        }
        routes.remove(from, r);
        r = null;
      }
    }
    if (r == null) {
      // A new remote address is accepted only with a Binding Request for one of our ufrags, as ice4j does.
      String ufrag = stun ? getUfragOf(b, len) : null;
      Target target = ufrag == null ? null : byUfrag.get(ufrag);
      if (target == null) {
        if (ufrag != null) {
          unknownUfrag.incrementAndGet();
        }
        return;
      }
      StunAnswerer answerer = answerers.get(ufrag);
      if (answerer != null) {
        if (answerer.onStun(b, len, from) && byUfrag.get(ufrag) == target) {
          routes.put(from, new Route(null, target, ufrag));
        }
        return;
      }
      Buffer copy = copy(b, len, from);
      MySocket socket = maybeAcceptNewSession(copy, from, ufrag);
      if (socket == null) {
        BufferPool.returnBuffer.invoke(copy);
        return;
      }
      routes.put(from, new Route(socket, target, ufrag));
      socket.addBuffer(copy);
      return;
    }
    if (stun) {
      if (r.stun() != null) {
        r.stun().addBuffer(copy(b, len, from));
        return;
      }
      StunAnswerer answerer = answerers.get(r.ufrag());
      if (answerer != null) {
        answerer.onStun(b, len, from);
      } else {
        stunDropped.incrementAndGet();
      }
      return;
    }
    r.target().onDatagram(b, 0, len, from);
  }

  /** The local ufrag of a Binding Request (the USERNAME attribute before ':'), or null. */
  private static String getUfragOf(byte[] b, int len) {
    return ufragOf(b, 0, len);
  }

  /** The same at {@code off} (an RFC 4571 frame inside a TCP read buffer). */
  static String ufragOf(byte[] b, int off, int len) {
    if (((b[off] & 0xFF) << 8 | (b[off + 1] & 0xFF)) != IceStun.BINDING_REQUEST) {
      return null;
    }
    int end = off + Math.min(len, 20 + ((b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF)));
    for (int p = off + 20; p + 4 <= end; ) {
      int type = (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
      int alen = (b[p + 2] & 0xFF) << 8 | (b[p + 3] & 0xFF);
      if (p + 4 + alen > end) {
        return null;
      }
      if (type == IceStun.USERNAME) {
        for (int i = 0; i < alen; i++) {
          if (b[p + 4 + i] == ':') {
            return i == 0 ? null : new String(b, p + 4, i, java.nio.charset.StandardCharsets.US_ASCII);
          }
        }
        return null;
      }
      p += 4 + ((alen + 3) & ~3);
    }
    return null;
  }

  private Buffer copy(byte[] b, int len, InetSocketAddress from) {
    Buffer buffer = BufferPool.getBuffer.invoke(len);
    System.arraycopy(b, 0, buffer.getBuffer(), 0, len);
    buffer.setOffset(0);
    buffer.setLength(len);
    buffer.setRemoteAddress(from);
    return buffer;
  }

  private void closeChannels() {
    for (DatagramChannel ch : channels) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // closing a datagram channel has nothing to flush
      }
    }
  }

  @Override
  public void close() {
    closing = true;
    closeChannels();
    for (Thread t : threads) {
      try {
        t.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    super.close();
  }
}
