package org.webphone.gateway.media.dtls;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.tls.DTLSServerProtocol;
import org.bouncycastle.tls.DTLSTransport;
import org.bouncycastle.tls.DatagramTransport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The DTLS server of one browser leg. DTLS records reach it from the receive path through a bounded queue
 * ({@link #offer}). The handshake runs on a thread of the node's {@link DtlsHandshakePool} (bctls is a
 * blocking API), asked for only when both hold: ICE has completed ({@link #start}; Chrome's ClientHello
 * arrives before the controlled agent has a valid pair to answer on, and a failed send aborts bctls'
 * handshake) and a ClientHello is queued. A leg whose ICE completed but whose peer sends no ClientHello
 * holds no thread: a pool timer fails it after {@code helloTimeoutMs}. The handshake itself is bounded by
 * {@code handshakeTimeoutMs} from the moment it starts, and the pool runs only a few at once per remote
 * address. After the handshake the leg holds no thread: a record arriving later (a retransmitted client
 * flight, an alert, close_notify) schedules one short task on the pool that lets bctls process what is queued.
 *
 * <p>Before the first ClientHello, any other record is dropped: a client's first flight is its ClientHello,
 * and the queue stays free for it.
 *
 * <p>Threads: {@link #offer} on the WebRTC port's reader, {@link #start} on ice4j's agent thread, the
 * handshake, the later records and the hello timer on the pool, {@link #close} on a worker. The leg owns its
 * hello timer and its place in the pool's wait; {@link #close} cancels both and ends a running handshake.
 */
public final class DtlsLeg implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DtlsLeg.class);
  private static final int QUEUE = 64;
  private static final int MTU = 1200;
  private static final byte[] WAKE_UP = new byte[0];

  /** Where the leg sends its records (the ICE selected pair). */
  public interface Sender {
    void send(byte[] data, int off, int len) throws IOException;
  }

  /** Called on a pool thread; implementations hand off and return. */
  public interface Listener {
    void onConnected(SrtpKeys keys);

    void onFailed(String reason);
  }

  private final String callId;
  private final AtomicInteger liveSessions;
  private final DtlsHandshakePool pool;
  private final SrtpDtlsServer server;
  private final Sender sender;
  private final Listener listener;
  private final BlockingQueue<byte[]> inbound = new ArrayBlockingQueue<>(QUEUE);
  private final AtomicInteger dropped = new AtomicInteger();
  /** Guards the start of the handshake: ICE completed, ClientHello seen, handshake asked for, hello timer. */
  private final Object startLock = new Object();
  private boolean iceCompleted;
  /** Written under the lock, read without it on the receive path. */
  private volatile boolean helloSeen;
  private boolean requested;
  private InetAddress peer;
  private DtlsHandshakePool.Timer helloTimer;
  private DtlsHandshakePool.Ticket ticket;
  private final AtomicBoolean counted = new AtomicBoolean();
  private final AtomicBoolean draining = new AtomicBoolean();
  private final Object lock = new Object();
  private volatile boolean closed;
  /** Set once the handshake finished; guarded by {@link #lock} for receive and close. */
  private volatile DTLSTransport transport;
  private volatile Thread handshakeThread;

  /**
   * @param liveSessions the node's count of DTLS sessions started and not yet ended (for leak checks), kept
   *     up to date here
   * @param handshakeTimeoutMs how long a handshake may run once started on its ClientHello
   * @param pool where the handshake and the later record processing run; its limits give the hello timeout
   */
  public DtlsLeg(String callId, DtlsIdentity identity, String browserFingerprint, int handshakeTimeoutMs,
                 AtomicInteger liveSessions, boolean aeadGcm, DtlsHandshakePool pool, Sender sender,
                 Listener listener) {
    this.callId = callId;
    this.liveSessions = liveSessions;
    this.pool = pool;
    this.server = new SrtpDtlsServer(identity, browserFingerprint, handshakeTimeoutMs, aeadGcm);
    this.sender = sender;
    this.listener = listener;
  }

  /**
   * Queues one record; called from the receive path, copies (DTLS records are rare), never blocks (drops when
   * the queue is full). After the handshake it schedules the processing of the queue on the pool.
   */
  public void offer(byte[] data, int off, int len) {
    boolean hello = isClientHello(data, off, len);
    if (!hello && !helloSeen) {
      dropped.incrementAndGet();
      return;
    }
    byte[] copy = new byte[len];
    System.arraycopy(data, off, copy, 0, len);
    if (!inbound.offer(copy)) {
      dropped.incrementAndGet();
    }
    if (hello && !helloSeen) {
      synchronized (startLock) {
        helloSeen = true;
        maybeRequestHandshake();
      }
    }
    if (transport != null && !closed && draining.compareAndSet(false, true)) {
      submit(this::drain);
    }
  }

  /**
   * ICE completed with {@code remote} (the browser's address on the selected pair; null if unknown): the
   * handshake starts on the pool once a ClientHello is queued, and the leg fails if none comes within the
   * pool's hello timeout. Idempotent.
   */
  public void start(InetSocketAddress remote) {
    synchronized (startLock) {
      if (closed || iceCompleted) {
        return;
      }
      iceCompleted = true;
      peer = remote == null ? null : remote.getAddress();
      counted.set(true);
      liveSessions.incrementAndGet();
      if (!helloSeen) {
        try {
          helloTimer = pool.schedule(this::helloTimedOut, pool.limits().helloTimeoutMs());
        } catch (RejectedExecutionException e) {
          // the node is stopping; the leg is being closed as well
          end();
          return;
        }
      }
      maybeRequestHandshake();
    }
  }

  /** Holds {@link #startLock}. */
  private void maybeRequestHandshake() {
    if (!iceCompleted || !helloSeen || requested || closed) {
      return;
    }
    requested = true;
    if (helloTimer != null) {
      helloTimer.cancel();
      helloTimer = null;
    }
    ticket = pool.handshake(peer, this::handshake);
  }

  private void helloTimedOut() {
    synchronized (startLock) {
      helloTimer = null;
      if (requested || closed) {
        return;
      }
      // A ClientHello arriving after this must not start a handshake on a failed leg.
      requested = true;
    }
    pool.helloTimedOut();
    fail(new IOException("no ClientHello within " + pool.limits().helloTimeoutMs() + " ms of ICE completing"));
  }

  /**
   * Whether a datagram starts with a DTLS handshake record of epoch 0 carrying a ClientHello (or its first
   * fragment): content type 22, version 0xFExx, epoch 0, then handshake type 1 after the 13-byte header.
   */
  static boolean isClientHello(byte[] b, int off, int len) {
    return len >= 25 && b[off] == 22 && (b[off + 1] & 0xFF) == 0xFE && b[off + 3] == 0 && b[off + 4] == 0
        && b[off + 13] == 1;
  }

  /** Whether the handshake task holds a pool thread right now (for tests). */
  public boolean handshaking() {
    return handshakeThread != null;
  }

  private void submit(Runnable task) {
    try {
      pool.execute(task);
    } catch (RejectedExecutionException e) {
      // the node is stopping; the leg is being closed as well
      end();
    }
  }

  private void handshake() {
    if (closed) {
      return;
    }
    handshakeThread = Thread.currentThread();
    try {
      long t0 = System.nanoTime();
      DTLSTransport dtls = new DTLSServerProtocol().accept(server, new QueueTransport());
      SrtpKeys keys = new SrtpKeys(server.profile(), server.keyingMaterial(), true);
      LOG.info("call={} DTLS connected in {} ms, {}", callId, (System.nanoTime() - t0) / 1_000_000, keys.profile());
      synchronized (lock) {
        if (closed) {
          closeQuietly(dtls);
          return;
        }
        transport = dtls;
      }
      listener.onConnected(keys);
      if (!inbound.isEmpty() && draining.compareAndSet(false, true)) {
        drain();
      }
    } catch (IOException | RuntimeException e) {
      fail(e);
    } finally {
      handshakeThread = null;
    }
  }

  /** Lets bctls process the queued records (retransmitted flights are answered, alerts end the session). */
  private void drain() {
    byte[] buf = new byte[MTU + 100];
    try {
      synchronized (lock) {
        DTLSTransport t = transport;
        while (t != null && !closed && !inbound.isEmpty()) {
          // Application data is not used on this leg; bctls answers flights and handles alerts inside.
          if (t.receive(buf, 0, buf.length, 1) < 0 && inbound.isEmpty()) {
            break;
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      fail(e);
    } finally {
      draining.set(false);
    }
    if (!inbound.isEmpty() && transport != null && !closed && draining.compareAndSet(false, true)) {
      submit(this::drain);
    }
  }

  private void fail(Exception e) {
    if (!closed) {
      String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      if (server.peerFingerprint() != null && server.keyingMaterial() == null) {
        reason = "browser certificate does not match the offer's fingerprint";
      }
      LOG.warn("call={} DTLS failed: {}", callId, reason);
      listener.onFailed("DTLS: " + reason);
    }
    end();
  }

  private void end() {
    if (counted.compareAndSet(true, false)) {
      liveSessions.decrementAndGet();
    }
  }

  /**
   * Ends the session: the hello timer and a waiting handshake are cancelled, a running handshake is woken and
   * waited for (bounded); call from a worker. Idempotent.
   */
  @Override
  public void close() {
    synchronized (startLock) {
      closed = true;
      if (helloTimer != null) {
        helloTimer.cancel();
        helloTimer = null;
      }
      if (ticket != null) {
        ticket.cancel();
      }
    }
    Thread t = handshakeThread;
    if (t != null && t != Thread.currentThread()) {
      // Wakes the handshake out of its queue wait (the transport then throws, which ends bctls). Not an
      // interrupt: it could land in a send on ice4j's shared socket.
      inbound.clear();
      inbound.offer(WAKE_UP);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      while (handshakeThread != null && System.nanoTime() < deadline) {
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    synchronized (lock) {
      DTLSTransport dtls = transport;
      transport = null;
      if (dtls != null) {
        closeQuietly(dtls);
      }
    }
    inbound.clear();
    end();
  }

  private static void closeQuietly(DTLSTransport dtls) {
    try {
      dtls.close();
    } catch (IOException | RuntimeException ignored) {
      // close_notify is a courtesy; the browser learns the end from signalling too
    }
  }

  /** bctls' view of the ICE path: records in from the queue, out through the selected pair. */
  private final class QueueTransport implements DatagramTransport {
    @Override
    public int getReceiveLimit() {
      return 1500;
    }

    @Override
    public int getSendLimit() {
      return MTU - 50;
    }

    @Override
    public int receive(byte[] buf, int off, int len, int waitMillis) throws IOException {
      if (closed) {
        throw new IOException("leg closed");
      }
      try {
        byte[] rec = inbound.poll(waitMillis, TimeUnit.MILLISECONDS);
        if (rec == null) {
          return -1;
        }
        if (rec == WAKE_UP || closed) {
          throw new IOException("leg closed");
        }
        int n = Math.min(len, rec.length);
        System.arraycopy(rec, 0, buf, off, n);
        return n;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted");
      }
    }

    @Override
    public void send(byte[] buf, int off, int len) throws IOException {
      if (!closed) {
        sender.send(buf, off, len);
      }
    }

    @Override
    public void close() {
      // the ICE agent belongs to the leg, which frees it
    }
  }
}
