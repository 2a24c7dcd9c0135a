package org.webphone.gateway.load;

import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.bridge.SLF4JBridgeHandler;
import org.webphone.gateway.GatewayNode;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;

/**
 * The load tool: {@code java -cp ... org.webphone.gateway.load.LoadTool [options]} (see
 * {@link LoadOptions#USAGE} and bench/README.md). It drives gateway nodes through the event bus with the
 * WebSocket protocol's own frames, either a node it starts in this JVM or the nodes of a cluster it joins
 * (as a Hazelcast lite member: it holds no pool data, so leaving costs the cluster nothing).
 *
 * <p>Exit codes: 0 when every call completed and every client registered, 1 otherwise, 2 for bad options
 * or configuration.
 */
public final class LoadTool {
  private LoadTool() {
  }

  public static void main(String[] args) throws Exception {
    LoadOptions options;
    try {
      if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h"))) {
        System.out.println(LoadOptions.USAGE);
        return;
      }
      options = LoadOptions.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("load tool: " + e.getMessage() + "\n" + LoadOptions.USAGE);
      System.exit(2);
      return;
    }
    SLF4JBridgeHandler.removeHandlersForRootLogger();
    SLF4JBridgeHandler.install();
    int code;
    try {
      code = run(options, System.out);
    } catch (ConfigException e) {
      System.err.println(e.getMessage());
      code = 2;
    } catch (Exception e) {
      // Always exit: a failed start leaves non-daemon Vert.x threads that would keep the JVM alive.
      Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
      System.err.println("load tool: " + cause);
      code = 1;
    }
    System.exit(code);
  }

  /** Runs once against the chosen target, prints progress and the summary to {@code out}; the exit code. */
  public static int run(LoadOptions options, PrintStream out) throws Exception {
    GatewayNode node = null;
    Vertx vertx;
    if (options.target().equals("in-process")) {
      node = new GatewayNode(GatewayConfig.load(null, System.getenv(), System.getProperties()));
      try {
        await(node.start(), 120);
      } catch (Exception e) {
        node.stop().toCompletionStage().toCompletableFuture().handle((x, f) -> null).get(60, TimeUnit.SECONDS);
        throw e;
      }
      vertx = node.vertx();
    } else {
      vertx = await(joinCluster(options.clusterConfig()), 120);
    }
    try {
      LoadRun.Report report = runOn(vertx, options, out, LoadTool::stopCallingOnSigterm);
      return report.json().getInteger("failed") == 0 && report.json().getInteger("cut") == 0
          && report.json().getInteger("registered") == options.clients()
          && report.json().getBoolean("countsAddUp") ? 0 : 1;
    } finally {
      if (node != null) {
        node.stop().toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(60, TimeUnit.SECONDS);
      } else {
        vertx.close().toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(60, TimeUnit.SECONDS);
      }
    }
  }

  /** Deploys one {@link LoadRun} on {@code vertx}, waits for it (bounded), prints and returns the summary. */
  public static LoadRun.Report runOn(Vertx vertx, LoadOptions options, PrintStream out) throws Exception {
    return runOn(vertx, options, out, run -> { });
  }

  private static LoadRun.Report runOn(Vertx vertx, LoadOptions options, PrintStream out, Consumer<LoadRun> deployed)
      throws Exception {
    LoadRun run = new LoadRun(options, out);
    String id = await(vertx.deployVerticle(run), 30);
    deployed.accept(run);
    try {
      LoadRun.Report report = await(run.result(), (int) options.durationSec() + 60);
      out.print(report.table());
      out.println(report.json().encode());
      if (options.jsonFile() != null) {
        Files.writeString(options.jsonFile(), report.json().encodePrettily());
      }
      return report;
    } finally {
      vertx.undeploy(id).toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(30, TimeUnit.SECONDS);
    }
  }

  /**
   * SIGTERM ends the run the way {@code --calls} does: no new call, the calls in progress end by themselves (bounded
   * by {@code --duration}), then the summary and the exit code. A test or an operator stops a long run so without
   * cutting calls. Only the command line installs it: a JVM that embeds the tool keeps its own SIGTERM handling.
   */
  private static void stopCallingOnSigterm(LoadRun run) {
    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> run.stopCalling());
  }

  private static Future<Vertx> joinCluster(String clusterConfig) throws Exception {
    Path file = Path.of(clusterConfig);
    Config hz = Files.isRegularFile(file) ? new FileSystemXmlConfig(file.toFile()) : new ClasspathXmlConfig(clusterConfig);
    hz.setLiteMember(true);
    VertxOptions options = new VertxOptions();
    String host = System.getenv().getOrDefault(GatewayConfig.envName("cluster.host"), "127.0.0.1");
    options.getEventBusOptions().setHost(host);
    return Vertx.builder().with(options).withClusterManager(new HazelcastClusterManager(hz)).buildClustered();
  }

  private static <T> T await(Future<T> f, int seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }
}
