package org.webphone.gateway.load;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.webphone.gateway.common.SetupLatency;

/**
 * Set-up latency over the WebSocket, as a browser sees it (bench/setup-ws.sh): {@code sessions} real WebSocket
 * sessions on a running gateway ({@link WsCaller}: Hello, lease, registration), each call with its own
 * synthetic WebRTC browser (ICE, DTLS-SRTP, PCMU echoed by the far end). A plan of phases, run in order on the
 * same sessions:
 * <ul>
 *   <li>{@code rate:R:N}: N calls at R calls/s (a call is written when due, on an idle session);</li>
 *   <li>{@code burst:B:K}: K rounds of B calls written in one pass of the event loop, each round once the last
 *       one ended.</li>
 * </ul>
 * Per call it records {@code Call} written → {@code Ack}, → {@code Answer}, → {@code InCall}, → both (the
 * set-up the page waits for) and → the first echoed audio packet; per phase also the gateway's own
 * {@code webphone_call_setup_added_seconds} (its /metrics on the admin port read before and after the phase).
 * Bounded: every call by {@code --call-timeout-ms}, the whole run by {@code --duration}. Loopback only.
 *
 * <p>Usage: {@code WsSetupBench --port P --admin-port A [--sessions 30] [--hold-ms 1000] [--number 600]
 * [--plan rate:1:20,rate:10:200,burst:10:5,burst:25:5] [--duration 600] [--json FILE]}. Exit 0 when every
 * call completed with audio, 1 otherwise, 2 for bad options.
 */
public final class WsSetupBench extends VerticleBase {
  private static final Pattern BUCKET = Pattern.compile(
      "^webphone_call_setup_added_seconds_(bucket|count|sum)\\{([^}]*)}\\s+(\\S+)");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");
  private static final long PAUSE_MS = 1500;

  private final Map<String, String> opts;
  private final List<WsCaller> callers = new ArrayList<>();
  private final JsonArray phases = new JsonArray();
  private final Promise<JsonObject> result = Promise.promise();
  private LoadMedia media;
  private HttpClient http;
  /**
   * Held for the whole run and closed in {@link #stop}: a Vert.x client nobody references is closed by its
   * cleaner after a GC, and that close shuts its WebSockets down 30 s later (what made the rate:10 phase hang
   * with every session gone).
   */
  private WebSocketClient wsClient;
  private int lost;

  WsSetupBench(Map<String, String> opts) {
    this.opts = opts;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> o = new TreeMap<>(Map.of("host", "127.0.0.1", "sessions", "30", "hold-ms", "1000",
        "number", "600", "plan", "rate:1:20,rate:10:200,burst:10:5,burst:25:5", "duration", "600",
        "call-timeout-ms", "10000"));
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        System.err.println("bad option " + args[i]);
        System.exit(2);
      }
      o.put(args[i].substring(2), args[i + 1]);
    }
    if (args.length % 2 != 0 || !o.containsKey("port") || !o.containsKey("admin-port")) {
      System.err.println("usage: WsSetupBench --port P --admin-port A [--sessions N] [--hold-ms MS] [--number N]"
          + " [--plan rate:R:N,burst:B:K,...] [--duration SEC] [--call-timeout-ms MS] [--json FILE]");
      System.exit(2);
    }
    Vertx vertx = Vertx.vertx();
    int code = 1;
    try {
      WsSetupBench bench = new WsSetupBench(o);
      String id = vertx.deployVerticle(bench).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      JsonObject r = bench.result.future().toCompletionStage().toCompletableFuture()
          .get(Long.parseLong(o.get("duration")) + 60, TimeUnit.SECONDS);
      System.out.println(r.encode());
      if (o.containsKey("json")) {
        Files.writeString(Path.of(o.get("json")), r.encodePrettily());
      }
      code = r.getBoolean("allCompleted") ? 0 : 1;
      vertx.undeploy(id).toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      System.err.println("setup bench: " + e);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().handle((x, e) -> null).get(30, TimeUnit.SECONDS);
    }
    System.exit(code);
  }

  @Override
  public Future<?> start() {
    media = new LoadMedia(context);
    http = vertx.createHttpClient();
    wsClient = vertx.createWebSocketClient();
    int n = Integer.parseInt(opts.get("sessions"));
    List<Future<Void>> opened = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      WsCaller c = new WsCaller(vertx, media);
      callers.add(c);
      opened.add(c.open(wsClient, opts.get("host"), Integer.parseInt(opts.get("port")), 30_000, this::sessionLost));
    }
    long bound = vertx.setTimer(Long.parseLong(opts.get("duration")) * 1000,
        t -> result.tryFail("the run's time bound passed"));
    Future.all(opened).onFailure(result::tryFail)
        .onSuccess(x -> {
          System.out.printf("%d sessions ready%n", n);
          runPlan(List.of(opts.get("plan").split(",")), 0);
        });
    result.future().onComplete(x -> vertx.cancelTimer(bound));
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    return Future.join(callers.stream().map(WsCaller::close).toList()).eventually(() -> media.close())
        .eventually(() -> wsClient.close());
  }

  /** The run's result (tests). */
  Future<JsonObject> result() {
    return result.future();
  }

  /**
   * A session closed that the bench did not close: the run fails now with why, instead of going on with fewer
   * sessions than it was asked for (a phase waiting for an idle session would wait for ever).
   */
  private void sessionLost(String why) {
    lost++;
    if (result.tryFail("a WebSocket session closed under the bench: " + why + "; " + lost + " of " + callers.size()
        + " sessions lost")) {
      System.err.println("setup bench: " + result.future().cause().getMessage());
    }
  }

  private void runPlan(List<String> plan, int i) {
    if (result.future().isComplete()) {
      return;
    }
    if (i == plan.size()) {
      boolean all = phases.stream().allMatch(p -> ((JsonObject) p).getInteger("failed") == 0);
      result.tryComplete(new JsonObject().put("phases", phases).put("allCompleted", all));
      return;
    }
    String[] p = plan.get(i).split(":");
    metrics().compose(before -> {
      long started = System.nanoTime();
      Future<List<WsCaller.Trace>> traces = p[0].equals("rate")
          ? rate(Double.parseDouble(p[1]), Integer.parseInt(p[2]))
          : bursts(Integer.parseInt(p[1]), Integer.parseInt(p[2]), new ArrayList<>());
      return traces.compose(t -> metrics().map(after -> summary(plan.get(i), t, (System.nanoTime() - started) / 1e9,
          GatewayLatency.between(before, after))));
    }).onSuccess(s -> {
      phases.add(s);
      System.out.println(s.encode());
      vertx.setTimer(PAUSE_MS, t -> runPlan(plan, i + 1));
    }).onFailure(result::tryFail);
  }

  /** {@code calls} calls at {@code perSecond}, each written when due on an idle session. */
  private Future<List<WsCaller.Trace>> rate(double perSecond, int calls) {
    List<Future<WsCaller.Trace>> all = new ArrayList<>();
    List<WsCaller> idle = new ArrayList<>(callers);
    Promise<List<WsCaller.Trace>> p = Promise.promise();
    long start = System.nanoTime();
    long[] tick = new long[1];
    tick[0] = vertx.setPeriodic(2, t -> {
      if (result.future().isComplete()) { // the run failed (a session lost, the time bound): stop placing calls
        vertx.cancelTimer(tick[0]);
        p.tryFail("the run ended");
        return;
      }
      long due = Math.min(calls, (long) ((System.nanoTime() - start) / 1e9 * perSecond) + 1);
      while (all.size() < due && !idle.isEmpty()) {
        WsCaller c = idle.remove(idle.size() - 1);
        if (!c.open()) {
          continue;
        }
        all.add(place(c).onComplete(x -> idle.add(0, c)));
      }
      if (all.size() == calls) {
        vertx.cancelTimer(tick[0]);
        Future.join(all).onComplete(x -> p.complete(all.stream().map(Future::result).toList()));
      }
    });
    return p.future();
  }

  /** {@code rounds} rounds of {@code size} calls: the browsers are made first, then every Call is written at once. */
  private Future<List<WsCaller.Trace>> bursts(int size, int rounds, List<WsCaller.Trace> acc) {
    if (rounds == 0) {
      return Future.succeededFuture(acc);
    }
    if (result.future().isComplete()) {
      return Future.failedFuture("the run ended");
    }
    List<WsCaller> open = callers.stream().filter(WsCaller::open).toList();
    List<WsCaller> round = open.subList(0, Math.min(size, open.size()));
    return Future.all(round.stream().map(WsCaller::prepare).toList()).compose(legs -> {
      List<Future<WsCaller.Trace>> calls = new ArrayList<>();
      for (int i = 0; i < round.size(); i++) {
        calls.add(round.get(i).call(legs.resultAt(i), opts.get("number"), holdMs(), callTimeoutMs()));
      }
      return Future.join(calls).map(x -> calls.stream().map(Future::result).toList());
    }).compose(t -> {
      acc.addAll(t);
      Promise<List<WsCaller.Trace>> next = Promise.promise();
      vertx.setTimer(PAUSE_MS, x -> bursts(size, rounds - 1, acc).onComplete(next));
      return next.future();
    });
  }

  private Future<WsCaller.Trace> place(WsCaller c) {
    return c.prepare().compose(leg -> c.call(leg, opts.get("number"), holdMs(), callTimeoutMs()));
  }

  private long holdMs() {
    return Long.parseLong(opts.get("hold-ms"));
  }

  private long callTimeoutMs() {
    return Long.parseLong(opts.get("call-timeout-ms"));
  }

  private static JsonObject summary(String phase, List<WsCaller.Trace> traces, double seconds, JsonObject gateway) {
    LoadStats.Samples ack = new LoadStats.Samples(traces.size());
    LoadStats.Samples answer = new LoadStats.Samples(traces.size());
    LoadStats.Samples inCall = new LoadStats.Samples(traces.size());
    LoadStats.Samples both = new LoadStats.Samples(traces.size());
    LoadStats.Samples audio = new LoadStats.Samples(traces.size());
    JsonObject failures = new JsonObject();
    int answerLate = 0;
    for (WsCaller.Trace t : traces) {
      if (t.failure != null) {
        failures.put(t.failure, failures.getInteger(t.failure, 0) + 1);
        continue;
      }
      ack.add(t.ms(t.ack));
      answer.add(t.ms(t.answer));
      inCall.add(t.ms(t.inCall));
      both.add(t.ms(Math.max(t.answer, t.inCall)));
      audio.add(t.ms(t.firstAudio));
      answerLate += t.answer > t.inCall ? 1 : 0;
    }
    return new JsonObject().put("phase", phase).put("calls", traces.size())
        .put("failed", traces.size() - both.count()).put("failures", failures)
        .put("seconds", Math.round(seconds * 10) / 10.0)
        .put("ackMs", pcts(ack)).put("answerMs", pcts(answer)).put("inCallMs", pcts(inCall))
        .put("setupMs", pcts(both)).put("firstAudioMs", pcts(audio)).put("answerAfterInCall", answerLate)
        .put("gatewayAdded", gateway);
  }

  private static JsonObject pcts(LoadStats.Samples s) {
    JsonObject j = new JsonObject().put("n", s.count());
    for (int p : new int[] {50, 90, 100}) {
      j.put(p == 100 ? "max" : "p" + p, Math.round(s.percentile(p) * 100) / 100.0);
    }
    return j;
  }

  /** The gateway's set-up timer from its /metrics, in {@link GatewayLatency}'s form. */
  private Future<JsonObject> metrics() {
    return http.request(HttpMethod.GET, Integer.parseInt(opts.get("admin-port")), opts.get("host"), "/metrics")
        .compose(r -> r.send()).compose(r -> r.body()).map(b -> parseMetrics(b.toString()));
  }

  static JsonObject parseMetrics(String text) {
    JsonObject all = new JsonObject().put("nodes", 1);
    Map<String, TreeMap<Double, Long>> buckets = new TreeMap<>();
    for (String line : text.split("\n")) {
      Matcher m = BUCKET.matcher(line);
      if (!m.find()) {
        continue;
      }
      Map<String, String> labels = new TreeMap<>();
      Matcher l = LABEL.matcher(m.group(2));
      while (l.find()) {
        labels.put(l.group(1), l.group(2));
      }
      String phase = labels.get("phase");
      JsonObject j = all.getJsonObject(phase);
      if (j == null) {
        all.put(phase, j = new JsonObject().put(SetupLatency.COUNT, 0L).put(SetupLatency.TOTAL_MS, 0.0));
      }
      double v = Double.parseDouble(m.group(3));
      switch (m.group(1)) {
        case "count" -> j.put(SetupLatency.COUNT, (long) v);
        case "sum" -> j.put(SetupLatency.TOTAL_MS, v * 1000);
        default -> {
          if (!labels.get("le").equals("+Inf")) {
            buckets.computeIfAbsent(phase, x -> new TreeMap<>()).put(Double.parseDouble(labels.get("le")) * 1000,
                (long) v);
          }
        }
      }
    }
    buckets.forEach((phase, b) -> all.getJsonObject(phase)
        .put(SetupLatency.LE_MS, new JsonArray(new ArrayList<>(b.keySet().stream()
            .map(x -> (Object) (Math.round(x * 1e6) / 1e6)).toList())))
        .put(SetupLatency.COUNTS, new JsonArray(new ArrayList<>(b.values()))));
    return all;
  }
}
