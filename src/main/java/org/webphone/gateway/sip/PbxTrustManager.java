package org.webphone.gateway.sip;

import java.net.IDN;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.webphone.gateway.config.IpRanges;

/**
 * Decides whether a TLS peer of the SIP port is the PBX. Outbound (we connect to the PBX): the chain must
 * lead to a trusted CA ({@code pbx.tlsTrust} or the JVM's), be valid now, and name {@code pbx.tlsServerName}
 * (DNS name, one left-most wildcard label allowed, or IP address in subjectAltName; the CN only when there is
 * no subjectAltName), over TLS 1.2 or later. Inbound (the PBX connects to us, {@code sip.tlsClientAuth}): a
 * certificate it presents must lead to a trusted CA; its name is not checked (the PBX may connect from any of
 * its addresses; {@code pbx.allowedSources} decides who is answered). With {@code pbx.tlsVerify=false} nothing
 * is checked and every connection logs a warning.
 *
 * <p>Threads: runs on JAIN-SIP's NIO selector threads, never blocks; {@link #lastFailure} and the listener
 * are how the SIP verticle learns of a refusal.
 */
final class PbxTrustManager extends X509ExtendedTrustManager {
  private static final Logger LOG = LoggerFactory.getLogger(PbxTrustManager.class);
  private static final Set<String> PROTOCOLS = Set.of("TLSv1.2", "TLSv1.3");

  private final X509TrustManager pkix;
  private final String serverName;
  private final boolean verify;
  volatile Consumer<String> listener = why -> { };
  volatile String lastFailure;

  PbxTrustManager(X509TrustManager pkix, String serverName, boolean verify) {
    this.pkix = pkix;
    this.serverName = serverName;
    this.verify = verify;
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    String why = verify ? problem(chain, authType, engine == null ? null : engine.getHandshakeSession()) : null;
    if (!verify) {
      LOG.warn("PBX certificate NOT verified (pbx.tlsVerify=false, lab use only): accepted {} for {} unchecked",
          chain.length > 0 ? chain[0].getSubjectX500Principal() : "nothing", serverName);
    }
    report(why);
    if (why != null) {
      throw new CertificateException("PBX certificate: " + why);
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    checkServerTrusted(chain, authType, (SSLEngine) null);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    checkServerTrusted(chain, authType, (SSLEngine) null);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    if (!verify) {
      LOG.warn("certificate of the TLS peer {} NOT verified (pbx.tlsVerify=false, lab use only)",
          engine == null ? "?" : engine.getPeerHost());
      return;
    }
    try {
      pkix.checkClientTrusted(chain, authType);
    } catch (CertificateException e) {
      String why = explain(e);
      LOG.warn("TLS connection to the SIP port refused: the peer's certificate {}", why);
      throw new CertificateException("peer certificate: " + why, e);
    }
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    checkClientTrusted(chain, authType, (SSLEngine) null);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    checkClientTrusted(chain, authType, (SSLEngine) null);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return pkix.getAcceptedIssuers();
  }

  private void report(String why) {
    String before = lastFailure;
    lastFailure = why;
    if (why != null) {
      LOG.error("PBX certificate refused: {} (pbx.tlsServerName {}, pbx.tlsTrust); TLS connection closed",
          why, serverName);
      listener.accept(why);
    } else if (before != null) {
      LOG.info("PBX certificate accepted again");
      listener.accept(null);
    }
  }

  /** Why the PBX's chain is refused, or null when it passes. */
  private String problem(X509Certificate[] chain, String authType, SSLSession session) {
    if (session != null && !PROTOCOLS.contains(session.getProtocol())) {
      return session.getProtocol() + " refused (TLS 1.2 or later only)";
    }
    if (chain == null || chain.length == 0) {
      return "none presented";
    }
    try {
      pkix.checkServerTrusted(chain, authType);
    } catch (CertificateException e) {
      return explain(e);
    }
    List<String> names = names(chain[0]);
    if (!matches(names, serverName)) {
      return "issued for " + names + ", not for " + serverName + " (pbx.tlsServerName)";
    }
    return null;
  }

  /** A sentence an operator understands, from what PKIX threw (expiry is nested inside its exception). */
  static String explain(CertificateException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof CertificateExpiredException) {
        return "expired (" + t.getMessage() + ")";
      }
      if (t instanceof CertificateNotYetValidException) {
        return "not valid yet (" + t.getMessage() + ")";
      }
    }
    String m = String.valueOf(e.getMessage());
    if (m.contains("validity check failed")) {
      return "expired or not yet valid";
    }
    if (m.contains("unable to find valid certification path")) {
      return "not issued by a trusted CA (pbx.tlsTrust, or the JVM's trust store when blank)";
    }
    return m;
  }

  /** The subjectAltName DNS names and IP addresses; the CN when there are none. */
  static List<String> names(X509Certificate c) {
    List<String> out = new ArrayList<>();
    try {
      if (c.getSubjectAlternativeNames() != null) {
        for (List<?> san : c.getSubjectAlternativeNames()) {
          int type = (Integer) san.get(0);
          if (type == 2 || type == 7) {
            out.add(String.valueOf(san.get(1)));
          }
        }
      }
    } catch (CertificateParsingException e) {
      return out;
    }
    if (out.isEmpty()) {
      for (String rdn : c.getSubjectX500Principal().getName().split(",")) {
        if (rdn.trim().startsWith("CN=")) {
          out.add(rdn.trim().substring(3));
        }
      }
    }
    return out;
  }

  static boolean matches(List<String> names, String host) {
    if (host == null || host.isBlank()) {
      return false;
    }
    if (IpRanges.literal(host) != null) {
      java.net.InetAddress want = IpRanges.literal(host);
      return names.stream().map(IpRanges::literal).anyMatch(want::equals);
    }
    String h = IDN.toASCII(host).toLowerCase(Locale.ROOT);
    for (String n : names) {
      String p = n.toLowerCase(Locale.ROOT);
      if (p.equals(h)) {
        return true;
      }
      // "*.example.com" matches one label: "pbx.example.com", not "example.com" nor "a.pbx.example.com"
      if (p.startsWith("*.") && h.indexOf('.') > 0 && h.substring(h.indexOf('.')).equals(p.substring(1))) {
        return true;
      }
    }
    return false;
  }
}
