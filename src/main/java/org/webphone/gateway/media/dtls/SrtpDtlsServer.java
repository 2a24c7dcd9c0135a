package org.webphone.gateway.media.dtls;

import java.io.IOException;
import java.util.Hashtable;
import java.util.Vector;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.CertificateRequest;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.ClientCertificateType;
import org.bouncycastle.tls.DefaultTlsServer;
import org.bouncycastle.tls.ExporterLabel;
import org.bouncycastle.tls.HashAlgorithm;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.SRTPProtectionProfile;
import org.bouncycastle.tls.SignatureAlgorithm;
import org.bouncycastle.tls.SignatureAndHashAlgorithm;
import org.bouncycastle.tls.TlsCredentialedSigner;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsSRTPUtils;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.UseSRTPData;
import org.bouncycastle.tls.crypto.TlsCryptoParameters;
import org.bouncycastle.tls.crypto.impl.bc.BcDefaultTlsCredentialedSigner;
import org.webphone.gateway.media.rtp.SrtpKeys;

/**
 * The gateway's DTLS 1.2 server ({@code a=setup:passive}) for DTLS-SRTP (RFC 5764): ECDHE_ECDSA suites
 * only (our certificate is ECDSA), use_srtp with AEAD_AES_128_GCM (RFC 7714) when the browser offers it and
 * {@code media.srtpAeadGcm} allows, else AES128_CM_HMAC_SHA1_80; a client certificate required and checked
 * against the fingerprint of the browser's offer, keying material (of the chosen profile's length) exported at
 * the end.
 */
final class SrtpDtlsServer extends DefaultTlsServer {
  private static final int[] SUITES = {
      CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
      CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
      CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
      CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
      CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
  };

  private final DtlsIdentity identity;
  private final String expectedFingerprint;
  private final int handshakeTimeoutMs;
  private final boolean aeadGcm;
  private volatile byte[] keyingMaterial;
  private volatile String peerFingerprint;
  private volatile SrtpKeys.Profile profile = SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80;

  SrtpDtlsServer(DtlsIdentity identity, String expectedFingerprint, int handshakeTimeoutMs, boolean aeadGcm) {
    super(identity.crypto());
    this.identity = identity;
    this.expectedFingerprint = expectedFingerprint;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
    this.aeadGcm = aeadGcm;
  }

  @Override
  protected ProtocolVersion[] getSupportedVersions() {
    // Chrome offers DTLS 1.3 too; bctls has no DTLS 1.3 server and the default list is TLS, not DTLS.
    return ProtocolVersion.DTLSv12.only();
  }

  @Override
  protected int[] getSupportedCipherSuites() {
    return TlsUtils.getSupportedCipherSuites(getCrypto(), SUITES);
  }

  @Override
  public int getHandshakeTimeoutMillis() {
    return handshakeTimeoutMs;
  }

  @Override
  public void processClientExtensions(Hashtable clientExtensions) throws IOException {
    super.processClientExtensions(clientExtensions);
    UseSRTPData srtp = TlsSRTPUtils.getUseSRTPExtension(clientExtensions);
    boolean cm = false;
    boolean gcm = false;
    if (srtp != null) {
      for (int p : srtp.getProtectionProfiles()) {
        cm |= p == SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80;
        gcm |= p == SRTPProtectionProfile.SRTP_AEAD_AES_128_GCM;
      }
    }
    // Our preference, not the client's order (RFC 5764 4.1.1 lets the server choose): GCM is one AEAD pass
    // with a 16-byte tag instead of AES-CTR plus HMAC-SHA1.
    if (gcm && aeadGcm) {
      profile = SrtpKeys.Profile.AEAD_AES_128_GCM;
    } else if (cm) {
      profile = SrtpKeys.Profile.AES128_CM_HMAC_SHA1_80;
    } else {
      throw new TlsFatalAlert(AlertDescription.handshake_failure);
    }
  }

  @Override
  public Hashtable getServerExtensions() throws IOException {
    Hashtable ext = super.getServerExtensions();
    if (ext == null) {
      ext = new Hashtable();
    }
    int chosen = profile == SrtpKeys.Profile.AEAD_AES_128_GCM
        ? SRTPProtectionProfile.SRTP_AEAD_AES_128_GCM : SRTPProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80;
    TlsSRTPUtils.addUseSRTPExtension(ext, new UseSRTPData(new int[] {chosen}, TlsUtils.EMPTY_BYTES));
    return ext;
  }

  @Override
  protected TlsCredentialedSigner getECDSASignerCredentials() {
    return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), identity.crypto(),
        identity.privateKey(), identity.certificate(),
        new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
  }

  @Override
  public CertificateRequest getCertificateRequest() {
    Vector<SignatureAndHashAlgorithm> algs = new Vector<>();
    algs.add(new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
    algs.add(new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.rsa));
    return new CertificateRequest(new short[] {ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign},
        algs, null);
  }

  @Override
  public void notifyClientCertificate(org.bouncycastle.tls.Certificate clientCertificate) throws IOException {
    if (clientCertificate == null || clientCertificate.isEmpty()) {
      throw new TlsFatalAlert(AlertDescription.certificate_required);
    }
    String fp = DtlsIdentity.fingerprint(clientCertificate.getCertificateAt(0).getEncoded());
    peerFingerprint = fp;
    if (!DtlsIdentity.sameFingerprint(fp, expectedFingerprint)) {
      throw new TlsFatalAlert(AlertDescription.bad_certificate);
    }
  }

  @Override
  public void notifyHandshakeComplete() throws IOException {
    super.notifyHandshakeComplete();
    keyingMaterial = context.exportKeyingMaterial(ExporterLabel.dtls_srtp, null,
        profile.keyingMaterialLength());
  }

  SrtpKeys.Profile profile() {
    return profile;
  }

  byte[] keyingMaterial() {
    return keyingMaterial;
  }

  String peerFingerprint() {
    return peerFingerprint;
  }
}
