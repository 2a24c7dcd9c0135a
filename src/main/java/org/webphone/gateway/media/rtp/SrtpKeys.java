package org.webphone.gateway.media.rtp;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import org.jitsi.srtp.SrtcpCryptoContext;
import org.jitsi.srtp.SrtpContextFactory;
import org.jitsi.srtp.SrtpCryptoContext;
import org.jitsi.srtp.SrtpErrorStatus;
import org.jitsi.srtp.SrtpPolicy;
import org.jitsi.utils.logging2.LoggerImpl;

/**
 * SRTP and SRTCP for one DTLS-SRTP association (AES128_CM_HMAC_SHA1_80, or AEAD_AES_128_GCM of RFC 7714),
 * from the keying material of RFC 5764 (client key | server key | client salt | server salt): 60 bytes for
 * AES-CM (14-byte salts), 56 for GCM (12-byte salts); or for one SDES-SRTP leg (RFC 4568, AES_CM_128 with an
 * 80- or 32-bit RTP tag), from our key‖salt and the peer's ({@link #sdes}).
 *
 * <p>Threading: {@link #unprotect} is called only by the one thread receiving the stream; {@link #protect}
 * is synchronized on the sending half (uncontended on the audio path) because DTMF toward an SDES-SRTP PBX
 * comes from another thread. The sending half can be handed to a successor when only the peer's key
 * changes ({@link #sdes(Profile, byte[], byte[], SrtpKeys)}), so our packet index (ROC) runs on. Receive contexts are created per remote SSRC, at most
 * {@link #MAX_REMOTE_SSRCS}, so junk with random SSRCs cannot make us derive keys without end. SRTCP has
 * its own contexts (RFC 3711 section 3.4): sent by the node's RTCP thread, received on the leg's packet
 * thread, so neither touches the RTP ones.
 */
public final class SrtpKeys implements AutoCloseable {
  public static final int KEYING_MATERIAL_LENGTH = 60;
  private static final int MAX_REMOTE_SSRCS = 4;
  private static final int KEY = 16;
  private static final int SALT = 14;

  /** The protection profiles the relay speaks (RFC 5764 section 4.1.2, RFC 7714 section 14.2). */
  public enum Profile {
    AES128_CM_HMAC_SHA1_80(14, 10),
    AEAD_AES_128_GCM(12, 16),
    /** SDES only here: a 4-byte RTP tag; SRTCP keeps the 10-byte tag (RFC 3711 section 5.2, RFC 4568 6.2). */
    AES128_CM_HMAC_SHA1_32(14, 4);

    private final int saltLength;
    private final int rtpTagLength;

    Profile(int saltLength, int rtpTagLength) {
      this.saltLength = saltLength;
      this.rtpTagLength = rtpTagLength;
    }

    /** Bytes the RTP auth tag adds to each packet. */
    public int rtpTagLength() {
      return rtpTagLength;
    }

    /** Bytes of DTLS-SRTP keying material to export: two 16-byte keys and two salts. */
    public int keyingMaterialLength() {
      return 2 * (KEY + saltLength);
    }

    SrtpPolicy policy() {
      return policy(rtpTagLength);
    }

    SrtpPolicy rtcpPolicy() {
      return policy(this == AEAD_AES_128_GCM ? 16 : 10);
    }

    private SrtpPolicy policy(int tag) {
      return this == AEAD_AES_128_GCM
          // RFC 7714: no separate authentication, a 16-byte GCM tag, a 12-byte salt.
          ? new SrtpPolicy(SrtpPolicy.AESGCM_ENCRYPTION, KEY, SrtpPolicy.NULL_AUTHENTICATION, 0, tag, saltLength)
          : new SrtpPolicy(SrtpPolicy.AESCM_ENCRYPTION, KEY, SrtpPolicy.HMACSHA1_AUTHENTICATION, 20, tag, saltLength);
    }
  }

  /** The sending half: its contexts and lock; shared with a successor that only changed the receive key. */
  private static final class Sender {
    final SrtpContextFactory factory;
    final Object rtcpLock = new Object();
    SrtpCryptoContext context;
    int ssrc;
    SrtcpCryptoContext rtcp;
    int rtcpSsrc;
    /** False once handed to a successor: then the successor closes the factory. */
    boolean owned = true;

    Sender(SrtpContextFactory factory) {
      this.factory = factory;
    }
  }

  private final Sender tx;
  private final SrtpContextFactory rxFactory;
  private final int[] rxSsrcs = new int[MAX_REMOTE_SSRCS];
  private final SrtpCryptoContext[] rxContexts = new SrtpCryptoContext[MAX_REMOTE_SSRCS];
  private final boolean[] rxProven = new boolean[MAX_REMOTE_SSRCS];
  private int rxCount;
  private final Profile profile;
  private final int[] rtcpRxSsrcs = new int[MAX_REMOTE_SSRCS];
  private final SrtcpCryptoContext[] rtcpRx = new SrtcpCryptoContext[MAX_REMOTE_SSRCS];
  private final boolean[] rtcpRxProven = new boolean[MAX_REMOTE_SSRCS];
  private int rtcpRxCount;

  /**
   * @param material the exported keying material
   * @param server   true on the DTLS server side (which sends with the server key)
   */
  public SrtpKeys(byte[] material, boolean server) {
    this(Profile.AES128_CM_HMAC_SHA1_80, material, server);
  }

  /**
   * @param profile  the profile DTLS negotiated (use_srtp)
   * @param material the exported keying material, {@link Profile#keyingMaterialLength()} bytes
   * @param server   true on the DTLS server side (which sends with the server key)
   */
  public SrtpKeys(Profile profile, byte[] material, boolean server) {
    int salt = profile.saltLength;
    if (material.length != profile.keyingMaterialLength()) {
      throw new IllegalArgumentException("keying material must be " + profile.keyingMaterialLength() + " bytes");
    }
    byte[] clientKey = Arrays.copyOfRange(material, 0, KEY);
    byte[] serverKey = Arrays.copyOfRange(material, KEY, 2 * KEY);
    byte[] clientSalt = Arrays.copyOfRange(material, 2 * KEY, 2 * KEY + salt);
    byte[] serverSalt = Arrays.copyOfRange(material, 2 * KEY + salt, 2 * KEY + 2 * salt);
    this.profile = profile;
    tx = new Sender(factory(profile, true, server ? serverKey : clientKey, server ? serverSalt : clientSalt));
    rxFactory = factory(profile, false, server ? clientKey : serverKey, server ? clientSalt : serverSalt);
  }

  private SrtpKeys(Profile profile, Sender tx, SrtpContextFactory rx) {
    this.profile = profile;
    this.tx = tx;
    rxFactory = rx;
  }

  public Profile profile() {
    return profile;
  }

  /** Length of an SDES (RFC 4568) inline key: 16 bytes of master key then 14 of master salt. */
  public static final int SDES_KEY_LENGTH = KEY + SALT;

  /** SDES-SRTP keys: we send with {@code ours}, receive with {@code theirs} (each key‖salt, 30 bytes). */
  public static SrtpKeys sdes(byte[] ours, byte[] theirs) {
    return sdes(Profile.AES128_CM_HMAC_SHA1_80, ours, theirs, null);
  }

  /**
   * SDES-SRTP keys for an AES-CM {@code profile}: we send with {@code ours}, receive with {@code theirs} (each
   * key‖salt, 30 bytes). With {@code keepSending} (same profile, same key of ours) the new keys take over its
   * sending half, contexts and all, so that the packet index runs on across a change of the peer's key only;
   * {@code keepSending} must then no longer be used to send.
   */
  public static SrtpKeys sdes(Profile profile, byte[] ours, byte[] theirs, SrtpKeys keepSending) {
    if (profile == Profile.AEAD_AES_128_GCM) {
      throw new IllegalArgumentException("SDES here is AES-CM only");
    }
    if (ours.length != SDES_KEY_LENGTH || theirs.length != SDES_KEY_LENGTH) {
      throw new IllegalArgumentException("SDES keys are 30 bytes");
    }
    Sender sender;
    if (keepSending != null && keepSending.profile == profile) {
      sender = keepSending.tx;
      synchronized (sender) {
        sender.owned = false; // the old keys' close() leaves the factory to us
      }
    } else {
      sender = new Sender(factory(profile, true, Arrays.copyOfRange(ours, 0, KEY),
          Arrays.copyOfRange(ours, KEY, SDES_KEY_LENGTH)));
    }
    return new SrtpKeys(profile, sender, factory(profile, false, Arrays.copyOfRange(theirs, 0, KEY),
        Arrays.copyOfRange(theirs, KEY, SDES_KEY_LENGTH)));
  }

  private static SrtpContextFactory factory(Profile profile, boolean sender, byte[] key, byte[] salt) {
    return new SrtpContextFactory(sender, key, salt, profile.policy(), profile.rtcpPolicy(),
        new LoggerImpl("media.srtp"));
  }

  /** Encrypts the RTP packet in {@code buf} in place (appending the auth tag). */
  public SrtpErrorStatus protect(PacketBuffer buf) throws GeneralSecurityException {
    int ssrc = Rtp.ssrc(buf.getBuffer(), buf.getOffset());
    Sender s = tx;
    synchronized (s) {
      if (s.context == null || ssrc != s.ssrc) {
        s.context = s.factory.deriveContext(ssrc, 0);
        s.ssrc = ssrc;
      }
      return s.context.transformPacket(buf);
    }
  }

  /** Authenticates, replay-checks and decrypts the SRTP packet in {@code buf} in place. */
  public SrtpErrorStatus unprotect(PacketBuffer buf) throws GeneralSecurityException {
    int ssrc = Rtp.ssrc(buf.getBuffer(), buf.getOffset());
    int i = 0;
    while (i < rxCount && rxSsrcs[i] != ssrc) {
      i++;
    }
    if (i == rxCount) {
      if (rxCount == MAX_REMOTE_SSRCS) {
        return SrtpErrorStatus.FAIL;
      }
      rxSsrcs[i] = ssrc;
      rxContexts[i] = rxFactory.deriveContext(ssrc, 0);
      rxProven[i] = false;
      rxCount++;
    }
    SrtpErrorStatus status = rxContexts[i].reverseTransformPacket(buf, false);
    if (status == SrtpErrorStatus.OK) {
      rxProven[i] = true;
    } else if (!rxProven[i]) {
      // A context whose first packet failed authentication proves nothing: forget it, so junk with random
      // SSRCs cannot fill the table and lock out a real stream.
      rxCount--;
      rxSsrcs[i] = rxSsrcs[rxCount];
      rxContexts[i] = rxContexts[rxCount];
      rxProven[i] = rxProven[rxCount];
      rxContexts[rxCount] = null;
    }
    return status;
  }

  /**
   * Turns the RTCP compound packet in {@code buf} into SRTCP in place (encrypted, index and tag appended).
   * Called by the node's RTCP thread (and at close); not on a packet path.
   */
  public SrtpErrorStatus protectRtcp(PacketBuffer buf) throws GeneralSecurityException {
    int ssrc = Rtp.readInt(buf.getBuffer(), buf.getOffset() + 4);
    Sender s = tx;
    synchronized (s.rtcpLock) {
      if (s.rtcp == null || ssrc != s.rtcpSsrc) {
        s.rtcp = s.factory.deriveControlContext(ssrc);
        s.rtcpSsrc = ssrc;
      }
      return s.rtcp.transformPacket(buf);
    }
  }

  /**
   * Authenticates, replay-checks and decrypts the SRTCP packet in {@code buf} in place; on the thread that
   * receives the leg's packets. Same bounded, self-cleaning context table as for RTP.
   */
  public SrtpErrorStatus unprotectRtcp(PacketBuffer buf) throws GeneralSecurityException {
    if (buf.getLength() < 8) {
      return SrtpErrorStatus.FAIL;
    }
    int ssrc = Rtp.readInt(buf.getBuffer(), buf.getOffset() + 4);
    int i = 0;
    while (i < rtcpRxCount && rtcpRxSsrcs[i] != ssrc) {
      i++;
    }
    if (i == rtcpRxCount) {
      if (rtcpRxCount == MAX_REMOTE_SSRCS) {
        return SrtpErrorStatus.FAIL;
      }
      rtcpRxSsrcs[i] = ssrc;
      rtcpRx[i] = rxFactory.deriveControlContext(ssrc);
      rtcpRxProven[i] = false;
      rtcpRxCount++;
    }
    SrtpErrorStatus status = rtcpRx[i].reverseTransformPacket(buf);
    if (status == SrtpErrorStatus.OK) {
      rtcpRxProven[i] = true;
    } else if (!rtcpRxProven[i]) {
      rtcpRxCount--;
      rtcpRxSsrcs[i] = rtcpRxSsrcs[rtcpRxCount];
      rtcpRx[i] = rtcpRx[rtcpRxCount];
      rtcpRxProven[i] = rtcpRxProven[rtcpRxCount];
      rtcpRx[rtcpRxCount] = null;
    }
    return status;
  }

  /**
   * Pins jitsi-srtp's AES to OpenSSL (its bundled JNI library over the system libcrypto), so that runs are
   * reproducible and the cipher self-benchmark is skipped, then derives and uses a throw-away context once
   * so the remaining first-use cost is paid now. Falls back to jitsi-srtp's own choice when OpenSSL is
   * not usable. Call once, from a background thread, at start.
   */
  public static void warmUp() throws GeneralSecurityException {
    org.jitsi.srtp.crypto.Aes.setFactoryClassName("org.jitsi.srtp.crypto.Aes$OpenSSLCipherFactory");
    try {
      exercise();
    } catch (GeneralSecurityException | RuntimeException | LinkageError e) {
      org.jitsi.srtp.crypto.Aes.setFactoryClassName(null);
      exercise();
    }
  }

  private static void exercise() throws GeneralSecurityException {
    for (Profile p : new Profile[] {Profile.AES128_CM_HMAC_SHA1_80, Profile.AEAD_AES_128_GCM}) {
      byte[] material = new byte[p.keyingMaterialLength()];
      new java.security.SecureRandom().nextBytes(material);
      try (SrtpKeys a = new SrtpKeys(p, material, true); SrtpKeys b = new SrtpKeys(p, material, false)) {
        PacketBuffer buf = new PacketBuffer();
        byte[] pkt = new byte[172];
        pkt[0] = (byte) 0x80;
        buf.load(pkt, 0, pkt.length);
        a.protect(buf);
        b.unprotect(buf);
        byte[] rr = new byte[8];
        rr[0] = (byte) 0x80;
        rr[1] = (byte) 201;
        rr[3] = 1;
        buf.load(rr, 0, rr.length);
        a.protectRtcp(buf);
        b.unprotectRtcp(buf);
      }
    }
  }

  @Override
  public void close() {
    synchronized (tx) {
      if (tx.owned) {
        tx.factory.close();
      }
    }
    rxFactory.close();
  }
}
