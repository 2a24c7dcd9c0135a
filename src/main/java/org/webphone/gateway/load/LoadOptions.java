package org.webphone.gateway.load;

import java.nio.file.Path;
import java.util.Locale;

/**
 * What one load run does. Every run is bounded twice: by counts ({@code clients}, {@code calls}) and by
 * time ({@code durationSec}, after which calls still up are hung up and counted as cut).
 *
 * @param mode            {@code call}: the clients place calls; {@code answer}: they answer incoming calls
 * @param clients         virtual clients (bus sessions), each leasing a line and registering it
 * @param calls           calls to place (call mode) or to answer before ending early (answer mode)
 * @param rate            new calls per second, all clients together
 * @param holdMs          how long an answered call is held before the client hangs up
 * @param number          what the clients dial
 * @param durationSec     hard bound of the whole run, registration included
 * @param setupTimeoutMs  a call not in InCall by then is hung up and counted failed ("setup timeout")
 * @param progressSec     interval of the progress line
 * @param openConcurrency sessions being opened at once (the registration storm's width)
 * @param target          {@code in-process}: start a gateway node in this JVM, configured by WEBPHONE_*;
 *                        {@code cluster}: join the cluster of {@code clusterConfig} and drive its nodes
 * @param clusterConfig   Hazelcast XML (file, else classpath resource) for {@code cluster}
 * @param jsonFile        where to write the summary JSON too, or null
 * @param lingerMs        how long the registered lines stay up after the last call, before the sessions
 *                        are closed (to look at the PBX's registrations, e.g. in a registration storm)
 * @param warmupSec       calls started in the first seconds of the calling phase are counted but their
 *                        latencies are left out of the percentiles (JIT and pools still warming up)
 * @param rampSec         the call rate grows linearly from 0 to {@code rate} over the first seconds of the
 *                        calling phase (a cold gateway JVM is not hit with the full rate at once); 0: none
 * @param media           each call carries audio: a synthetic WebRTC browser ({@link LoadMedia}) connects to
 *                        the gateway's answer and sends G.711 20 ms packets while the call is InCall
 * @param mediaTimeoutMs  with media, a call that got no audio back this long after InCall fails ("no_media")
 */
public record LoadOptions(String mode, int clients, int calls, double rate, long holdMs, String number,
                          long durationSec, long setupTimeoutMs, long progressSec, int openConcurrency,
                          String target, String clusterConfig, Path jsonFile, long lingerMs, long warmupSec,
                          long rampSec, boolean media, long mediaTimeoutMs) {

  public static final String USAGE = String.join("\n",
      "usage: LoadTool [options]     (bounded by --calls and --duration; loopback only)",
      "  --mode call|answer        place calls, or answer calls placed toward the lines (default call)",
      "  --clients N               virtual clients = leased, registered lines (default 10)",
      "  --calls N                 calls to place / to answer (default 20)",
      "  --rate R                  new calls per second, all clients together (default 5)",
      "  --hold-ms MS              hold each answered call this long, then hang up (default 2000)",
      "  --number NUMBER           number to dial (default 600, the demo echo)",
      "  --duration SEC            hard bound of the run (default 60)",
      "  --setup-timeout-ms MS     a call not InCall by then fails (default 10000)",
      "  --progress SEC            progress line interval (default 5)",
      "  --open-concurrency N      sessions opened at once (default 50)",
      "  --target in-process|cluster  own node in this JVM (WEBPHONE_* configure it), or join a cluster",
      "  --cluster-config FILE     Hazelcast XML for --target cluster (default cluster.xml)",
      "  --json FILE               also write the summary JSON to FILE",
      "  --linger-ms MS            keep the lines registered this long after the last call (default 0)",
      "  --warmup-sec SEC          leave the latencies of calls started in the first SEC s out (default 0)",
      "  --ramp-sec SEC            raise the call rate linearly from 0 to --rate over the first SEC s (default 0)",
      "  --media                   each call carries audio (synthetic WebRTC browser, PCMU 20 ms) and counts the echo",
      "  --media-timeout-ms MS     with --media, no audio back this long after InCall fails the call (default 5000)");

  public static LoadOptions defaults() {
    return new LoadOptions("call", 10, 20, 5, 2000, "600", 60, 10_000, 5, 50, "in-process", "cluster.xml", null, 0, 0, 0, false,
        5000);
  }

  /** Parses command-line options; throws IllegalArgumentException with a one-line reason. */
  public static LoadOptions parse(String[] args) {
    LoadOptions o = defaults();
    for (int i = 0; i < args.length; i++) {
      String name = args[i];
      if (name.equals("--media")) {
        o = o.withMedia(true); // a flag: the only option without a value
        continue;
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(name + ": needs a value (or unknown option)");
      }
      String v = args[++i];
      o = switch (name) {
        case "--mode" -> o.with("mode", oneOf(name, v, "call", "answer"));
        case "--clients" -> o.with("clients", whole(name, v, 1, 100_000));
        case "--calls" -> o.with("calls", whole(name, v, 0, 10_000_000));
        case "--rate" -> o.with("rate", positive(name, v));
        case "--hold-ms" -> o.with("holdMs", whole(name, v, 0, 86_400_000));
        case "--number" -> o.with("number", v);
        case "--duration" -> o.with("durationSec", whole(name, v, 1, 86_400));
        case "--setup-timeout-ms" -> o.with("setupTimeoutMs", whole(name, v, 100, 600_000));
        case "--progress" -> o.with("progressSec", whole(name, v, 1, 3600));
        case "--open-concurrency" -> o.with("openConcurrency", whole(name, v, 1, 10_000));
        case "--target" -> o.with("target", oneOf(name, v, "in-process", "cluster"));
        case "--cluster-config" -> o.with("clusterConfig", v);
        case "--json" -> o.with("jsonFile", Path.of(v));
        case "--linger-ms" -> o.with("lingerMs", whole(name, v, 0, 3_600_000));
        case "--warmup-sec" -> o.with("warmupSec", whole(name, v, 0, 3600));
        case "--ramp-sec" -> o.with("rampSec", whole(name, v, 0, 3600));
        case "--media-timeout-ms" -> o.with("mediaTimeoutMs", whole(name, v, 100, 600_000));
        default -> throw new IllegalArgumentException(name + ": unknown option");
      };
    }
    return o;
  }

  private LoadOptions with(String field, Object v) {
    return new LoadOptions(
        field.equals("mode") ? (String) v : mode,
        field.equals("clients") ? ((Long) v).intValue() : clients,
        field.equals("calls") ? ((Long) v).intValue() : calls,
        field.equals("rate") ? (Double) v : rate,
        field.equals("holdMs") ? (Long) v : holdMs,
        field.equals("number") ? (String) v : number,
        field.equals("durationSec") ? (Long) v : durationSec,
        field.equals("setupTimeoutMs") ? (Long) v : setupTimeoutMs,
        field.equals("progressSec") ? (Long) v : progressSec,
        field.equals("openConcurrency") ? ((Long) v).intValue() : openConcurrency,
        field.equals("target") ? (String) v : target,
        field.equals("clusterConfig") ? (String) v : clusterConfig,
        field.equals("jsonFile") ? (Path) v : jsonFile,
        field.equals("lingerMs") ? (Long) v : lingerMs,
        field.equals("warmupSec") ? (Long) v : warmupSec,
        field.equals("rampSec") ? (Long) v : rampSec,
        field.equals("media") ? (Boolean) v : media,
        field.equals("mediaTimeoutMs") ? (Long) v : mediaTimeoutMs);
  }

  /** The same options with other counts; for tests and benchmarks that build options in code. */
  public LoadOptions withCounts(int clients, int calls, double rate, long holdMs, long durationSec) {
    return with("clients", (long) clients).with("calls", (long) calls).with("rate", rate).with("holdMs", holdMs)
        .with("durationSec", durationSec);
  }

  public LoadOptions withMode(String mode) {
    return with("mode", mode);
  }

  public LoadOptions withNumber(String number) {
    return with("number", number);
  }

  public LoadOptions withProgressSec(long progressSec) {
    return with("progressSec", progressSec);
  }

  public LoadOptions withMedia(boolean media) {
    return with("media", media);
  }

  private static long whole(String name, String v, long min, long max) {
    long n;
    try {
      n = Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": must be a whole number, got \"" + v + "\"");
    }
    if (n < min || n > max) {
      throw new IllegalArgumentException(name + ": must be " + min + ".." + max + ", got " + n);
    }
    return n;
  }

  private static double positive(String name, String v) {
    double d;
    try {
      d = Double.parseDouble(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": must be a number, got \"" + v + "\"");
    }
    if (!(d > 0) || d > 100_000 || Double.isNaN(d)) {
      throw new IllegalArgumentException(name + ": must be > 0 and <= 100000, got " + v);
    }
    return d;
  }

  private static String oneOf(String name, String v, String... allowed) {
    for (String a : allowed) {
      if (a.equals(v.toLowerCase(Locale.ROOT))) {
        return a;
      }
    }
    throw new IllegalArgumentException(name + ": must be one of " + String.join(", ", allowed) + ", got \"" + v + "\"");
  }
}
