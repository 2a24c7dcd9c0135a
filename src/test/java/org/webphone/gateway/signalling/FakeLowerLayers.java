package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Eventually;

/**
 * Stand-ins for the pool, SIP and media verticles on their event-bus addresses, following
 * docs/event-bus.md. Why a fake: these tests are about the signalling side of the contract (every
 * documented reply and event, in orders a real PBX gives only with one SIPp scenario each, and every
 * request counted so a test can prove what was not asked); they run in seconds. The same flows through
 * the real verticles and SIPp are {@link SessionWithRealGatewayTest}.
 *
 * <p>Scripted far end by the dialled number: {@code 1086} busy, {@code 1044} not found, {@code 1080}
 * unavailable, {@code 1099} rings forever, anything else answers at once.
 */
final class FakeLowerLayers {
  final List<JsonObject> requests = new CopyOnWriteArrayList<>();
  final Map<String, String> leases = new ConcurrentHashMap<>();
  final AtomicInteger openLines = new AtomicInteger();
  final Map<String, Boolean> mediaSessions = new ConcurrentHashMap<>();
  /**
   * Addresses whose requests are carried out (events included) but whose answers are lost, as from a verticle
   * that answers after {@code limits.requestTimeoutMs}: the requester sees a timeout, the work is done.
   */
  final java.util.Set<String> silent = ConcurrentHashMap.newKeySet();
  /**
   * As the real relay with {@code answerLater}: media.create replies with the PBX SDP only, and the browser's
   * answer comes as a media event when the test calls {@link #answerLater(String, String)}.
   */
  volatile boolean answerLater;
  private final Vertx vertx;
  private final int accounts;
  private final List<MessageConsumer<?>> consumers = new ArrayList<>();
  private int tokens;

  private final boolean fakePool;

  /** {@code accounts} &lt; 0: no fake pool (the test deploys the real AccountPoolVerticle). */
  FakeLowerLayers(Vertx vertx, int accounts) {
    this.vertx = vertx;
    this.accounts = accounts;
    this.fakePool = accounts >= 0;
  }

  Future<Void> register() {
    if (fakePool) {
      registerPool();
    }
    registerSipAndMedia();
    return Future.all(consumers.stream().map(c -> (Future<?>) c.completion()).toList()).mapEmpty();
  }

  private void registerPool() {
    on(Addresses.POOL_LEASE, m -> {
      if (leases.size() >= accounts) {
        m.fail(ErrorCode.NO_ACCOUNT.code(), "Connection limit");
        return;
      }
      String acc = null;
      for (int i = 0; i < accounts; i++) {
        if (!leases.containsKey("10" + (10 + i))) {
          acc = "10" + (10 + i);
          break;
        }
      }
      leases.put(acc, m.body().getString("sessionId"));
      m.reply(new JsonObject().put("accountId", acc).put("token", ++tokens)
          .put("account", new JsonObject().put("username", acc).put("password", "x")));
    });
    on(Addresses.POOL_RELEASE, m -> {
      String bySession = m.body().containsKey("accountId") ? null : m.body().getString("sessionId");
      if (bySession != null ? !leases.values().removeIf(bySession::equals)
          : leases.remove(m.body().getString("accountId")) == null) {
        m.fail(ErrorCode.NOT_FOUND.code(), "no lease");
      } else {
        m.reply(new JsonObject().put("released", true));
      }
    });
  }

  private void registerSipAndMedia() {
    on(Addresses.SIP_LINE_OPEN, m -> {
      openLines.incrementAndGet();
      String line = m.body().getString("lineId");
      m.reply(new JsonObject().put("lineId", line));
      emit(line, new JsonObject().put("event", "registration").put("state", "registering"));
      emit(line, new JsonObject().put("event", "registration").put("state", "registered").put("code", 200));
    });
    on(Addresses.SIP_LINE_CLOSE, m -> {
      openLines.decrementAndGet();
      m.reply(new JsonObject().put("lineId", m.body().getString("lineId")));
    });
    on(Addresses.SIP_CALL_MAKE, m -> {
      JsonObject b = m.body();
      String line = b.getString("lineId");
      String call = b.getString("callId");
      m.reply(new JsonObject().put("callId", call));
      emit(line, state(call, "Ringing", 180, "Ringing", null));
      switch (b.getString("target")) {
        case "1086" -> emit(line, state(call, "Busy", 486, "Busy Here", null));
        case "1044" -> emit(line, state(call, "Error", 404, "Not Found", "NotFound"));
        case "1080" -> emit(line, state(call, "Error", 480, "Temporarily Unavailable", "Unavailable"));
        case "1099" -> { }
        default -> emit(line, state(call, "InCall", 200, "OK", null));
      }
    });
    on(Addresses.SIP_CALL_ACCEPT, m -> {
      m.reply(new JsonObject().put("callId", m.body().getString("callId")));
      emit(m.body().getString("lineId"), state(m.body().getString("callId"), "InCall", 200, "OK", null));
    });
    for (String a : List.of(Addresses.SIP_CALL_REJECT, Addresses.SIP_CALL_HANGUP, Addresses.SIP_CALL_DTMF,
        Addresses.SIP_CALL_TRANSFER)) {
      on(a, m -> m.reply(new JsonObject().put("callId", m.body().getString("callId"))));
    }
    on(Addresses.SIP_CALL_HOLD, m -> {
      m.reply(new JsonObject().put("callId", m.body().getString("callId")));
      emit(m.body().getString("lineId"), state(m.body().getString("callId"),
          m.body().getBoolean("hold") ? "LocalHeld" : "InCall", 200, "OK", null));
    });
    on(Addresses.MEDIA_CREATE, m -> {
      if (m.body().getString("browserOffer").startsWith("bad")) {
        m.fail(ErrorCode.BAD_SDP.code(), "SDP not acceptable");
        return;
      }
      mediaSessions.put(m.body().getString("callId"), true);
      if (answerLater) {
        m.reply(new JsonObject().put("pbxSdp", "v=0 pbx"));
        return;
      }
      m.reply(new JsonObject().put("browserAnswer", answerTo(m.body().getString("browserOffer")))
          .put("pbxSdp", "v=0 pbx"));
    });
    on(Addresses.MEDIA_BROWSER_OFFER, m -> m.reply(new JsonObject().put("browserAnswer",
        m.body().getString("browserOffer").contains("a=mid:") ? answerTo(m.body().getString("browserOffer"))
            : "v=0 answer 2")));
    on(Addresses.MEDIA_CANDIDATE, m -> m.reply(new JsonObject().put("added", true)));
    on(Addresses.MEDIA_DTMF, m -> m.reply(new JsonObject().put("callId", m.body().getString("callId"))));
    on(Addresses.MEDIA_CLOSE, m -> {
      mediaSessions.remove(m.body().getString("callId"));
      m.reply(new JsonObject().put("callId", m.body().getString("callId")));
    });
  }

  /** An INVITE from the far end to line {@code lineId}. */
  void incoming(String lineId, String callId, String from) {
    emit(lineId, new JsonObject().put("event", "incoming").put("lineId", lineId).put("callId", callId)
        .put("from", from).put("displayName", "Alice").put("sdp", "v=0 pbx offer"));
  }

  /** The browser's answer of a call whose media.create came with {@link #answerLater} set, as the relay's event. */
  void answerLater(String lineId, String callId) {
    emit(lineId, new JsonObject().put("event", "media").put("callId", callId).put("state", "answer")
        .put("sdp", "v=0 answer"));
  }

  void emit(String lineId, JsonObject event) {
    vertx.eventBus().send(Addresses.session(lineId), event.put("lineId", lineId));
  }

  /** Waits (bounded) until {@code address} got {@code n} requests; returns the count then. */
  long awaitCount(String address, long n) throws InterruptedException {
    try {
      return Eventually.await(Harness.WAIT, n + " requests to " + address, () -> count(address), c -> c >= n);
    } catch (AssertionError e) {
      return count(address); // the caller's assertion says what it expected
    }
  }

  long count(String address) {
    return requests.stream().filter(r -> address.equals(r.getString("_address"))).count();
  }

  /**
   * For a real browser offer, an answer Chrome accepts (BUNDLE, rtcp-mux, passive DTLS, PCMU; no
   * candidates, so no media flows: these tests are about signalling and the page); else a placeholder.
   */
  static String answerTo(String offer) {
    java.util.regex.Matcher mid = java.util.regex.Pattern.compile("a=mid:(\\S+)").matcher(offer);
    if (!mid.find()) {
      return "v=0 answer";
    }
    StringBuilder fp = new StringBuilder();
    for (int i = 0; i < 32; i++) {
      fp.append(i == 0 ? "" : ":").append(String.format("%02X", i * 7));
    }
    String m = mid.group(1);
    return String.join("\r\n", "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE " + m,
        "m=audio 9 UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1", "a=ice-ufrag:fake", "a=ice-pwd:fakefakefakefakefakefake12",
        "a=fingerprint:sha-256 " + fp, "a=setup:passive", "a=mid:" + m, "a=sendrecv", "a=rtcp-mux",
        "a=rtpmap:0 PCMU/8000", "") ;
  }

  private static JsonObject state(String callId, String state, int code, String reason, String error) {
    JsonObject e = new JsonObject().put("event", "callState").put("callId", callId).put("state", state)
        .put("code", code).put("reason", reason).put("direction", "out");
    return error == null ? e : e.put("error", error);
  }

  /** {@code m} whose reply and failure go nowhere. */
  @SuppressWarnings("unchecked")
  private static Message<JsonObject> unanswered(Message<JsonObject> m) {
    return (Message<JsonObject>) java.lang.reflect.Proxy.newProxyInstance(Message.class.getClassLoader(),
        new Class<?>[] {Message.class}, (proxy, method, args) -> switch (method.getName()) {
          case "reply", "fail", "replyAndRequest" -> null;
          default -> method.invoke(m, args);
        });
  }

  private void on(String address, java.util.function.Consumer<Message<JsonObject>> handler) {
    consumers.add(vertx.eventBus().<JsonObject>localConsumer(address, m -> {
      requests.add(m.body().copy().put("_address", address));
      handler.accept(silent.contains(address) ? unanswered(m) : m);
    }));
  }
}
