package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;

/** Free loopback ports for peers and gateway nodes started by tests. */
public final class Ports {
  private Ports() {
  }

  /**
   * A port free for both TCP and UDP on 127.0.0.1; with {@code pair}, an even port whose successor is free
   * too (RTP/RTCP).
   */
  public static int free(boolean pair) {
    return pair ? freeRange(2) : freeRange(1);
  }

  /**
   * The start of {@code count} consecutive ports free for TCP and UDP on 127.0.0.1 now; even when
   * {@code count} &gt; 1 (RTP on the even port, RTCP on the next). Linux 4.6+ hands out odd ports for
   * bind(0), so a range starts at the next even port.
   */
  public static synchronized int freeRange(int count) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    for (int attempt = 0; attempt < 200; attempt++) {
      int p;
      try (ServerSocket s = new ServerSocket(0, 1, lo)) {
        p = s.getLocalPort();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      if (count > 1 && p % 2 != 0) {
        p++;
      }
      if (p + count > 65000) {
        continue;
      }
      boolean ok = true;
      for (int i = 0; i < count && ok; i++) {
        ok = isFree(lo, p + i);
      }
      if (ok) {
        return p;
      }
    }
    throw new IllegalStateException("no " + count + " free loopback ports in a row");
  }

  private static boolean isFree(InetAddress lo, int port) {
    try (ServerSocket t = new ServerSocket(port, 1, lo); DatagramSocket u = new DatagramSocket(port, lo)) {
      return true;
    } catch (IOException busy) {
      return false;
    }
  }

  public static int free() {
    return free(false);
  }
}
