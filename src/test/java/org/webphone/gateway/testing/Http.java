package org.webphone.gateway.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * GET for tests. HTTP/1.1 (what browsers and Prometheus scrapers use on http://; the JDK client's default
 * would try an h2c upgrade) and bounded: a node that never answers fails the test in seconds instead of
 * hanging the build, which an unbounded send did once in a full run.
 */
public final class Http {
  private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private Http() {
  }

  public static HttpResponse<String> get(String url) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** GET with these headers (name, value, name, value...). */
  public static HttpResponse<String> get(String url, String... headers) throws IOException, InterruptedException {
    return CLIENT.send(withHeaders(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)), headers)
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  /** POST with an empty body and these headers (name, value, name, value...). */
  public static HttpResponse<String> post(String url, String... headers) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.noBody());
    return CLIENT.send(withHeaders(b, headers).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpRequest.Builder withHeaders(HttpRequest.Builder b, String... headers) {
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b;
  }
}
