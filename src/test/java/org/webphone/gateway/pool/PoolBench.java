package org.webphone.gateway.pool;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Ports;

/**
 * Lease+return throughput and latency of the pool, over the event bus as signalling uses it.
 *
 * <pre>
 * mvn -o -q test-compile
 * java -cp target/test-classes:target/classes:$(cat target/classpath.txt) org.webphone.gateway.pool.PoolBench \
 *     MODE NODES ACCOUNTS WORKERS_PER_NODE SECONDS
 * </pre>
 * MODE is {@code local} (standalone, in-memory; NODES must be 1) or {@code cluster} (NODES clustered
 * Vert.x instances in this JVM, Hazelcast on loopback with free ports). Each worker loops: lease, return;
 * the first 2 s are warm-up and not counted.
 */
public final class PoolBench {
  private PoolBench() {
  }

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "cluster";
    int nodes = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    int accounts = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    int workers = args.length > 3 ? Integer.parseInt(args[3]) : 8;
    int seconds = args.length > 4 ? Integer.parseInt(args[4]) : 10;
    List<Vertx> vertxes = new ArrayList<>();
    JsonObject section = PoolClient.range("b", 1, accounts).put("leaseTtlSec", 15);
    if (mode.equals("local")) {
      vertxes.add(Vertx.vertx());
    } else {
      String name = "pool-bench-" + UUID.randomUUID().toString().substring(0, 8);
      List<Integer> ports = new ArrayList<>();
      for (int i = 0; i < nodes; i++) {
        ports.add(Ports.free());
      }
      for (int i = 0; i < nodes; i++) {
        vertxes.add(TestCluster.start(TestCluster.hazelcast(name, ports.get(i), ports, 10)).await(60, TimeUnit.SECONDS));
      }
    }
    for (int i = 0; i < vertxes.size(); i++) {
      vertxes.get(i).deployVerticle(new AccountPoolVerticle(),
          new DeploymentOptions().setConfig(PoolClient.config("bench" + i, section))).await(60, TimeUnit.SECONDS);
    }
    long warmEnd = System.nanoTime() + 2_000_000_000L;
    long end = warmEnd + seconds * 1_000_000_000L;
    List<Loop> loops = new ArrayList<>();
    List<Future<Void>> done = new ArrayList<>();
    for (int n = 0; n < vertxes.size(); n++) {
      for (int w = 0; w < workers; w++) {
        Loop l = new Loop(vertxes.get(n), "n" + n + "w" + w, warmEnd, end);
        loops.add(l);
        done.add(l.start());
      }
    }
    Future.all(done).await(seconds + 60L, TimeUnit.SECONDS);
    long[] lease = loops.stream().flatMapToLong(l -> Arrays.stream(l.lease, 0, l.count)).sorted().toArray();
    long[] release = loops.stream().flatMapToLong(l -> Arrays.stream(l.release, 0, l.count)).sorted().toArray();
    long refused = loops.stream().mapToLong(l -> l.refused).sum();
    System.out.printf(Locale.ROOT, "mode=%s nodes=%d accounts=%d workers=%d seconds=%d cores=%d%n", mode, nodes,
        accounts, workers * vertxes.size(), seconds, Runtime.getRuntime().availableProcessors());
    System.out.printf(Locale.ROOT, "lease+return cycles/s=%.0f  (pool ops/s=%.0f)  refused=%d%n",
        lease.length / (double) seconds, 2 * lease.length / (double) seconds, refused);
    System.out.println("lease   ms " + percentiles(lease));
    System.out.println("return  ms " + percentiles(release));
    for (Vertx vx : vertxes) {
      vx.close().await(60, TimeUnit.SECONDS);
    }
  }

  private static String percentiles(long[] sortedNanos) {
    if (sortedNanos.length == 0) {
      return "(none)";
    }
    StringBuilder sb = new StringBuilder();
    for (double p : new double[] {50, 90, 99, 99.9}) {
      int i = (int) Math.min(sortedNanos.length - 1, Math.ceil(p / 100 * sortedNanos.length) - 1);
      sb.append(String.format(Locale.ROOT, "p%s=%.2f ", p == 99.9 ? "99.9" : Integer.toString((int) p),
          sortedNanos[Math.max(0, i)] / 1e6));
    }
    sb.append(String.format(Locale.ROOT, "max=%.2f", sortedNanos[sortedNanos.length - 1] / 1e6));
    return sb.toString();
  }

  /** One session after another: lease, then return; latencies of counted cycles kept in arrays. */
  private static final class Loop {
    private final Vertx vertx;
    private final PoolClient pool;
    private final String name;
    private final long warmEnd;
    private final long end;
    private final Promise<Void> done = Promise.promise();
    long[] lease = new long[1 << 16];
    long[] release = new long[1 << 16];
    int count;
    long refused;
    private long seq;

    Loop(Vertx vertx, String name, long warmEnd, long end) {
      this.vertx = vertx;
      this.pool = new PoolClient(vertx);
      this.name = name;
      this.warmEnd = warmEnd;
      this.end = end;
    }

    Future<Void> start() {
      vertx.runOnContext(v -> next());
      return done.future();
    }

    private void next() {
      long t0 = System.nanoTime();
      if (t0 > end) {
        done.complete();
        return;
      }
      pool.request(Addresses.POOL_LEASE, new JsonObject().put("sessionId", name + "-" + seq++).put("nodeId", name))
          .onFailure(e -> {
            if (e instanceof ReplyException re && re.failureCode() == ErrorCode.NO_ACCOUNT.code()) {
              refused++;
              vertx.setTimer(1, t -> next());
            } else {
              done.tryFail(e);
            }
          })
          .onSuccess(l -> {
            long t1 = System.nanoTime();
            pool.request(Addresses.POOL_RELEASE, new JsonObject().put("accountId", l.getString("accountId"))
                .put("token", l.getLong("token"))).onFailure(done::tryFail).onSuccess(r -> {
                  long t2 = System.nanoTime();
                  if (t0 > warmEnd) {
                    if (count == lease.length) {
                      lease = Arrays.copyOf(lease, count * 2);
                      release = Arrays.copyOf(release, count * 2);
                    }
                    lease[count] = t1 - t0;
                    release[count] = t2 - t1;
                    count++;
                  }
                  next();
                });
          });
    }
  }
}
