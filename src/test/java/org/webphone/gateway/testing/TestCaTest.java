package org.webphone.gateway.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TestCaTest {
  @TempDir
  Path dir;

  private String verify(TestCa ca, TestCa.Issued issued, String host) throws Exception {
    Process p = new ProcessBuilder(List.of("openssl", "verify", "-CAfile", ca.caPem().toString(), "-verify_hostname", host,
        issued.cert().toString())).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }

  @Test
  void opensslAcceptsAnIssuedCertificateForItsNameAndRefusesAnotherNameAndAnExpiredOne() throws Exception {
    TestCa ca = TestCa.create(dir);
    TestCa.Issued good = ca.issue("pbx", "pbx.test", "10.251.0.2");
    assertTrue(verify(ca, good, "pbx.test").contains(": OK"), verify(ca, good, "pbx.test"));
    assertTrue(verify(ca, good, "other.test").contains("hostname mismatch"), verify(ca, good, "other.test"));
    TestCa.Issued old = ca.issueExpired("old", "pbx.test");
    assertTrue(verify(ca, old, "pbx.test").contains("certificate has expired"), verify(ca, old, "pbx.test"));
    assertEquals(2, java.nio.file.Files.readString(good.chain()).split("BEGIN CERTIFICATE").length - 1);
  }
}
