package org.webphone.gateway.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.webphone.gateway.testing.Ports;

/** Free ports for one node, as environment variables, and the check that they are free again. */
final class NodeFixtures {
  private NodeFixtures() {
  }

  /** Every port a node binds, each from {@link Ports#free}; {@code http} first, {@code admin} the admin surface. */
  record NodePorts(int http, int sip, int demo, int webrtc, int rtpMin, int admin) {
    static NodePorts allocate() {
      return new NodePorts(Ports.free(), Ports.free(), Ports.free(), Ports.free(), Ports.free(true), Ports.free());
    }

    Map<String, String> env(String nodeId) {
      Map<String, String> env = new HashMap<>();
      env.put("WEBPHONE_NODE_ID", nodeId);
      env.put("WEBPHONE_HTTP_PORT", Integer.toString(http));
      env.put("WEBPHONE_HTTP_ADMIN_PORT", Integer.toString(admin));
      env.put("WEBPHONE_SIP_PORT", Integer.toString(sip));
      env.put("WEBPHONE_DEMO_PORT", Integer.toString(demo));
      env.put("WEBPHONE_MEDIA_WEBRTC_PORT", Integer.toString(webrtc));
      env.put("WEBPHONE_MEDIA_ICE_TCP_PORT", Integer.toString(webrtc));
      env.put("WEBPHONE_MEDIA_RTP_PORT_MIN", Integer.toString(rtpMin));
      env.put("WEBPHONE_MEDIA_RTP_PORT_MAX", Integer.toString(rtpMin + 1));
      return env;
    }

    List<Integer> all() {
      return List.of(http, sip, demo, webrtc, rtpMin, rtpMin + 1, admin);
    }
  }

  /**
   * The shipped cluster.xml with this run's cluster name, this member's port and the run's member list, written
   * to {@code dir/<name>.xml}: each run has its own cluster, never joined by a test running at the same time.
   */
  static Path clusterXml(Path dir, String name, String clusterName, int port, List<Integer> members) throws IOException {
    String xml = Files.readString(Path.of(System.getProperty("project.basedir", "."), "cluster.xml"));
    String[][] edits = {
        {"<cluster-name>webphone-gateway</cluster-name>", "<cluster-name>" + clusterName + "</cluster-name>"},
        {"<port auto-increment=\"true\" port-count=\"20\">5701</port>", "<port auto-increment=\"false\">" + port + "</port>"},
        {"<member>127.0.0.1</member>", members.stream().map(p -> "<member>127.0.0.1:" + p + "</member>")
            .reduce("", String::concat)},
    };
    for (String[] e : edits) {
      assertTrue(xml.contains(e[0]), "cluster.xml changed: no " + e[0] + " to replace; update this test");
      xml = xml.replace(e[0], e[1]);
    }
    Path file = dir.resolve(name + ".xml");
    Files.writeString(file, xml);
    return file;
  }

  /** Asserts every port can be bound again on loopback, TCP and UDP: nothing of the node holds it. */
  static void assertPortsFree(List<Integer> ports) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    List<Integer> busy = new ArrayList<>();
    for (int p : ports) {
      // SO_REUSEADDR: a TIME_WAIT left by the test's own HTTP requests is not a port the node holds.
      try (ServerSocket t = new ServerSocket(); DatagramSocket u = new DatagramSocket(p, lo)) {
        t.setReuseAddress(true);
        t.bind(new java.net.InetSocketAddress(lo, p), 1);
      } catch (IOException e) {
        busy.add(p);
      }
    }
    assertEquals(List.of(), busy, "ports still bound after the node stopped");
  }
}
