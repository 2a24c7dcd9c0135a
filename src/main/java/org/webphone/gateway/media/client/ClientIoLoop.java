package org.webphone.gateway.media.client;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import org.webphone.gateway.media.rtp.RtpIoLoop;

/**
 * One thread reading the sockets of many {@link SyntheticBrowser}s: the relay's own selector loop
 * ({@link RtpIoLoop}) over their non-blocking channels, several datagrams per wake-up. A load test with a
 * thousand synthetic browsers then costs one receive thread instead of a thousand, so what it measures is
 * the relay, not the scheduler. Handlers run on the loop thread and must not block.
 */
public final class ClientIoLoop implements AutoCloseable {
  private static final int READS_PER_WAKEUP = 16;

  /** Gets each datagram read from a registered channel; the array is reused after the call returns. */
  interface Handler {
    void onDatagram(byte[] data, int len, InetSocketAddress from);
  }

  private final RtpIoLoop loop;
  /** Touched only on the loop thread. */
  private final byte[] rx = new byte[2048];
  private final ByteBuffer rxView = ByteBuffer.wrap(rx);

  /** Starts the loop thread, named {@code name}. */
  public ClientIoLoop(String name) throws IOException {
    loop = new RtpIoLoop(name);
  }

  void register(DatagramChannel channel, Handler handler) {
    loop.register(channel, ch -> read(ch, handler));
  }

  private void read(DatagramChannel ch, Handler handler) {
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
      rxView.clear();
      InetSocketAddress from;
      try {
        from = (InetSocketAddress) ch.receive(rxView);
      } catch (IOException e) {
        // one client's failure must not stop the others; the test sees its missing packets
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
    loop.close();
  }
}
