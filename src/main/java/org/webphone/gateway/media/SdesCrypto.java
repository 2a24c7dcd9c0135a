package org.webphone.gateway.media;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * SDES key exchange toward the PBX (RFC 4568): the {@code a=crypto} lines we write and the ones we accept.
 *
 * <pre>
 * a=crypto:&lt;tag&gt; &lt;suite&gt; inline:&lt;base64 key||salt&gt;[|&lt;lifetime&gt;][|&lt;MKI&gt;:&lt;length&gt;] [&lt;session params&gt;]
 * </pre>
 *
 * Suites: AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 (16-byte key + 14-byte salt = 30 bytes,
 * base64 40 characters). A lifetime is accepted and not enforced (a call never comes near 2^31 packets); an
 * MKI, several keys in one line, and session parameters (UNENCRYPTED_SRTP, KDR, ...) are refused, because
 * the relay sends and expects plain SRTP with no MKI field. Every refusal is an
 * {@link IllegalArgumentException} whose message names the tag and says what is wrong; it ends the call.
 * Pure functions, any thread.
 */
public final class SdesCrypto {
  private SdesCrypto() {
  }

  /** The SDES suites the relay speaks, with the SRTP profile each one uses. */
  public enum Suite {
    AES_CM_128_HMAC_SHA1_80(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80),
    AES_CM_128_HMAC_SHA1_32(SrtpKeys.Profile.AES128_CM_HMAC_SHA1_32);

    private final SrtpKeys.Profile profile;

    Suite(SrtpKeys.Profile profile) {
      this.profile = profile;
    }

    public SrtpKeys.Profile profile() {
      return profile;
    }

    /** The suite named {@code name} (case as in RFC 4568), or null when we do not speak it. */
    public static Suite named(String name) {
      for (Suite s : values()) {
        if (s.name().equals(name)) {
          return s;
        }
      }
      return null;
    }
  }

  /** One crypto attribute: its tag, suite and master key||salt (30 bytes). */
  public record Line(int tag, Suite suite, byte[] key) {
    /** The attribute's value, as written after {@code a=crypto:}. */
    public String attribute() {
      return tag + " " + suite.name() + " inline:" + Base64.getEncoder().encodeToString(key);
    }
  }

  /**
   * Parses one attribute value. {@code side} ("PBX answer", "PBX offer") starts the message of the
   * exception, e.g. "PBX answer: crypto tag 1: key||salt is 20 bytes, AES_CM_128_HMAC_SHA1_80 needs 30".
   */
  public static Line parse(String value, String side) {
    String[] f = value.trim().split("\\s+");
    if (f.length < 3) {
      throw new IllegalArgumentException(side + ": malformed a=crypto:" + value.trim());
    }
    int tag;
    try {
      tag = Integer.parseInt(f[0]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(side + ": crypto tag " + f[0] + " is not a number");
    }
    if (tag < 0 || tag > 999_999_999) {
      throw new IllegalArgumentException(side + ": crypto tag " + f[0] + " is out of range (RFC 4568: 1-9 digits)");
    }
    String where = side + ": crypto tag " + tag;
    Suite suite = Suite.named(f[1]);
    if (suite == null) {
      throw new IllegalArgumentException(where + ": unknown crypto suite " + f[1] + " (we speak " + names() + ")");
    }
    if (f.length > 3) {
      throw new IllegalArgumentException(where + ": session parameter " + f[3] + " is not supported");
    }
    String keyParams = f[2];
    if (!keyParams.startsWith("inline:")) {
      throw new IllegalArgumentException(where + ": key method must be inline, got " + keyParams);
    }
    if (keyParams.contains(";")) {
      throw new IllegalArgumentException(where + ": several keys in one line (MKI) are not supported");
    }
    String[] parts = keyParams.substring(7).split("\\|", -1);
    byte[] key;
    try {
      key = Base64.getDecoder().decode(parts[0]);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": key||salt is not base64");
    }
    if (key.length != SrtpKeys.SDES_KEY_LENGTH) {
      throw new IllegalArgumentException(where + ": key||salt is " + key.length + " bytes, " + suite.name()
          + " needs " + SrtpKeys.SDES_KEY_LENGTH);
    }
    for (int i = 1; i < parts.length; i++) {
      String p = parts[i];
      if (p.contains(":")) {
        throw new IllegalArgumentException(where + ": MKI " + p + " is not supported");
      }
      if (i > 1 || !(p.matches("[0-9]{1,15}") || p.matches("2\\^[0-9]{1,2}"))) {
        throw new IllegalArgumentException(where + ": bad key lifetime " + p);
      }
    }
    return new Line(tag, suite, key);
  }

  /**
   * The line to use from a PBX offer: the first one we can use (RFC 4568 section 7.1.1: the offerer lists
   * its preference first). Lines we cannot use are skipped; when none is left the message says why each
   * was refused.
   */
  public static Line chooseFromOffer(List<String> attributes) {
    List<String> why = new ArrayList<>();
    for (String a : attributes) {
      try {
        return parse(a, "PBX offer");
      } catch (IllegalArgumentException e) {
        why.add(e.getMessage().substring("PBX offer: ".length()));
      }
    }
    throw new IllegalArgumentException("PBX offer: no usable a=crypto"
        + (why.isEmpty() ? " line" : " (" + String.join("; ", why) + ")"));
  }

  /**
   * The PBX's answer to our {@code offered} lines: exactly one line, with a tag we offered and that tag's
   * suite (RFC 4568 section 7.1.2); its key is the PBX's.
   */
  public static Line checkAnswer(List<String> attributes, List<Line> offered) {
    if (attributes.isEmpty()) {
      throw new IllegalArgumentException("PBX answer: RTP/SAVP without a=crypto");
    }
    if (attributes.size() > 1) {
      throw new IllegalArgumentException("PBX answer: " + attributes.size() + " a=crypto lines, expected one");
    }
    Line answer = parse(attributes.get(0), "PBX answer");
    for (Line o : offered) {
      if (o.tag() == answer.tag()) {
        if (o.suite() != answer.suite()) {
          throw new IllegalArgumentException("PBX answer: crypto tag " + answer.tag() + " is " + answer.suite()
              + " but we offered " + o.suite() + " with that tag");
        }
        return answer;
      }
    }
    throw new IllegalArgumentException("PBX answer: crypto tag " + answer.tag() + " was not offered");
  }

  /** Parses {@code media.pbxSrtpSuites}: suite names, at least one, no repeats. */
  public static List<Suite> suites(List<String> names) {
    List<Suite> out = new ArrayList<>();
    for (String n : names) {
      Suite s = Suite.named(n == null ? "" : n.trim().toUpperCase(Locale.ROOT));
      if (s == null) {
        throw new IllegalArgumentException("unknown suite " + n + " (known: " + names() + ")");
      }
      if (out.contains(s)) {
        throw new IllegalArgumentException("suite " + n + " listed twice");
      }
      out.add(s);
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("needs at least one suite (known: " + names() + ")");
    }
    return List.copyOf(out);
  }

  private static String names() {
    List<String> n = new ArrayList<>();
    for (Suite s : Suite.values()) {
      n.add(s.name());
    }
    return String.join(", ", n);
  }
}
