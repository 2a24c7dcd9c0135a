package org.webphone.gateway.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.micrometer.backends.BackendRegistries;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.media.client.SyntheticBrowser;

/**
 * Call quality reaches /metrics when a call ends: per-leg loss and jitter of the received stream, in the
 * node's registry as GatewayNode sets it up; the meters and the RTCP thread go away with the verticle.
 */
class MediaQualityMetricsTest {
  @Test
  void anEndedCallRecordsItsLossAndJitterPerLegAndUndeployRemovesMetersAndTheRtcpThread() throws Exception {
    String node = "mq-" + UUID.randomUUID().toString().substring(0, 8);
    Vertx vertx = Vertx.builder().with(new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions()
            .setEnabled(true).setRegistryName(node).setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true))))
        .withMetrics(new MicrometerMetricsFactory()).build();
    try (MediaFixture f = new MediaFixture(vertx, new JsonObject().put("rtcpIntervalMs", 400), node);
         SyntheticBrowser browser = new SyntheticBrowser()) {
      int rtpPort = f.startCall("q1", "sq", browser);
      // The PBX sends 40 packets numbered over 50: 20 % lost on the PBX leg; the browser loses none.
      for (int i = 0; i < 50; i++) {
        if (i % 5 != 2) {
          f.pbxSend(MediaRelayVerticleTest.rtp(0, 300 + i, 160L * i, 77, MediaRelayVerticleTest.payload(i)), rtpPort);
        }
        browser.sendRtp(0, MediaRelayVerticleTest.payload(i));
        Thread.sleep(20);
      }
      for (int i = 0; i < 40; i++) {
        assertNotNull(browser.received.poll(3, TimeUnit.SECONDS), "browser got only " + i + " packets");
      }
      assertEquals(50, f.pbxReceive(50).size());
      f.request(Addresses.MEDIA_CLOSE, new JsonObject().put("callId", "q1"));
      f.awaitEvent("closed", 5);

      MeterRegistry r = BackendRegistries.getNow(node);
      DistributionSummary pbxLoss = r.get("webphone.media.call.loss.percent").tag("node", node).tag("leg", "pbx")
          .summary();
      assertEquals(1, pbxLoss.count());
      assertEquals(20.0, pbxLoss.totalAmount(), 0.01, "10 of 50 expected packets lost");
      DistributionSummary browserLoss = r.get("webphone.media.call.loss.percent").tag("leg", "browser").summary();
      assertEquals(1, browserLoss.count());
      assertEquals(0.0, browserLoss.totalAmount());
      DistributionSummary jitter = r.get("webphone.media.call.jitter.ms").tag("leg", "browser").summary();
      assertEquals(1, jitter.count());
      assertTrue(jitter.totalAmount() >= 0 && jitter.totalAmount() < 40, "jitter ms " + jitter.totalAmount());
      f.assertNothingLeaks();

      MediaFixture.await(vertx.undeploy(f.deploymentId));
      assertNull(r.find("webphone.media.call.loss.percent").summary(), "meters leave with the verticle");
      assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("media-rtcp")
          && t.isAlive()), "the RTCP thread stops with the verticle");
    } finally {
      vertx.close().await(10, TimeUnit.SECONDS);
    }
  }
}
