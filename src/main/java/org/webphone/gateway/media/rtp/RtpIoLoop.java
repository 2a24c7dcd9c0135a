package org.webphone.gateway.media.rtp;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Iterator;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one thread ({@code media-rtp-io}) that reads every PBX-side channel of the node: a selector over
 * non-blocking channels, so a packet costs one wake-up shared by all ready channels and no thread per
 * call. Handlers run on this thread and must not block; they may send on any channel (non-blocking UDP
 * send) and hand anything slow to the event loop.
 *
 * <p>Other threads talk to the loop only through {@link #execute}, which queues a task and wakes the
 * selector: that is how channels are registered and how DTMF packets are sent in order with the audio.
 * At most one wake-up is asked per turn of the loop: the JDK selector's {@code wakeup()} and the loop's own
 * clearing of a wake-up after {@code select} take one lock, and a thread descheduled while holding it stalls
 * the other (JFR at 200 calls/s on a busy 2-core machine: this loop waited 13-15 ms there behind a waking
 * event loop). Asking once per turn makes those meetings rarer; it cannot rule them out.
 */
public final class RtpIoLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RtpIoLoop.class);

  /** Called on the loop thread when a channel has datagrams to read. */
  public interface Handler {
    void onReadable(DatagramChannel channel);
  }

  private final Selector selector;
  private final Thread thread;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  /** A wake-up was asked in this turn; cleared by the loop after its select returned, before it runs tasks. */
  private final AtomicBoolean wakeAsked = new AtomicBoolean();
  private volatile boolean running = true;

  public RtpIoLoop(String name) throws IOException {
    selector = Selector.open();
    thread = new Thread(this::run, name);
    thread.setDaemon(true);
    thread.setPriority(Thread.MAX_PRIORITY);
    thread.start();
  }

  /** Registers {@code channel}; its key goes away when the channel is closed. */
  public void register(DatagramChannel channel, Handler handler) {
    execute(() -> {
      try {
        channel.register(selector, SelectionKey.OP_READ, handler);
      } catch (ClosedChannelException e) {
        // the session was closed before its registration ran: nothing to read
      }
    });
  }

  /** Runs {@code task} on the loop thread, in order with other tasks. */
  public void execute(Runnable task) {
    tasks.add(task);
    // The task is queued before the flag is read, and the loop clears the flag before it drains the queue:
    // a caller that finds the flag set is covered by the wake-up already asked (or by the drain that follows).
    if (wakeAsked.compareAndSet(false, true)) {
      selector.wakeup();
    }
  }

  public boolean isAlive() {
    return thread.isAlive();
  }

  /** Number of live registrations (closed channels drop out at the next select). */
  public int registrations() {
    return selector.isOpen() ? selector.keys().size() : 0;
  }

  private void run() {
    while (running) {
      try {
        selector.select(500);
        wakeAsked.set(false);
        Runnable task;
        while ((task = tasks.poll()) != null) {
          runSafely(task);
        }
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
          SelectionKey key = it.next();
          it.remove();
          if (key.isValid() && key.isReadable()) {
            try {
              ((Handler) key.attachment()).onReadable((DatagramChannel) key.channel());
            } catch (RuntimeException e) {
              LOG.warn("RTP handler failed: {}", e.toString(), e);
            }
          }
        }
      } catch (IOException e) {
        LOG.error("RTP selector failed: {}", e.toString(), e);
      } catch (java.nio.channels.ClosedSelectorException e) {
        return;
      }
    }
  }

  private static void runSafely(Runnable task) {
    try {
      task.run();
    } catch (RuntimeException e) {
      LOG.warn("RTP loop task failed: {}", e.toString(), e);
    }
  }

  /**
   * Stops the thread and waits for it (bounded; not when a handler closes its own loop); call from a worker,
   * not the event loop.
   */
  @Override
  public void close() {
    running = false;
    selector.wakeup();
    if (Thread.currentThread() != thread) {
      try {
        thread.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    try {
      selector.close();
    } catch (IOException ignored) {
      // the thread is gone; nothing else uses the selector
    }
  }
}
