package org.webphone.gateway.signalling;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.Randoms;
import org.webphone.gateway.common.messages.Fields;
import org.webphone.gateway.common.messages.SessionEvent;
import org.webphone.gateway.signalling.protocol.ClientFrame;
import org.webphone.gateway.signalling.protocol.ClientMethod;
import org.webphone.gateway.signalling.protocol.ProtocolException;
import org.webphone.gateway.signalling.protocol.ServerEvent;
import org.webphone.gateway.signalling.protocol.ServerEventFields;

/**
 * A session's audio path and auto-answer (docs/protocol.md, AudioPath): the agent's browser leg, opened once with
 * {@code AudioPath {sdp}} ({@code media.path.open}) and kept between calls, so that calls placed or accepted without
 * an {@code sdp} attach to it with no new ICE or DTLS; and the session's auto-answer choice, which needs the path
 * (the gateway answers for the page, so the audio must already be there).
 *
 * <p>Event loop of the signalling verticle only. Owns the path: {@link #close} (the session's end) frees it.
 */
final class AudioPathControl {
  private static final Logger LOG = LoggerFactory.getLogger(AudioPathControl.class);

  private final CallControl.Owner owner;
  private final int defaultDelayMs;
  private String pathId;
  private boolean open;
  private boolean autoAnswer;
  private int delayMs;

  AudioPathControl(CallControl.Owner owner, int defaultDelayMs) {
    this.owner = owner;
    this.defaultDelayMs = defaultDelayMs;
  }

  /** The open path's id, for calls without an sdp; null when the session has none. */
  String openPath() {
    return open ? pathId : null;
  }

  /**
   * The delay after which a ringing call is answered by the gateway: the INVITE's own ({@code askedMs}, which the
   * SIP side passes only from the PBX's allowed sources), else the session's; null when the session did not opt in.
   */
  Integer autoAnswerAfter(Integer askedMs) {
    if (!autoAnswer || openPath() == null) {
      return null;
    }
    return askedMs != null ? askedMs : delayMs;
  }

  Future<JsonObject> open(ClientFrame f) {
    if (pathId != null) {
      throw new ProtocolException(ErrorCode.WRONG_STATE, "the session already has an audio path");
    }
    Object delay = f.body().getValue(ClientMethod.Fields.AUTO_ANSWER_DELAY_OPT.name());
    int ms = delay == null ? defaultDelayMs : ((Number) delay).intValue();
    if (ms < 0 || ms > 60_000) {
      throw new ProtocolException(ErrorCode.BAD_FIELD, "autoAnswerDelayMs must be 0..60000");
    }
    String id = "p-" + Randoms.uuid();
    pathId = id;
    autoAnswer = Boolean.TRUE.equals(f.body().getValue(ClientMethod.Fields.AUTO_ANSWER_OPT.name()));
    delayMs = ms;
    JsonObject req = new JsonObject().put(Fields.AUDIO_PATH, id).put(Fields.SESSION_ID, owner.lineId())
        .put(Fields.BROWSER_OFFER, f.string(ClientMethod.Fields.SDP));
    return owner.replies().request(Addresses.MEDIA_PATH_OPEN, req).map(r -> {
      if (!id.equals(pathId)) {
        closeAtMedia(id); // the session closed meanwhile
        throw new ProtocolException(ErrorCode.WRONG_STATE, "the session closed while its audio path opened");
      }
      open = true;
      LOG.info("line={} audio path {} open, auto-answer {}", owner.lineId(), id, autoAnswer ? delayMs + " ms" : "off");
      return new JsonObject().put(ServerEventFields.AUDIO_PATH, id).put(ServerEventFields.SDP,
          r.getString(Fields.BROWSER_ANSWER));
    }).recover(e -> {
      if (id.equals(pathId) && !open) {
        pathId = null; // refused (e.g. 306: no PCMU in the offer): the session may try again
      }
      return Future.failedFuture(e instanceof ProtocolException ? e : VerticleRequests.toProtocol("AudioPath", e));
    });
  }

  /** A media event about the path: told to the page; a failed path is freed (calls then need an sdp again). */
  void onEvent(JsonObject ev) {
    String id = ev.getString(Fields.AUDIO_PATH);
    if (id == null || !id.equals(pathId)) {
      return;
    }
    String state = ev.getString(Fields.STATE, "");
    owner.send(ServerEvent.of(ServerEvent.AUDIO_PATH).put(ServerEventFields.AUDIO_PATH, id)
        .put(ServerEventFields.STATE, state).put(ServerEventFields.REASON, ev.getString(Fields.REASON)));
    if (state.equals(SessionEvent.MEDIA_FAILED)) {
      LOG.warn("line={} audio path {} failed: {}", owner.lineId(), id, ev.getString(Fields.REASON));
      pathId = null;
      open = false;
      closeAtMedia(id);
    }
  }

  /** Frees the path (the session closes); always succeeds. */
  Future<Void> close() {
    String id = pathId;
    pathId = null;
    open = false;
    return id == null ? Future.succeededFuture() : closeAtMedia(id).<Void>mapEmpty().recover(e -> Future.succeededFuture());
  }

  private Future<JsonObject> closeAtMedia(String id) {
    Future<JsonObject> f = owner.replies().request(Addresses.MEDIA_PATH_CLOSE, new JsonObject().put(Fields.AUDIO_PATH, id));
    f.onFailure(e -> LOG.warn("line={} audio path {} close failed: {}", owner.lineId(), id, e.getMessage()));
    return f;
  }
}
