package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.webphone.gateway.node.ForwardingBench;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.GatewayJvm;
import org.webphone.gateway.testing.GatewaySession;
import org.webphone.gateway.testing.Http;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;

/**
 * A rolling deploy caught half-way (docs/deploy.md, "Rolling upgrade"): a two-node cluster on loopback where node
 * {@code current} runs the packaged jar and node {@code next} runs a copy of it built here with one harmless change,
 * the next release's: {@code ClusterFormat.stamp} also writes a field this release does not know, so everything
 * {@code next} sends (pool ops, results, the pool's state when it migrates or is backed up, resume requests)
 * carries it. Sessions on both nodes lease and release accounts and a session of each node is resumed through the
 * other; the pool's counts are exact from both sides throughout, no format is refused and nothing fails to
 * deserialize.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MixedVersionClusterIT {
  /** The one change of the "next" release, applied to ClusterFormat.java's source. */
  private static final String STAMP = "return body.put(V, MAJOR);";
  private static final String NEXT_STAMP = "return body.put(V, MAJOR).put(\"writtenBy\", \"next\");";
  private static final int GRACE_SEC = 2;
  private static final long WAIT_MS = 20_000;

  private final List<PeerProcess> nodes = new ArrayList<>();
  private final List<JsonObject> configs = new ArrayList<>();
  private final List<GatewaySession> sockets = new ArrayList<>();
  private Path nextJar;

  @BeforeAll
  @Timeout(value = 4, unit = TimeUnit.MINUTES) // two JVMs on a shared 2-core machine
  void startOneNodeOfEachRelease(@TempDir Path tmp) throws Exception {
    Path jar = GatewayJvm.packagedJar();
    nextJar = nextRelease(jar, tmp);
    String cluster = "webphone-mixed-" + UUID.randomUUID();
    int hzCurrent = Ports.free();
    int hzNext = Ports.free();
    List<Integer> members = List.of(hzCurrent, hzNext);
    start("current", jar, ForwardingBench.clusterXml(tmp, "current", cluster, hzCurrent, members), tmp);
    start("next", nextJar, ForwardingBench.clusterXml(tmp, "next", cluster, hzNext, members), tmp);
    Eventually.until(Duration.ofSeconds(60), "both nodes to see two members", () -> members(0) == 2 && members(1) == 2);
  }

  @AfterAll
  void stopNodes() throws IOException {
    sockets.forEach(GatewaySession::close);
    for (int i = nodes.size() - 1; i >= 0; i--) {
      nodes.get(i).close();
    }
    if (nextJar != null) {
      Files.deleteIfExists(nextJar);
    }
  }

  /**
   * The packaged jar with ClusterFormat compiled from its source plus {@link #NEXT_STAMP}, written beside the jar
   * (its manifest's Class-Path names lib/ relative to it).
   */
  private static Path nextRelease(Path jar, Path tmp) throws IOException {
    Path basedir = Path.of(System.getProperty("project.basedir", "."));
    String source = Files.readString(basedir.resolve("src/main/java/org/webphone/gateway/common/ClusterFormat.java"));
    assertTrue(source.contains(STAMP), "ClusterFormat.stamp changed: update this test's one-field patch");
    Path src = tmp.resolve("next-src/org/webphone/gateway/common/ClusterFormat.java");
    Files.createDirectories(src.getParent());
    Files.writeString(src, source.replace(STAMP, NEXT_STAMP));
    Path classes = Files.createDirectories(tmp.resolve("next-classes"));
    StringBuilder cp = new StringBuilder(jar.toString());
    try (Stream<Path> libs = Files.list(jar.resolveSibling("lib"))) {
      libs.forEach(l -> cp.append(java.io.File.pathSeparator).append(l));
    }
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    int rc = javac.run(null, null, null, "--release", "17", "-proc:none", "-cp", cp.toString(), "-d",
        classes.toString(), src.toString());
    assertEquals(0, rc, "the next release's ClusterFormat compiles against the packaged jar");
    Path out = jar.resolveSibling("webphone-gateway-next-" + UUID.randomUUID() + ".jar");
    String prefix = "org/webphone/gateway/common/ClusterFormat";
    int replaced = 0;
    try (ZipFile in = new ZipFile(jar.toFile()); ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(out))) {
      for (ZipEntry e : java.util.Collections.list(in.entries())) {
        boolean ours = e.getName().startsWith(prefix) && e.getName().endsWith(".class");
        zip.putNextEntry(new ZipEntry(e.getName()));
        if (ours) {
          zip.write(Files.readAllBytes(classes.resolve(e.getName())));
          replaced++;
        } else {
          try (InputStream is = in.getInputStream(e)) {
            is.transferTo(zip);
          }
        }
        zip.closeEntry();
      }
    }
    assertTrue(replaced >= 1, "ClusterFormat's classes replaced in " + out);
    return out;
  }

  private void start(String id, Path jar, Path clusterXml, Path tmp) throws Exception {
    int rtp = Ports.free(true);
    int webrtc = Ports.free();
    JsonObject cfg = new JsonObject()
        .put("node", new JsonObject().put("id", id))
        .put("http", new JsonObject().put("port", Ports.free()).put("adminPort", Ports.free()))
        .put("sip", new JsonObject().put("port", Ports.free()))
        .put("demo", new JsonObject().put("port", Ports.free()))
        .put("media", new JsonObject().put("webrtcPort", webrtc).put("iceTcpPort", webrtc).put("rtpPortMin", rtp)
            .put("rtpPortMax", Math.min(65535, rtp + 99)))
        .put("cluster", new JsonObject().put("enabled", true).put("config", clusterXml.toString())
            .put("host", "127.0.0.1"))
        .put("session", new JsonObject().put("resumeGraceSec", GRACE_SEC))
        .put("limits", new JsonObject().put("accountsPerIp", 10));
    Path file = Files.writeString(tmp.resolve(id + "-node.json"), cfg.encode());
    Path work = Files.createDirectories(tmp.resolve(id));
    PeerProcess p = PeerProcess.start("node-" + id, List.of(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString(), "-Xmx256m", "-jar", jar.toString(), "--config", file.toString()), work);
    nodes.add(p);
    configs.add(cfg);
    p.awaitLog(l -> l.contains(" ready: http://"), Duration.ofSeconds(150));
  }

  private JsonObject health(int node) throws Exception {
    String admin = "http://127.0.0.1:" + configs.get(node).getJsonObject("http").getInteger("adminPort") + "/health";
    return new JsonObject(Http.get(admin).body());
  }

  private int members(int node) throws Exception {
    return health(node).getJsonObject("cluster").getJsonArray("members").size();
  }

  private InetSocketAddress ws(int node) {
    return new InetSocketAddress("127.0.0.1", configs.get(node).getJsonObject("http").getInteger("port"));
  }

  /** Until both nodes agree the pool has exactly {@code leased} leases and their lines are {@code lines}. */
  private void awaitExact(int leased, int linesCurrent, int linesNext) throws Exception {
    Eventually.until(Duration.ofSeconds(20), leased + " leases seen from both nodes, lines " + linesCurrent + "+"
        + linesNext, () -> {
          JsonObject c = health(0);
          JsonObject n = health(1);
          return c.getJsonObject("pool").getInteger("leased") == leased
              && n.getJsonObject("pool").getInteger("leased") == leased
              && c.getJsonObject("pool").getInteger("free") + leased == c.getJsonObject("pool").getInteger("total")
              && c.getJsonObject("sip").getInteger("lines") == linesCurrent
              && n.getJsonObject("sip").getInteger("lines") == linesNext;
        });
  }

  private GatewaySession hello(int node, String resume) throws IOException {
    JsonObject hello = new JsonObject().put("method", "Hello").put("ref", 1);
    GatewaySession s = GatewaySession.open(ws(node), resume == null ? hello : hello.put("resume", resume));
    sockets.add(s);
    return s;
  }

  private static JsonObject await(GatewaySession s, String what, Predicate<JsonObject> match) throws Exception {
    return s.await(what, match, WAIT_MS);
  }

  /** A session with its line registered: {session, its OnSession event}. */
  private Map.Entry<GatewaySession, JsonObject> ready(int node, String resume) throws Exception {
    GatewaySession s = hello(node, resume);
    JsonObject on = await(s, "OnSession", e -> "OnSession".equals(e.getString("event")));
    await(s, "Ready", e -> "OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready"));
    return Map.entry(s, on);
  }

  @Test
  void nodesOfTwoReleasesShareOnePoolWithExactCountsAndResumeEachOthersSessions() throws Exception {
    awaitExact(0, 0, 0);
    int total = health(0).getJsonObject("pool").getInteger("total");
    assertEquals(total, health(1).getJsonObject("pool").getInteger("total"), "one pool");
    List<Map.Entry<GatewaySession, JsonObject>> onCurrent = new ArrayList<>();
    List<Map.Entry<GatewaySession, JsonObject>> onNext = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      onCurrent.add(ready(0, null));
      onNext.add(ready(1, null));
    }
    awaitExact(6, 3, 3);

    // Releases from both: a closed page's session ends after the resume grace and gives its account back.
    onCurrent.remove(0).getKey().close();
    onNext.remove(0).getKey().close();
    awaitExact(4, 2, 2);

    // Resume across releases: a session of each node taken back through the other; its line stays where it is.
    for (int[] from : new int[][] {{0, 1}, {1, 0}}) {
      List<Map.Entry<GatewaySession, JsonObject>> owned = from[0] == 0 ? onCurrent : onNext;
      Map.Entry<GatewaySession, JsonObject> s = owned.remove(0);
      s.getKey().close();
      GatewaySession through = hello(from[1], s.getValue().getString("resumeToken"));
      JsonObject again = await(through, "OnSession", e -> "OnSession".equals(e.getString("event")));
      assertEquals(s.getValue().getString("sessionId"), again.getString("sessionId"), again.encode());
      assertEquals(true, again.getBoolean("resumed"), again.encode());
      await(through, "Ready", e -> "OnSetReadyStatus".equals(e.getString("event")) && e.getBoolean("ready"));
      through.socket().sendText("{\"method\":\"Ping\",\"ref\":5}");
      JsonObject pong = await(through, "Pong", e -> "Pong".equals(e.getString("event")));
      assertEquals(true, pong.getBoolean("registered"), "the owner's line answers through the other node: " + pong);
      owned.add(Map.entry(through, again));
      awaitExact(4, 2, 2);
    }

    // A fresh lease after all that, then everything back.
    onNext.add(ready(1, null));
    awaitExact(5, 2, 3);
    Stream.concat(onCurrent.stream(), onNext.stream()).forEach(e -> e.getKey().close());
    awaitExact(0, 0, 0);
    assertEquals(total, health(1).getJsonObject("pool").getInteger("free"));

    for (int i = 0; i < 2; i++) {
      String log = nodes.get(i).logText();
      for (String bad : List.of("ClassNotFound", "InvalidClass", "HazelcastSerializationException", "cluster format:",
          "NotSerializable")) {
        assertFalse(log.contains(bad), nodes.get(i).name() + " logged " + bad + ":\n" + nodes.get(i).tail());
      }
      assertEquals(0, refusedOnMetrics(i), nodes.get(i).name() + " refused nothing");
    }
  }

  private static final Pattern REFUSED = Pattern.compile("(?m)^webphone_cluster_format_refused_total\\{[^}]*} (\\S+)$");

  /** The node's {@code webphone_cluster_format_refused_total}, summed over its labels. */
  private double refusedOnMetrics(int node) throws Exception {
    String metrics = Http.get("http://127.0.0.1:" + configs.get(node).getJsonObject("http").getInteger("adminPort")
        + "/metrics").body();
    assertTrue(metrics.contains("webphone_cluster_format_refused_total"), "the metric is exported");
    double sum = 0;
    Matcher m = REFUSED.matcher(metrics);
    while (m.find()) {
      sum += Double.parseDouble(m.group(1));
    }
    return sum;
  }
}
