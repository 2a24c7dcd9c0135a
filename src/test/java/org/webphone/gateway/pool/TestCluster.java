package org.webphone.gateway.pool;

import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.Config;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A Hazelcast cluster for tests: the project's cluster.xml (TCP-IP join on loopback), but with its own
 * cluster name and explicit free ports, so that tests of other engineers on this machine, and running
 * nodes on 5701+, never join it.
 */
public final class TestCluster {
  private TestCluster() {
  }

  /**
   * @param name           cluster name (unique per test class run)
   * @param port           this member's port
   * @param members        every member port of the cluster (including late joiners)
   * @param noHeartbeatSec after how long a silent member is removed (cluster.xml says 10)
   */
  public static Config hazelcast(String name, int port, List<Integer> members, int noHeartbeatSec) {
    Config c = new ClasspathXmlConfig("cluster.xml");
    c.setClusterName(name);
    c.getNetworkConfig().setPort(port).setPortAutoIncrement(false);
    c.getNetworkConfig().getJoin().getTcpIpConfig()
        .setMembers(members.stream().map(p -> "127.0.0.1:" + p).collect(Collectors.toList()));
    c.setProperty("hazelcast.max.no.heartbeat.seconds", Integer.toString(noHeartbeatSec));
    c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    c.setProperty("hazelcast.wait.seconds.before.join", "0");
    // A migration whose request or answer is lost waits this long before the master rolls it back and plans
    // again (default 300 s). On the 2-core CI machine a partition stayed "migrating" for over a minute while
    // two nodes joined under load, and the joining node's first map put kept being refused meanwhile.
    c.setProperty("hazelcast.partition.migration.timeout", "20");
    return c;
  }

  static Future<Vertx> start(Config hz) {
    return start(hz, new VertxOptions());
  }

  public static Future<Vertx> start(Config hz, VertxOptions options) {
    System.setProperty("hazelcast.logging.type", "slf4j");
    options.getEventBusOptions().setHost("127.0.0.1").setPort(0);
    return Vertx.builder().with(options).withClusterManager(new HazelcastClusterManager(hz)).buildClustered();
  }

  static String portList(List<Integer> ports) {
    return ports.stream().map(String::valueOf).collect(Collectors.joining(","));
  }
}
