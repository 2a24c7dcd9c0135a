package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestCa;
import org.webphone.gateway.testing.TestNode;

/**
 * The gateway's lines and a baresip agent both register with Kamailio over SIP/TLS (its tls module, certificates
 * from a test CA); a visitor in Chromium and the agent call each other both ways and hear each other's tone.
 * Media toward the PBX: {@link #PBX_SRTP} (SDES-SRTP, baresip {@code srtp-mand}) or plain RTP.
 */
class BrowserOverTlsThroughKamailioTest {
  private static final Duration SETUP = Duration.ofSeconds(20);
  /** SDES-SRTP on the PBX leg (media.pbxSrtp, baresip mediaenc=srtp-mand). */
  private static final boolean PBX_SRTP = Boolean.parseBoolean(System.getProperty("webphone.e2e.tlsSrtp", "true"));

  private static Path dir;
  private static Kamailio pbx;
  private static Baresip agent;
  private static TestNode node;
  private static Path visitorTone;

  @BeforeAll
  static void startTheCallCentre() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "e2e-tls-").toAbsolutePath();
    TestCa ca = TestCa.create(dir.resolve("ca"));
    TestCa.Issued pbxCert = ca.issue("pbx", "127.0.0.1");
    TestCa.Issued gatewayCert = ca.issue("gateway", "127.0.0.1");
    TestCa.Issued agentCert = ca.issue("agent", "127.0.0.1");
    Path agentPem = dir.resolve("agent-cert-and-key.pem");
    Files.writeString(agentPem, Files.readString(agentCert.chain()) + Files.readString(agentCert.key()));
    // Requests to the agent go back on its registration's connection (baresip's Contact is not reachable).
    pbx = Kamailio.startTls(Map.of("1000", "secret-1000", "2000", "agent-2000"), pbxCert, ca.caPem(),
        Set.of("2000"), null);
    agent = Baresip.start(dir.resolve("agent"), "2000", "agent-2000", "127.0.0.1:" + pbx.tlsPort(),
        Browser.tone(dir, 1000, 120, 8000), new Baresip.Tls(agentPem, ca.caPem(), PBX_SRTP ? "srtp-mand" : null));
    node = TestNode.start(new JsonObject()
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.tlsPort()).put("transport", "tls")
            .put("tlsTrust", ca.caPem().toString()))
        .put("sip", new JsonObject().put("tlsPort", Ports.free()).put("tlsCert", gatewayCert.chain().toString())
            .put("tlsKey", gatewayCert.key().toString()))
        .put("media", new JsonObject().put("pbxSrtp", PBX_SRTP))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", 1000).put("to", 1000)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("2000"))));
    visitorTone = Browser.tone(dir, 440, 30);
  }

  @AfterAll
  static void stopTheCallCentre() throws Exception {
    try {
      if (node != null) {
        node.close();
      }
    } finally {
      try {
        if (pbx != null) {
          pbx.assertAlive();
        }
      } finally {
        for (AutoCloseable c : new AutoCloseable[] {agent, pbx}) {
          if (c != null) {
            c.close();
          }
        }
      }
    }
  }

  @Test
  void aVisitorAndAnAgentOnTlsCallEachOtherBothWaysAndHearEachOther() throws Exception {
    try (Browser browser = Browser.start(visitorTone)) {
      browser.open(node.url());
      browser.awaitStatus("Ready", SETUP);
      assertEquals("ok", node.health().getJsonObject("sip").getJsonObject("tls").getString("pbxCertificate"));

      // the visitor calls the agent: the INVITE goes out over TLS, the agent answers automatically
      browser.dialWithKeypad("2000");
      browser.click("Call");
      browser.awaitStatus("In call", SETUP);
      // "In call" follows the SIP answer; DTLS to the browser may still be running (seconds on a busy machine)
      Browser.RemoteAudio audio = Eventually.await(Duration.ofSeconds(20), "the agent's audio in the browser",
          () -> browser.remoteAudio(2000), a -> a.packets() > 50);
      assertTrue(Math.abs(audio.peakHz() - 1000) < 30, "the agent's 1000 Hz: " + audio);
      browser.click("Hang up");
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
      double[] stat = Baresip.soxStat(awaitAgentRecording());
      // RMS over the whole recording, which starts at the SIP answer, before the browser's DTLS (and so its
      // audio) is up: lower than BrowserThroughKamailioTest's 0.05 when that took seconds; the frequency is the proof
      assertTrue(stat[0] > 0.02, "the agent heard sound, rms " + stat[0]);
      assertTrue(Math.abs(stat[1] - 440) < 40, "the agent heard the visitor's 440 Hz, got " + stat[1]);
      node.awaitIdle(1);

      // the agent calls the visitor's line back: Kamailio sends the INVITE to the gateway over TLS
      String line = leasedAccount();
      agent.command("dial", "sip:" + line + "@127.0.0.1:" + pbx.tlsPort() + ";transport=tls");
      browser.awaitStatus("Incoming call from...", SETUP);
      browser.click("Call");
      browser.awaitStatus("In call", SETUP);
      Browser.RemoteAudio back = Eventually.await(Duration.ofSeconds(20), "the agent's audio on the call back",
          () -> browser.remoteAudio(2000), a -> a.packets() > 50);
      assertTrue(Math.abs(back.peakHz() - 1000) < 30, "the agent's 1000 Hz on the call back: " + back);
      agent.command("hangup", null);
      browser.awaitStatus("Ready", Duration.ofSeconds(10));
      node.awaitIdle(1);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\nbaresip:\n" + agent.process().tail(), e);
    }
  }

  private static Path awaitAgentRecording() throws Exception {
    return Eventually.await(Duration.ofSeconds(10), "baresip's recording of the call, its WAV header finished",
        agent::finishedRecording);
  }

  private static String leasedAccount() throws Exception {
    JsonObject status = Eventually.result(5, "pool.status", node.node().vertx().eventBus()
        .<JsonObject>request(Addresses.POOL_STATUS, new JsonObject())).body();
    return status.getJsonArray("leases").getJsonObject(0).getString("accountId");
  }
}
