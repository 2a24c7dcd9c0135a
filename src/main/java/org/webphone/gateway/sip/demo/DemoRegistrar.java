package org.webphone.gateway.sip.demo;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sip.address.SipURI;
import javax.sip.header.AuthorizationHeader;
import javax.sip.message.Request;
import org.webphone.gateway.config.AccountList.Account;

/**
 * The demo PBX's location service: which pool account is reachable at which Contact, and digest checks
 * (MD5, qop=auth or none) against the pool accounts' passwords. Nonces live five minutes. Event-loop only.
 */
final class DemoRegistrar {
  static final String REALM = "webphone-demo";
  private static final long NONCE_TTL_MS = 5 * 60_000;
  private static final Pattern URI_PARAM = Pattern.compile("(?i)\\buri=\"([^\"]*)\"");
  private static final SecureRandom RANDOM = new SecureRandom();

  record Binding(SipURI contact, long expiresAtMs) {
  }

  private final Map<String, Account> accounts = new HashMap<>();
  private final Map<String, Binding> bindings = new HashMap<>();
  private final Map<String, Long> nonces = new HashMap<>();

  DemoRegistrar(List<Account> pool) {
    for (Account a : pool) {
      accounts.put(a.username(), a);
    }
  }

  boolean knows(String user) {
    return user != null && accounts.containsKey(user);
  }

  String newNonce(long now) {
    nonces.values().removeIf(t -> t < now);
    byte[] b = new byte[12];
    RANDOM.nextBytes(b);
    String n = HexFormat.of().formatHex(b);
    nonces.put(n, now + NONCE_TTL_MS);
    return n;
  }

  /** True when {@code req} carries a valid digest for the account {@code user}. */
  boolean authorized(Request req, String user, long now) {
    AuthorizationHeader h = (AuthorizationHeader) req.getHeader(AuthorizationHeader.NAME);
    Account acc = accounts.get(user);
    if (h == null || acc == null || !acc.authUser().equals(h.getUsername()) || h.getNonce() == null) {
      return false;
    }
    Long valid = nonces.get(h.getNonce());
    if (valid == null || valid < now || h.getResponse() == null) {
      return false;
    }
    Matcher m = URI_PARAM.matcher(h.toString());
    String uri = m.find() ? m.group(1) : String.valueOf(h.getURI());
    String ha1 = md5(acc.authUser() + ":" + REALM + ":" + acc.password());
    String ha2 = md5(req.getMethod() + ":" + uri);
    String expected;
    if (h.getQop() != null && h.getQop().equalsIgnoreCase("auth")) {
      String nc = String.format(Locale.ROOT, "%08x", h.getNonceCount());
      expected = md5(ha1 + ":" + h.getNonce() + ":" + nc + ":" + h.getCNonce() + ":auth:" + ha2);
    } else {
      expected = md5(ha1 + ":" + h.getNonce() + ":" + ha2);
    }
    return MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII),
        h.getResponse().toLowerCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII));
  }

  void bind(String user, SipURI contact, int expiresSec, long now) {
    if (expiresSec <= 0) {
      bindings.remove(user);
    } else {
      bindings.put(user, new Binding(contact, now + expiresSec * 1000L));
    }
  }

  /** The current Contact of {@code user}, or null when it is not registered (or its binding expired). */
  SipURI lookup(String user, long now) {
    Binding b = bindings.get(user);
    if (b == null || b.expiresAtMs() < now) {
      bindings.remove(user);
      return null;
    }
    return b.contact();
  }

  int registered() {
    return bindings.size();
  }

  private static String md5(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
