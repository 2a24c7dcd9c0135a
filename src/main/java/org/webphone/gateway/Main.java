package org.webphone.gateway;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;
import org.webphone.gateway.config.ConfigException;
import org.webphone.gateway.config.GatewayConfig;

/**
 * Starts one gateway node: {@code java -cp ... org.webphone.gateway.Main [--config FILE] [--cluster]}.
 *
 * <p>Exit codes: 2 for a configuration error (one line on stderr naming the key), 1 when the node failed
 * to start, 143 (the JVM's 128 + SIGTERM) after a graceful stop on SIGTERM, 0 after {@code --help}.
 */
public final class Main {
  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  private Main() {
  }

  public static void main(String[] args) {
    Path configFile = null;
    boolean cluster = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--config" -> {
          if (i + 1 >= args.length) {
            System.err.println("configuration error: --config: needs a file name");
            System.exit(2);
          }
          configFile = Path.of(args[++i]);
        }
        case "--cluster" -> cluster = true;
        case "--help", "-h" -> {
          System.out.println("usage: Main [--config FILE] [--cluster]   (see docs/configuration.md)");
          return;
        }
        default -> {
          if (!args[i].isBlank()) {
            System.err.println("configuration error: " + args[i] + ": unknown argument (try --help)");
            System.exit(2);
          }
        }
      }
    }
    GatewayConfig config;
    try {
      GatewayConfig loaded = GatewayConfig.load(configFile, System.getenv(), System.getProperties());
      config = cluster ? GatewayConfig.withClusterEnabled(loaded) : loaded;
    } catch (ConfigException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    SLF4JBridgeHandler.removeHandlersForRootLogger();
    SLF4JBridgeHandler.install();

    GatewayNode node = new GatewayNode(config);
    // Registered before start so that SIGTERM during a slow cluster join still leaves the cluster cleanly.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      long bound = config.getInt("shutdown.graceSec") + 5L;
      try {
        node.stop().toCompletionStage().toCompletableFuture().get(bound, TimeUnit.SECONDS);
      } catch (Exception e) {
        LOG.warn("graceful stop did not finish within {} s: {}", bound, e.toString());
      }
    }, "gateway-shutdown"));
    try {
      node.start().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.error("node failed to start: {}", e.getCause() != null ? e.getCause().toString() : e.toString(), e);
      node.stop().toCompletionStage().toCompletableFuture().completeOnTimeout(null, 10, TimeUnit.SECONDS).join();
      System.exit(1);
    }
  }
}
