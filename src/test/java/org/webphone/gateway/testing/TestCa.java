package org.webphone.gateway.testing;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority that exists only for one test: a self-signed root and the server certificates it
 * issues, written as PEM files (what Kamailio's tls module, coturn, HAProxy, Vert.x and our own PEM settings
 * read). Certificates can be made for the wrong name or already expired, to prove that a peer refuses them.
 * RSA 2048 keys, SHA-256 signatures: what every peer of the tests accepts. Used from the test thread.
 */
public final class TestCa {
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path dir;
  private final KeyPair key;
  private final X509Certificate cert;
  private final X500Name name;

  /** A certificate and its key as PEM files; {@code chain} is the certificate followed by the CA's. */
  public record Issued(Path cert, Path key, Path chain) {
  }

  private TestCa(Path dir, KeyPair key, X509Certificate cert, X500Name name) {
    this.dir = dir;
    this.key = key;
    this.cert = cert;
    this.name = name;
  }

  /** A new root valid from an hour ago for a day, written to {@code dir/ca.pem}. */
  public static TestCa create(Path dir) throws IOException {
    try {
      Files.createDirectories(dir);
      KeyPair kp = rsa();
      X500Name name = new X500Name("CN=webphone test CA " + Long.toHexString(RANDOM.nextLong()));
      Instant now = Instant.now();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial(), Date.from(now.minus(Duration.ofHours(1))),
          Date.from(now.plus(Duration.ofDays(1))), name, kp.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
      X509Certificate cert = sign(b, kp.getPrivate());
      TestCa ca = new TestCa(dir, kp, cert, name);
      Files.writeString(ca.caPem(), pem(cert));
      return ca;
    } catch (IOException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException("test CA: " + e, e);
    }
  }

  /** The CA's certificate (PEM): what a peer's trust store gets. */
  public Path caPem() {
    return dir.resolve("ca.pem");
  }

  /** A server (and client) certificate for these names (host names or IP literals), valid for a day. */
  public Issued issue(String fileName, String... names) throws IOException {
    Instant now = Instant.now();
    return issue(fileName, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(1)), names);
  }

  /** A certificate that expired an hour ago, otherwise right: a peer must refuse it. */
  public Issued issueExpired(String fileName, String... names) throws IOException {
    Instant now = Instant.now();
    return issue(fileName, now.minus(Duration.ofDays(2)), now.minus(Duration.ofHours(1)), names);
  }

  /** A certificate for these names valid between the two instants. */
  public Issued issue(String fileName, Instant notBefore, Instant notAfter, String... names) throws IOException {
    try {
      KeyPair kp = rsa();
      X500Name subject = new X500Name("CN=" + names[0]);
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial(), Date.from(notBefore),
          Date.from(notAfter), subject, kp.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      List<GeneralName> sans = new ArrayList<>();
      for (String n : names) {
        sans.add(isIpLiteral(n) ? new GeneralName(GeneralName.iPAddress, n) : new GeneralName(GeneralName.dNSName, n));
      }
      b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      b.addExtension(Extension.extendedKeyUsage, false,
          new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(cert));
      X509Certificate issued = sign(b, key.getPrivate());
      Path certFile = dir.resolve(fileName + ".crt");
      Path keyFile = dir.resolve(fileName + ".key");
      Path chainFile = dir.resolve(fileName + ".chain.pem");
      Files.writeString(certFile, pem(issued));
      Files.writeString(keyFile, pem(kp.getPrivate()));
      Files.writeString(chainFile, pem(issued) + pem(cert));
      return new Issued(certFile, keyFile, chainFile);
    } catch (IOException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException("test CA: cannot issue " + fileName + ": " + e, e);
    }
  }

  private static boolean isIpLiteral(String n) {
    return n.matches("[0-9.]+") || n.contains(":");
  }

  private static KeyPair rsa() throws Exception {
    KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA");
    kpg.initialize(2048, RANDOM);
    return kpg.generateKeyPair();
  }

  private static BigInteger serial() {
    return new BigInteger(63, RANDOM).add(BigInteger.ONE);
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey signer) throws Exception {
    return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withRSA").build(signer)));
  }

  private static String pem(Object o) throws IOException {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(o);
    }
    return out.toString();
  }
}
