package org.webphone.gateway.testing;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The mixed attack run of issue 16: every vector at once, at stated rates, from many source addresses, for a
 * bounded time, in its own JVM pinned to one core ({@code taskset}) inside an attacker namespace of a
 * {@link NetnsBed}. Vectors: WebSocket text, binary and ping floods; a client that floods and never reads;
 * sockets that never send a frame; SIP INVITE/OPTIONS from strangers; silent DTLS legs (ICE done, no
 * ClientHello) and one that sends a ClientHello and goes silent; half-sent HTTP upgrades; junk on the
 * media port. At the end it closes everything and prints one line {@code ATTACK-SUMMARY <json>}: what it
 * sent and what the gateway answered ({@link AttackStats}).
 *
 * <p>Source addresses are handed out in fixed slices (floods 0-3, legs 4-12 with two legs each, idle
 * sockets 13-20, SIP 21-24, half upgrades 25-28, junk 29; fewer addresses wrap around), so a per-address
 * limit of the gateway meets each vector the same way in every run.
 */
public final class AttackDriver {
  /** What to attack, how hard and how long; {@link #defaults} are the rates. */
  public record Plan(String gateway, int httpPort, int sipPort, int webrtcPort, List<String> sources,
      int durationSec, int wsFramesPerSecond, int nonReaderFramesPerSecond, int idleSockets, int sipPerSecond,
      int silentLegs, int halfUpgrades, int junkPerSecond, int firstUser, int users, String number) {

    /**
     * The rates: 2000 WebSocket frames/s, 200 SIP requests/s, 16 silent legs (+1 ClientHello), 200 half
     * upgrades; and 1000 frames/s from the client that never reads, 100 idle sockets, 500 junk datagrams/s.
     */
    public static Plan defaults(String gateway, int httpPort, int sipPort, int webrtcPort, List<String> sources,
        int durationSec, int firstUser, int users) {
      return new Plan(gateway, httpPort, sipPort, webrtcPort, sources, durationSec, 2000, 1000, 100, 200, 16, 200,
          500, firstUser, users, "600");
    }

    JsonObject toJson() {
      return new JsonObject().put("gateway", gateway).put("httpPort", httpPort).put("sipPort", sipPort)
          .put("webrtcPort", webrtcPort).put("sources", new JsonArray(sources)).put("durationSec", durationSec)
          .put("wsFramesPerSecond", wsFramesPerSecond).put("nonReaderFramesPerSecond", nonReaderFramesPerSecond)
          .put("idleSockets", idleSockets).put("sipPerSecond", sipPerSecond).put("silentLegs", silentLegs)
          .put("halfUpgrades", halfUpgrades).put("junkPerSecond", junkPerSecond).put("firstUser", firstUser)
          .put("users", users).put("number", number);
    }

    static Plan fromJson(JsonObject j) {
      List<String> sources = new ArrayList<>();
      j.getJsonArray("sources").forEach(a -> sources.add((String) a));
      return new Plan(j.getString("gateway"), j.getInteger("httpPort"), j.getInteger("sipPort"),
          j.getInteger("webrtcPort"), sources, j.getInteger("durationSec"), j.getInteger("wsFramesPerSecond"),
          j.getInteger("nonReaderFramesPerSecond"), j.getInteger("idleSockets"), j.getInteger("sipPerSecond"),
          j.getInteger("silentLegs"), j.getInteger("halfUpgrades"), j.getInteger("junkPerSecond"),
          j.getInteger("firstUser"), j.getInteger("users"), j.getString("number"));
    }
  }

  private AttackDriver() {
  }

  /** Starts the driver in {@code attacker}, pinned to core {@code cpu}; read its result with {@link #summary}. */
  public static PeerProcess start(NetnsBed.Host attacker, Plan plan, int cpu) throws IOException {
    PeerProcess.requireBinary("taskset");
    Path base = Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
    List<String> cmd = new ArrayList<>(List.of("taskset", "-c", String.valueOf(cpu), GatewayJvm.java("java"),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
        "-cp", GatewayJvm.classpath(base, true), AttackDriver.class.getName()));
    cmd.add(plan.toJson().encode());
    return attacker.start("attack-driver", cmd);
  }

  /** Waits for the driver's summary line; fails with its log when it ends without one. */
  public static JsonObject summary(PeerProcess driver, Duration timeout) throws InterruptedException {
    driver.awaitLog(l -> l.startsWith("ATTACK-SUMMARY "), timeout);
    return new JsonObject(driver.logText().lines().filter(l -> l.startsWith("ATTACK-SUMMARY ")).findFirst()
        .orElseThrow().substring("ATTACK-SUMMARY ".length()));
  }

  public static void main(String[] args) throws Exception {
    Plan p = Plan.fromJson(new JsonObject(args[0]));
    System.out.println("attack plan: " + p.toJson().encode());
    AttackStats stats = new AttackStats();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(p.durationSec());
    InetAddress gw = InetAddress.getByName(p.gateway());
    InetSocketAddress http = new InetSocketAddress(gw, p.httpPort());
    SocketAttacks sockets = new SocketAttacks(http, deadline, stats);
    UdpAttacks udp = new UdpAttacks(gw, deadline, stats);
    SilentDtlsLegs legs = new SilentDtlsLegs(http, p.number(), deadline, stats);
    List<InetAddress> src = new ArrayList<>();
    for (String s : p.sources()) {
      src.add(InetAddress.getByName(s));
    }
    int perFlood = p.wsFramesPerSecond() / 3;
    List<Vector> vectors = new ArrayList<>(List.of(
        () -> sockets.flood("text", slice(src, 0, 1).get(0), perFlood, true),
        () -> sockets.flood("binary", slice(src, 1, 1).get(0), perFlood, true),
        () -> sockets.flood("ping", slice(src, 2, 1).get(0), perFlood, true),
        () -> sockets.flood("binary", slice(src, 3, 1).get(0), p.nonReaderFramesPerSecond(), false),
        () -> sockets.hold("idle", slice(src, 13, 8), p.idleSockets(), 50, sockets::idleWebSocket),
        () -> sockets.hold("halfUpgrade", slice(src, 25, 4), p.halfUpgrades(), 100, sockets::halfUpgrade),
        () -> udp.sipStrangers(slice(src, 21, 4), p.sipPort(), p.firstUser(), p.users(), p.sipPerSecond()),
        () -> udp.mediaJunk(slice(src, 29, 1), p.webrtcPort(), p.junkPerSecond())));
    for (int i = 0; i <= p.silentLegs(); i++) {
      InetAddress a = slice(src, 4 + i / 2, 1).get(0);
      boolean hello = i == p.silentLegs();
      vectors.add(() -> legs.leg(a, hello));
    }
    ExecutorService pool = Executors.newFixedThreadPool(vectors.size());
    for (Vector v : vectors) {
      pool.submit(() -> {
        try {
          v.run();
        } catch (Exception e) {
          stats.inc("driver.vectorFailed." + e.getClass().getSimpleName());
          e.printStackTrace();
        }
        return null;
      });
    }
    pool.shutdown();
    // Every loop ends at the deadline; a loop blocked in a connect or a read gets 20 s more, then is abandoned.
    if (!pool.awaitTermination(p.durationSec() + 20L, TimeUnit.SECONDS)) {
      stats.inc("driver.vectorsStillRunning");
    }
    System.out.println("ATTACK-SUMMARY " + stats.toJson().encode());
    System.exit(0);
  }

  private static List<InetAddress> slice(List<InetAddress> all, int from, int n) {
    List<InetAddress> s = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      s.add(all.get((from + i) % all.size()));
    }
    return s;
  }

  @FunctionalInterface
  private interface Vector {
    void run() throws Exception;
  }
}
