package org.webphone.gateway.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.security.SecureRandom;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RandomsTest {
  @Test
  void uuidsAreVersion4IetfVariantAndParseBack() {
    for (int i = 0; i < 1000; i++) {
      UUID u = Randoms.uuid();
      assertEquals(4, u.version());
      assertEquals(2, u.variant());
      assertEquals(u, UUID.fromString(u.toString()));
    }
  }

  @Test
  void threadsDrawFromTheirOwnGeneratorsAndNeverRepeatAnId() throws Exception {
    Set<UUID> seen = ConcurrentHashMap.newKeySet();
    Set<SecureRandom> generators = ConcurrentHashMap.newKeySet();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      Future<?>[] runs = new Future<?>[4];
      for (int t = 0; t < runs.length; t++) {
        runs[t] = pool.submit(() -> {
          generators.add(Randoms.secure());
          for (int i = 0; i < 5000; i++) {
            seen.add(Randoms.uuid());
          }
        });
      }
      for (Future<?> r : runs) {
        r.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(20_000, seen.size(), "every id distinct");
    assertEquals(4, generators.size(), "one generator per thread");
    assertNotSame(Randoms.secure(), generators.iterator().next());
    assertEquals("DRBG", Randoms.secure().getAlgorithm());
  }
}
