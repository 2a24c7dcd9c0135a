package org.webphone.gateway.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PortsTest {
  @Test
  void portsComeFromBelowTheEphemeralRangeAndAreNeverHandedOutTwice() throws IOException {
    Path range = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    int low = Ports.ephemeralLow();
    if (Files.exists(range)) {
      // The kernel's own figure, read through a stream rather than as lines.
      try (InputStream in = Files.newInputStream(range)) {
        String text = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        assertEquals(Integer.parseInt(text.trim().split("\\s+")[0]), low);
      }
    }
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      int p = Ports.free();
      assertTrue(p >= 21000 && p < low, p + " outside [21000, " + low + ")");
      assertTrue(seen.add(p), p + " handed out twice");
    }
    for (int i = 0; i < 50; i++) {
      int p = Ports.freeRange(4);
      assertEquals(0, p % 2, "an RTP range starts on an even port: " + p);
      assertTrue(p + 3 < low, p + "..+3 reaches the ephemeral range " + low);
      for (int q = p; q < p + 4; q++) {
        assertTrue(seen.add(q), q + " handed out twice");
      }
    }
  }
}
