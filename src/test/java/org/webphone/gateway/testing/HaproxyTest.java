package org.webphone.gateway.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class HaproxyTest {

  @Test
  void forwardsToAHealthyServerAndObeysTheRuntimeApi() throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      byte[] body = ("served " + ex.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
    int front = Ports.free();
    String cfg = "global\n    log stdout format raw local0\n"
        + "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout check 2s\n"
        + "frontend web\n    bind 127.0.0.1:" + front + "\n    default_backend gateways\n"
        + "backend gateways\n    option httpchk GET /health\n"
        + "    server a 127.0.0.1:" + server.getAddress().getPort() + " check inter 200ms\n";
    Path dir = Files.createTempDirectory("haproxy-test");
    try (Haproxy haproxy = Haproxy.start(null, cfg, dir)) {
      Eventually.until(Duration.ofSeconds(5), "server a's health check to pass",
          () -> haproxy.stat("gateways", "a", "check_status").equals("L7OK"));
      assertTrue(haproxy.serverStatus("gateways", "a").startsWith("UP"));
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + front + "/x")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals("served /x", r.body());
      haproxy.setServerState("gateways", "a", "maint");
      assertTrue(haproxy.serverStatus("gateways", "a").startsWith("MAINT"));
      HttpResponse<String> none = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + front + "/x")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(503, none.statusCode(), "no server left after maint");
    } finally {
      server.stop(0);
    }
  }
}
