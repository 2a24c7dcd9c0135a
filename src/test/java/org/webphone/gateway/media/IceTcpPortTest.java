package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.StunMessages;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.testing.Eventually;

/**
 * The node's ICE-TCP port (RFC 6544 passive, RFC 4571 framing) on loopback, with raw sockets and a synthetic
 * browser in ICE-TCP mode: a call relays both ways over it and frees its connection; junk on the port (random
 * bytes, a huge frame length, a first frame that is no Binding Request, an unknown ufrag, silence, a frame cut
 * short, too many connections from one address) is closed and counted, nothing stays open, and a good call
 * still works after all of it.
 */
@ExtendWith(VertxExtension.class)
class IceTcpPortTest {
  private static final int FIRST_STUN_MS = 400;
  private static final int PER_ADDRESS = 4;
  private MediaFixture f;
  private String callOffer;
  private String callAnswer;

  @AfterEach
  void tearDown() throws Exception {
    if (f != null) {
      f.close();
    }
  }

  @Test
  void junkOnTheIceTcpPortIsClosedAndCountedAndACallOverIceTcpStillRelaysBothWaysAfterIt(Vertx vertx)
      throws Exception {
    f = new MediaFixture(vertx, new JsonObject().put("iceTcpFirstStunTimeoutMs", FIRST_STUN_MS)
        .put("iceTcpConnectionsPerAddress", PER_ADDRESS));
    int port = f.status().getInteger("iceTcpPort");
    assertEquals(f.webrtcPort, port, "the fixture's ICE-TCP port");
    int ice4jThreadsBefore = connectorThreads();

    byte[] random = new byte[300];
    ThreadLocalRandom.current().nextBytes(random);
    random[0] = 0;
    random[1] = (byte) 200; // a plausible length: the bytes themselves are refused, not the length
    assertClosedPromptly(port, random, "random bytes");
    assertClosedPromptly(port, new byte[] {(byte) 0xFF, (byte) 0xFF, 1, 2, 3}, "an RFC 4571 length of 65535");
    byte[] rtp = MediaRelayVerticleTest.rtp(0, 1, 160, 42, MediaRelayVerticleTest.payload(1));
    assertClosedPromptly(port, frame(rtp), "an RTP packet as the first frame");
    assertClosedPromptly(port, frame(StunMessages.bindingRequest("nobody:x", "passwordpasswordpassword", 1)),
        "a Binding Request for an unknown ufrag");
    Eventually.until(Duration.ofSeconds(3), "four connections counted as junk", () -> f.status().getLong("iceTcpJunk") == 4);

    // Silence, and a frame cut short: closed by the first-STUN timeout, not before.
    try (Socket silent = open(port); Socket cut = open(port)) {
      cut.getOutputStream().write(new byte[] {0, 100, 1, 2, 3, 4, 5});
      Eventually.until(Duration.ofSeconds(3), "both wait for their first frame",
          () -> f.status().getInteger("iceTcpPending") == 2);
      assertClosedWithin(silent, FIRST_STUN_MS * 10, "a silent connection");
      assertClosedWithin(cut, FIRST_STUN_MS * 10, "a frame cut short");
    }
    assertEquals(2, f.status().getLong("iceTcpIdleClosed"), "closed by the first-STUN timeout: " + f.status());

    // Too many from one address: those over the cap are closed at once, the others stay until their timeout.
    List<Socket> many = new ArrayList<>();
    try {
      for (int i = 0; i < PER_ADDRESS + 6; i++) {
        many.add(open(port));
      }
      Eventually.until(Duration.ofSeconds(3), "six over the cap refused",
          () -> f.status().getLong("iceTcpOverCap") == 6);
      assertTrue(f.status().getInteger("iceTcpConnections") <= PER_ADDRESS, "at most the cap open: " + f.status());
    } finally {
      for (Socket s : many) {
        s.close();
      }
    }
    Eventually.until(Duration.ofSeconds(5), "every junk connection closed on the gateway", () -> {
      JsonObject s = f.status();
      return s.getInteger("iceTcpConnections") == 0 && s.getInteger("iceTcpPending") == 0;
    });
    assertEquals(1, f.status().getInteger("iceTcpThreads"), "only our reader: no ice4j thread for junk");
    assertEquals(ice4jThreadsBefore, connectorThreads(), "no ice4j connector thread was started for junk");

    relayBothWaysOverIceTcp();
  }

  @Test
  void aTcpConnectionBesideTheUdpPairIsClosedWhenIceCompletesOverUdp(Vertx vertx) throws Exception {
    // Browsers open a TCP connection to the passive candidate while their UDP checks run; once ICE completed on
    // UDP it must not hold an ice4j thread for the rest of the call.
    f = new MediaFixture(vertx, new JsonObject());
    SyntheticBrowser browser = f.own(new SyntheticBrowser());
    String answer = createCall("udp1", "s-udp", browser);
    byte[] check = StunMessages.bindingRequest(checkUsername(), answerAttr("ice-pwd"), 7);
    try (Socket beside = open(f.webrtcPort)) {
      beside.getOutputStream().write(frame(check));
      Eventually.until(Duration.ofSeconds(5), "the connection handed to the call's agent",
          () -> f.status().getInteger("iceTcpThreads") == 2);
      f.request(Addresses.MEDIA_PBX_SDP, new JsonObject().put("callId", "udp1").put("sdp",
          f.pbxSdp(1, "0 101", "sendrecv")));
      browser.connect(answer);
      f.awaitEvent("connected", 5);
      assertClosedAfterItsReplies(beside, 5000, "the TCP connection beside the selected UDP pair");
      Eventually.until(Duration.ofSeconds(3), "no ICE-TCP connection or ice4j thread left in the UDP call", () -> {
        JsonObject st = f.status();
        return st.getInteger("iceTcpConnections") == 0 && st.getInteger("iceTcpThreads") == 1;
      });
    }
    browser.sendRtp(0, MediaRelayVerticleTest.payload(1));
    assertNotNull(f.pbxReceive(), "the call goes on over UDP");
    f.closeAndAssertNothingLeaks("udp1");
  }

  @Test
  void aCheckWithoutMessageIntegrityIsRefusedAndMediaFromItsConnectionIsDroppedAsWrongSource(Vertx vertx)
      throws Exception {
    // The gateway takes media from any address whose connectivity check ice4j answered with success (the browser
    // may move to any pair it validated): a check that names the call's ufrag without MESSAGE-INTEGRITY (someone
    // who saw the ufrag, not the password) must get an error and open nothing; a valid check from the same
    // place does.
    f = new MediaFixture(vertx, new JsonObject());
    createCall("mi1", "s-mi", f.own(new SyntheticBrowser()));
    String username = checkUsername();
    byte[] rtp = MediaRelayVerticleTest.rtp(0, 1, 160, 42, MediaRelayVerticleTest.payload(1));
    try (Socket forged = open(f.webrtcPort)) {
      forged.getOutputStream().write(frame(bindingRequestWithoutIntegrity(username)));
      assertEquals(0x0111, StunMessages.type(readResponse(forged)), "a Binding Error Response (401), no success");
      forged.getOutputStream().write(frame(rtp));
      Eventually.until(Duration.ofSeconds(3), "its RTP dropped as coming from a wrong source",
          () -> f.counter("mi1", "browserWrongSource") == 1);
    }
    try (Socket checked = open(f.webrtcPort)) {
      checked.getOutputStream().write(frame(StunMessages.bindingRequest(username, answerAttr("ice-pwd"), 7)));
      assertEquals(0x0101, StunMessages.type(readResponse(checked)), "a Binding Success Response");
      checked.getOutputStream().write(frame(rtp));
      // Taken from this address; dropped only because DTLS has not given keys yet.
      Eventually.until(Duration.ofSeconds(3), "its RTP taken (too early for keys)",
          () -> f.counter("mi1", "browserEarly") == 1);
      assertEquals(1, f.counter("mi1", "browserWrongSource"), "nothing more dropped as wrong source");
    }
    f.closeAndAssertNothingLeaks("mi1");
  }

  /** Creates {@code callId} for {@code browser}'s offer without connecting it; returns the gateway's answer. */
  private String createCall(String callId, String sessionId, SyntheticBrowser browser) throws Exception {
    f.listen(sessionId);
    callOffer = browser.offer();
    callAnswer = f.request(Addresses.MEDIA_CREATE, new JsonObject().put("callId", callId)
        .put("sessionId", sessionId).put("browserOffer", callOffer)).getString("browserAnswer");
    return callAnswer;
  }

  /** An attribute of the audio section of the answer {@link #createCall} got. */
  private String answerAttr(String name) {
    return Sdp.parse(callAnswer).attr(Sdp.parse(callAnswer).audio(), name);
  }

  /** The USERNAME of a check from the browser of {@link #createCall} to the gateway: answer ufrag : offer ufrag. */
  private String checkUsername() {
    return answerAttr("ice-ufrag") + ":" + Sdp.parse(callOffer).attr(Sdp.parse(callOffer).audio(), "ice-ufrag");
  }

  /** A Binding Request for {@code username}, with PRIORITY and ICE-CONTROLLING but no MESSAGE-INTEGRITY. */
  private static byte[] bindingRequestWithoutIntegrity(String username) {
    byte[] user = username.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    int padded = (user.length + 3) & ~3;
    ByteBuffer b = ByteBuffer.allocate(20 + 4 + padded + 8 + 12);
    byte[] tx = new byte[12];
    ThreadLocalRandom.current().nextBytes(tx);
    b.putShort((short) 0x0001).putShort((short) (4 + padded + 8 + 12)).putInt(StunMessages.MAGIC).put(tx);
    b.putShort((short) 0x0006).putShort((short) user.length).put(user).position(20 + 4 + padded);
    b.putShort((short) 0x0024).putShort((short) 4).putInt(0x6E7F00FF);
    b.putShort((short) 0x802A).putShort((short) 8).putLong(7);
    return b.array();
  }

  /** The next STUN response the gateway sends on {@code s} (within 5 s), skipping ice4j's own requests. */
  private static byte[] readResponse(Socket s) throws IOException {
    s.setSoTimeout(5000);
    java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
    while (true) {
      byte[] b = new byte[in.readUnsignedShort()];
      in.readFully(b);
      int type = StunMessages.type(b);
      if (type != 0x0001 && type != 0x0011) {
        return b;
      }
    }
  }

  /** A call whose browser reaches the gateway only over ICE-TCP: audio both ways, then nothing left. */
  private void relayBothWaysOverIceTcp() throws Exception {
    SyntheticBrowser browser = f.own(new SyntheticBrowser().overIceTcp());
    int rtpPort = f.startCall("tcp1", "s-tcp", browser);
    JsonObject s = f.status();
    assertEquals(1, s.getInteger("iceTcpConnections"), "the call's connection: " + s);
    assertEquals(2, s.getInteger("iceTcpThreads"), "our reader and ice4j's connector for the connection: " + s);
    for (int i = 0; i < 5; i++) {
      byte[] sent = browser.sendRtp(0, MediaRelayVerticleTest.payload(i));
      byte[] got = f.pbxReceive();
      assertNotNull(got, "browser → PBX over ICE-TCP, packet " + i);
      assertArrayEquals(Arrays.copyOfRange(sent, 12, 172), Arrays.copyOfRange(got, 12, 172));
      f.pbxSend(MediaRelayVerticleTest.rtp(0, 300 + i, 160L * i, 77, MediaRelayVerticleTest.payload(i)), rtpPort);
      byte[] back = browser.received.poll(3, TimeUnit.SECONDS);
      assertNotNull(back, "PBX → browser over ICE-TCP, packet " + i);
      assertEquals(0, Rtp.payloadType(back, 0));
    }
    // The counter moves just after the send returns, which can be after the browser already read the packet.
    Eventually.until(Duration.ofSeconds(2), "5 packets counted as sent on the TCP pair",
        () -> f.counter("tcp1", "toBrowser") == 5);
    assertEquals(0, f.counter("tcp1", "sendFailed"));
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "tcp1"));
    f.assertNothingLeaks();
    Eventually.until(Duration.ofSeconds(5), "the call's ICE-TCP connection and its ice4j thread freed", () -> {
      JsonObject st = f.status();
      return st.getInteger("iceTcpConnections") == 0 && st.getInteger("iceTcpThreads") == 1;
    });
  }

  private static byte[] frame(byte[] datagram) {
    return ByteBuffer.allocate(2 + datagram.length).putShort((short) datagram.length).put(datagram).array();
  }

  private static Socket open(int port) throws IOException {
    Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
    s.setTcpNoDelay(true);
    return s;
  }

  /** Sends {@code bytes} on a new connection, which the gateway must close well before the first-STUN timeout. */
  private void assertClosedPromptly(int port, byte[] bytes, String what) throws IOException {
    try (Socket s = open(port)) {
      OutputStream out = s.getOutputStream();
      out.write(bytes);
      out.flush();
      assertClosedWithin(s, FIRST_STUN_MS / 2, what);
    }
  }

  private static void assertClosedWithin(Socket s, int ms, String what) throws IOException {
    s.setSoTimeout(ms);
    InputStream in = s.getInputStream();
    try {
      assertEquals(-1, in.read(), what + ": the gateway sent something instead of closing");
    } catch (SocketException reset) {
      // closed with unread bytes: a reset is a close too
    } catch (SocketTimeoutException e) {
      throw new AssertionError(what + ": still open after " + ms + " ms");
    }
  }

  /** Reads what the gateway sends (ice4j's STUN replies and checks) until it closes the connection. */
  private static void assertClosedAfterItsReplies(Socket s, int ms, String what) throws IOException {
    s.setSoTimeout(ms);
    InputStream in = s.getInputStream();
    byte[] b = new byte[2048];
    try {
      while (in.read(b) >= 0) {
        // STUN frames of the call's agent, ignored
      }
    } catch (SocketException reset) {
      // closed with unread bytes: a reset is a close too
    } catch (SocketTimeoutException e) {
      throw new AssertionError(what + ": still open after " + ms + " ms");
    }
  }

  private static int connectorThreads() {
    return (int) Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("IceConnector@"))
        .count();
  }
}
