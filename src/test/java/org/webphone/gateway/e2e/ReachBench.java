package org.webphone.gateway.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reach measurement of issue 18, run by bench/reach-run.sh (not by bin/test: the class name does not end in
 * Test): time from the click on Call to the first audio packet at the browser, gathering included, per route
 * of {@link ReachBed} (UDP direct, ICE-TCP, TURN-UDP, TURN-TCP, TURN-TLS), {@code -Dreach.calls} (20) echo calls
 * each, the routes taken in turn so that every route sees the same machine load; a warm-up call first, not
 * counted. Each call must take its route (getStats' selected pair; for ICE-TCP a pair whose remote candidate is the
 * gateway's TCP passive one, the browser's side being {@code prflx}); one that takes another, or gets no audio
 * within 15 s, is counted as failed with its reason (ICE-TCP on a node that offers no TCP candidate: once, then the
 * route is left out). Blocked traffic is dropped ({@code -Dreach.block=drop}, what
 * most firewalls do: gathering then waits for the page's limit) or refused ({@code reject}). Extra node config
 * (e.g. {@code {"media":{"iceTcpPort":0}}} to measure a node without ICE-TCP) as JSON in {@code -Dreach.nodeConfig}. Prints {@code REACH-FIGURES <json>}.
 */
class ReachBench {
  private static final int CALLS = Integer.getInteger("reach.calls", 20);
  private static final String ROUTES = System.getProperty("reach.routes", "UDP_DIRECT,ICE_TCP,TURN_UDP,TURN_TLS");
  private static final boolean REJECT = "reject".equals(System.getProperty("reach.block", "drop"));

  @TempDir
  Path tmp;

  @Test
  void clickToFirstAudioPerRoute() throws Exception {
    List<ReachBed.Route> routes = Arrays.stream(ROUTES.split(",")).map(String::trim).map(ReachBed.Route::valueOf)
        .toList();
    JsonObject extra = new JsonObject(System.getProperty("reach.nodeConfig", "{}"));
    Map<ReachBed.Route, List<Long>> ms = new LinkedHashMap<>();
    Map<ReachBed.Route, List<String>> failures = new LinkedHashMap<>();
    routes.forEach(r -> {
      ms.put(r, new ArrayList<>());
      failures.put(r, new ArrayList<>());
    });
    JsonObject figures = new JsonObject().put("calls", CALLS).put("block", REJECT ? "reject" : "drop")
        .put("cpus", Runtime.getRuntime().availableProcessors()).put("model", cpuModel());
    try (ReachBed reach = ReachBed.start(tmp, extra)) {
      reach.use(ReachBed.Route.UDP_DIRECT, REJECT);
      reach.echoCall(0); // warm-up: the first call of a fresh JVM compiles the call path
      figures.put("loadBefore", Files.readString(Path.of("/proc/loadavg")).trim());
      for (int i = 0; i < CALLS; i++) {
        for (ReachBed.Route r : routes) {
          if (failures.get(r).stream().anyMatch(f -> f.contains("no TCP candidate"))) {
            continue; // a node without ICE-TCP will not grow it: one clear failure says so
          }
          reach.use(r, REJECT);
          try {
            ReachBed.Call c = reach.echoCall(0);
            if (c.took(r)) {
              ms.get(r).add(c.firstAudioMs());
            } else {
              failures.get(r).add("took " + c.pair());
            }
          } catch (AssertionError | RuntimeException e) {
            failures.get(r).add(firstLine(e));
          }
        }
      }
      figures.put("loadAfter", Files.readString(Path.of("/proc/loadavg")).trim());
    }
    JsonObject byRoute = new JsonObject();
    for (ReachBed.Route r : routes) {
      List<Long> v = new ArrayList<>(ms.get(r));
      v.sort(null);
      JsonObject f = new JsonObject().put("ok", v.size()).put("failed", failures.get(r).size())
          .put("failures", new JsonArray(failures.get(r).stream().distinct().limit(3).toList()));
      if (!v.isEmpty()) {
        f.put("medianMs", v.get(v.size() / 2)).put("minMs", v.get(0)).put("maxMs", v.get(v.size() - 1))
            .put("p90Ms", v.get(Math.min(v.size() - 1, (int) Math.ceil(v.size() * 0.9) - 1)));
      }
      byRoute.put(r.name(), f);
    }
    figures.put("routes", byRoute);
    System.out.println("REACH-FIGURES " + figures.encode());
    if (failures.values().stream().anyMatch(l -> !l.isEmpty())) {
      fail("some calls did not take their route: " + byRoute.encodePrettily());
    }
  }

  private static String firstLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return (nl < 0 ? m : m.substring(0, nl)).replaceAll("; browser log: .*", "");
  }

  private static String cpuModel() throws java.io.IOException {
    return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
        .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
  }
}
