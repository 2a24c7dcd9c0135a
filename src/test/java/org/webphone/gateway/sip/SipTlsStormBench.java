package org.webphone.gateway.sip;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.vertx.core.json.JsonObject;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.testing.Eventually;
import org.webphone.gateway.testing.Kamailio;
import org.webphone.gateway.testing.Ports;
import org.webphone.gateway.testing.TestCa;

/**
 * The cost of a registration storm over SIP/TLS against UDP (bench/sip-tls-storm.sh, results in bench/RESULTS.md):
 * {@code lines} lines register with Kamailio (digest auth) at once, then, over TLS, {@code cycles} times the
 * connection to the PBX is reset ({@code ss -K}, as a NAT or load balancer dropping it) and every line
 * REGISTERs again over a new one. One cached connection means one handshake per storm or cycle; what is left is
 * the per-message cost of TLS records. Prints the wall time and the CPU seconds of this JVM (the gateway's SIP
 * verticle and the bench driver) and of Kamailio for each phase, two rounds (the first warms the JIT up).
 * Bounded: 120 s per phase at most.
 *
 * <pre>java ... org.webphone.gateway.sip.SipTlsStormBench [lines=1000] [cycles=5]</pre>
 */
public final class SipTlsStormBench {
  private static final AtomicInteger REGISTERED = new AtomicInteger();
  private static int round;

  private SipTlsStormBench() {
  }

  public static void main(String[] args) throws Exception {
    int lines = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int cycles = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    countRegistrations();
    Map<String, String> accounts = new HashMap<>();
    for (int i = 0; i < lines; i++) {
      accounts.put(Integer.toString(10000 + i), "secret-" + (10000 + i));
    }
    TestCa ca = TestCa.create(Path.of("target", "bench", "tls-ca-" + Ports.free()).toAbsolutePath());
    TestCa.Issued gw = ca.issue("gateway", "127.0.0.1");
    TestCa.Issued pbxCert = ca.issue("pbx", "127.0.0.1");
    System.out.println("| round | transport | phase | lines | wall s | gateway JVM CPU s | Kamailio CPU s |");
    System.out.println("|---|---|---|---|---|---|---|");
    // Round 1 warms the JIT up (its numbers are printed, not to be compared); round 2 is the measurement.
    for (String transport : new String[] {"udp", "tls", "udp", "tls"}) {
      round = transport.equals("udp") ? round + 1 : round;
      try (Kamailio pbx = "tls".equals(transport) ? Kamailio.startTls(accounts, pbxCert, ca.caPem(), Set.of(), null)
          : Kamailio.start(accounts)) {
        JsonObject cfg = new JsonObject().put("sip", new JsonObject().put("optionsIntervalSec", 0)
            .put("registerExpires", 3600)).put("pbx", new JsonObject().put("transport", transport));
        int pbxPort = pbx.port();
        if ("tls".equals(transport)) {
          pbxPort = pbx.tlsPort();
          cfg.getJsonObject("sip").put("tlsPort", Ports.free()).put("tlsCert", gw.chain().toString())
              .put("tlsKey", gw.key().toString()).put("maxTcpConnections", 1024);
          cfg.getJsonObject("pbx").put("tlsTrust", ca.caPem().toString());
        }
        try (SipTestBed bed = SipTestBed.withPbx(pbxPort, cfg)) {
          REGISTERED.set(0);
          Sample s = Sample.start(pbx.pid());
          for (int i = 0; i < lines; i++) {
            String user = Integer.toString(10000 + i);
            bed.open("l" + user, user, "secret-" + user);
          }
          Eventually.until(Duration.ofSeconds(120), lines + " lines registered", () -> REGISTERED.get() >= lines);
          s.print(transport, "storm", lines);
          for (int c = 1; c <= cycles && "tls".equals(transport); c++) {
            int target = REGISTERED.get() + lines;
            Sample r = Sample.start(pbx.pid());
            Process ss = new ProcessBuilder("ss", "-K", "dst", "127.0.0.1", "dport", "=", ":" + pbxPort)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            ss.waitFor();
            Eventually.until(Duration.ofSeconds(120), "re-REGISTER " + c, () -> REGISTERED.get() >= target);
            r.print(transport, "reconnect " + c, lines);
          }
        }
      }
    }
    System.exit(0);
  }

  /** Counts SipLine's "registered as" lines (each 200 to a REGISTER) without printing them. */
  private static void countRegistrations() {
    Logger l = (Logger) LoggerFactory.getLogger(SipLine.class);
    l.setLevel(Level.INFO);
    l.setAdditive(false);
    AppenderBase<ILoggingEvent> counter = new AppenderBase<>() {
      @Override
      protected void append(ILoggingEvent e) {
        if (e.getFormattedMessage().contains(" registered as ")) {
          REGISTERED.incrementAndGet();
        }
      }
    };
    counter.setContext(l.getLoggerContext());
    counter.start();
    l.addAppender(counter);
  }

  /** Wall clock and CPU (this JVM, Kamailio's processes) from {@link #start} to {@link #print}. */
  private record Sample(long nanos, long jvmCpuNanos, long pbxTicks, long pbxPid) {
    static Sample start(long pbxPid) throws Exception {
      return new Sample(System.nanoTime(), jvmCpu(), ticks(pbxPid), pbxPid);
    }

    void print(String transport, String phase, int lines) throws Exception {
      double wall = (System.nanoTime() - nanos) / 1e9;
      double jvm = (jvmCpu() - jvmCpuNanos) / 1e9;
      double kam = (ticks(pbxPid) - pbxTicks) / 100.0;
      System.out.printf("| %d | %s | %s | %d | %.2f | %.2f | %.2f |%n", round, transport, phase, lines, wall, jvm, kam);
    }

    private static long jvmCpu() {
      return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
          .getProcessCpuTime();
    }

    /** utime + stime of Kamailio's main process and its children (all its workers), in clock ticks. */
    private static long ticks(long pid) throws Exception {
      long sum = 0;
      for (ProcessHandle p : ProcessHandle.of(pid).map(h -> java.util.stream.Stream.concat(java.util.stream.Stream.of(h),
          h.descendants())).orElse(java.util.stream.Stream.empty()).toList()) {
        Path stat = Path.of("/proc", Long.toString(p.pid()), "stat");
        if (Files.exists(stat)) {
          String[] f = Files.readString(stat).substring(Files.readString(stat).lastIndexOf(')') + 2).split(" ");
          sum += Long.parseLong(f[11]) + Long.parseLong(f[12]);
        }
      }
      return sum;
    }
  }
}
