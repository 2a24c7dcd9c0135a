package org.webphone.gateway;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The packaged jar's Main-Class ({@code java -jar webphone-gateway-<version>.jar [--config FILE] [--cluster]}):
 * sets the system properties a node needs when the command line did not, then runs {@link Main} with the same
 * arguments. A jar cannot carry JVM flags, and {@code mvn exec:exec} passes these ones itself; GC and heap flags
 * cannot be set from inside and live in {@code deploy/webphone.env} (docs/deploy.md).
 *
 * <p>Runs on the JVM's main thread before anything else: the properties are read when the JDK's networking and
 * ice4j's harvesters first load, which is after this.
 */
public final class Launcher {
  /**
   * What {@code mvn exec:exec} passes: an IPv4 stack (the media and SIP sockets bind IPv4 addresses and the
   * Hazelcast members list is IPv4; read when the JDK's networking first loads, so it must be set here, not by
   * the node later); no AWS metadata probe by ice4j (it stalls the first call about 1.6 s outside AWS;
   * IceService sets it too, for embedded use). The rest of ice4j's settings IceService makes itself.
   */
  static final Map<String, String> DEFAULTS = defaults();

  private Launcher() {
  }

  public static void main(String[] args) {
    applyDefaults();
    Main.main(args);
  }

  /** Sets each of {@link #DEFAULTS} that is unset; a value given with {@code -D} (even empty) is kept. */
  static void applyDefaults() {
    DEFAULTS.forEach((k, v) -> {
      if (System.getProperty(k) == null) {
        System.setProperty(k, v);
      }
    });
  }

  private static Map<String, String> defaults() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("java.net.preferIPv4Stack", "true");
    m.put("ice4j.harvest.mapping.aws.enabled", "false");
    return Map.copyOf(m);
  }
}
