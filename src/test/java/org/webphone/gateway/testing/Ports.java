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
   * too (RTP/RTCP). Linux 4.6+ hands out odd ports for bind(0), so a pair starts at the next even port.
   */
  public static synchronized int free(boolean pair) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    for (int attempt = 0; attempt < 200; attempt++) {
      int p;
      try (ServerSocket s = new ServerSocket(0, 1, lo)) {
        p = s.getLocalPort();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      if (pair && p % 2 != 0) {
        p++;
      }
      if (p > 65000 || !isFree(lo, p) || (pair && !isFree(lo, p + 1))) {
        continue;
      }
      return p;
    }
    throw new IllegalStateException("no free loopback port found");
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
