package org.webphone.gateway.media.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Iterator;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One thread reading the sockets of many {@link SyntheticBrowser}s: a selector over their non-blocking
 * channels, several datagrams per wake-up. A load test with a thousand synthetic browsers then costs one
 * receive thread instead of a thousand, so what it measures is the relay, not the scheduler. Handlers run on
 * the loop thread and must not block.
 */
public final class ClientIoLoop implements AutoCloseable {
  private static final int READS_PER_WAKEUP = 16;

  /** Gets each datagram read from a registered channel; the array is reused after the call returns. */
  interface Handler {
    void onDatagram(byte[] data, int len, InetSocketAddress from);
  }

  private final Selector selector;
  private final Thread thread;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final byte[] rx = new byte[2048];
  private final ByteBuffer rxView = ByteBuffer.wrap(rx);
  private volatile boolean running = true;

  /** Starts the loop thread, named {@code name}. */
  public ClientIoLoop(String name) throws IOException {
    selector = Selector.open();
    thread = new Thread(this::run, name);
    thread.setDaemon(true);
    thread.start();
  }

  void register(DatagramChannel channel, Handler handler) {
    tasks.add(() -> {
      try {
        channel.register(selector, SelectionKey.OP_READ, handler);
      } catch (ClosedChannelException e) {
        // closed before the registration ran: nothing to read
      }
    });
    selector.wakeup();
  }

  private void run() {
    while (running) {
      try {
        selector.select(500);
        Runnable task;
        while ((task = tasks.poll()) != null) {
          task.run();
        }
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
          SelectionKey key = it.next();
          it.remove();
          if (key.isValid() && key.isReadable()) {
            read((DatagramChannel) key.channel(), (Handler) key.attachment());
          }
        }
      } catch (ClosedSelectorException e) {
        return;
      } catch (IOException | RuntimeException e) {
        // one client's failure must not stop the others; the test sees its missing packets
      }
    }
  }

  private void read(DatagramChannel ch, Handler handler) {
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
      rxView.clear();
      InetSocketAddress from;
      try {
        from = (InetSocketAddress) ch.receive(rxView);
      } catch (IOException e) {
        return;
      }
      if (from == null) {
        return;
      }
      handler.onDatagram(rx, rxView.position(), from);
    }
  }

  /** Stops the thread (bounded wait) and closes the selector; the clients close their own channels. */
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
      // nothing buffered in a selector
    }
  }
}
