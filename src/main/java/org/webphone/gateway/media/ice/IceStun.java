package org.webphone.gateway.media.ice;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.zip.CRC32;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The few STUN messages (RFC 5389) ICE needs once a leg's connectivity checks are over (RFC 8445 checks,
 * RFC 7675 consent freshness), written and checked by hand: a Binding Request with short-term credentials
 * (USERNAME, MESSAGE-INTEGRITY, FINGERPRINT), its success response with XOR-MAPPED-ADDRESS, and the check of
 * an incoming message's integrity and fingerprint. {@link IceLeg} answers the browser's checks with them after
 * its ice4j agent is freed; the synthetic browser ({@code media.client.StunMessages}) builds its messages
 * with them. Stateless; any thread.
 */
public final class IceStun {
  public static final int MAGIC = 0x2112A442;
  public static final int BINDING_REQUEST = 0x0001;
  public static final int BINDING_INDICATION = 0x0011;
  public static final int BINDING_SUCCESS = 0x0101;
  public static final int BINDING_ERROR = 0x0111;
  public static final int USERNAME = 0x0006;
  public static final int MESSAGE_INTEGRITY = 0x0008;
  public static final int XOR_MAPPED_ADDRESS = 0x0020;
  public static final int PRIORITY = 0x0024;
  public static final int USE_CANDIDATE = 0x0025;
  public static final int FINGERPRINT = 0x8028;
  public static final int ICE_CONTROLLED = 0x8029;
  public static final int ICE_CONTROLLING = 0x802A;
  private static final int FINGERPRINT_XOR = 0x5354554e;
  private static final ThreadLocal<Mac> HMAC = ThreadLocal.withInitial(() -> {
    try {
      return Mac.getInstance("HmacSHA1");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  });

  private IceStun() {
  }

  public static int type(byte[] b) {
    return (b[0] & 0xFF) << 8 | (b[1] & 0xFF);
  }

  private static int u16(byte[] b, int p) {
    return (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
  }

  /** The 12-byte transaction id of a message. */
  public static byte[] transactionId(byte[] b) {
    byte[] tx = new byte[12];
    System.arraycopy(b, 8, tx, 0, 12);
    return tx;
  }

  /**
   * Why the STUN message {@code b[0, len)} is refused, or null when it is one whole message (the datagram holds
   * exactly it), carries a MESSAGE-INTEGRITY that {@code key} verifies, a valid FINGERPRINT as its last attribute
   * (attributes between the two are ignored, RFC 5389 15.4), and, when {@code username} is not null, exactly that
   * USERNAME. Allocation-free but for the key object.
   */
  public static String refusal(byte[] b, int len, byte[] key, byte[] username) {
    if (len < 20 || (b[0] & 0xC0) != 0 || ByteBuffer.wrap(b, 4, 4).getInt() != MAGIC) {
      return "not STUN";
    }
    int bodyLen = u16(b, 2);
    if (bodyLen + 20 != len || (bodyLen & 3) != 0) {
      return "length " + bodyLen + " for a datagram of " + len;
    }
    int userOff = -1;
    int userLen = 0;
    int mi = -1;
    int fp = -1;
    for (int p = 20; p < len; ) {
      if (p + 4 > len) {
        return "truncated attribute header";
      }
      int t = u16(b, p);
      int alen = u16(b, p + 2);
      if (p + 4 + alen > len) {
        return "truncated attribute";
      }
      if (fp >= 0) {
        return "attribute after FINGERPRINT";
      }
      if (t == FINGERPRINT) {
        if (alen != 4) {
          return "bad FINGERPRINT";
        }
        fp = p;
      } else if (mi < 0) {
        if (t == MESSAGE_INTEGRITY) {
          if (alen != 20) {
            return "bad MESSAGE-INTEGRITY";
          }
          mi = p;
        } else if (t == USERNAME) {
          userOff = p + 4;
          userLen = alen;
        }
      }
      p += 4 + ((alen + 3) & ~3);
    }
    if (mi < 0) {
      return "no MESSAGE-INTEGRITY";
    }
    if (fp < 0) {
      // RFC 8445 7.1/7.2: every ICE check and its response carries FINGERPRINT (every browser sends it).
      return "no FINGERPRINT";
    }
    if (username != null && (userOff < 0 || !java.util.Arrays.equals(b, userOff, userOff + userLen, username, 0,
        username.length))) {
      return "wrong USERNAME";
    }
    CRC32 crc = new CRC32();
    crc.update(b, 0, fp);
    if (((int) crc.getValue() ^ FINGERPRINT_XOR) != ByteBuffer.wrap(b, fp + 4, 4).getInt()) {
      return "bad FINGERPRINT";
    }
    // HMAC over the message up to MESSAGE-INTEGRITY, its length field covering MESSAGE-INTEGRITY (RFC 5389 15.4).
    int coveredLen = mi - 20 + 24;
    try {
      Mac mac = HMAC.get();
      mac.init(new SecretKeySpec(key, "HmacSHA1"));
      mac.update(b, 0, 2);
      mac.update((byte) (coveredLen >> 8));
      mac.update((byte) coveredLen);
      mac.update(b, 4, mi - 4);
      byte[] want = mac.doFinal();
      if (!MessageDigest.isEqual(want, java.util.Arrays.copyOfRange(b, mi + 4, mi + 24))) {
        return "bad MESSAGE-INTEGRITY";
      }
    } catch (GeneralSecurityException e) {
      return "integrity not checkable: " + e;
    }
    return null;
  }

  /** Starts a message of {@code type} with transaction id {@code tx} (room for 256 bytes). */
  public static ByteBuffer header(int type, byte[] tx) {
    ByteBuffer b = ByteBuffer.allocate(256);
    b.putShort((short) type).putShort((short) 0).putInt(MAGIC).put(tx);
    return b;
  }

  /** Appends one attribute, padded to 4 bytes. */
  public static void attr(ByteBuffer b, int type, byte[] value) {
    b.putShort((short) type).putShort((short) value.length).put(value);
    while (b.position() % 4 != 0) {
      b.put((byte) 0);
    }
  }

  /** Appends MESSAGE-INTEGRITY (HMAC-SHA1 with {@code key}) and FINGERPRINT; returns the whole message. */
  public static byte[] finish(ByteBuffer b, byte[] key) {
    try {
      b.putShort(2, (short) (b.position() - 20 + 24));
      Mac mac = HMAC.get();
      mac.init(new SecretKeySpec(key, "HmacSHA1"));
      mac.update(b.array(), 0, b.position());
      attr(b, MESSAGE_INTEGRITY, mac.doFinal());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
    b.putShort(2, (short) (b.position() - 20 + 8));
    CRC32 crc = new CRC32();
    crc.update(b.array(), 0, b.position());
    attr(b, FINGERPRINT, ByteBuffer.allocate(4).putInt((int) crc.getValue() ^ FINGERPRINT_XOR).array());
    byte[] out = new byte[b.position()];
    System.arraycopy(b.array(), 0, out, 0, out.length);
    return out;
  }

  /** The success response to the request {@code request}: its transaction id, XOR-MAPPED-ADDRESS {@code from}. */
  public static byte[] bindingSuccess(byte[] request, InetSocketAddress from, byte[] key) {
    byte[] tx = transactionId(request);
    ByteBuffer b = header(BINDING_SUCCESS, tx);
    byte[] ip = from.getAddress().getAddress();
    ByteBuffer xma = ByteBuffer.allocate(4 + ip.length);
    xma.put((byte) 0).put((byte) (ip.length == 4 ? 1 : 2)).putShort((short) (from.getPort() ^ (MAGIC >>> 16)));
    byte[] mask = ByteBuffer.allocate(16).putInt(MAGIC).put(tx).array();
    for (int i = 0; i < ip.length; i++) {
      xma.put((byte) (ip[i] ^ mask[i]));
    }
    attr(b, XOR_MAPPED_ADDRESS, xma.array());
    return finish(b, key);
  }

  /**
   * A Binding Request from the controlled agent ({@code ICE-CONTROLLED}, no USE-CANDIDATE): the consent
   * check of RFC 7675 with transaction id {@code tx}.
   */
  public static byte[] consentRequest(byte[] tx, String username, byte[] key, long priority, long tieBreaker) {
    ByteBuffer b = header(BINDING_REQUEST, tx);
    attr(b, USERNAME, username.getBytes(StandardCharsets.UTF_8));
    attr(b, PRIORITY, ByteBuffer.allocate(4).putInt((int) priority).array());
    attr(b, ICE_CONTROLLED, ByteBuffer.allocate(8).putLong(tieBreaker).array());
    return finish(b, key);
  }
}
