package org.webphone.gateway.media;

import org.webphone.gateway.testing.Ports;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.RtpPorts;

/**
 * The relay's own per-packet work toward the PBX (payload type check, header rewrite, UDP send) allocates
 * nothing: measured with the JVM's per-thread allocation counter over 20 000 packets after warm-up.
 * (SRTP is jitsi-srtp's and is measured in {@code bench/}.)
 */
class PacketPathAllocationTest {
  @Test
  void relayingAPacketTowardThePbxAllocatesNoBytes() throws Exception {
    InetAddress lo = InetAddress.getLoopbackAddress();
    int min = Ports.free(true);
    RtpPorts ports = new RtpPorts(lo, min, min + 1);
    RtpPorts.Pair pair = ports.allocate();
    try (DatagramSocket pbx = new DatagramSocket(new InetSocketAddress(lo, 0))) {
      NodeMediaResources rt = NodeMediaResources.builder().ports(ports).build();
      MediaSession session = new MediaSession("alloc", "alloc", rt, pair);
      session.negotiated(CallCodec.g711(0), 126, 101);
      session.applyPbx(MediaSdp.parsePbx("v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          + "m=audio " + pbx.getLocalPort() + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"));
      byte[] b = new byte[1600];
      ByteBuffer view = ByteBuffer.wrap(b);
      byte[] template = MediaRelayVerticleTest.rtp(0, 0, 0, 0x1234, MediaRelayVerticleTest.payload(1));
      com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
      long tid = Thread.currentThread().getId();
      long allocated = 0;
      for (int round = 0; round < 3; round++) {
        long before = mx.getThreadAllocatedBytes(tid);
        for (int i = 0; i < 20_000; i++) {
          System.arraycopy(template, 0, b, 0, template.length);
          Rtp.setSeq(b, 0, i);
          Rtp.setPayloadType(b, 0, (i % 50 == 0) ? 126 : 0);
          session.fromBrowser(b, template.length, view);
        }
        allocated = mx.getThreadAllocatedBytes(tid) - before;
      }
      assertTrue(allocated < 20_000, "bytes allocated for 20 000 packets after warm-up: " + allocated);
      DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
      pbx.setSoTimeout(2000);
      pbx.receive(p);
      assertEquals(172, p.getLength());
      assertEquals(60_000, session.counters().get(MediaCounters.Name.toPbx));
    } finally {
      ports.release(pair);
    }
  }
}
