package org.webphone.gateway.signalling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.testing.PeerProcess;

/** The access token format of docs/protocol.md, including the shell recipe given there to integrators. */
class AuthTokenTest {
  private static final String SECRET = "change-me";

  @Test
  void aTokenIssuedWithTheDocumentedShellRecipeIsAccepted() throws Exception {
    PeerProcess.requireBinary("openssl");
    String recipe = "secret='" + SECRET + "'\n"
        + "payload=$(printf '{\"iat\":%s,\"sub\":\"visitor-42\"}' \"$(date +%s)\" | base64 -w0 | tr '+/' '-_' | tr -d '=')\n"
        + "sig=$(printf '%s' \"$payload\" | openssl dgst -sha256 -hmac \"$secret\" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')\n"
        + "echo \"$payload.$sig\"\n";
    Process p = new ProcessBuilder(List.of("bash", "-c", recipe)).redirectErrorStream(true).start();
    try {
      String token = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      p.waitFor(10, TimeUnit.SECONDS);
      assertNull(AuthToken.refusal(token, SECRET, 300, System.currentTimeMillis() / 1000), token);
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void tokensAreRefusedForEachDocumentedReason() {
    long now = 1_800_000_000L;
    String good = AuthToken.issue(SECRET, now, "v");
    assertNull(AuthToken.refusal(good, SECRET, 300, now + 299));
    assertEquals("no token", AuthToken.refusal(null, SECRET, 300, now));
    assertEquals("malformed token", AuthToken.refusal("abc", SECRET, 300, now));
    assertEquals("malformed token", AuthToken.refusal("a.b.c", SECRET, 300, now));
    assertEquals("bad signature", AuthToken.refusal(good, "other", 300, now));
    assertEquals("expired", AuthToken.refusal(good, SECRET, 300, now + 301), "older than tokenMaxAgeSec");
    assertEquals("expired", AuthToken.refusal(good, SECRET, 300, now - 120), "issued in the future");
    String withExp = signed("{\"iat\":" + now + ",\"exp\":" + (now + 10) + "}");
    assertNull(AuthToken.refusal(withExp, SECRET, 300, now + 10));
    assertEquals("expired", AuthToken.refusal(withExp, SECRET, 300, now + 11), "past exp");
    assertEquals("no iat", AuthToken.refusal(signed("{\"sub\":\"v\"}"), SECRET, 300, now));
  }

  /**
   * Only a token whose one fault is its age (iat more than tokenMaxAgeSec ago) may still resume its session or
   * follow a move of it: a bad signature, a passed exp or a future iat are never "only too old".
   */
  @Test
  void onlyATokenPastItsAgeButOtherwiseGoodIsOnlyTooOld() {
    long now = 1_800_000_000L;
    String good = AuthToken.issue(SECRET, now, "agent-7", "jti-1");
    assertFalse(AuthToken.onlyTooOld(good, SECRET, 300, now + 299), "within its age: simply valid");
    assertTrue(AuthToken.onlyTooOld(good, SECRET, 300, now + 301));
    assertTrue(AuthToken.onlyTooOld(good, SECRET, 300, now + 86_400 * 30), "a month later too");
    assertFalse(AuthToken.onlyTooOld(good, "other", 300, now + 301), "bad signature");
    assertFalse(AuthToken.onlyTooOld(good, SECRET, 300, now - 120), "issued in the future");
    String withExp = signed("{\"iat\":" + now + ",\"exp\":" + (now + 400) + "}");
    assertTrue(AuthToken.onlyTooOld(withExp, SECRET, 300, now + 301), "past its age, before its exp");
    assertFalse(AuthToken.onlyTooOld(withExp, SECRET, 300, now + 401), "past its exp: refused for good");
    assertFalse(AuthToken.onlyTooOld(null, SECRET, 300, now));
    assertFalse(AuthToken.onlyTooOld(signed("{\"iat\":" + now + ",\"sub\":\"\"}"), SECRET, 300, now + 301),
        "a bad claim");
  }

  private static String signed(String json) {
    java.util.Base64.Encoder b64 = java.util.Base64.getUrlEncoder().withoutPadding();
    String payload = b64.encodeToString(json.getBytes(StandardCharsets.UTF_8));
    try {
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
      mac.init(new javax.crypto.spec.SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return payload + "." + b64.encodeToString(mac.doFinal(payload.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
