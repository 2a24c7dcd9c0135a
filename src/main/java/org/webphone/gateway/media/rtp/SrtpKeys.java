package org.webphone.gateway.media.rtp;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import org.jitsi.srtp.SrtpContextFactory;
import org.jitsi.srtp.SrtpCryptoContext;
import org.jitsi.srtp.SrtpErrorStatus;
import org.jitsi.srtp.SrtpPolicy;
import org.jitsi.utils.logging2.LoggerImpl;

/**
 * SRTP (AES128_CM_HMAC_SHA1_80) for one DTLS-SRTP association, from the 60 bytes of keying material of
 * RFC 5764 (client key | server key | client salt | server salt).
 *
 * <p>Threading: {@link #unprotect} is called only by the one thread receiving the stream; {@link #protect}
 * is synchronized (uncontended on the audio path) because DTMF toward an SDES-SRTP PBX comes from another
 * thread. Receive contexts are created per remote SSRC, at most
 * {@link #MAX_REMOTE_SSRCS}, so junk with random SSRCs cannot make us derive keys without end.
 */
public final class SrtpKeys implements AutoCloseable {
  public static final int KEYING_MATERIAL_LENGTH = 60;
  private static final int MAX_REMOTE_SSRCS = 4;
  private static final int KEY = 16;
  private static final int SALT = 14;

  private final SrtpContextFactory txFactory;
  private final SrtpContextFactory rxFactory;
  private final int[] rxSsrcs = new int[MAX_REMOTE_SSRCS];
  private final SrtpCryptoContext[] rxContexts = new SrtpCryptoContext[MAX_REMOTE_SSRCS];
  private final boolean[] rxProven = new boolean[MAX_REMOTE_SSRCS];
  private int rxCount;
  private SrtpCryptoContext txContext;
  private int txSsrc;

  /**
   * @param material the exported keying material
   * @param server   true on the DTLS server side (which sends with the server key)
   */
  public SrtpKeys(byte[] material, boolean server) {
    if (material.length != KEYING_MATERIAL_LENGTH) {
      throw new IllegalArgumentException("keying material must be 60 bytes");
    }
    byte[] clientKey = Arrays.copyOfRange(material, 0, KEY);
    byte[] serverKey = Arrays.copyOfRange(material, KEY, 2 * KEY);
    byte[] clientSalt = Arrays.copyOfRange(material, 2 * KEY, 2 * KEY + SALT);
    byte[] serverSalt = Arrays.copyOfRange(material, 2 * KEY + SALT, 2 * KEY + 2 * SALT);
    txFactory = factory(true, server ? serverKey : clientKey, server ? serverSalt : clientSalt);
    rxFactory = factory(false, server ? clientKey : serverKey, server ? clientSalt : serverSalt);
  }

  private SrtpKeys(SrtpContextFactory tx, SrtpContextFactory rx) {
    txFactory = tx;
    rxFactory = rx;
  }

  /** Length of an SDES (RFC 4568) inline key: 16 bytes of master key then 14 of master salt. */
  public static final int SDES_KEY_LENGTH = KEY + SALT;

  /** SDES-SRTP keys: we send with {@code ours}, receive with {@code theirs} (each key‖salt, 30 bytes). */
  public static SrtpKeys sdes(byte[] ours, byte[] theirs) {
    if (ours.length != SDES_KEY_LENGTH || theirs.length != SDES_KEY_LENGTH) {
      throw new IllegalArgumentException("SDES keys are 30 bytes");
    }
    return new SrtpKeys(
        factory(true, Arrays.copyOfRange(ours, 0, KEY), Arrays.copyOfRange(ours, KEY, SDES_KEY_LENGTH)),
        factory(false, Arrays.copyOfRange(theirs, 0, KEY), Arrays.copyOfRange(theirs, KEY, SDES_KEY_LENGTH)));
  }

  private static SrtpContextFactory factory(boolean sender, byte[] key, byte[] salt) {
    return new SrtpContextFactory(sender, key, salt, policy(), policy(), new LoggerImpl("media.srtp"));
  }

  static SrtpPolicy policy() {
    return new SrtpPolicy(SrtpPolicy.AESCM_ENCRYPTION, 16, SrtpPolicy.HMACSHA1_AUTHENTICATION, 20, 10, 14);
  }

  /** Encrypts the RTP packet in {@code buf} in place (appending the auth tag). */
  public synchronized SrtpErrorStatus protect(PacketBuffer buf) throws GeneralSecurityException {
    int ssrc = Rtp.ssrc(buf.getBuffer(), buf.getOffset());
    if (txContext == null || ssrc != txSsrc) {
      txContext = txFactory.deriveContext(ssrc, 0);
      txSsrc = ssrc;
    }
    return txContext.transformPacket(buf);
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
    byte[] material = new byte[KEYING_MATERIAL_LENGTH];
    new java.security.SecureRandom().nextBytes(material);
    try (SrtpKeys a = new SrtpKeys(material, true); SrtpKeys b = new SrtpKeys(material, false)) {
      PacketBuffer buf = new PacketBuffer();
      byte[] pkt = new byte[172];
      pkt[0] = (byte) 0x80;
      buf.load(pkt, 0, pkt.length);
      a.protect(buf);
      b.unprotect(buf);
    }
  }

  @Override
  public void close() {
    txFactory.close();
    rxFactory.close();
  }
}
