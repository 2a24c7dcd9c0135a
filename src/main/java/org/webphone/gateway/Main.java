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
 * <p>SIGTERM drains the node ({@link GatewayNode#drain}): it takes no new sessions, its calls run to their
 * end (at most {@code shutdown.drainLimitSec}), and the process exits 0 by itself once no session is left; a
 * second SIGTERM ends the drain at once (the calls left are hung up). SIGINT (Ctrl-C) and
 * {@code System.exit} stop at once through the shutdown hook, bounded by {@code shutdown.graceSec}.
 *
 * <p>Exit codes: 2 for a configuration error (one line on stderr naming the key), 1 when the node failed
 * to start or its stop after a drain had problems (logged), 0 after a drain and after {@code --help}.
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
    onSigterm(node);
    try {
      node.start().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.error("node failed to start: {}", e.getCause() != null ? e.getCause().toString() : e.toString(), e);
      node.stop().toCompletionStage().toCompletableFuture().completeOnTimeout(null, 10, TimeUnit.SECONDS).join();
      System.exit(1);
    }
  }

  /**
   * SIGTERM starts the drain instead of JVM shutdown. A shutdown hook cannot drain: the JVM has already
   * begun to exit, a hook that waits an hour holds every other hook, and a second signal cannot reach it.
   * The handler API is {@code sun.misc.Signal} of the {@code jdk.unsupported} module: the JDK exports it on
   * purpose for this (JEP 260 keeps it until a supported replacement exists), it needs no
   * {@code --add-exports}, and it is the only way in the JDK to handle a signal without entering shutdown.
   * Its handler runs on a JDK thread, which only calls into the node (its methods are thread-safe).
   */
  @SuppressWarnings("restriction")
  private static void onSigterm(GatewayNode node) {
    java.util.concurrent.atomic.AtomicInteger terms = new java.util.concurrent.atomic.AtomicInteger();
    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> {
      if (terms.incrementAndGet() == 1) {
        LOG.info("SIGTERM: draining (a second SIGTERM ends the drain at once)");
        node.drain().onComplete(ar -> {
          // Exit off the Vert.x thread that completed the drain: the shutdown hook waits for stop()'s future.
          Thread exit = new Thread(() -> System.exit(ar.succeeded() ? 0 : 1), "gateway-exit");
          exit.start();
        });
      } else {
        LOG.info("SIGTERM again: the drain ends now");
        node.endDrain("a second SIGTERM");
      }
    });
  }
}
