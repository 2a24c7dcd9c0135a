package org.webphone.gateway.media.client;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.ThreadLocalRandom;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.tls.CertificateRequest;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.DTLSClientProtocol;
import org.bouncycastle.tls.DTLSTransport;
import org.bouncycastle.tls.DatagramTransport;
import org.bouncycastle.tls.DefaultTlsClient;
import org.bouncycastle.tls.ExporterLabel;
import org.bouncycastle.tls.HashAlgorithm;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.SRTPProtectionProfile;
import org.bouncycastle.tls.SignatureAlgorithm;
import org.bouncycastle.tls.SignatureAndHashAlgorithm;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsCredentials;
import org.bouncycastle.tls.TlsExtensionsUtils;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsSRTPUtils;
import org.bouncycastle.tls.TlsServerCertificate;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.UseSRTPData;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.crypto.TlsCryptoParameters;
import org.bouncycastle.tls.crypto.impl.bc.BcDefaultTlsCredentialedSigner;
import org.jitsi.srtp.SrtpErrorStatus;
import org.webphone.gateway.media.Sdp;
import org.webphone.gateway.media.dtls.DtlsIdentity;
import org.webphone.gateway.media.ice.IceCandidate;
import org.webphone.gateway.media.rtp.PacketBuffer;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The browser's side of a WebRTC audio call: a controlling ICE agent with one host candidate on its own
 * loopback socket (STUN written by hand, {@link StunMessages}), a bctls DTLS 1.2 client with use_srtp, and
 * jitsi-srtp. It makes a Chrome-like offer (PCMU, PCMA, telephone-event/8000 as 126, BUNDLE, rtcp-mux,
 * setup:actpass), connects to the answer, sends SRTP and records what it decrypts. Used by the media tests
 * and the load benchmark. Its socket is read by a {@link ClientIoLoop}: its own (one thread per client), or
 * one shared by many clients ({@link #SyntheticBrowser(ClientIoLoop)}), as the load benchmark does.
 */
public final class SyntheticBrowser implements AutoCloseable {
  public static final int TE_PT = 126;

  private final DatagramChannel channel;
  private final InetAddress address;
  private final int localPort;
  private final ClientIoLoop loop;
  private final boolean ownLoop;
  private volatile String ufrag = "t" + Long.toHexString(System.nanoTime() & 0xFFFFFFL);
  private volatile String pwd = "testpasswordtestpassword" + Integer.toHexString(ThreadLocalRandom.current().nextInt(4096));
  private final long tieBreaker = ThreadLocalRandom.current().nextLong();
  private final DtlsIdentity identity = DtlsIdentity.generate("test-browser");
  private final BlockingQueue<byte[]> dtlsIn = new ArrayBlockingQueue<>(64);
  private volatile CountDownLatch iceDone = new CountDownLatch(1);
  /** STUN responses (success or error) received from the gateway to this client's checks. */
  public final AtomicInteger stunResponses = new AtomicInteger();
  /** Binding Requests from the gateway answered (the default); false plays a browser that withdrew consent. */
  public volatile boolean answerChecks = true;
  /** Binding Requests received from the gateway (its checks and, after ICE, its consent checks). */
  public final AtomicInteger stunRequests = new AtomicInteger();
  private final PacketBuffer rxBuf = new PacketBuffer();
  private final PacketBuffer txBuf = new PacketBuffer();
  /** Decrypted RTP packets received, whole (header + payload). */
  public final LinkedBlockingQueue<byte[]> received = new LinkedBlockingQueue<>();
  public final AtomicInteger receivedFailed = new AtomicInteger();
  /** Receive time (nanoTime) of each decrypted packet, same order as {@link #received}; for latency. */
  public final LinkedBlockingQueue<Long> receivedAt = new LinkedBlockingQueue<>();
  private volatile SrtpKeys keys;
  /**
   * When set, each decrypted RTP packet goes here (buffer, length, receive nanoTime) instead of being queued;
   * called on the client's receive thread with a reused buffer. For the load benchmark.
   */
  public volatile RtpSink sink;
  /**
   * Whether the DTLS client offers AEAD_AES_128_GCM besides SRTP_AES128_CM_HMAC_SHA1_80 (as Chrome does); the
   * keys follow the profile the server picks ({@link #srtpProfile()}).
   */
  public volatile boolean offerAeadGcm = true;
  /** Decrypted RTCP compound packets received (SRTCP over rtcp-mux), whole; not kept while {@link #sink} is set. */
  public final LinkedBlockingQueue<byte[]> rtcpReceived = new LinkedBlockingQueue<>();
  /** Receive time (nanoTime) of each packet of {@link #rtcpReceived}, same order. */
  public final LinkedBlockingQueue<Long> rtcpReceivedAt = new LinkedBlockingQueue<>();
  /** SRTCP that failed authentication or replay. */
  public final AtomicInteger rtcpFailed = new AtomicInteger();
  private volatile SrtpKeys.Profile profile;
  private final PacketBuffer rtcpRx = new PacketBuffer();
  private final PacketBuffer rtcpTx = new PacketBuffer();

  /** Receives decrypted RTP without queueing it. */
  public interface RtpSink {
    void onRtp(byte[] rtp, int len, long receivedNanos);
  }

  /** The last SRTP packet sent, as on the wire (for replay tests). */
  public volatile byte[] lastWire;
  private volatile boolean closed;
  private volatile InetSocketAddress gateway;
  /** ICE-TCP mode ({@link #overIceTcp}): the connection to the gateway's passive candidate, once connected. */
  private boolean overTcp;
  private volatile IceTcpClient tcp;
  private volatile String remoteUfrag;
  private volatile String remotePwd;
  private DTLSTransport dtls;
  private String serverFingerprint;
  private int seq = 1000;
  private ByteBuffer txView;
  private long ts = 50_000;
  public final int ssrc = ThreadLocalRandom.current().nextInt();

  /** A client with its own receive thread. */
  public SyntheticBrowser() throws IOException {
    this(null);
  }

  /**
   * A client whose socket is read by {@code shared} (null: its own loop, closed with the client). Many clients
   * on one loop cost one thread; the caller closes the shared loop after the clients.
   */
  public SyntheticBrowser(ClientIoLoop shared) throws IOException {
    this(shared, InetAddress.getLoopbackAddress());
  }

  /**
   * A client on {@code address} (any 127.x.y.z on Linux's loopback, for tests that need browsers at several
   * addresses), read by {@code shared} or, when null, by its own loop.
   */
  public SyntheticBrowser(ClientIoLoop shared, InetAddress address) throws IOException {
    this.address = address;
    channel = DatagramChannel.open();
    try {
      channel.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
      channel.bind(new InetSocketAddress(address, 0));
      channel.configureBlocking(false);
      localPort = ((InetSocketAddress) channel.getLocalAddress()).getPort();
      ownLoop = shared == null;
      loop = ownLoop ? new ClientIoLoop("test-browser-rx") : shared;
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
    loop.register(channel, this::onPacket);
  }

  /** The gateway's ICE ufrag from the answer (after {@link #connect}). */
  public String remoteUfrag() {
    return remoteUfrag;
  }

  /** The SHA-256 fingerprint of this browser's certificate, as its offer states it. */
  public String fingerprint() {
    return identity.fingerprint();
  }

  /** A Chrome-like offer. */
  public String offer() {
    StringBuilder s = new StringBuilder();
    s.append("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n")
        .append("a=msid-semantic: WMS\r\n")
        .append("m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 13 126\r\nc=IN IP4 0.0.0.0\r\n")
        .append("a=rtcp:9 IN IP4 0.0.0.0\r\n")
        .append("a=ice-ufrag:").append(ufrag).append("\r\n")
        .append("a=ice-pwd:").append(pwd).append("\r\n")
        .append("a=ice-options:trickle\r\n")
        .append("a=fingerprint:sha-256 ").append(identity.fingerprint()).append("\r\n")
        .append("a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\n")
        .append("a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
        .append("a=rtpmap:13 CN/8000\r\na=rtpmap:126 telephone-event/8000\r\n")
        .append("a=ssrc:").append(Integer.toUnsignedString(ssrc)).append(" cname:test\r\n");
    s.append("a=candidate:1 1 udp 2122260223 ").append(address.getHostAddress()).append(" ").append(localPort)
        .append(" typ host\r\n");
    s.append("a=candidate:9 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n");
    return s.toString();
  }

  /** This client's ICE ufrag as its latest offer states it. */
  public String ufrag() {
    return ufrag;
  }

  /** The gateway's ICE password from the latest answer. */
  public String remotePassword() {
    return remotePwd;
  }

  /**
   * Restarts ICE as a browser does inside one RTCPeerConnection: new ufrag and password, the same certificate
   * and SRTP keys; returns the restart's offer. {@link #connectIce} with its answer runs the new checks.
   */
  public String restartIce() {
    ufrag = "r" + Long.toHexString(System.nanoTime() & 0xFFFFFFL);
    pwd = "restartpasswordrestart" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 16));
    return offer();
  }

  /** One Binding Request with the given credentials (e.g. a stale ufrag after a restart). */
  public void sendCheck(String gatewayUfrag, String ourUfrag, String gatewayPwd) throws IOException {
    byte[] req = StunMessages.bindingRequest(gatewayUfrag + ":" + ourUfrag, gatewayPwd, tieBreaker);
    out(ByteBuffer.wrap(req), gateway);
  }

  /**
   * ICE-TCP instead of UDP: {@link #connect} then opens a TCP connection to the answer's {@code tcp} candidate
   * and sends everything over it (RFC 4571 frames), as a browser whose UDP is blocked does. Call before it.
   */
  public SyntheticBrowser overIceTcp() {
    overTcp = true;
    return this;
  }

  /** To the gateway on the selected path: our UDP socket, or the ICE-TCP connection in ICE-TCP mode. */
  private boolean out(ByteBuffer b, InetSocketAddress to) throws IOException {
    IceTcpClient t = tcp;
    return t != null ? t.send(b) : channel.send(b, to) > 0;
  }

  /** Takes the gateway's answer, runs ICE then the DTLS client handshake; blocking, bounded. */
  public void connect(String answer) throws Exception {
    connectIce(answer);
    dtls = new DTLSClientProtocol().connect(new Client(), new QueueTransport());
  }

  /**
   * Takes the gateway's answer and runs ICE only, sending no DTLS record (what a peer that never starts DTLS
   * does); blocking, bounded. The gateway's checks keep being answered until {@link #close}.
   */
  public void connectIce(String answer) throws Exception {
    Sdp sdp = Sdp.parse(answer);
    Sdp.Media audio = sdp.audio();
    serverFingerprint = sdp.attr(audio, "fingerprint").substring("sha-256 ".length()).trim();
    remoteUfrag = sdp.attr(audio, "ice-ufrag");
    remotePwd = sdp.attr(audio, "ice-pwd");
    iceDone = new CountDownLatch(1);
    IceCandidate c = audio.attrs("candidate").stream().map(IceCandidate::parse)
        .filter(x -> x != null && x.transport().equals(overTcp ? "tcp" : "udp")).findFirst()
        .orElseThrow(() -> new IllegalStateException("no " + (overTcp ? "tcp" : "udp") + " candidate in " + answer));
    gateway = new InetSocketAddress(InetAddress.getByName(c.ip()), c.port());
    if (overTcp && tcp == null) {
      tcp = new IceTcpClient(gateway, this::onPacket);
    }
    // Up to 15 s: the first ice4j agent of a JVM takes seconds on a busy 2-core machine.
    for (int i = 0; i < 150 && iceDone.getCount() > 0; i++) {
      sendCheck();
      iceDone.await(100, TimeUnit.MILLISECONDS);
    }
    if (iceDone.getCount() > 0) {
      throw new IllegalStateException("ICE: no binding response from the gateway");
    }
  }

  /**
   * After {@link #connectIce}: sends one valid ClientHello (this client's, with use_srtp) and nothing after it,
   * as a peer that starts DTLS and then goes silent; the gateway's answers are ignored. Blocking, brief.
   */
  public void sendClientHelloOnly() throws IOException {
    AtomicInteger sent = new AtomicInteger();
    QueueTransport once = new QueueTransport() {
      @Override
      public void send(byte[] buf, int off, int len) throws IOException {
        if (sent.getAndIncrement() == 0) {
          super.send(buf, off, len);
        }
        // Ends bctls' client at once (nothing more goes out: its alert falls into this send as well).
        throw new IOException("silent after the ClientHello");
      }
    };
    try {
      new DTLSClientProtocol().connect(new Client(), once);
    } catch (IOException expected) {
      if (sent.get() == 0) {
        throw expected;
      }
    }
  }

  /** One connectivity check / consent refresh toward the gateway. */
  public void sendCheck() throws IOException {
    sendCheck(remoteUfrag, ufrag, remotePwd);
  }

  public boolean connected() {
    return keys != null;
  }

  /** Sends one SRTP packet of payload type {@code pt}; returns the plain RTP packet sent. */
  public byte[] sendRtp(int pt, byte[] payload) throws IOException, GeneralSecurityException {
    byte[] pkt = new byte[Rtp.HEADER + payload.length];
    pkt[0] = (byte) 0x80;
    Rtp.setPayloadType(pkt, 0, pt);
    Rtp.setSeq(pkt, 0, seq++ & 0xFFFF);
    Rtp.setTimestamp(pkt, 0, ts);
    ts += 160;
    Rtp.setSsrc(pkt, 0, ssrc);
    System.arraycopy(payload, 0, pkt, Rtp.HEADER, payload.length);
    sendSrtp(pkt);
    return pkt;
  }

  /** Protects and sends a whole RTP packet (tests use it to replay a sequence number). */
  public synchronized byte[] sendSrtp(byte[] rtp) throws IOException, GeneralSecurityException {
    txBuf.load(rtp, 0, rtp.length);
    if (keys.protect(txBuf) != SrtpErrorStatus.OK) {
      throw new IllegalStateException("protect failed");
    }
    byte[] wire = java.util.Arrays.copyOf(txBuf.getBuffer(), txBuf.getLength());
    out(ByteBuffer.wrap(wire), gateway);
    lastWire = wire;
    return wire;
  }

  /**
   * Sends one SRTP packet of payload type {@code pt} carrying {@code payload[0..len)} without allocating (for
   * load tests: nothing is kept, {@link #lastWire} is not updated). Returns false when the socket's send
   * buffer was full and the packet was not sent.
   */
  public synchronized boolean sendAudio(int pt, byte[] payload, int len) throws IOException, GeneralSecurityException {
    byte[] b = txBuf.getBuffer();
    b[0] = (byte) 0x80;
    b[1] = 0;
    Rtp.setPayloadType(b, 0, pt);
    Rtp.setSeq(b, 0, seq++ & 0xFFFF);
    Rtp.setTimestamp(b, 0, ts);
    ts += 160;
    Rtp.setSsrc(b, 0, ssrc);
    System.arraycopy(payload, 0, b, Rtp.HEADER, len);
    txBuf.set(Rtp.HEADER + len);
    if (keys.protect(txBuf) != SrtpErrorStatus.OK) {
      throw new IllegalStateException("protect failed");
    }
    if (txView == null || txView.array() != txBuf.getBuffer()) {
      txView = ByteBuffer.wrap(txBuf.getBuffer());
    }
    txView.clear().limit(txBuf.getLength());
    return out(txView, gateway);
  }

  /** Leaves out the next {@code packets} RTP packets (sequence numbers and timestamps move on): loss. */
  public synchronized void skip(int packets) {
    seq += packets;
    ts += 160L * packets;
  }

  /** The SRTP profile DTLS negotiated, or null before. */
  public SrtpKeys.Profile srtpProfile() {
    return profile;
  }

  /** Protects an RTCP compound packet as SRTCP and sends it (rtcp-mux); returns the wire bytes. */
  public synchronized byte[] sendRtcp(byte[] rtcp) throws IOException, GeneralSecurityException {
    rtcpTx.load(rtcp, 0, rtcp.length);
    if (keys.protectRtcp(rtcpTx) != SrtpErrorStatus.OK) {
      throw new IllegalStateException("SRTCP protect failed");
    }
    byte[] wire = java.util.Arrays.copyOf(rtcpTx.getBuffer(), rtcpTx.getLength());
    out(ByteBuffer.wrap(wire), gateway);
    return wire;
  }

  /** Sends bytes as they are on the selected pair (junk, replays). */
  public void sendRaw(byte[] data) throws IOException {
    out(ByteBuffer.wrap(data), gateway);
  }

  public InetSocketAddress localAddress() {
    return new InetSocketAddress(address, localPort);
  }

  /** On the loop thread. */
  private void onPacket(byte[] d, int len, InetSocketAddress from) {
    if (closed) {
      return;
    }
    int off = 0;
    if (StunMessages.isStun(d, len)) {
      int type = StunMessages.type(d);
      if (type == 0x0001) {
        stunRequests.incrementAndGet();
        if (!answerChecks) {
          return;
        }
        byte[] resp = StunMessages.bindingSuccess(java.util.Arrays.copyOf(d, len), from, pwd);
        try {
          out(ByteBuffer.wrap(resp), from);
        } catch (IOException ignored) {
          // the gateway retransmits its check
        }
      } else if (type == 0x0101) {
        stunResponses.incrementAndGet();
        iceDone.countDown();
      } else if (type == 0x0111) {
        stunResponses.incrementAndGet();
      }
      return;
    }
    if (Rtp.isDtls(d, off, len)) {
      byte[] copy = new byte[len];
      System.arraycopy(d, off, copy, 0, len);
      dtlsIn.offer(copy);
      return;
    }
    SrtpKeys k = keys;
    if (k == null || !Rtp.isRtpOrRtcp(d, off, len)) {
      return;
    }
    if (Rtp.isRtcp(d, off)) {
      onRtcp(k, d, off, len);
      return;
    }
    try {
      rxBuf.load(d, off, len);
      if (k.unprotect(rxBuf) == SrtpErrorStatus.OK) {
        RtpSink sk = sink;
        if (sk != null) {
          sk.onRtp(rxBuf.getBuffer(), rxBuf.getLength(), System.nanoTime());
          return;
        }
        receivedAt.add(System.nanoTime());
        received.add(java.util.Arrays.copyOf(rxBuf.getBuffer(), rxBuf.getLength()));
      } else {
        receivedFailed.incrementAndGet();
      }
    } catch (GeneralSecurityException e) {
      receivedFailed.incrementAndGet();
    }
  }

  private void onRtcp(SrtpKeys k, byte[] d, int off, int len) {
    try {
      rtcpRx.load(d, off, len);
      if (k.unprotectRtcp(rtcpRx) == SrtpErrorStatus.OK) {
        if (sink != null) {
          // Load mode: RTCP is checked (decrypts) but not kept, so long runs hold no growing queue.
          return;
        }
        rtcpReceivedAt.add(System.nanoTime());
        rtcpReceived.add(java.util.Arrays.copyOf(rtcpRx.getBuffer(), rtcpRx.getLength()));
      } else {
        rtcpFailed.incrementAndGet();
      }
    } catch (GeneralSecurityException | RuntimeException e) {
      rtcpFailed.incrementAndGet();
    }
  }

  @Override
  public void close() {
    if (dtls != null) {
      try {
        dtls.close();
      } catch (IOException ignored) {
        // the gateway may be gone already
      }
    }
    closed = true;
    if (tcp != null) {
      tcp.close();
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // nothing to flush on a datagram channel
    }
    if (ownLoop) {
      loop.close();
    }
  }

  private final class Client extends DefaultTlsClient {
    Client() {
      super(identity.crypto());
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
      return ProtocolVersion.DTLSv12.only();
    }

    /** Bounded like a browser's: bctls' default (0) waits forever for a server that never answers. */
    @Override
    public int getHandshakeTimeoutMillis() {
      return 15_000;
    }

    @Override
    protected int[] getSupportedCipherSuites() {
      return TlsUtils.getSupportedCipherSuites(getCrypto(), new int[] {
          CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256});
    }

    @Override
    public Hashtable getClientExtensions() throws IOException {
      Hashtable ext = TlsExtensionsUtils.ensureExtensionsInitialised(super.getClientExtensions());
      int[] profiles = offerAeadGcm
          ? new int[] {SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80, SRTPProtectionProfile.SRTP_AEAD_AES_128_GCM}
          : new int[] {SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80};
      TlsSRTPUtils.addUseSRTPExtension(ext, new UseSRTPData(profiles, TlsUtils.EMPTY_BYTES));
      return ext;
    }

    @Override
    public TlsAuthentication getAuthentication() {
      return new TlsAuthentication() {
        @Override
        public void notifyServerCertificate(TlsServerCertificate sc) throws IOException {
          String fp = DtlsIdentity.fingerprint(sc.getCertificate().getCertificateAt(0).getEncoded());
          if (!DtlsIdentity.sameFingerprint(fp, serverFingerprint)) {
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
          }
        }

        @Override
        public TlsCredentials getClientCredentials(CertificateRequest req) {
          return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), identity.crypto(),
              identity.privateKey(), identity.certificate(),
              new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
        }
      };
    }

    @Override
    public void processServerExtensions(Hashtable serverExtensions) throws IOException {
      super.processServerExtensions(serverExtensions);
      UseSRTPData chosen = TlsSRTPUtils.getUseSRTPExtension(serverExtensions);
      if (chosen == null || chosen.getProtectionProfiles().length != 1) {
        throw new TlsFatalAlert(AlertDescription.illegal_parameter);
      }
      int p = chosen.getProtectionProfiles()[0];
      if (p == SRTPProtectionProfile.SRTP_AEAD_AES_128_GCM && offerAeadGcm) {
        profile = SrtpKeys.Profile.AEAD_AES_128_GCM;
      } else if (p == SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80) {
        profile = SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80;
      } else {
        throw new TlsFatalAlert(AlertDescription.illegal_parameter);
      }
    }

    @Override
    public void notifyHandshakeComplete() throws IOException {
      super.notifyHandshakeComplete();
      SrtpKeys.Profile p = profile;
      keys = new SrtpKeys(p, context.exportKeyingMaterial(ExporterLabel.dtls_srtp, null, p.keyingMaterialLength()),
          false);
    }
  }

  private class QueueTransport implements DatagramTransport {
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
        byte[] r = dtlsIn.poll(waitMillis, TimeUnit.MILLISECONDS);
        if (r == null) {
          return -1;
        }
        System.arraycopy(r, 0, buf, off, Math.min(len, r.length));
        return Math.min(len, r.length);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException();
      }
    }

    @Override
    public void send(byte[] buf, int off, int len) throws IOException {
      out(ByteBuffer.wrap(buf, off, len), gateway);
    }

    @Override
    public void close() {
    }
  }

  /** Offered payload types that are G.711, for tests that check the answer. */
  public static List<Integer> g711() {
    return new ArrayList<>(List.of(0, 8));
  }
}
