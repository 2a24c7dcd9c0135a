package org.webphone.gateway.pool;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.webphone.gateway.common.Addresses;

/**
 * A clustered pool node in its own JVM, for the crash test: joins the test cluster, leases accounts, prints
 * {@code LEASED <accountId> <token>} for each and {@code READY}, then waits to be killed. Events the pool
 * sends to those sessions are printed as {@code EVENT <json>}.
 *
 * <p>Arguments: clusterName myPort memberPorts(comma list) noHeartbeatSec nodeId leases poolSectionJson
 */
public final class PoolNodeMain {
  private PoolNodeMain() {
  }

  public static void main(String[] args) throws Exception {
    String cluster = args[0];
    int port = Integer.parseInt(args[1]);
    List<Integer> members = Arrays.stream(args[2].split(",")).map(Integer::valueOf).toList();
    int noHeartbeat = Integer.parseInt(args[3]);
    String nodeId = args[4];
    int leases = Integer.parseInt(args[5]);
    JsonObject poolSection = new JsonObject(args[6]);
    // One event loop, so that HANG blocks the pool verticle too (its context lives on that loop).
    Vertx vertx = TestCluster.start(TestCluster.hazelcast(cluster, port, members, noHeartbeat),
        new VertxOptions().setEventLoopPoolSize(1).setBlockedThreadCheckInterval(60_000)).await(150, TimeUnit.SECONDS);
    vertx.deployVerticle(new AccountPoolVerticle(),
        new DeploymentOptions().setConfig(PoolClient.config(nodeId, poolSection))).await(60, TimeUnit.SECONDS);
    PoolClient pool = new PoolClient(vertx);
    int sessions = lease(vertx, pool, nodeId, 0, leases);
    System.out.println("READY");
    System.out.flush();
    // Commands on stdin: "LEASE n" leases n more and prints "LEASED-DONE"; "HANG ms" freezes the event loop
    // (a hung node: Hazelcast still beats, the pool does not); "VALIDATE accountId token" prints
    // "CURRENT true|false".
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String[] w = line.trim().split(" ");
      if (w[0].equals("LEASE")) {
        sessions = lease(vertx, pool, nodeId, sessions, Integer.parseInt(w[1]));
        System.out.println("LEASED-DONE");
        System.out.flush();
      } else if (w[0].equals("HANG")) {
        long ms = Long.parseLong(w[1]);
        vertx.runOnContext(v -> {
          System.out.println("HANGING");
          System.out.flush();
          long end = System.nanoTime() + ms * 1_000_000;
          while (System.nanoTime() < end) {
            LockSupport.parkNanos(10_000_000);
          }
          System.out.println("AWAKE");
          System.out.flush();
        });
      } else if (w[0].equals("VALIDATE")) {
        boolean current = pool.current(new JsonObject().put("accountId", w[1]).put("token", Long.parseLong(w[2])));
        System.out.println("CURRENT " + current);
        System.out.flush();
      }
    }
    Thread.sleep(Long.MAX_VALUE);
  }

  /** Leases {@code n} accounts for sessions numbered from {@code first}; returns the next number. */
  private static int lease(Vertx vertx, PoolClient pool, String nodeId, int first, int n) throws Exception {
    for (int i = first; i < first + n; i++) {
      // Stands in for the session's signalling consumer: prints what the pool tells the session.
      vertx.eventBus().<JsonObject>localConsumer(Addresses.session(nodeId + "-s" + i), m -> {
        System.out.println("EVENT " + m.body().encode());
        System.out.flush();
      }).completion().await(10, TimeUnit.SECONDS);
      JsonObject l = pool.call(Addresses.POOL_LEASE,
          new JsonObject().put("sessionId", nodeId + "-s" + i).put("nodeId", nodeId));
      System.out.println("LEASED " + l.getString("accountId") + " " + l.getLong("token"));
      System.out.flush();
    }
    return first + n;
  }
}
