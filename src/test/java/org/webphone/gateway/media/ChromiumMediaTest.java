package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import java.net.DatagramPacket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.rtp.Rtp;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Ports;

/**
 * The media verticle alone against real headless Chromium: a bare page makes the offer (no signalling
 * verticle involved), the gateway answers, and a UDP socket playing the PBX echoes every RTP packet. The
 * browser's 440 Hz fake microphone must come back to it through ICE/DTLS-SRTP → RTP → echo → SRTP.
 */
@Tag("e2e")
@ExtendWith(VertxExtension.class)
class ChromiumMediaTest {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChromiumMediaTest.class);
  private static final String PAGE = """
      <!doctype html><html><body><div role="status" id="st">starting</div><script>
      (async () => {
        const st = document.getElementById('st');
        try {
          const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
          window.webphone = {pc};
          const mic = await navigator.mediaDevices.getUserMedia({audio: true});
          mic.getTracks().forEach(t => pc.addTrack(t, mic));
          pc.ontrack = e => { const a = new Audio(); a.srcObject = new MediaStream([e.track]); a.play().catch(() => {}); };
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise(r => {
            if (pc.iceGatheringState === 'complete') { r(); return; }
            pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); };
            setTimeout(r, 3000);
          });
          const res = await fetch('/offer', {method: 'POST', body: pc.localDescription.sdp});
          const text = await res.text();
          if (!res.ok) { st.textContent = 'error ' + text; return; }
          pc.onconnectionstatechange = () => { st.textContent = pc.connectionState; };
          await pc.setRemoteDescription({type: 'answer', sdp: text});
        } catch (e) { st.textContent = 'error ' + e; }
      })();
      </script></body></html>
      """;

  @TempDir
  Path tmp;
  private MediaFixture f;
  private Browser browser;
  private HttpServer http;
  private volatile boolean echoing = true;

  @AfterEach
  void tearDown() throws Exception {
    echoing = false;
    try {
      if (browser != null) {
        browser.close();
      }
    } finally {
      if (http != null) {
        MediaFixture.await(http.close());
      }
      if (f != null) {
        f.close();
      }
    }
  }

  @Test
  void chromiumHearsItsOwnToneEchoedByThePbxThroughTheRelay(Vertx vertx) throws Exception {
    browser = Browser.start(Browser.tone(tmp, 440, 30));
    // RTCP every second (randomised) instead of 5 s, so Chrome's RTCP statistics appear within the test.
    f = new MediaFixture(vertx, new JsonObject().put("rtcpIntervalMs", 1000));
    f.listen("chrome");
    int[] rtpPort = {0};
    http = vertx.createHttpServer().requestHandler(req -> {
      if (req.path().equals("/offer")) {
        req.body().compose(body -> vertx.eventBus().<JsonObject>request(Addresses.MEDIA_CREATE, new JsonObject()
                .put("callId", "chrome-1").put("sessionId", "chrome").put("browserOffer", body.toString()))
            .compose(created -> {
              rtpPort[0] = Sdp.parse(created.body().getString("pbxSdp")).audio().port;
              return vertx.eventBus().<JsonObject>request(Addresses.MEDIA_PBX_SDP, new JsonObject()
                  .put("callId", "chrome-1").put("sdp", f.pbxSdp(1, "0 101", "sendrecv")))
                  .map(x -> created.body().getString("browserAnswer"));
            }))
            .onSuccess(answer -> req.response().end(answer))
            .onFailure(e -> req.response().setStatusCode(500).end(String.valueOf(e.getMessage())));
      } else {
        req.response().putHeader("content-type", "text/html").end(PAGE);
      }
    });
    int port = Ports.free();
    MediaFixture.await(http.listen(port, "127.0.0.1"));
    AtomicInteger echoed = new AtomicInteger();
    AtomicInteger g711 = new AtomicInteger();
    Thread echo = new Thread(() -> echo(echoed, g711), "test-pbx-echo");
    echo.setDaemon(true);
    echo.start();

    browser.open("http://127.0.0.1:" + port + "/");
    browser.awaitStatus("connected", Duration.ofSeconds(20));
    f.awaitEvent("connected", 10);
    Browser.RemoteAudio audio = browser.remoteAudio(3000);
    assertTrue(audio.packets() > 100, "inbound RTP packets in Chromium: " + audio);
    // Total energy, as the e2e tests use: the instantaneous audioLevel once read 0.017 for a clean 441 Hz echo.
    assertTrue(audio.energy() > 0.005, "audio energy of the echo: " + audio);
    assertTrue(Math.abs(audio.peakHz() - 440) < 25, "frequency of the echoed tone: " + audio);
    assertTrue(g711.get() > 100, "PCMU packets of 172 bytes at the PBX: " + g711.get() + " of " + echoed.get());
    JsonObject c = f.sessionStatus("chrome-1").getJsonObject("counters");
    assertEquals(0, c.getLong("browserAuthFailed"), c.encode());
    assertEquals(0, c.getLong("sendFailed"), c.encode());

    // Chrome parsed our RTCP: our RR gives its outbound audio a remote-inbound-rtp with a round-trip time,
    // our SR gives its inbound audio a remote-outbound-rtp. And we parsed Chrome's SR/RR.
    Map<String, Object> st = awaitChromeRtcpStats(Duration.ofSeconds(15));
    assertTrue(((Number) st.get("rtt")).doubleValue() >= 0 && ((Number) st.get("rtt")).doubleValue() < 1,
        "Chrome's roundTripTime from our RR, seconds: " + st);
    assertTrue(((Number) st.get("remoteSent")).longValue() > 0, "Chrome's remote-outbound-rtp from our SR: " + st);
    JsonObject q = awaitGatewayRtt();
    assertTrue(q.getLong("remoteSentPackets") > 0, "Chrome's SR parsed by the gateway: " + q);
    assertTrue(q.getDouble("rttMs") < 1000, "RTT the gateway computed from Chrome's report: " + q);
    String profile = f.sessionStatus("chrome-1").getString("srtpProfile");
    LOG.info("Chrome RTCP stats {}; gateway browser-leg quality {}; SRTP profile {}", st, q.encode(), profile);
    assertEquals("AEAD_AES_128_GCM", profile, "Chrome offers GCM and the gateway prefers it");
    assertEquals("SRTP_AEAD_AES_128_GCM", st.get("srtpCipher"), "what Chrome says it negotiated: " + st);

    echoing = false;
    echo.join(3000);
    f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "chrome-1"));
    f.assertNothingLeaks();
  }

  /** Polls Chrome's getStats until remote-inbound-rtp has a roundTripTime and remote-outbound-rtp exists. */
  @SuppressWarnings("unchecked")
  private Map<String, Object> awaitChromeRtcpStats(Duration timeout) throws InterruptedException {
    return Eventually.await(timeout, "Chrome's remote-inbound-rtp RTT and remote-outbound-rtp", () ->
      (Map<String, Object>) browser.driver().executeAsyncScript("""
          const done = arguments[arguments.length - 1];
          window.webphone.pc.getStats().then(st => { const r = {}; st.forEach(s => {
            if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') {
              r.rtt = s.roundTripTime; r.rttMeasurements = s.roundTripTimeMeasurements;
              r.remoteLost = s.packetsLost; r.remoteJitter = s.jitter; r.fractionLost = s.fractionLost; }
            if (s.type === 'remote-outbound-rtp' && s.kind === 'audio') {
              r.remoteSent = s.packetsSent; r.remoteBytes = s.bytesSent; r.reportsSent = s.reportsSent; }
            if (s.type === 'transport') { r.srtpCipher = s.srtpCipher; r.dtlsCipher = s.dtlsCipher; }
          }); done(r); }).catch(e => done({error: String(e)}));
          """), r -> r != null && r.get("rtt") != null && r.get("remoteSent") != null);
  }

  private JsonObject awaitGatewayRtt() throws Exception {
    return Eventually.await(Duration.ofSeconds(10), "an RTT at the gateway from Chrome's reports",
        () -> f.sessionStatus("chrome-1").getJsonObject("quality").getJsonObject("browser"),
        q -> q.containsKey("rttMs") && q.containsKey("remoteSentPackets"));
  }

  private void echo(AtomicInteger echoed, AtomicInteger g711) {
    byte[] buf = new byte[2048];
    DatagramPacket p = new DatagramPacket(buf, buf.length);
    try {
      f.pbx.setSoTimeout(200);
      while (echoing) {
        p.setLength(buf.length);
        try {
          f.pbx.receive(p);
        } catch (SocketTimeoutException idle) {
          continue;
        }
        if (p.getLength() == 172 && Rtp.payloadType(buf, 0) == 0) {
          g711.incrementAndGet();
        }
        f.pbx.send(new DatagramPacket(buf, p.getLength(), p.getSocketAddress()));
        echoed.incrementAndGet();
      }
    } catch (Exception e) {
      // the socket was closed by the fixture at the end of the test
    }
  }
}
