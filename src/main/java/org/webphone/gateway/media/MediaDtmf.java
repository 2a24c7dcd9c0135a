package org.webphone.gateway.media;

import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.common.messages.Fields;

/**
 * DTMF toward the PBX as RFC 4733 telephone-events, in the RTP stream of the call (same SSRC, sequence
 * numbers interleaved with the audio), on the codec's RTP clock. Each digit lasts 100 ms: one packet every 20 ms with a growing
 * duration, then the end packet three times (RFC 4733 §2.5.1.4), then a 50 ms gap. Digits are paced by one
 * Vert.x timer per command; DTMF is rare, so this is not a per-packet path.
 */
final class MediaDtmf {
  private static final String DIGITS = "0123456789*#ABCD";
  private static final int MAX_DIGITS = 32;
  private static final int TICK_MS = 20;
  private static final int TONE_TICKS = 5;
  private static final int STEPS_PER_DIGIT = TONE_TICKS + 3 + 3;

  private MediaDtmf() {
  }

  static void handle(Vertx vertx, Map<String, MediaSession> sessions, Message<JsonObject> m) {
    String callId = m.body() == null ? null : m.body().getString(Fields.CALL_ID);
    Object digitsValue = m.body() == null ? null : m.body().getValue(Fields.DIGITS);
    if (callId == null || digitsValue == null) {
      m.fail(ErrorCode.MISSING_FIELD.code(), "media.session.dtmf needs callId and digits");
      return;
    }
    MediaSession s = sessions.get(callId);
    if (s == null) {
      m.fail(ErrorCode.NOT_FOUND.code(), "no media for call " + callId);
      return;
    }
    String digits = digitsValue instanceof String d ? d.toUpperCase(java.util.Locale.ROOT) : "";
    if (digits.isEmpty() || digits.length() > MAX_DIGITS || !digits.chars().allMatch(c -> DIGITS.indexOf(c) >= 0)) {
      m.fail(ErrorCode.BAD_FIELD.code(), "digits must be 1.." + MAX_DIGITS + " of 0-9 * # A-D");
      return;
    }
    if (s.pbxTe() < 0) {
      m.fail(ErrorCode.BAD_FIELD.code(), "the call has no telephone-event negotiated with the PBX");
      return;
    }
    // Durations count units of the telephone-event's clock, which is the codec's (Opus: 960 per 20 ms).
    int unitsPerTick = s.codec().unitsPerMs() * TICK_MS;
    int[] step = {0};
    long[] ts = {0};
    vertx.setPeriodic(1, TICK_MS, id -> {
      int digit = step[0] / STEPS_PER_DIGIT;
      int k = step[0] % STEPS_PER_DIGIT;
      step[0]++;
      if (digit >= digits.length() || sessions.get(callId) != s) {
        vertx.cancelTimer(id);
        return;
      }
      int event = DIGITS.indexOf(digits.charAt(digit));
      if (k == 0) {
        ts[0] = s.dtmfTimestamp();
      }
      if (k < TONE_TICKS) {
        s.sendDtmfPacket(event, ts[0], (k + 1) * unitsPerTick, k == 0, false);
      } else if (k < TONE_TICKS + 3) {
        s.sendDtmfPacket(event, ts[0], TONE_TICKS * unitsPerTick, false, true);
      }
      // remaining steps of the digit: the gap before the next one
    });
    m.reply(new JsonObject().put(Fields.CALL_ID, callId));
  }
}
