package org.webphone.gateway.media;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.media.rtp.StreamRewriter;

/**
 * The persistent browser legs of the node ("audio paths", docs/media.md): an agent's WebRTC leg set up once
 * ({@code media.path.open}) and kept between calls, so that every call of the session attaches to it with no new
 * ICE or DTLS handshake; only the call's PBX leg is new. One codec per path ({@code media.pathCodec}), chosen at
 * open; calls on it offer the PBX only that codec.
 *
 * <p>Between calls the leg relays nothing (its browser RTP is decrypted, to keep SRTP's rollover state, and
 * dropped) and no media timeout applies; the leg answers the browser's ICE consent checks and checks the
 * browser's ({@code IceLeg}: a path whose browser answers none for 30 s fails); DTLS needs no keep-alive. Until its first connect a path is failed after {@code media.timeoutSec} like any leg.
 *
 * <p>Threads: the media verticle's event loop only (the map, open, attach, close); building and freeing a leg run
 * on a worker. Owns: its paths' legs; {@link #close} (a session's end) and {@link #closeAll} (undeploy) free them.
 */
final class AudioPaths {
  private static final Logger LOG = LoggerFactory.getLogger(AudioPaths.class);

  /** One open path: its leg, the browser-side stream continued across calls, and the call attached now. */
  static final class Path {
    final String id;
    final String sessionId;
    final CallCodec codec;
    final int browserTe;
    final MediaCounters counters = new MediaCounters();
    final StreamRewriter toBrowser = new StreamRewriter(ThreadLocalRandom.current().nextInt());
    final long sdpSessionId = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE / 2);
    final long openedNanos = System.nanoTime();
    WebRtcLeg leg;
    boolean failed;

    Path(String id, String sessionId, CallCodec codec, int browserTe) {
      this.id = id;
      this.sessionId = sessionId;
      this.codec = codec;
      this.browserTe = browserTe;
    }

    JsonObject event(String state, String reason) {
      JsonObject e = SessionEvent.MEDIA.json().put(Fields.AUDIO_PATH, id).put(Fields.STATE, state);
      return reason == null ? e : e.put(Fields.REASON, reason);
    }
  }

  private final Vertx vertx;
  private final Context context;
  private final int codecPt;
  private final BiConsumer<String, JsonObject> emit;
  private final Map<String, Path> paths = new HashMap<>();
  /** Paths being built; a close that arrives meanwhile is remembered here (true). */
  private final Map<String, Boolean> opening = new HashMap<>();
  private final MediaCounters retired = new MediaCounters();
  private NodeMediaResources rt;

  /** {@code codec}: "PCMU" or "PCMA" (media.pathCodec); {@code emit} sends an event to a session. */
  AudioPaths(Vertx vertx, Context context, String codec, BiConsumer<String, JsonObject> emit) {
    this.vertx = vertx;
    this.context = context;
    this.codecPt = "PCMA".equals(codec) ? MediaSdp.PCMA : MediaSdp.PCMU;
    this.emit = emit;
  }

  void resources(NodeMediaResources rt) {
    this.rt = rt;
  }

  /** The open path {@code id} (null when none, or not built yet). */
  Path get(String id) {
    return id == null ? null : paths.get(id);
  }

  int count() {
    return paths.size();
  }

  void addCounters(MediaCounters total) {
    retired.addTo(total);
    paths.values().forEach(p -> p.counters.addTo(total));
  }

  // ------------------------------------------------------------------ commands

  void open(Message<JsonObject> m) {
    String id = text(m.body(), Fields.AUDIO_PATH);
    String sessionId = text(m.body(), Fields.SESSION_ID);
    String offerText = text(m.body(), Fields.BROWSER_OFFER);
    if (id == null || sessionId == null || offerText == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.path.open needs audioPath, sessionId and browserOffer");
      return;
    }
    if (paths.containsKey(id) || opening.containsKey(id)) {
      m.fail(ErrorCode.WRONG_STATE.code(), "audio path " + id + " is already open");
      return;
    }
    MediaSdp.BrowserOffer offer;
    try {
      offer = MediaSdp.parseBrowserOffer(offerText);
      if (!offer.g711().contains(codecPt)) {
        throw new IllegalArgumentException("the offer lacks " + (codecPt == MediaSdp.PCMU ? "PCMU" : "PCMA")
            + ", the audio path's codec (media.pathCodec)");
      }
    } catch (IllegalArgumentException e) {
      LOG.info("path={} refused SDP: {}", id, e.getMessage());
      m.fail(ErrorCode.BAD_SDP.code(), e.getMessage());
      return;
    }
    Path p = new Path(id, sessionId, CallCodec.g711(codecPt), offer.telephoneEvent());
    p.toBrowser.clockRate(p.codec.clockRate());
    opening.put(id, false);
    vertx.executeBlocking(() -> new WebRtcLeg(id, null, p.counters, rt, offer, events(p)), false).onComplete(ar -> {
      boolean closeRequested = Boolean.TRUE.equals(opening.remove(id));
      if (ar.failed()) {
        LOG.warn("path={} leg failed: {}", id, ar.cause().toString());
        m.fail(ErrorCode.INTERNAL.code(), "audio path failed: " + ar.cause().getMessage());
        return;
      }
      if (closeRequested) {
        closeOnWorker(ar.result());
        m.fail(ErrorCode.NOT_FOUND.code(), "audio path " + id + " was closed while it was being opened");
        return;
      }
      p.leg = ar.result();
      paths.put(id, p);
      LOG.info("path={} session={} audio path opened: codec {} te {}", id, sessionId, p.codec.label(), p.browserTe);
      String answer = MediaSdp.browserAnswer(offer, p.sdpSessionId, 1, rt.announcedAddress(), rt.ice().port(),
          p.leg.localUfrag(), p.leg.localPassword(), p.leg.localCandidateLines(), rt.identity().fingerprint(),
          p.codec, p.browserTe, p.toBrowser.ssrc());
      m.reply(new JsonObject().put(Fields.BROWSER_ANSWER, answer));
    });
  }

  void close(Message<JsonObject> m) {
    String id = text(m.body(), Fields.AUDIO_PATH);
    if (id == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.path.close needs audioPath");
      return;
    }
    if (opening.containsKey(id)) {
      opening.put(id, true);
    }
    Path p = paths.remove(id);
    if (p == null) {
      m.reply(new JsonObject().put(Fields.AUDIO_PATH, id));
      return;
    }
    MediaSession call = p.leg.attached();
    if (call != null) {
      call.releaseBrowserLeg(); // the call's session stays until its own close, with nothing left to relay
    }
    vertx.executeBlocking(() -> {
      p.leg.close();
      return null;
    }).onComplete(ar -> {
      p.counters.addTo(retired);
      LOG.info("path={} audio path closed: {}", id, p.counters.toJson().encode());
      m.reply(new JsonObject().put(Fields.AUDIO_PATH, id));
    });
  }

  /**
   * The path carries {@code s} from now on (its session's active call): a new call borrows the leg, a call already
   * on it is attached again. The call it carried before stays on the leg but relays nothing either way until it is
   * attached again (it is on hold: RFC 3264 {@code sendonly} toward its far end, no RTP needed); the browser's
   * stream goes on with a new source, as between calls.
   */
  void carry(Path p, MediaSession s) {
    p.toBrowser.newSource();
    if (s.browserLeg() == p.leg) {
      s.attachBrowserLeg();
    } else {
      s.borrowBrowserLeg(p.leg);
    }
  }

  /** media.path.attach: {@code call} (null when unknown) becomes the one call the path carries. */
  void attach(Message<JsonObject> m, MediaSession call) {
    String id = text(m.body(), Fields.AUDIO_PATH);
    String callId = text(m.body(), Fields.CALL_ID);
    if (id == null || callId == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.path.attach needs audioPath and callId");
      return;
    }
    Path p = paths.get(id);
    if (p == null || p.failed || call == null || call.browserLeg() != p.leg || !call.sessionId().equals(p.sessionId)) {
      m.fail(ErrorCode.NOT_FOUND.code(), "call " + callId + " is not on the open audio path " + id);
      return;
    }
    if (p.leg.attached() != call) {
      MediaSession was = p.leg.attached();
      carry(p, call);
      LOG.info("path={} now carries call={} (call={} held on it)", id, callId, was == null ? "-" : was.callId());
    }
    m.reply(new JsonObject().put(Fields.AUDIO_PATH, id).put(Fields.CALL_ID, callId));
  }

  /** Undeploy: every leg freed (blocking, from the verticle's stop on a worker). */
  void closeAll() {
    for (Path p : paths.values()) {
      p.leg.close();
    }
    paths.clear();
  }

  /** A path whose leg never connected within the media timeout fails once (event loop). */
  void checkTimeouts(long now, long timeoutNanos) {
    for (Path p : paths.values()) {
      if (!p.failed && !p.leg.connected() && now - p.openedNanos > timeoutNanos) {
        p.failed = true;
        LOG.info("path={} audio path not connected within {} s", p.id, timeoutNanos / 1_000_000_000L);
        emit.accept(p.sessionId, p.event(SessionEvent.MEDIA_FAILED,
            "audio path (ICE/DTLS) not connected within " + timeoutNanos / 1_000_000_000L + " s"));
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private WebRtcLeg.Events events(Path p) {
    return new WebRtcLeg.Events() {
      @Override
      public void onConnected(WebRtcLeg leg) {
        context.runOnContext(v -> {
          if (paths.get(p.id) == p) {
            emit.accept(p.sessionId, p.event(SessionEvent.MEDIA_CONNECTED, null));
          }
        });
      }

      @Override
      public void onIceMoved(WebRtcLeg leg, org.webphone.gateway.media.ice.IceLeg old) {
        context.runOnContext(v -> vertx.executeBlocking(() -> {
          old.close();
          return null;
        }, false));
      }

      @Override
      public void onFailed(WebRtcLeg leg, String reason) {
        context.runOnContext(v -> {
          if (paths.get(p.id) != p || p.failed) {
            return;
          }
          p.failed = true;
          LOG.warn("path={} audio path failed: {}", p.id, reason);
          emit.accept(p.sessionId, p.event(SessionEvent.MEDIA_FAILED, reason));
          MediaSession call = leg.attached();
          if (call != null && !call.ended()) {
            call.markEnded();
            emit.accept(p.sessionId, call.event(SessionEvent.MEDIA_FAILED, "audio path: " + reason));
          }
        });
      }
    };
  }

  private void closeOnWorker(WebRtcLeg leg) {
    vertx.executeBlocking(() -> {
      leg.close();
      return null;
    }, false);
  }

  private static String text(JsonObject b, String key) {
    Object v = b == null ? null : b.getValue(key);
    return v instanceof String s && !s.isBlank() ? s : null;
  }
}
