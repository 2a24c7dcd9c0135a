package org.webphone.gateway.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Address blocks from the configuration: literals only, both families, every prefix length. */
class CidrTest {
  @Test
  void anAddressIsInsideItsBlockAndNowhereElse() {
    Object[][] table = {
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.1", false},
        {"192.168.1.128/25", "192.168.1.200", true},
        {"192.168.1.128/25", "192.168.1.127", false},
        {"203.0.113.7", "203.0.113.7", true},
        {"203.0.113.7", "203.0.113.8", false},
        {"0.0.0.0/0", "198.51.100.1", true},
        {"2001:db8::/32", "2001:db8:1::5", true},
        {"2001:db8::/32", "2001:db9::5", false},
        {"[::1]", "::1", true},
        {"::/0", "127.0.0.1", false}, // families never mix
    };
    for (Object[] row : table) {
      assertEquals(row[2], Cidr.parse((String) row[0]).contains(Cidr.literal((String) row[1])), row[0] + " ∋ " + row[1]);
    }
  }

  @Test
  void hostNamesAndBadPrefixesAreRefusedWithoutAnyLookup() {
    for (String bad : new String[] {"proxy.example", "localhost", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/x", "", "1.2.3"}) {
      assertThrows(IllegalArgumentException.class, () -> Cidr.parse(bad), bad);
    }
    assertNull(Cidr.literal("proxy.example"));
    assertNull(Cidr.literal(" unknown"));
  }
}
