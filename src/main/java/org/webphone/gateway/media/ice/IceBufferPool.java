package org.webphone.gateway.media.ice;

import java.util.concurrent.ArrayBlockingQueue;
import kotlin.Unit;
import org.ice4j.util.Buffer;
import org.ice4j.util.BufferPool;

/**
 * Recycles the packet buffers ice4j's single-port receive thread fills. In push mode the buffer handed to
 * {@code Component.setBufferCallback} belongs to the receiver, who gives it back with
 * {@link #release}; ice4j's default pool allocates a new array for every datagram instead.
 * The queue is array-backed, so taking and returning allocate nothing.
 */
public final class IceBufferPool {
  private static final int ARRAY = 1600;
  private static final ArrayBlockingQueue<Buffer> FREE = new ArrayBlockingQueue<>(2048);
  private static volatile boolean installed;

  private IceBufferPool() {
  }

  /** Makes ice4j take its buffers from this pool; once per JVM. */
  public static synchronized void install() {
    if (installed) {
      return;
    }
    BufferPool.getBuffer = size -> {
      Buffer b = FREE.poll();
      if (b == null || b.getBuffer().length < size) {
        return new Buffer(new byte[Math.max(ARRAY, size)], 0, size);
      }
      b.setOffset(0);
      b.setLength(size);
      return b;
    };
    BufferPool.returnBuffer = b -> {
      release(b);
      return Unit.INSTANCE;
    };
    installed = true;
  }

  /** Gives a buffer back after its contents were used (copied or relayed). */
  public static void release(Buffer b) {
    b.setRemoteAddress(null);
    FREE.offer(b);
  }
}
