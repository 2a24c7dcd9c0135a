package org.webphone.gateway.sip;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.ParseException;
import java.util.HexFormat;
import java.util.Locale;
import javax.sip.header.AuthorizationHeader;
import javax.sip.header.HeaderFactory;
import javax.sip.header.ProxyAuthenticateHeader;
import javax.sip.header.WWWAuthenticateHeader;
import javax.sip.message.Request;
import javax.sip.message.Response;
import org.webphone.gateway.common.Randoms;

/**
 * RFC 2617 / RFC 3261 digest answers for one account: MD5, with {@code qop=auth} and a growing nonce
 * count when the server offers it. Keeps the last challenge so each new request of the line can be
 * answered without another round trip, and refuses to answer the same nonce twice after a rejection
 * (a wrong password must end in a failure, not a loop).
 */
final class DigestAuth {

  private final String authUser;
  private final String password;
  private WWWAuthenticateHeader challenge;
  private boolean proxy;
  private int nonceCount;

  DigestAuth(String authUser, String password) {
    this.authUser = authUser;
    this.password = password;
  }

  /**
   * Takes the challenge of a 401/407. Returns false when it cannot be answered: unsupported algorithm,
   * or the same nonce as the one already rejected (credentials wrong) and not marked stale.
   */
  boolean accept(Response r) {
    boolean isProxy = r.getStatusCode() == Response.PROXY_AUTHENTICATION_REQUIRED;
    WWWAuthenticateHeader h = (WWWAuthenticateHeader) r.getHeader(
        isProxy ? ProxyAuthenticateHeader.NAME : WWWAuthenticateHeader.NAME);
    if (h == null || !"digest".equalsIgnoreCase(h.getScheme())) {
      return false;
    }
    String alg = h.getAlgorithm();
    if (alg != null && !alg.equalsIgnoreCase("MD5")) {
      return false;
    }
    boolean sameNonce = challenge != null && h.getNonce() != null && h.getNonce().equals(challenge.getNonce());
    if (sameNonce && !h.isStale()) {
      return false;
    }
    challenge = h;
    proxy = isProxy;
    nonceCount = 0;
    return true;
  }

  /** Forgets the cached challenge (after a failure the next request starts unauthenticated). */
  void reset() {
    challenge = null;
  }

  boolean hasChallenge() {
    return challenge != null;
  }

  /** Adds the Authorization (or Proxy-Authorization) header for {@code req}, if a challenge is known. */
  void authorize(Request req, HeaderFactory hf) throws ParseException {
    if (challenge == null) {
      return;
    }
    String realm = challenge.getRealm() == null ? "" : challenge.getRealm();
    String nonce = challenge.getNonce() == null ? "" : challenge.getNonce();
    String uri = req.getRequestURI().toString();
    String ha1 = md5(authUser + ":" + realm + ":" + password);
    String ha2 = md5(req.getMethod() + ":" + uri);
    boolean qopAuth = offersAuth(challenge.getQop());
    AuthorizationHeader a = proxy ? hf.createProxyAuthorizationHeader("Digest") : hf.createAuthorizationHeader("Digest");
    a.setUsername(authUser);
    a.setRealm(realm);
    a.setNonce(nonce);
    a.setURI(req.getRequestURI());
    a.setAlgorithm("MD5");
    if (challenge.getOpaque() != null) {
      a.setOpaque(challenge.getOpaque());
    }
    if (qopAuth) {
      nonceCount++;
      String nc = String.format(Locale.ROOT, "%08x", nonceCount);
      String cnonce = HexFormat.of().formatHex(randomBytes());
      a.setQop("auth");
      a.setNonceCount(nonceCount);
      a.setCNonce(cnonce);
      a.setResponse(md5(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2));
    } else {
      a.setResponse(md5(ha1 + ":" + nonce + ":" + ha2));
    }
    req.removeHeader(a.getName());
    req.addHeader(a);
  }

  private static boolean offersAuth(String qop) {
    if (qop == null) {
      return false;
    }
    for (String q : qop.split(",")) {
      if (q.trim().equalsIgnoreCase("auth")) {
        return true;
      }
    }
    return false;
  }

  private static byte[] randomBytes() {
    byte[] b = new byte[8];
    Randoms.nextBytes(b);
    return b;
  }

  static String md5(String s) {
    try {
      MessageDigest d = MessageDigest.getInstance("MD5");
      return HexFormat.of().formatHex(d.digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
