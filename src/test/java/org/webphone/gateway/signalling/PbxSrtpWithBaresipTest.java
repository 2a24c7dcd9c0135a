package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;
import org.webphone.gateway.testing.Baresip;
import org.webphone.gateway.testing.Browser;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.G711Tone;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.TestNode;

/**
 * SDES-SRTP toward a real SRTP peer: Kamailio is the PBX, the agent is baresip with {@code mediaenc=srtp-mand}
 * (RTP/SAVP with SDES, nothing else accepted; its microphone plays 1000 Hz), the gateway runs
 * {@code media.pbxSrtp} with the suites each test configures. The browser is the Java {@link SyntheticBrowser}
 * (DTLS-SRTP like Chrome; a Chromium leg would add nothing to the PBX side), sending 440 Hz. Audio counts only
 * as measured arriving: in the browser (decoded PCMU) and in baresip's recording. Which suite was agreed is
 * read on both sides: baresip's log "cryptosuite=..." and the gateway's media.status.
 *
 * <p>baresip 1.0 offers AES_CM_128_HMAC_SHA1_80 only (its preferred suite is fixed) and answers with the
 * first line of an offer it supports: so _32 is proven with the gateway offering it first; on a call from the
 * agent, the PBX rewrites the agent's offer to _32 for line 1001 (as an SBC's SDP policy would: same key length,
 * only the tag differs), so the gateway answers the PBX's one suite and baresip follows the answer.
 */
class PbxSrtpWithBaresipTest {
  private static final String S80 = "AES_CM_128_HMAC_SHA1_80";
  private static final String S32 = "AES_CM_128_HMAC_SHA1_32";

  private static Path dir;
  private static Kamailio pbx;
  private static Baresip agent;
  private static Vertx vertx;
  private static WebSocketClient ws;
  private TestNode node;
  private SyntheticBrowser browser;
  private long agentLogBefore;

  @BeforeAll
  static void startThePbxAndTheAgent() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "pbx-srtp-").toAbsolutePath();
    // Calls to line 1001 reach it with the agent's _80 offer rewritten to _32 (baresip offers _80 only).
    pbx = Kamailio.startRewritingOffersTo(Map.of("1000", "secret-1000", "1001", "secret-1001", "2000", "agent-2000"),
        "1001", S80, S32);
    agent = Baresip.start(dir.resolve("agent"), "2000", "agent-2000", "127.0.0.1:" + pbx.port(),
        Browser.tone(dir, 1000, 120, 8000), "srtp-mand");
    vertx = Vertx.vertx();
    ws = vertx.createWebSocketClient();
  }

  @AfterAll
  static void stopThem() throws Exception {
    try {
      if (vertx != null) {
        Harness.await(vertx.close());
      }
    } finally {
      for (AutoCloseable c : new AutoCloseable[] {agent, pbx}) {
        if (c != null) {
          c.close();
        }
      }
    }
  }

  @AfterEach
  void stopTheNode() throws Exception {
    if (browser != null) {
      browser.close();
    }
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aCallToTheAgentOfferingThe32BitSuiteFirstIsAgreedOnItAndBothSidesHearEachOther() throws Exception {
    Harness.Client c = startNode(S32, S80);
    String callId = c.request(Harness.method("Call").put("number", "2000").put("sdp", browser.offer()))
        .getString("callId");
    browser.connect(c.awaitAnswer(callId).getString("sdp"));
    c.await("OnInCall", e -> callId.equals(e.getString("callId")));
    talkAndCheck(c, callId, S32);
  }

  @Test
  void aCallToTheAgentWithThe80BitSuiteOnlyIsAgreedOnItAndBothSidesHearEachOther() throws Exception {
    Harness.Client c = startNode(S80);
    String callId = c.request(Harness.method("Call").put("number", "2000").put("sdp", browser.offer()))
        .getString("callId");
    browser.connect(c.awaitAnswer(callId).getString("sdp"));
    c.await("OnInCall", e -> callId.equals(e.getString("callId")));
    talkAndCheck(c, callId, S80);
  }

  @Test
  void theAgentsSrtpCallToTheBrowserIsAnsweredWithItsSuiteAndBothSidesHearEachOther() throws Exception {
    Harness.Client c = startNode(S32, S80);
    String line = Harness.await(node.node().vertx().eventBus().<JsonObject>request(Addresses.POOL_STATUS,
        new JsonObject())).body().getJsonArray("leases").getJsonObject(0).getString("accountId");
    talkAndCheck(c, agentCalls(c, line), S80);
  }

  @Test
  void anIncomingCallOfferingThe32BitSuiteOnlyIsAnsweredWithItAndBothSidesHearEachOther() throws Exception {
    Harness.Client c = startNode(1001, S80, S32);
    talkAndCheck(c, agentCalls(c, "1001"), S32);
  }

  /** The agent dials {@code line}; the browser accepts; returns the call's id once it is in call. */
  private String agentCalls(Harness.Client c, String line) throws Exception {
    agent.command("dial", "sip:" + line + "@127.0.0.1:" + pbx.port());
    String callId = c.await("OnCallRequest").getString("callId");
    assertEquals("Ack", c.request(Harness.method("Accept").put("callId", callId).put("sdp", browser.offer()))
        .getString("event"));
    browser.connect(c.awaitAnswer(callId).getString("sdp"));
    c.await("OnInCall", e -> callId.equals(e.getString("callId")));
    return callId;
  }

  private Harness.Client startNode(String... suites) throws Exception {
    return startNode(1000, suites);
  }

  private Harness.Client startNode(int account, String... suites) throws Exception {
    node = TestNode.start(new JsonObject()
        .put("sip", new JsonObject().put("optionsIntervalSec", 0))
        .put("pbx", new JsonObject().put("host", "127.0.0.1").put("port", pbx.port()))
        .put("pool", new JsonObject().put("range", new JsonObject().put("prefix", "").put("from", account).put("to", account)
            .put("passwordTemplate", "secret-{user}")))
        .put("dial", new JsonObject().put("allow", new JsonArray().add("2000")))
        .put("session", new JsonObject().put("resumeGraceSec", 0))
        .put("media", new JsonObject().put("pbxSrtp", true).put("pbxSrtpOverPlainSip", true)
            .put("pbxSrtpSuites", new JsonArray(List.of((Object[]) suites)))));
    browser = new SyntheticBrowser();
    agentLogBefore = agent.process().logText().lines().count();
    Harness.Client c = Harness.connect(ws, node.config().getInt("http.port"), null, null);
    c.await("OnSetReadyStatus", e -> e.getBoolean("ready"));
    return c;
  }

  /**
   * Two seconds of 440 Hz from the browser while the agent's 1000 Hz comes back, the suite checked on both
   * sides, then hang-up: baresip's recording holds the 440 Hz and nothing is left on the node.
   */
  private void talkAndCheck(Harness.Client c, String callId, String suite) throws Exception {
    JsonObject session = Harness.await(node.node().vertx().eventBus().<JsonObject>request(Addresses.MEDIA_STATUS,
        new JsonObject().put("callId", callId))).body().getJsonObject("session");
    assertEquals(suite, session.getString("pbxSrtpSuite"), session.encode());
    browser.received.clear();
    for (int n = 0; n < 100; n++) {
      browser.sendAudio(0, G711Tone.packet(440, n), G711Tone.SAMPLES_PER_PACKET);
      Thread.sleep(20); // real time: baresip plays and records at 8 kHz
    }
    List<byte[]> heard = new ArrayList<>();
    browser.received.drainTo(heard);
    double[] inBrowser = G711Tone.levelAndFrequency(heard.subList(Math.min(heard.size(), 10), heard.size()));
    System.out.println("SRTP " + suite + ": browser got " + heard.size() + " packets, rms " + inBrowser[0]
        + ", " + inBrowser[1] + " Hz");
    assertTrue(heard.size() > 60, "the agent's audio reached the browser: " + heard.size() + " packets");
    assertTrue(Math.abs(inBrowser[1] - 1000) < 30, "the agent's 1000 Hz in the browser, got " + inBrowser[1]);
    assertTrue(inBrowser[0] > 0.02, "with energy, rms " + inBrowser[0]);
    List<String> agreed = agent.process().logText().lines().skip(agentLogBefore)
        .filter(l -> l.contains("cryptosuite=")).toList();
    assertTrue(!agreed.isEmpty() && agreed.stream().allMatch(l -> l.contains("cryptosuite=" + suite + ")")),
        "baresip agreed " + suite + " only: " + agreed + "\n" + agent.process().tail());

    assertEquals("Ack", c.request(Harness.method("HangUp")).getString("event"));
    c.await("OnCallStateChanged", e -> e.getString("state").equals("Completed"));
    Path received = Eventually.await(Duration.ofSeconds(10), "baresip's finished recording of the call",
        agent::finishedRecording);
    double[] stat = Baresip.soxStat(received);
    System.out.println("SRTP " + suite + ": baresip received rms=" + stat[0] + " freq=" + stat[1]);
    assertTrue(stat[0] > 0.05, "the agent heard sound, rms " + stat[0]);
    assertTrue(Math.abs(stat[1] - 440) < 40, "the agent heard the browser's 440 Hz, got " + stat[1]);
    c.ws.close();
    node.awaitIdle(0);
    JsonObject media = Harness.await(node.node().vertx().eventBus().<JsonObject>request(Addresses.MEDIA_STATUS,
        new JsonObject())).body();
    assertEquals(0, media.getInteger("sessions"), media.encode());
    assertEquals(0, media.getJsonObject("counters").getInteger("pbxAuthFailed", 0),
        "every SRTP packet from the agent authenticated: " + media.encode());
  }
}
