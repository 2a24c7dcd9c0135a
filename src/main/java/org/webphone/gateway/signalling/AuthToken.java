package org.webphone.gateway.signalling;

import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The optional access token of {@code docs/protocol.md}: issued by the integrator's web site backend,
 * given to the page, passed in the WebSocket's first frame, {@code Hello {token}}.
 *
 * <pre>
 *   token   = base64url(payload) "." base64url(HMAC-SHA256(secret, base64url(payload)))
 *   payload = {"iat": issued-at epoch seconds, "exp": optional expiry epoch seconds, "sub": optional user,
 *              "jti": optional token id}
 * </pre>
 * A token is accepted when the signature matches, it was issued at most {@code auth.tokenMaxAgeSec} ago
 * (and not more than a minute in the future: clock skew), and {@code exp}, if present, has not passed;
 * {@code sub} and {@code jti}, when present, must be strings of 1..128 printable characters. Which
 * {@code sub} names an agent (a named line) and that a {@code jti} counts once cluster-wide is decided by
 * the session ({@link #claims}, {@link TokenIds}).
 */
public final class AuthToken {
  /** How far in the future an {@code iat} may be: clock skew between the integrator's backend and the node. */
  static final long SKEW_SEC = 60;
  private static final java.util.regex.Pattern CLAIM = java.util.regex.Pattern.compile("[\\x21-\\x7e]{1,128}");

  /** The claims a session uses: {@code sub} (an agent identity, or null) and {@code jti} (or null). */
  public record Claims(String sub, String jti) {
  }
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

  private AuthToken() {
  }

  /** Issues a token (integrators' example code, tests). */
  public static String issue(String secret, long iatSec, String sub) {
    return issue(secret, iatSec, sub, null);
  }

  /** Issues a token with a token id {@code jti} (an agent's token: accepted once cluster-wide). */
  public static String issue(String secret, long iatSec, String sub, String jti) {
    JsonObject p = new JsonObject().put("iat", iatSec);
    if (sub != null) {
      p.put("sub", sub);
    }
    if (jti != null) {
      p.put("jti", jti);
    }
    String payload = B64.encodeToString(p.encode().getBytes(StandardCharsets.UTF_8));
    return payload + "." + B64.encodeToString(hmac(secret, payload));
  }

  /** Null when the token is acceptable, else why not (for the log; the client only gets TOKEN_REFUSED). */
  public static String refusal(String token, String secret, long maxAgeSec, long nowSec) {
    if (token == null || token.isEmpty()) {
      return "no token";
    }
    if (token.length() > 2048) {
      return "token too long";
    }
    int dot = token.indexOf('.');
    if (dot <= 0 || dot != token.lastIndexOf('.')) {
      return "malformed token";
    }
    String payload = token.substring(0, dot);
    byte[] sig;
    JsonObject p;
    try {
      sig = Base64.getUrlDecoder().decode(token.substring(dot + 1));
      p = new JsonObject(new String(Base64.getUrlDecoder().decode(payload), StandardCharsets.UTF_8));
    } catch (RuntimeException e) {
      return "malformed token";
    }
    if (!MessageDigest.isEqual(sig, hmac(secret, payload))) {
      return "bad signature";
    }
    Object iat = p.getValue("iat");
    if (!(iat instanceof Number n)) {
      return "no iat";
    }
    long issued = n.longValue();
    if (issued > nowSec + SKEW_SEC || nowSec - issued > maxAgeSec) {
      return "expired";
    }
    Object exp = p.getValue("exp");
    if (exp != null && (!(exp instanceof Number e) || e.longValue() < nowSec)) {
      return "expired";
    }
    for (String claim : new String[] {"sub", "jti"}) {
      Object v = p.getValue(claim);
      if (v != null && !(v instanceof String c && CLAIM.matcher(c).matches())) {
        return "bad " + claim;
      }
    }
    return null;
  }

  /**
   * Whether {@code token} is refused only for its age ({@code iat} more than {@code maxAgeSec} ago): signature,
   * claims and {@code exp} fine. Such a token still follows a moved session of its own ({@link TokenIds#release}).
   */
  public static boolean onlyTooOld(String token, String secret, long maxAgeSec, long nowSec) {
    return refusal(token, secret, maxAgeSec, nowSec) != null && refusal(token, secret, Long.MAX_VALUE / 2, nowSec) == null;
  }

  /** The claims of a token that {@link #refusal} accepted. */
  public static Claims claims(String token) {
    JsonObject p = new JsonObject(new String(Base64.getUrlDecoder().decode(token.substring(0, token.indexOf('.'))),
        StandardCharsets.UTF_8));
    return new Claims(p.getString("sub"), p.getString("jti"));
  }

  private static byte[] hmac(String secret, String data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
