package org.webphone.gateway.testing;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.Arrays;
import java.util.Hashtable;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.DTLSClientProtocol;
import org.bouncycastle.tls.DatagramTransport;
import org.bouncycastle.tls.DefaultTlsClient;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.SRTPProtectionProfile;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsExtensionsUtils;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsSRTPUtils;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.UseSRTPData;
import org.webphone.gateway.media.Sdp;
import org.webphone.gateway.media.client.StunMessages;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.IceCandidate;

/**
 * Browser legs that complete ICE and then never send a DTLS ClientHello (F4), or send one valid
 * ClientHello and go silent: each is a real session that calls the echo extension with a WebRTC offer
 * whose one host candidate is the attacker's socket, answers the gateway's connectivity checks, keeps
 * consent fresh, and places the next call when the gateway ends one, until the deadline. How long the
 * gateway held each silent call is recorded ({@code legs.heldMs.max}). One thread per leg.
 */
final class SilentDtlsLegs {
  private static final Set<String> FINAL = Set.of("Completed", "Rejected", "Cancelled", "Busy", "Error");

  private final InetSocketAddress http;
  private final long deadline;
  private final AttackStats stats;
  private final String number;

  SilentDtlsLegs(InetSocketAddress http, String number, long deadlineNanos, AttackStats stats) {
    this.http = http;
    this.number = number;
    this.deadline = deadlineNanos;
    this.stats = stats;
  }

  private boolean running() {
    return System.nanoTime() < deadline;
  }

  /** One leg from {@code source}, until the deadline. */
  void leg(InetAddress source, boolean helloThenSilent) throws InterruptedException {
    DtlsIdentity id = DtlsIdentity.generate("attacker");
    while (running()) {
      try (GatewaySession s = GatewaySession.open(source, http, 0, true, null);
          DatagramChannel udp = DatagramChannel.open()) {
        udp.bind(new InetSocketAddress(source, 0));
        udp.configureBlocking(false);
        long t0 = System.nanoTime();
        String refused = s.awaitReady(15_000);
        stats.max("legs.readyMs", (System.nanoTime() - t0) / 1_000_000);
        if (refused != null) {
          stats.inc("legs.sessionRefused." + refused);
          Thread.sleep(1000);
          continue;
        }
        stats.inc("legs.sessionReady");
        while (running() && !s.isClosed()) {
          call(s, udp, id, helloThenSilent);
        }
      } catch (IOException e) {
        stats.inc("legs.ioError." + e.getClass().getSimpleName());
      }
      if (running()) {
        Thread.sleep(500);
      }
    }
  }

  private void call(GatewaySession s, DatagramChannel udp, DtlsIdentity id, boolean helloThenSilent)
      throws IOException, InterruptedException {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    String ufrag = "a" + Integer.toHexString(r.nextInt(1 << 24));
    String pwd = Long.toHexString(r.nextLong()) + Long.toHexString(r.nextLong());
    InetSocketAddress local = (InetSocketAddress) udp.getLocalAddress();
    s.socket().sendText(new JsonObject().put("method", "Call").put("ref", 1).put("number", number)
        .put("sdp", offer(local, ufrag, pwd, id.fingerprint())).encode());
    stats.inc("legs.callSent");
    JsonObject answer = null;
    long until = System.currentTimeMillis() + 10_000;
    while (answer == null && System.currentTimeMillis() < until) {
      JsonObject e = next(s, 200);
      if (e == null) {
        continue;
      }
      String ev = e.getString("event", "");
      if (ev.equals("Answer")) {
        answer = e;
      } else if (ev.equals("Error") && "Call".equals(e.getString("method"))
          || ev.equals("OnCallStateChanged") && "out".equals(e.getString("direction"))
          && FINAL.contains(e.getString("state"))) {
        stats.inc("legs.callRefused." + e.getString(ev.equals("Error") ? "name" : "state"));
        Thread.sleep(2000);
        return;
      }
    }
    if (answer == null) {
      stats.inc("legs.noAnswer");
      return;
    }
    Sdp sdp = Sdp.parse(answer.getString("sdp"));
    Sdp.Media audio = sdp.audio();
    IceCandidate c = IceCandidate.parse(audio.attrs("candidate").get(0));
    InetSocketAddress gw = new InetSocketAddress(InetAddress.getByName(c.ip()), c.port());
    String user = sdp.attr(audio, "ice-ufrag") + ":" + ufrag;
    String remotePwd = sdp.attr(audio, "ice-pwd");
    long tie = r.nextLong();
    long iceEnd = System.currentTimeMillis() + 10_000;
    boolean connected = false;
    while (!connected && System.currentTimeMillis() < iceEnd && running()) {
      udp.send(ByteBuffer.wrap(StunMessages.bindingRequest(user, remotePwd, tie)), gw);
      Thread.sleep(100);
      connected = answerChecks(udp, pwd);
    }
    if (!connected) {
      stats.inc("legs.iceFailed");
      return;
    }
    stats.inc("legs.iceCompleted");
    long held = System.nanoTime();
    if (helloThenSilent) {
      clientHelloThenSilence(udp, gw, id);
    }
    long lastCheck = 0;
    while (running()) {
      if (System.currentTimeMillis() - lastCheck > 1000) {
        lastCheck = System.currentTimeMillis();
        udp.send(ByteBuffer.wrap(StunMessages.bindingRequest(user, remotePwd, tie)), gw);
      }
      answerChecks(udp, pwd);
      JsonObject e = next(s, 100);
      String ev = e == null ? "" : e.getString("event", "");
      String media = ev.equals("OnMediaStateChanged") ? e.getString("state") : "";
      if (ev.equals("OnCallStateChanged") && "out".equals(e.getString("direction"))
          && FINAL.contains(e.getString("state")) || media.equals("failed") || media.equals("timeout")) {
        stats.inc("legs.callEnded." + (media.isEmpty() ? e.getString("state") : "media-" + media));
        stats.max("legs.heldMs", (System.nanoTime() - held) / 1_000_000);
        drainUntilFinal(s, ev);
        return;
      }
    }
  }

  /**
   * The session's next event. A call that rings the leg's line (a stranger's INVITE, while the gateway lets
   * anyone call in) is rejected at once, as an attacker keeping its legs busy would do.
   */
  private JsonObject next(GatewaySession s, long timeoutMs) throws IOException, InterruptedException {
    JsonObject e = s.next(timeoutMs);
    if (e != null && "OnCallRequest".equals(e.getString("event"))) {
      s.socket().sendText(new JsonObject().put("method", "Reject").put("callId", e.getString("callId")).encode());
      stats.inc("legs.incomingCallRejected");
    }
    return e;
  }

  /** After a media failure the call's final state follows: read up to it so the next call starts clean. */
  private void drainUntilFinal(GatewaySession s, String ev) throws IOException, InterruptedException {
    long until = System.currentTimeMillis() + 5000;
    while (!ev.equals("OnCallStateChanged") && System.currentTimeMillis() < until) {
      JsonObject e = next(s, 200);
      if (e != null && e.getString("event", "").equals("OnCallStateChanged") && "out".equals(e.getString("direction"))
          && FINAL.contains(e.getString("state"))) {
        return;
      }
    }
  }

  /** Answers the gateway's checks; true when a success response to one of ours arrived. */
  private static boolean answerChecks(DatagramChannel udp, String pwd) throws IOException {
    boolean success = false;
    ByteBuffer in = ByteBuffer.allocate(2048);
    for (SocketAddress from; (from = udp.receive(in.clear())) != null; ) {
      byte[] d = Arrays.copyOf(in.array(), in.position());
      if (!StunMessages.isStun(d, d.length)) {
        continue;
      }
      if (StunMessages.type(d) == 0x0001) {
        udp.send(ByteBuffer.wrap(StunMessages.bindingSuccess(d, (InetSocketAddress) from, pwd)), from);
      } else if (StunMessages.type(d) == 0x0101) {
        success = true;
      }
    }
    return success;
  }

  private static String offer(InetSocketAddress local, String ufrag, String pwd, String fingerprint) {
    String ip = local.getAddress().getHostAddress();
    return "v=0\r\no=- " + Math.abs(ThreadLocalRandom.current().nextLong()) + " 2 IN IP4 " + ip + "\r\ns=-\r\nt=0 0\r\n"
        + "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 8 126\r\nc=IN IP4 0.0.0.0\r\n"
        + "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\na=fingerprint:sha-256 " + fingerprint + "\r\n"
        + "a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"
        + "a=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\n"
        + "a=candidate:1 1 udp 2122260223 " + ip + " " + local.getPort() + " typ host\r\n";
  }

  /**
   * Sends the first flight of a real DTLS 1.2 client (one valid ClientHello with use_srtp) and nothing
   * after: retransmissions are dropped and the server's flights never read, until the deadline (daemon).
   */
  private void clientHelloThenSilence(DatagramChannel udp, InetSocketAddress gw, DtlsIdentity id) {
    int timeoutMs = (int) Math.max(1000, (deadline - System.nanoTime()) / 1_000_000);
    Thread t = new Thread(() -> {
      try {
        new DTLSClientProtocol().connect(new SilentClient(id, timeoutMs), new FirstFlightOnly(udp, gw));
      } catch (IOException e) {
        // expected: the handshake times out, as the attacker wants it to
      }
    }, "attack-client-hello");
    t.setDaemon(true);
    t.start();
    stats.inc("legs.clientHelloSent");
  }

  private static final class FirstFlightOnly implements DatagramTransport {
    private final DatagramChannel udp;
    private final InetSocketAddress gw;
    private boolean sent;

    FirstFlightOnly(DatagramChannel udp, InetSocketAddress gw) {
      this.udp = udp;
      this.gw = gw;
    }

    @Override
    public int getReceiveLimit() {
      return 1500;
    }

    @Override
    public int getSendLimit() {
      return 1150;
    }

    @Override
    public int receive(byte[] buf, int off, int len, int waitMillis) throws IOException {
      try {
        Thread.sleep(waitMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException();
      }
      return -1;
    }

    @Override
    public synchronized void send(byte[] buf, int off, int len) throws IOException {
      if (!sent) {
        sent = true;
        udp.send(ByteBuffer.wrap(buf, off, len), gw);
      }
    }

    @Override
    public void close() {
    }
  }

  private static final class SilentClient extends DefaultTlsClient {
    private final int timeoutMs;

    SilentClient(DtlsIdentity id, int timeoutMs) {
      super(id.crypto());
      this.timeoutMs = timeoutMs;
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
      return ProtocolVersion.DTLSv12.only();
    }

    @Override
    public int getHandshakeTimeoutMillis() {
      return timeoutMs;
    }

    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    public Hashtable getClientExtensions() throws IOException {
      Hashtable ext = TlsExtensionsUtils.ensureExtensionsInitialised(super.getClientExtensions());
      TlsSRTPUtils.addUseSRTPExtension(ext, new UseSRTPData(
          new int[] {SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80}, TlsUtils.EMPTY_BYTES));
      return ext;
    }

    @Override
    public TlsAuthentication getAuthentication() throws IOException {
      // never reached: the server's flight is never read
      throw new TlsFatalAlert(AlertDescription.internal_error);
    }
  }
}
