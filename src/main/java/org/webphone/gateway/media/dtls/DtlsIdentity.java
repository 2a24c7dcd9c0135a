package org.webphone.gateway.media.dtls;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;
import java.util.HexFormat;
import java.util.Locale;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.util.PrivateKeyFactory;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.tls.Certificate;
import org.bouncycastle.tls.crypto.TlsCertificate;
import org.bouncycastle.tls.crypto.impl.bc.BcTlsCrypto;

/**
 * The node's DTLS identity: a self-signed ECDSA P-256 certificate made at start (browsers only check its
 * fingerprint against the SDP), its private key and its SHA-256 fingerprint. Immutable, shared by all legs.
 */
public final class DtlsIdentity {
  private final BcTlsCrypto crypto;
  private final Certificate certificate;
  private final AsymmetricKeyParameter privateKey;
  private final String fingerprint;

  private DtlsIdentity(BcTlsCrypto crypto, Certificate certificate, AsymmetricKeyParameter privateKey,
                       String fingerprint) {
    this.crypto = crypto;
    this.certificate = certificate;
    this.privateKey = privateKey;
    this.fingerprint = fingerprint;
  }

  /** Generates a key pair and certificate; a few ms, call from a worker. */
  public static DtlsIdentity generate(String commonName) {
    try {
      SecureRandom random = new SecureRandom();
      KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC");
      kpg.initialize(new ECGenParameterSpec("secp256r1"), random);
      KeyPair kp = kpg.generateKeyPair();
      long now = System.currentTimeMillis();
      X500Name name = new X500Name("CN=" + commonName);
      byte[] der = new JcaX509v3CertificateBuilder(name, new BigInteger(64, random).abs().add(BigInteger.ONE),
          new Date(now - 86_400_000L), new Date(now + 30L * 86_400_000L), name, kp.getPublic())
          .build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate()))
          .getEncoded();
      BcTlsCrypto crypto = new BcTlsCrypto(random);
      Certificate cert = new Certificate(new TlsCertificate[] {crypto.createCertificate(der)});
      return new DtlsIdentity(crypto, cert, PrivateKeyFactory.createKey(kp.getPrivate().getEncoded()),
          fingerprint(der));
    } catch (Exception e) {
      throw new IllegalStateException("cannot make the DTLS certificate: " + e, e);
    }
  }

  /** SHA-256 of a DER certificate as SDP writes it: upper-case hex pairs joined by colons. */
  public static String fingerprint(byte[] der) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(der);
      return HexFormat.ofDelimiter(":").withUpperCase().formatHex(d);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** True when two SDP fingerprints are the same (case and spacing do not matter). */
  public static boolean sameFingerprint(String a, String b) {
    return a != null && b != null
        && a.trim().toUpperCase(Locale.ROOT).equals(b.trim().toUpperCase(Locale.ROOT));
  }

  public BcTlsCrypto crypto() {
    return crypto;
  }

  public Certificate certificate() {
    return certificate;
  }

  public AsymmetricKeyParameter privateKey() {
    return privateKey;
  }

  /** {@code AB:CD:...}, for {@code a=fingerprint:sha-256}. */
  public String fingerprint() {
    return fingerprint;
  }
}
