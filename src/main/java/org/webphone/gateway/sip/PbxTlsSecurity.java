package org.webphone.gateway.sip;

import gov.nist.core.net.SecurityManagerProvider;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.Consumer;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * The key material of the SIP TLS listening point, named in {@code gov.nist.javax.sip.SECURITY_MANAGER_PROVIDER}
 * (JAIN-SIP creates it by class name and calls {@link #init} with the stack's properties, where
 * {@link SipEndpoint} put the {@code webphone.tls.*} entries): our certificate and key from PEM files
 * ({@code sip.tlsCert}, {@code sip.tlsKey}) and a {@link PbxTrustManager} that checks the PBX's certificate
 * against {@code pbx.tlsTrust} (PEM CA certificates) or the JVM's trust store, and its name against
 * {@code pbx.tlsServerName}. JAIN-SIP itself checks no host name.
 *
 * <p>Threads: {@link #init} runs on the worker that creates the stack; the trust manager runs on JAIN-SIP's
 * NIO selector threads and only hands failures to the listener set by {@link #onCertificateFailure}.
 */
public final class PbxTlsSecurity implements SecurityManagerProvider {
  static final String CERT = "webphone.tls.cert";
  static final String KEY = "webphone.tls.key";
  static final String TRUST = "webphone.tls.trust";
  static final String SERVER_NAME = "webphone.tls.serverName";
  static final String VERIFY = "webphone.tls.verify";

  /** Providers JAIN-SIP created, by stack name, until {@link #take} hands each to its endpoint. */
  private static final java.util.Map<String, PbxTlsSecurity> CREATED = new java.util.concurrent.ConcurrentHashMap<>();

  private KeyManager[] keyManagers;
  private PbxTrustManager trustManager;

  /** For JAIN-SIP, which creates the provider by class name. */
  public PbxTlsSecurity() {
  }

  @Override
  public void init(Properties p) throws GeneralSecurityException, IOException {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    char[] none = new char[0];
    List<X509Certificate> chain = certificates(Path.of(p.getProperty(CERT)));
    if (chain.isEmpty()) {
      throw new GeneralSecurityException("sip.tlsCert " + p.getProperty(CERT) + " holds no certificate");
    }
    ks.setKeyEntry("sip", privateKey(Path.of(p.getProperty(KEY))), none, chain.toArray(Certificate[]::new));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, none);
    keyManagers = kmf.getKeyManagers();
    String trust = p.getProperty(TRUST, "");
    KeyStore anchors = null;
    if (!trust.isBlank()) {
      anchors = KeyStore.getInstance("PKCS12");
      anchors.load(null, null);
      int i = 0;
      for (X509Certificate c : certificates(Path.of(trust))) {
        anchors.setCertificateEntry("ca" + i++, c);
      }
      if (i == 0) {
        throw new GeneralSecurityException("pbx.tlsTrust " + trust + " holds no certificate");
      }
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(anchors); // null: the JVM's own trust store
    X509TrustManager pkix = null;
    for (TrustManager tm : tmf.getTrustManagers()) {
      if (tm instanceof X509TrustManager x) {
        pkix = x;
      }
    }
    trustManager = new PbxTrustManager(pkix, p.getProperty(SERVER_NAME), !"false".equals(p.getProperty(VERIFY)));
    String stack = p.getProperty("javax.sip.STACK_NAME");
    if (stack != null) {
      CREATED.put(stack, this);
    }
  }

  /** The provider JAIN-SIP created for this stack (and forgets it here), or null. */
  static PbxTlsSecurity take(String stackName) {
    return CREATED.remove(stackName);
  }

  @Override
  public KeyManager[] getKeyManagers(boolean client) {
    return keyManagers;
  }

  @Override
  public TrustManager[] getTrustManagers(boolean client) {
    return new TrustManager[] {trustManager};
  }

  /** Called (on a selector thread) with the reason each time the PBX's certificate is refused; null when it passes. */
  void onCertificateFailure(Consumer<String> listener) {
    trustManager.listener = listener;
  }

  /** Why the PBX's certificate was last refused, or null when the last one passed (or none was seen yet). */
  String lastFailure() {
    return trustManager.lastFailure;
  }

  private static List<X509Certificate> certificates(Path file) throws IOException, CertificateException {
    List<X509Certificate> out = new ArrayList<>();
    try (InputStream in = Files.newInputStream(file)) {
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        out.add((X509Certificate) c);
      }
    }
    return out;
  }

  /** PKCS#8 ("PRIVATE KEY") or a traditional RSA/EC key pair, as openssl writes them. */
  private static PrivateKey privateKey(Path file) throws IOException {
    try (Reader r = Files.newBufferedReader(file); PEMParser parser = new PEMParser(r)) {
      Object o = parser.readObject();
      JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
      if (o instanceof PEMKeyPair kp) {
        return conv.getKeyPair(kp).getPrivate();
      }
      if (o instanceof PrivateKeyInfo info) {
        return conv.getPrivateKey(info);
      }
      throw new IOException("sip.tlsKey " + file + " holds no unencrypted private key");
    }
  }
}
