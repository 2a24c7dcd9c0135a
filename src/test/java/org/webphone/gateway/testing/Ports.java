package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;

/** Free loopback ports for peers and gateway nodes started by tests. */
public final class Ports {
  private Ports() {
  }

  /** A port free for both TCP and UDP on 127.0.0.1 (and, when {@code pair}, also the next one). */
  public static synchronized int free(boolean pair) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    for (int attempt = 0; attempt < 200; attempt++) {
      try (ServerSocket s = new ServerSocket(0, 1, lo)) {
        int p = s.getLocalPort();
        if (pair && (p % 2 != 0 || p > 65000)) {
          continue;
        }
        try (DatagramSocket u = new DatagramSocket(p, lo)) {
          if (pair) {
            try (DatagramSocket u2 = new DatagramSocket(p + 1, lo); ServerSocket t2 = new ServerSocket(p + 1, 1, lo)) {
              return p;
            }
          }
          return p;
        } catch (IOException busy) {
          // try another
        }
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
    throw new IllegalStateException("no free loopback port found");
  }

  public static int free() {
    return free(false);
  }
}
