package org.webphone.gateway.media.client;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
 * and the load benchmark; one receive thread per client.
 */
public final class SyntheticBrowser implements AutoCloseable {
  public static final int TE_PT = 126;

  private final DatagramSocket socket;
  private final Thread rxThread;
  private final String ufrag = "t" + Long.toHexString(System.nanoTime() & 0xFFFFFFL);
  private final String pwd = "testpasswordtestpassword" + Integer.toHexString(ThreadLocalRandom.current().nextInt(4096));
  private final long tieBreaker = ThreadLocalRandom.current().nextLong();
  private final DtlsIdentity identity = DtlsIdentity.generate("test-browser");
  private final BlockingQueue<byte[]> dtlsIn = new ArrayBlockingQueue<>(64);
  private final CountDownLatch iceDone = new CountDownLatch(1);
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
  private volatile String remoteUfrag;
  private volatile String remotePwd;
  private DTLSTransport dtls;
  private String serverFingerprint;
  private int seq = 1000;
  private long ts = 50_000;
  public final int ssrc = ThreadLocalRandom.current().nextInt();

  public SyntheticBrowser() throws IOException {
    socket = new DatagramSocket(null);
    socket.setReceiveBufferSize(1 << 20);
    socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    rxThread = new Thread(this::receiveLoop, "test-browser-rx");
    rxThread.setDaemon(true);
    rxThread.start();
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
    s.append("a=candidate:1 1 udp 2122260223 127.0.0.1 ").append(socket.getLocalPort()).append(" typ host\r\n");
    s.append("a=candidate:9 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n");
    return s.toString();
  }

  /** Takes the gateway's answer, runs ICE then the DTLS client handshake; blocking, bounded. */
  public void connect(String answer) throws Exception {
    Sdp sdp = Sdp.parse(answer);
    Sdp.Media audio = sdp.audio();
    serverFingerprint = sdp.attr(audio, "fingerprint").substring("sha-256 ".length()).trim();
    remoteUfrag = sdp.attr(audio, "ice-ufrag");
    remotePwd = sdp.attr(audio, "ice-pwd");
    IceCandidate c = IceCandidate.parse(audio.attrs("candidate").get(0));
    gateway = new InetSocketAddress(InetAddress.getByName(c.ip()), c.port());
    // Up to 15 s: the first ice4j agent of a JVM takes seconds on a busy 2-core machine.
    for (int i = 0; i < 150 && iceDone.getCount() > 0; i++) {
      sendCheck();
      iceDone.await(100, TimeUnit.MILLISECONDS);
    }
    if (iceDone.getCount() > 0) {
      throw new IllegalStateException("ICE: no binding response from the gateway");
    }
    dtls = new DTLSClientProtocol().connect(new Client(), new QueueTransport());
  }

  /** One connectivity check / consent refresh toward the gateway. */
  public void sendCheck() throws IOException {
    byte[] req = StunMessages.bindingRequest(remoteUfrag + ":" + ufrag, remotePwd, tieBreaker);
    socket.send(new DatagramPacket(req, req.length, gateway));
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
    socket.send(new DatagramPacket(wire, wire.length, gateway));
    lastWire = wire;
    return wire;
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
    socket.send(new DatagramPacket(wire, wire.length, gateway));
    return wire;
  }

  /** Sends bytes as they are on the selected pair (junk, replays). */
  public void sendRaw(byte[] data) throws IOException {
    socket.send(new DatagramPacket(data, data.length, gateway));
  }

  public InetSocketAddress localAddress() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), socket.getLocalPort());
  }

  private void receiveLoop() {
    byte[] d = new byte[2048];
    DatagramPacket p = new DatagramPacket(d, d.length);
    while (!closed) {
      try {
        p.setLength(d.length);
        socket.receive(p);
      } catch (IOException e) {
        return;
      }
      onPacket(d, p.getLength(), (InetSocketAddress) p.getSocketAddress());
    }
  }

  private void onPacket(byte[] d, int len, InetSocketAddress from) {
    int off = 0;
    if (StunMessages.isStun(d, len)) {
      int type = StunMessages.type(d);
      if (type == 0x0001) {
        byte[] resp = StunMessages.bindingSuccess(java.util.Arrays.copyOf(d, len), from, pwd);
        try {
          socket.send(new DatagramPacket(resp, resp.length, from));
        } catch (IOException ignored) {
          // the gateway retransmits its check
        }
      } else if (type == 0x0101) {
        iceDone.countDown();
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
    socket.close();
    try {
      rxThread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
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

  private final class QueueTransport implements DatagramTransport {
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
      socket.send(new DatagramPacket(buf, off, len, gateway));
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
