package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;

/**
 * The packaged jar on its own: {@code java -jar} from an empty directory (no webroot/, no cluster.xml, no source
 * tree) starts a node that serves the page and the default configuration from inside the jar. The JVM gets no
 * {@code -D} flag: what the node needs, the jar's Launcher sets.
 */
class PackagedJarIT {

  @Test
  void aJarRunFromAnEmptyDirectoryServesThePageFromInsideIt(@TempDir Path empty) throws Exception {
    int http = Ports.free();
    // Demo mode on loopback; every port free, so that the node can run beside anything else.
    JsonObject cfg = new JsonObject()
        .put("http", new JsonObject().put("port", http).put("adminPort", Ports.free()))
        .put("sip", new JsonObject().put("port", Ports.free()))
        .put("demo", new JsonObject().put("port", Ports.free()))
        .put("media", new JsonObject().put("webrtcPort", Ports.free()).put("rtpPortMin", 30000).put("rtpPortMax", 30099));
    Path file = Files.writeString(empty.resolveSibling(empty.getFileName() + "-node.json"), cfg.encode());
    Path jar = GatewayJvm.packagedJar();
    try (PeerProcess node = PeerProcess.start("packaged-jar", List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-jar", jar.toString(),
        "--config", file.toString()), empty)) {
      node.awaitLog(l -> l.contains(" ready: http://"), Duration.ofSeconds(120));
      HttpResponse<String> page = Http.get("http://127.0.0.1:" + http + "/");
      assertEquals(200, page.statusCode());
      assertTrue(page.body().contains("web-phone"), "the phone page: " + page.body());
      assertEquals(200, Http.get("http://127.0.0.1:" + http + "/js/web-phone.js").statusCode());
      assertEquals("{\"state\":\"ready\"}", Http.get("http://127.0.0.1:" + http + "/health").body().replace(" ", ""));
      try (var listing = Files.list(empty)) {
        assertTrue(listing.noneMatch(p -> p.getFileName().toString().equals("webroot")), "no webroot/ was made here");
      }
    }
  }
}
