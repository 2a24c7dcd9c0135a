package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

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

  /** Below the default RTP range (media.rtpPortMin 20000–20999) and the well-known ports of the peers. */
  private static final int LOWEST = 21000;
  /** Every port handed out in this JVM: a test that starts a peer later must not find its port given twice. */
  private static final Set<Integer> GIVEN = new HashSet<>();
  /** Read once: the kernel's range does not change while the tests run. */
  private static final int EPHEMERAL_LOW = ephemeralLow();

  /**
   * The start of {@code count} consecutive ports free for TCP and UDP on 127.0.0.1 now; even when
   * {@code count} &gt; 1 (RTP on the even port, RTCP on the next).
   *
   * <p>Chosen below the kernel's ephemeral range ({@code net.ipv4.ip_local_port_range}), never by bind(0): a
   * port the kernel hands out for bind(0) is one it also hands out to outgoing connections, and a peer JVM
   * that took seconds to start once found its Hazelcast port taken by another member's connection.
   */
  public static synchronized int freeRange(int count) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    int highest = EPHEMERAL_LOW - 1;
    if (highest - LOWEST < count + 1000) {
      throw new IllegalStateException("the ephemeral port range starts at " + (highest + 1)
          + ": too few ports below it for tests (want " + LOWEST + " and up)");
    }
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    for (int attempt = 0; attempt < 500; attempt++) {
      int p = LOWEST + rnd.nextInt(highest - LOWEST - count);
      if (count > 1 && p % 2 != 0) {
        p++;
      }
      boolean ok = true;
      for (int i = 0; i < count && ok; i++) {
        ok = !GIVEN.contains(p + i) && isFree(lo, p + i);
      }
      if (ok) {
        for (int i = 0; i < count; i++) {
          GIVEN.add(p + i);
        }
        return p;
      }
    }
    throw new IllegalStateException("no " + count + " free loopback ports in a row");
  }

  /** The first port of the kernel's ephemeral range (Linux default 32768). */
  static int ephemeralLow() {
    try {
      // readAllLines, not readString: the file reports size 0 and readString then returns its first byte only.
      String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range"), StandardCharsets.US_ASCII)
          .get(0);
      return Integer.parseInt(range.trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 32768;
    }
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
