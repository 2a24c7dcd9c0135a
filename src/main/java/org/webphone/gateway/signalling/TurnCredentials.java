package org.webphone.gateway.signalling;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.List;
import java.util.function.LongSupplier;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.webphone.gateway.config.IceServerUrls;

/**
 * Mints the short-lived TURN credentials of the "TURN REST API" scheme (draft-uberti-behave-turn-rest, what
 * coturn's {@code use-auth-secret} + {@code static-auth-secret} checks): username {@code <expiry unix
 * seconds>:<sessionId>}, credential base64(HMAC-SHA1(secret, username)). The TURN server recomputes the
 * credential from the username and refuses it once the expiry has passed, so no per-session state is shared with
 * it and a leaked credential dies with its lifetime. The secret stays in this object: it is in no frame, no log
 * line and no {@link #toString}.
 *
 * <p>Immutable and thread-safe (a {@link Mac} per call); the signalling event loop calls it for each
 * {@code OnSession} and {@code OnIceServers}.
 */
public final class TurnCredentials {
  /** The field names of an RTCIceServer (WebRTC 1.0), as the page hands them to its RTCPeerConnection. */
  public static final String URLS = "urls";
  public static final String USERNAME = "username";
  public static final String CREDENTIAL = "credential";

  /** One minted credential and the unix second it expires at. */
  public record Credential(String username, String credential, long expiresAtSec) {
  }

  private final IceServerUrls servers;
  private final SecretKeySpec key;
  private final LongSupplier clockMs;

  public TurnCredentials(IceServerUrls servers, String secret, LongSupplier clockMs) {
    this.servers = servers;
    this.key = secret.isEmpty() ? null : new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA1");
    this.clockMs = clockMs;
  }

  /** The credential of {@code sessionId}, valid for {@code ice.turnCredentialTtlSec} from now. */
  public Credential mint(String sessionId) {
    if (key == null) {
      throw new IllegalStateException("no ice.turnSecret: nothing to mint with");
    }
    long expires = Math.floorDiv(clockMs.getAsLong(), 1000) + servers.ttlSec();
    String username = expires + ":" + sessionId;
    try {
      Mac mac = Mac.getInstance("HmacSHA1");
      mac.init(key);
      String credential = Base64.getEncoder().encodeToString(mac.doFinal(username.getBytes(StandardCharsets.UTF_8)));
      return new Credential(username, credential, expires);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA1 is part of every JRE", e);
    }
  }

  /**
   * The page's {@code RTCConfiguration.iceServers} for {@code sessionId}: one RTCIceServer with the STUN URLs, one
   * with the TURN URLs and a fresh credential; an empty array when {@code ice.servers} is empty (the browser then
   * gathers host candidates only, as before).
   */
  public JsonArray iceServers(String sessionId) {
    JsonArray out = new JsonArray();
    List<String> stun = servers.urls().stream().filter(u -> !u.isTurn()).map(IceServerUrls.Url::text).toList();
    List<String> turn = servers.urls().stream().filter(IceServerUrls.Url::isTurn).map(IceServerUrls.Url::text).toList();
    if (!stun.isEmpty()) {
      out.add(new JsonObject().put(URLS, new JsonArray(stun)));
    }
    if (!turn.isEmpty()) {
      Credential c = mint(sessionId);
      out.add(new JsonObject().put(URLS, new JsonArray(turn)).put(USERNAME, c.username())
          .put(CREDENTIAL, c.credential()));
    }
    return out;
  }

  /** Whether sessions need fresh credentials now and then ({@link #refreshEveryMs}). */
  public boolean expires() {
    return servers.hasTurn();
  }

  /** Half the lifetime: a page always holds a credential with at least half its life left. */
  public long refreshEveryMs() {
    return servers.ttlSec() * 500;
  }

  @Override
  public String toString() {
    return "TurnCredentials[" + servers.urls().size() + " URLs, ttl " + servers.ttlSec() + " s]";
  }
}
