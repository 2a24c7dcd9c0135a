package org.webphone.gateway.load;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.webphone.gateway.testing.PeerProcess;
import org.webphone.gateway.testing.Ports;

/**
 * The benchmark's peers (bench/kamailio/bench.cfg, bench/sipp/uac-bench.xml) started the way bench/run-load.sh
 * starts them, for the load tool's tests. The caller owns the processes and stops them.
 */
public final class BenchPeers {
  private static final Path BASE = Path.of(System.getProperty("project.basedir", "."));

  private BenchPeers() {
  }

  /** Kamailio with bench.cfg on 127.0.0.1:{@code port}, once it listens; {@code defines} are extra -A values. */
  public static PeerProcess kamailio(String name, int port, String... defines) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("kamailio", "-DD", "-E", "-m", "64", "-f",
        BASE.resolve("bench/kamailio/bench.cfg").toString(), "-l", "udp:127.0.0.1:" + port));
    for (String d : defines) {
      cmd.addAll(List.of("-A", d));
    }
    cmd.addAll(List.of("-A", "CTL_SOCK=\"unix:" + BASE.resolve("target/peers/kamailio-" + port + ".ctl") + "\""));
    PeerProcess kamailio = PeerProcess.start(name, cmd, null);
    try {
      kamailio.awaitLog(l -> l.contains("udp: 127.0.0.1"), Duration.ofSeconds(20));
    } catch (Throwable e) {
      kamailio.close();
      throw e;
    }
    return kamailio;
  }

  /**
   * One SIPp caller (uac-bench.xml) through the PBX on {@code pbx} to {@code line}, holding {@code holdMs}; with
   * {@code echo} it sends back the RTP it gets.
   */
  static PeerProcess caller(String name, int pbx, String line, int holdMs, boolean echo) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("sipp", "127.0.0.1:" + pbx, "-sf",
        BASE.resolve("bench/sipp/uac-bench.xml").toString(), "-s", line, "-i", "127.0.0.1", "-p",
        Integer.toString(Ports.free()), "-mp", Integer.toString(Ports.freeRange(4))));
    if (echo) {
      cmd.add("-rtp_echo");
    }
    cmd.addAll(List.of("-m", "1", "-d", Integer.toString(holdMs), "-timer_resol", "10", "-nostdin", "-timeout", "30",
        "-timeout_error"));
    return PeerProcess.start(name, cmd, null);
  }
}
