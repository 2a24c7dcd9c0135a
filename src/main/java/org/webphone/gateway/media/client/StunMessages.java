package org.webphone.gateway.media.client;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The few STUN messages (RFC 5389, RFC 8445) a controlling ICE agent with one host candidate needs: a
 * binding request with USE-CANDIDATE, and the success response to the gateway's own checks. Written by
 * hand for the test browser because ice4j's single-port harvester cannot start checks (it only has a
 * socket for a remote address once that remote has sent a request), and Chrome never uses one.
 */
public final class StunMessages {
  public static final int MAGIC = 0x2112A442;
  private static final int USERNAME = 0x0006;
  private static final int MESSAGE_INTEGRITY = 0x0008;
  private static final int XOR_MAPPED_ADDRESS = 0x0020;
  private static final int PRIORITY = 0x0024;
  private static final int USE_CANDIDATE = 0x0025;
  private static final int FINGERPRINT = 0x8028;
  private static final int ICE_CONTROLLING = 0x802A;

  private StunMessages() {
  }

  public static boolean isStun(byte[] b, int len) {
    return Rtp.isStun(b, len);
  }

  public static int type(byte[] b) {
    return ((b[0] & 0xFF) << 8) | (b[1] & 0xFF);
  }

  /** Binding request from the controlling side, nominating the pair. */
  public static byte[] bindingRequest(String username, String remotePassword, long tieBreaker) {
    byte[] tx = new byte[12];
    ThreadLocalRandom.current().nextBytes(tx);
    ByteBuffer b = ByteBuffer.allocate(200);
    header(b, 0x0001, tx);
    attr(b, USERNAME, username.getBytes(StandardCharsets.UTF_8));
    attr(b, PRIORITY, ByteBuffer.allocate(4).putInt(1853824767).array());
    attr(b, ICE_CONTROLLING, ByteBuffer.allocate(8).putLong(tieBreaker).array());
    attr(b, USE_CANDIDATE, new byte[0]);
    return finish(b, remotePassword);
  }

  /** Success response to a request (whose transaction id is copied), signed with our password. */
  public static byte[] bindingSuccess(byte[] request, InetSocketAddress from, String localPassword) {
    byte[] tx = new byte[12];
    System.arraycopy(request, 8, tx, 0, 12);
    ByteBuffer b = ByteBuffer.allocate(200);
    header(b, 0x0101, tx);
    ByteBuffer xma = ByteBuffer.allocate(8);
    xma.put((byte) 0).put((byte) 1).putShort((short) (from.getPort() ^ (MAGIC >>> 16)));
    byte[] ip = from.getAddress().getAddress();
    xma.putInt(ByteBuffer.wrap(ip).getInt() ^ MAGIC);
    attr(b, XOR_MAPPED_ADDRESS, xma.array());
    return finish(b, localPassword);
  }

  private static void header(ByteBuffer b, int type, byte[] tx) {
    b.putShort((short) type).putShort((short) 0).putInt(MAGIC).put(tx);
  }

  private static void attr(ByteBuffer b, int type, byte[] value) {
    b.putShort((short) type).putShort((short) value.length).put(value);
    while (b.position() % 4 != 0) {
      b.put((byte) 0);
    }
  }

  private static byte[] finish(ByteBuffer b, String password) {
    try {
      // MESSAGE-INTEGRITY: HMAC-SHA1 over the message so far, with the length covering the attribute.
      b.putShort(2, (short) (b.position() - 20 + 24));
      Mac mac = Mac.getInstance("HmacSHA1");
      mac.init(new SecretKeySpec(password.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
      mac.update(b.array(), 0, b.position());
      attr(b, MESSAGE_INTEGRITY, mac.doFinal());
      b.putShort(2, (short) (b.position() - 20 + 8));
      CRC32 crc = new CRC32();
      crc.update(b.array(), 0, b.position());
      attr(b, FINGERPRINT, ByteBuffer.allocate(4).putInt((int) crc.getValue() ^ 0x5354554e).array());
      byte[] out = new byte[b.position()];
      System.arraycopy(b.array(), 0, out, 0, out.length);
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
