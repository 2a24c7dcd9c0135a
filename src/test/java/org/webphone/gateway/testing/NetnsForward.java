package org.webphone.gateway.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP port on this network namespace's loopback that leads into another namespace: each accepted
 * connection starts {@code ip netns exec <ns> bash} with a {@code /dev/tcp} socket to the target inside it
 * and copies bytes both ways. A JVM cannot enter a namespace, and a port forwarder process would have to be
 * installed: bash and iproute2 are always there. Meant for a few long-lived connections (chromedriver's
 * WebDriver protocol, {@code /health}), not for load: one process and two copy threads per connection.
 * Its accept thread and the copy threads are daemons; {@link #close} ends every connection and process.
 */
final class NetnsForward implements AutoCloseable {
  private final ServerSocket server;
  private final String ns;
  private final String target;
  private final Set<Process> processes = ConcurrentHashMap.newKeySet();
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  private NetnsForward(ServerSocket server, String ns, String ip, int port) {
    this.server = server;
    this.ns = ns;
    this.target = ip + "/" + port;
  }

  static NetnsForward start(String ns, String ip, int port, int localPort) throws IOException {
    if (!ip.matches("[0-9.]+")) {
      throw new IllegalArgumentException("an IPv4 address, not " + ip);
    }
    ServerSocket s = new ServerSocket();
    s.setReuseAddress(true);
    s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), localPort));
    NetnsForward f = new NetnsForward(s, ns, ip, port);
    Thread t = new Thread(f::acceptLoop, "netns-forward-" + localPort);
    t.setDaemon(true);
    t.start();
    return f;
  }

  int localPort() {
    return server.getLocalPort();
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket client = server.accept();
        client.setTcpNoDelay(true);
        connect(client);
      } catch (IOException e) {
        if (!closed) {
          System.err.println("netns forward to " + ns + " " + target + ": " + e);
        }
      }
    }
  }

  private void connect(Socket client) throws IOException {
    // One cat copies the target's bytes out, one copies ours in; when either ends (the target closed, e.g. an
    // idle kept-alive HTTP connection, or we did) the other is killed and the process exits, so the close
    // reaches the other side too: a client must not keep a pooled connection whose target is gone.
    Process p = new ProcessBuilder(List.of("ip", "netns", "exec", ns, "bash", "-c",
        // (fd 4: a background job's stdin is /dev/null unless given explicitly)
        "exec 3<>/dev/tcp/" + target + " || exit 1; exec 4<&0; cat <&3 & r=$!; cat <&4 >&3 & w=$!; wait -n;"
            + " kill $r $w 2>/dev/null; exit 0"))
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    processes.add(p);
    sockets.add(client);
    Runnable end = () -> {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      processes.remove(p);
      sockets.remove(client);
      try {
        client.close();
      } catch (IOException ignored) {
        // already closed by the other side
      }
    };
    pump(client.getInputStream(), p.getOutputStream(), end);
    pump(p.getInputStream(), client.getOutputStream(), end);
  }

  private static void pump(InputStream in, OutputStream out, Runnable end) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[16384];
      try {
        for (int n; (n = in.read(buf)) >= 0; ) {
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException ignored) {
        // either side closed: the connection ends below
      } finally {
        end.run();
      }
    }, "netns-forward-copy");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException ignored) {
      // nothing left to accept
    }
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
    for (Process p : processes) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
  }
}
