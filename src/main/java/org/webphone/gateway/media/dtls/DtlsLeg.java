package org.webphone.gateway.media.dtls;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.tls.DTLSServerProtocol;
import org.bouncycastle.tls.DTLSTransport;
import org.bouncycastle.tls.DatagramTransport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The DTLS server of one browser leg. DTLS records reach it from ice4j's receive thread through a bounded
 * queue ({@link #offer}); the handshake and everything after it run on the leg's own thread
 * {@code media-dtls-<callId>}, because bctls is a blocking API. The thread starts only once ICE has
 * completed (Chrome's ClientHello arrives before the controlled agent has a valid pair to answer on, and a
 * failed send aborts bctls' handshake), then stays to answer retransmitted flights and close_notify.
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

  /** Called on the DTLS thread; implementations hand off and return. */
  public interface Listener {
    void onConnected(SrtpKeys keys);

    void onFailed(String reason);
  }

  private final String callId;
  private final AtomicInteger liveThreads;
  private final SrtpDtlsServer server;
  private final Sender sender;
  private final Listener listener;
  private final BlockingQueue<byte[]> inbound = new ArrayBlockingQueue<>(QUEUE);
  private final AtomicInteger dropped = new AtomicInteger();
  private volatile boolean closed;
  private volatile Thread thread;

  /**
   * @param liveThreads the node's count of running DTLS threads (for leak checks), kept up to date here
   */
  public DtlsLeg(String callId, DtlsIdentity identity, String browserFingerprint, int handshakeTimeoutMs,
                 AtomicInteger liveThreads, boolean aeadGcm, Sender sender, Listener listener) {
    this.callId = callId;
    this.liveThreads = liveThreads;
    this.server = new SrtpDtlsServer(identity, browserFingerprint, handshakeTimeoutMs, aeadGcm);
    this.sender = sender;
    this.listener = listener;
  }

  /** Queues one record; called from ice4j's thread, copies, never blocks (drops when the queue is full). */
  public void offer(byte[] data, int off, int len) {
    byte[] copy = new byte[len];
    System.arraycopy(data, off, copy, 0, len);
    if (!inbound.offer(copy)) {
      dropped.incrementAndGet();
    }
  }

  /** Starts the handshake thread; idempotent. */
  public synchronized void start() {
    if (thread != null || closed) {
      return;
    }
    Thread t = new Thread(this::run, "media-dtls-" + callId);
    t.setDaemon(true);
    liveThreads.incrementAndGet();
    thread = t;
    t.start();
  }

  private void run() {
    DTLSTransport dtls = null;
    try {
      long t0 = System.nanoTime();
      dtls = new DTLSServerProtocol().accept(server, new QueueTransport());
      SrtpKeys keys = new SrtpKeys(server.profile(), server.keyingMaterial(), true);
      LOG.info("call={} DTLS connected in {} ms, {}", callId, (System.nanoTime() - t0) / 1_000_000, keys.profile());
      listener.onConnected(keys);
      byte[] buf = new byte[MTU + 100];
      while (!closed) {
        // Keeps answering retransmitted client flights; application data is not used on this leg. The long
        // wait keeps a thousand idle legs from waking up; close() wakes it.
        dtls.receive(buf, 0, buf.length, 30_000);
      }
    } catch (IOException | RuntimeException e) {
      if (!closed) {
        String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (server.peerFingerprint() != null && server.keyingMaterial() == null) {
          reason = "browser certificate does not match the offer's fingerprint";
        }
        LOG.warn("call={} DTLS failed: {}", callId, reason);
        listener.onFailed("DTLS: " + reason);
      }
    } finally {
      if (dtls != null) {
        try {
          dtls.close();
        } catch (IOException | RuntimeException ignored) {
          // close_notify is a courtesy; the browser learns the end from signalling too
        }
      }
      liveThreads.decrementAndGet();
    }
  }

  /** Stops the thread (bounded wait); call from a worker. Idempotent. */
  @Override
  public void close() {
    closed = true;
    Thread t;
    synchronized (this) {
      t = thread;
    }
    if (t != null && t != Thread.currentThread()) {
      // Wakes the thread out of its queue wait (the transport then throws, which ends bctls). Not an
      // interrupt: it could land in a send on ice4j's shared socket.
      inbound.clear();
      inbound.offer(WAKE_UP);
      try {
        t.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    inbound.clear();
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
