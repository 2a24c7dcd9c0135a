package org.webphone.gateway.media.ice;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The STUN messages a leg answers and sends after its agent is freed: what {@link IceStun} writes verifies with
 * the right key and USERNAME only, any changed byte is refused, and XOR-MAPPED-ADDRESS decodes (RFC 5389 15.2) to
 * the sender's address for IPv4 and IPv6.
 */
class IceStunTest {
  private static final byte[] KEY = "gateway-ice-password-0123".getBytes(StandardCharsets.UTF_8);
  private static final byte[] USER = "gw1:br1".getBytes(StandardCharsets.UTF_8);

  private static byte[] request() {
    return IceStun.consentRequest(new byte[12], "gw1:br1", KEY, 1L << 30, 42);
  }

  @Test
  void aRequestVerifiesWithItsKeyAndUsernameOnly() {
    byte[] req = request();
    assertNull(IceStun.refusal(req, req.length, KEY, USER));
    assertNull(IceStun.refusal(req, req.length, KEY, null), "no USERNAME wanted");
    assertEquals("wrong USERNAME", IceStun.refusal(req, req.length, KEY, "gw1:br2".getBytes(StandardCharsets.UTF_8)));
    assertEquals("bad MESSAGE-INTEGRITY", IceStun.refusal(req, req.length, "other".getBytes(), USER));
  }

  @Test
  void everyChangedByteIsRefused() {
    byte[] req = request();
    for (int i = 0; i < req.length; i++) {
      byte[] bad = req.clone();
      bad[i] ^= 0x01;
      assertNotNull(IceStun.refusal(bad, bad.length, KEY, USER), "byte " + i + " changed and still accepted");
    }
    assertNotNull(IceStun.refusal(req, req.length - 4, KEY, USER), "cut short");
    byte[] noFingerprint = java.util.Arrays.copyOf(req, req.length - 8);
    noFingerprint[3] -= 8;
    assertEquals("no FINGERPRINT", IceStun.refusal(noFingerprint, noFingerprint.length, KEY, USER));
    assertNotNull(IceStun.refusal(req, 19, KEY, USER), "shorter than a header");
  }

  @Test
  void theSuccessResponseCarriesTheSendersAddress() throws Exception {
    byte[] req = request();
    for (String ip : new String[] {"192.0.2.7", "2001:db8::1:2"}) {
      InetSocketAddress from = new InetSocketAddress(InetAddress.getByName(ip), 54321);
      byte[] resp = IceStun.bindingSuccess(req, from, KEY);
      assertNull(IceStun.refusal(resp, resp.length, KEY, null));
      assertEquals(IceStun.BINDING_SUCCESS, IceStun.type(resp));
      assertArrayEquals(IceStun.transactionId(req), IceStun.transactionId(resp));
      // XOR-MAPPED-ADDRESS is the first attribute: family, port ^ magic's top, address ^ magic | transaction id.
      ByteBuffer b = ByteBuffer.wrap(resp);
      assertEquals(IceStun.XOR_MAPPED_ADDRESS, b.getShort(20));
      byte[] addr = from.getAddress().getAddress();
      assertEquals(addr.length == 4 ? 1 : 2, resp[25]);
      assertEquals(54321, (b.getShort(26) ^ (IceStun.MAGIC >>> 16)) & 0xFFFF);
      byte[] mask = ByteBuffer.allocate(16).putInt(IceStun.MAGIC).put(IceStun.transactionId(req)).array();
      byte[] got = new byte[addr.length];
      for (int i = 0; i < addr.length; i++) {
        got[i] = (byte) (resp[28 + i] ^ mask[i]);
      }
      assertArrayEquals(addr, got, ip);
    }
  }
}
