package org.webphone.gateway.media.client;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;
import org.webphone.gateway.media.ice.IceStun;
import org.webphone.gateway.media.rtp.Rtp;

/**
 * The few STUN messages (RFC 5389, RFC 8445) a controlling ICE agent with one host candidate needs: a
 * binding request with USE-CANDIDATE, and the success response to the gateway's own checks. Written by
 * hand for the test browser because ice4j's single-port harvester cannot start checks (it only has a
 * socket for a remote address once that remote has sent a request), and Chrome never uses one.
 */
public final class StunMessages {
  public static final int MAGIC = IceStun.MAGIC;

  private StunMessages() {
  }

  public static boolean isStun(byte[] b, int len) {
    return Rtp.isStun(b, len);
  }

  public static int type(byte[] b) {
    return IceStun.type(b);
  }

  /** Binding request from the controlling side, nominating the pair. */
  public static byte[] bindingRequest(String username, String remotePassword, long tieBreaker) {
    byte[] tx = new byte[12];
    ThreadLocalRandom.current().nextBytes(tx);
    ByteBuffer b = IceStun.header(IceStun.BINDING_REQUEST, tx);
    IceStun.attr(b, IceStun.USERNAME, username.getBytes(StandardCharsets.UTF_8));
    IceStun.attr(b, IceStun.PRIORITY, ByteBuffer.allocate(4).putInt(1853824767).array());
    IceStun.attr(b, IceStun.ICE_CONTROLLING, ByteBuffer.allocate(8).putLong(tieBreaker).array());
    IceStun.attr(b, IceStun.USE_CANDIDATE, new byte[0]);
    return IceStun.finish(b, remotePassword.getBytes(StandardCharsets.UTF_8));
  }

  /** Success response to a request (whose transaction id is copied), signed with our password. */
  public static byte[] bindingSuccess(byte[] request, InetSocketAddress from, String localPassword) {
    return IceStun.bindingSuccess(request, from, localPassword.getBytes(StandardCharsets.UTF_8));
  }
}
