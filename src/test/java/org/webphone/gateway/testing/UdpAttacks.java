package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The UDP vectors of the attack run, each a paced loop until the deadline: SIP INVITE and OPTIONS from
 * stranger addresses (not the PBX) to every account of the pool, never acknowledged, and junk on the
 * WebRTC media port (random bytes, STUN with a wrong user, DTLS- and RTP-looking records). The gateway's
 * SIP answers are counted by status code.
 */
final class UdpAttacks {
  private final InetAddress gateway;
  private final long deadline;
  private final AttackStats stats;

  UdpAttacks(InetAddress gateway, long deadlineNanos, AttackStats stats) {
    this.gateway = gateway;
    this.deadline = deadlineNanos;
    this.stats = stats;
  }

  /** Alternating INVITE and OPTIONS to users {@code firstUser..firstUser+users-1} at {@code perSecond}. */
  void sipStrangers(List<InetAddress> sources, int sipPort, int firstUser, int users, int perSecond)
      throws IOException, InterruptedException {
    List<DatagramChannel> chans = open(sources);
    InetSocketAddress to = new InetSocketAddress(gateway, sipPort);
    ByteBuffer in = ByteBuffer.allocate(65536);
    try {
      long start = System.nanoTime();
      for (long n = 0; System.nanoTime() < deadline; n++) {
        DatagramChannel ch = chans.get((int) (n % chans.size()));
        InetSocketAddress local = (InetSocketAddress) ch.getLocalAddress();
        int user = firstUser + (int) (n / 2 % users);
        boolean invite = n % 2 == 0;
        boolean sent = ch.send(ByteBuffer.wrap(sipRequest(invite ? "INVITE" : "OPTIONS", user, local)), to) > 0;
        stats.inc(!sent ? "sip.sendBufferFull" : invite ? "sip.invite.sent" : "sip.options.sent");
        for (DatagramChannel c : chans) {
          countResponses(c, in);
        }
        AttackStats.pace(start, n + 1, perSecond);
      }
    } finally {
      close(chans);
    }
  }

  private byte[] sipRequest(String method, int user, InetSocketAddress local) {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    String me = local.getAddress().getHostAddress() + ":" + local.getPort();
    String uri = "sip:" + user + "@" + gateway.getHostAddress();
    String body = !method.equals("INVITE") ? "" : "v=0\r\no=- 1 1 IN IP4 " + local.getAddress().getHostAddress()
        + "\r\ns=-\r\nc=IN IP4 " + local.getAddress().getHostAddress() + "\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
        + "a=rtpmap:0 PCMU/8000\r\n";
    String msg = method + " " + uri + " SIP/2.0\r\n"
        + "Via: SIP/2.0/UDP " + me + ";branch=z9hG4bK" + Long.toHexString(r.nextLong()) + ";rport\r\n"
        + "Max-Forwards: 70\r\n"
        + "From: \"Bank Security <b>\" <sip:security@bank.example>;tag=" + Integer.toHexString(r.nextInt()) + "\r\n"
        + "To: <" + uri + ">\r\n"
        + "Call-ID: " + Long.toHexString(r.nextLong()) + "@" + local.getAddress().getHostAddress() + "\r\n"
        + "CSeq: 1 " + method + "\r\n"
        + "Contact: <sip:security@" + me + ">\r\n"
        + (body.isEmpty() ? "" : "Content-Type: application/sdp\r\n")
        + "Content-Length: " + body.length() + "\r\n\r\n" + body;
    return msg.getBytes(StandardCharsets.US_ASCII);
  }

  private void countResponses(DatagramChannel ch, ByteBuffer in) throws IOException {
    while (true) {
      in.clear();
      SocketAddress from = ch.receive(in);
      if (from == null) {
        return;
      }
      String head = new String(in.array(), 0, Math.min(in.position(), 12), StandardCharsets.US_ASCII);
      stats.inc(head.startsWith("SIP/2.0 ") && head.length() >= 11 ? "sip.response." + head.substring(8, 11)
          : "sip.request.received");
    }
  }

  /** Junk datagrams to {@code port} at {@code perSecond}, in four shapes. */
  void mediaJunk(List<InetAddress> sources, int port, int perSecond) throws IOException, InterruptedException {
    List<DatagramChannel> chans = open(sources);
    InetSocketAddress to = new InetSocketAddress(gateway, port);
    ThreadLocalRandom r = ThreadLocalRandom.current();
    try {
      long start = System.nanoTime();
      for (long n = 0; System.nanoTime() < deadline; n++) {
        byte[] b = new byte[20 + r.nextInt(180)];
        r.nextBytes(b);
        switch ((int) (n % 4)) {
          case 0 -> { // STUN binding request header with a random (unknown) USERNAME: fails the ufrag lookup
            b[0] = 0;
            b[1] = 1;
            b[2] = 0;
            b[3] = (byte) (b.length - 20 & ~3);
            ByteBuffer.wrap(b, 4, 4).putInt(0x2112A442);
          }
          case 1 -> { // a DTLS handshake record from nobody the gateway knows
            b[0] = 22;
            b[1] = (byte) 0xFE;
            b[2] = (byte) 0xFD;
          }
          case 2 -> b[0] = (byte) 0x80; // RTP-looking, no SRTP context
          default -> { } // plain random bytes
        }
        boolean sent = chans.get((int) (n % chans.size())).send(ByteBuffer.wrap(b), to) > 0;
        stats.inc(sent ? "media.junk.sent" : "media.junk.sendBufferFull");
        AttackStats.pace(start, n + 1, perSecond);
      }
    } finally {
      close(chans);
    }
  }

  private static List<DatagramChannel> open(List<InetAddress> sources) throws IOException {
    List<DatagramChannel> chans = new ArrayList<>();
    try {
      for (InetAddress a : sources) {
        DatagramChannel ch = DatagramChannel.open();
        chans.add(ch);
        ch.bind(new InetSocketAddress(a, 0));
        ch.configureBlocking(false);
      }
      return chans;
    } catch (IOException | RuntimeException e) {
      close(chans);
      throw e;
    }
  }

  private static void close(List<DatagramChannel> chans) {
    for (DatagramChannel c : chans) {
      try {
        c.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }
}
