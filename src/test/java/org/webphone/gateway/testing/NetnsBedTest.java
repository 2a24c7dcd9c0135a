package org.webphone.gateway.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The namespace test bed itself: hosts reach each other over the bridge on every address they were given,
 * nftables rules loaded into a host hold, a forwarded port reaches a host from the test's namespace, and
 * closing the bed leaves no namespace behind, even with a process still running in one.
 */
class NetnsBedTest {
  private static final int PORT = 7000;

  @Test
  void hostsTalkOverTheBridgeAFirewallRuleHoldsAndCloseLeavesNothingBehind() throws Exception {
    String prefix;
    try (NetnsBed bed = NetnsBed.create()) {
      NetnsBed.Host a = bed.host("a", 10);
      NetnsBed.Host b = bed.host("b", 20, 21);
      prefix = a.name().substring(0, a.name().length() - 2);
      assertTrue(a.run("ip", "-4", "addr").contains("10.251.0.10/24"), "a has its address");
      Path base = Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
      // Left running on purpose: close() must end it (by PID) before deleting the namespace.
      PeerProcess echo = b.start("netns-echo", List.of(GatewayJvm.java("java"), "-cp",
          GatewayJvm.classpath(base, true), Echo.class.getName(), String.valueOf(PORT)));
      echo.awaitLog(l -> l.equals("listening"), Duration.ofSeconds(30));

      assertEquals("hello", talk(a, "10.251.0.21"), "a reaches b's second address over the bridge");
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), bed.forward(b, "10.251.0.20", PORT))) {
        s.getOutputStream().write("forwarded\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("forwarded", readLine(s.getInputStream()), "the forward reaches b from the test's namespace");
      }

      b.nft("""
          table inet filter {
            chain input {
              type filter hook input priority 0;
              tcp dport 7000 drop
            }
          }
          """);
      assertThrows(IOException.class, () -> talk(a, "10.251.0.21"), "b's firewall drops the connection");
    }
    String left = new String(new ProcessBuilder("ip", "netns", "list").start().getInputStream().readAllBytes(),
        StandardCharsets.UTF_8);
    assertFalse(left.contains(prefix), "namespaces left behind: " + left);
  }

  /** One line to b's echo from inside a, bounded by a 3 s timeout. */
  private static String talk(NetnsBed.Host a, String to) throws IOException, InterruptedException {
    return a.run("timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/" + to + "/" + PORT
        + "; echo hello >&3; head -1 <&3").trim();
  }

  private static String readLine(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
      sb.append((char) c);
    }
    return sb.toString();
  }

  /** A line echo server run inside a host of the bed: {@code java ... NetnsBedTest$Echo <port>}. */
  public static final class Echo {
    private Echo() {
    }

    public static void main(String[] args) throws IOException {
      try (ServerSocket server = new ServerSocket()) {
        server.bind(new InetSocketAddress(Integer.parseInt(args[0])));
        System.out.println("listening");
        while (true) {
          try (Socket s = server.accept(); OutputStream out = s.getOutputStream()) {
            out.write((readLine(s.getInputStream()) + "\n").getBytes(StandardCharsets.US_ASCII));
          }
        }
      }
    }
  }
}
