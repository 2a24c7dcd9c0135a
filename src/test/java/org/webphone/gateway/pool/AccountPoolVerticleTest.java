package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.webphone.gateway.common.Addresses;
import org.webphone.gateway.common.ConfirmedLeases;
import org.webphone.gateway.common.ErrorCode;
import org.webphone.gateway.testing.Eventually;

/** One standalone node (in-memory pool): leases, fair order, fencing, exhaustion, the waiting line. */
@ExtendWith(VertxExtension.class)
class AccountPoolVerticleTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private Vertx vertx;
  private PoolClient pool;
  private String deployment;

  private void deploy(Vertx vx, JsonObject poolSection) throws Exception {
    vertx = vx;
    pool = new PoolClient(vx);
    deployment = vx.deployVerticle(new AccountPoolVerticle(),
        new DeploymentOptions().setConfig(PoolClient.config("n1", poolSection))).await(10, TimeUnit.SECONDS);
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    if (deployment == null) {
      return;
    }
    JsonObject s = pool.status();
    assertEquals(0, s.getInteger("leased"), "a test left a lease: " + s);
    assertEquals(0, s.getInteger("waiting"), "a test left a waiter: " + s);
    assertEquals(s.getInteger("total"), s.getInteger("free"));
    vertx.undeploy(deployment).await(10, TimeUnit.SECONDS);
    try {
      pool.status();
      throw new AssertionError("pool.status still answered after undeploy");
    } catch (ReplyException e) {
      assertEquals(ReplyFailure.NO_HANDLERS, e.failureType());
    }
  }

  @Test
  void everyAccountIsLeasedOnceThenTheNextSessionGetsConnectionLimit(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 3));
    List<JsonObject> leases = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    long lastToken = 0;
    for (int i = 0; i < 3; i++) {
      JsonObject l = pool.lease("s" + i);
      leases.add(l);
      assertTrue(ids.add(l.getString("accountId")), "account leased twice: " + l.getString("accountId"));
      assertTrue(l.getLong("token") > lastToken, "tokens grow");
      lastToken = l.getLong("token");
      JsonObject acc = l.getJsonObject("account");
      assertEquals(l.getString("accountId"), acc.getString("username"));
      assertEquals("pw-" + acc.getString("username"), acc.getString("password"));
      assertEquals(acc.getString("username"), acc.getString("authUser"));
    }
    assertEquals(Set.of("u1", "u2", "u3"), ids);
    JsonObject s = pool.status();
    assertEquals(3, s.getInteger("total"));
    assertEquals(0, s.getInteger("free"));
    assertEquals(3, s.getInteger("leased"));
    assertEquals(3, s.getJsonArray("leases").size());
    assertEquals("s0", s.getJsonArray("leases").getJsonObject(0).getString("sessionId"));
    JsonObject counts = pool.call(Addresses.POOL_STATUS, new JsonObject().put("leases", false));
    assertEquals(3, counts.getInteger("leased"));
    assertFalse(counts.containsKey("leases"), "pollers get the counts only");

    try {
      pool.lease("s3");
      throw new AssertionError("a fourth lease from three accounts");
    } catch (ReplyException e) {
      assertEquals(ErrorCode.NO_ACCOUNT.code(), e.failureCode());
      assertEquals("Connection limit", e.getMessage());
    }
    assertEquals(ErrorCode.NO_ACCOUNT.code(), pool.failureCode(Addresses.POOL_LEASE,
        new JsonObject().put("sessionId", "s4").put("wait", true)), "no waiting line unless pool.waitingLine");
    leases.forEach(l -> assertTrue(pool.release(l).getBoolean("released")));
    assertEquals(3, pool.status().getInteger("free"));
  }

  @Test
  void theLeastRecentlyReleasedAccountIsLeasedFirst(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 3));
    JsonObject a = pool.lease("a");
    JsonObject b = pool.lease("b");
    JsonObject c = pool.lease("c");
    pool.release(b);
    pool.release(c);
    pool.release(a);
    List<String> order = new ArrayList<>();
    List<JsonObject> again = new ArrayList<>();
    for (String s : List.of("x", "y", "z")) {
      JsonObject l = pool.lease(s);
      again.add(l);
      order.add(l.getString("accountId"));
    }
    assertEquals(List.of(b.getString("accountId"), c.getString("accountId"), a.getString("accountId")), order);
    assertTrue(again.get(0).getLong("token") > c.getLong("token"), "a new lease of an account has a bigger token");
    again.forEach(pool::release);
  }

  @Test
  void aStaleTokenIsRefusedForReleaseAndValidate(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1));
    JsonObject first = pool.lease("s1");
    assertTrue(pool.current(first));
    pool.release(first);
    assertFalse(pool.current(first), "a released lease is no longer current");
    JsonObject second = pool.lease("s2");
    assertEquals(first.getString("accountId"), second.getString("accountId"));
    assertTrue(second.getLong("token") > first.getLong("token"));
    assertFalse(pool.current(first), "the old holder is fenced");
    assertTrue(pool.current(second));
    assertTrue(pool.release(first).getBoolean("released"), "repeating the last release is harmless");
    assertTrue(pool.current(second), "the repeated release did not touch the current lease");
    pool.release(second);
    JsonObject third = pool.lease("s3");
    assertEquals(ErrorCode.STALE_TOKEN.code(), pool.failureCode(Addresses.POOL_RELEASE,
        new JsonObject().put("accountId", "u1").put("token", first.getLong("token"))));
    assertEquals(ErrorCode.STALE_TOKEN.code(), pool.failureCode(Addresses.POOL_RELEASE,
        new JsonObject().put("accountId", "u1").put("token", third.getLong("token") + 1)));
    assertTrue(pool.current(third), "refused stale releases did not touch the current lease");
    assertEquals(ErrorCode.NOT_FOUND.code(), pool.failureCode(Addresses.POOL_RELEASE,
        new JsonObject().put("accountId", "nobody").put("token", 1)));
    pool.release(third);
  }

  @Test
  void changesArePublishedOnPoolChangedWithTheNewCounts(Vertx vx, VertxTestContext ctx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 2));
    Checkpoint seen = ctx.checkpoint();
    MessageConsumer<JsonObject> c = vx.eventBus().consumer(Addresses.POOL_CHANGED, m -> ctx.verify(() -> {
      if (m.body().getInteger("leased") == 1) {
        assertEquals(new JsonObject().put("total", 2).put("free", 1).put("leased", 1).put("waiting", 0), m.body());
        seen.flag();
      }
    }));
    c.completion().await(5, TimeUnit.SECONDS);
    JsonObject l = pool.lease("s1");
    assertTrue(ctx.awaitCompletion(5, TimeUnit.SECONDS), "pool.changed with leased=1");
    pool.release(l);
    c.unregister().await(5, TimeUnit.SECONDS);
  }

  @Test
  void aRetriedLeaseOfTheSameSessionGetsTheSameLeaseNotASecondAccount(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 2));
    JsonObject l1 = pool.lease("s1");
    JsonObject l2 = pool.lease("s1");
    assertEquals(l1, l2);
    assertEquals(1, pool.status().getInteger("leased"));
    pool.release(l1);
  }

  @Test
  void badRequestsGetClearErrorsAndThePoolStillWorksAfterwards(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1));
    record Bad(String address, JsonObject body, ErrorCode code) {
    }
    List<Bad> table = List.of(
        new Bad(Addresses.POOL_LEASE, new JsonObject(), ErrorCode.MISSING_FIELD),
        new Bad(Addresses.POOL_LEASE, new JsonObject().put("sessionId", 7), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_LEASE, new JsonObject().put("sessionId", " "), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "s").put("nodeId", 3), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "s").put("wait", "yes"), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_RELEASE, new JsonObject().put("token", 1), ErrorCode.MISSING_FIELD),
        new Bad(Addresses.POOL_RELEASE, new JsonObject().put("accountId", "u1"), ErrorCode.MISSING_FIELD),
        new Bad(Addresses.POOL_RELEASE, new JsonObject().put("accountId", "u1").put("token", "1"), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_RELEASE, new JsonObject().put("accountId", "u1").put("token", 1.5), ErrorCode.BAD_FIELD),
        new Bad(Addresses.POOL_VALIDATE, new JsonObject().put("accountId", "u1"), ErrorCode.MISSING_FIELD),
        new Bad(Addresses.POOL_CANCEL_WAIT, new JsonObject(), ErrorCode.MISSING_FIELD));
    for (Bad b : table) {
      assertEquals(b.code().code(), pool.failureCode(b.address(), b.body()), b.address() + " " + b.body());
    }
    assertEquals(1, pool.status().getInteger("free"), "bad requests took nothing");
    JsonObject l = pool.lease("good");
    assertTrue(pool.current(l));
    pool.release(l);
  }

  @Test
  void waitersGetFreedAccountsInArrivalOrderAndHearTheirNewPlace(Vertx vx, VertxTestContext ctx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1).put("waitingLine", true));
    JsonObject held = pool.lease("s0");
    JsonObject wait = new JsonObject().put("nodeId", "test").put("wait", true);
    // Sessions are signalling's; these consumers stand in for them as the addresses the pool sends to.
    List<String> events = new ArrayList<>();
    List<JsonObject> granted = new ArrayList<>();
    Checkpoint s2Leased = ctx.checkpoint();
    Checkpoint s1Leased = ctx.checkpoint();
    MessageConsumer<JsonObject> c1 = vx.eventBus().consumer(Addresses.session("s1"), m -> ctx.verify(() -> {
      events.add("s1:" + m.body().getString("event"));
      if ("lease".equals(m.body().getString("event"))) {
        granted.add(m.body());
        assertTrue(m.body().getLong("token") > held.getLong("token"));
        m.reply(new JsonObject().put("accepted", true));
        s1Leased.flag();
      }
    }));
    MessageConsumer<JsonObject> c2 = vx.eventBus().consumer(Addresses.session("s2"), m -> ctx.verify(() -> {
      events.add("s2:" + m.body().getString("event") + ":" + m.body().getValue("position", ""));
      if ("lease".equals(m.body().getString("event"))) {
        granted.add(m.body());
        m.reply(new JsonObject().put("accepted", true));
        s2Leased.flag();
      }
    }));
    assertEquals(new JsonObject().put("queued", true).put("position", 1),
        pool.call(Addresses.POOL_LEASE, wait.copy().put("sessionId", "s1")));
    assertEquals(new JsonObject().put("queued", true).put("position", 2),
        pool.call(Addresses.POOL_LEASE, wait.copy().put("sessionId", "s2")));
    assertEquals(ErrorCode.NO_ACCOUNT.code(), pool.failureCode(Addresses.POOL_LEASE,
        new JsonObject().put("sessionId", "s3")), "without wait:true an empty pool still answers Connection limit");
    assertEquals(2, pool.status().getInteger("waiting"));

    pool.release(held);
    // s1 gets the account; s2 is told it is now first, then gets the account s1 gives back.
    Eventually.until(WAIT, "s1 to get the freed account", () -> !granted.isEmpty());
    assertEquals(1, granted.size(), "s1 got the freed account");
    Eventually.await(WAIT, "s2 to hear it is first now", () -> List.copyOf(events), l -> l.contains("s2:queue:1"));
    pool.release(granted.get(0));
    assertTrue(ctx.awaitCompletion(10, TimeUnit.SECONDS));
    assertEquals(List.of("s1:lease", "s2:queue:1", "s2:lease:"), events);
    pool.release(granted.get(1));
    c1.unregister().await();
    c2.unregister().await();
  }

  @Test
  void anAccountGrantedToAWaiterWhoseSessionIsGoneGoesBackToThePool(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1).put("waitingLine", true));
    JsonObject held = pool.lease("s0");
    pool.call(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "ghost").put("wait", true));
    pool.release(held);
    Eventually.await(WAIT, "the account nobody could take to be free again", pool::status,
        s -> s.getInteger("free") == 1);
    JsonObject again = pool.lease("s5");
    assertNotEquals(held.getLong("token"), again.getLong("token"));
    pool.release(again);
  }

  @Test
  void aSessionThatNeverHeardOfItsLeaseCanGiveItBackBySessionId(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1).put("waitingLine", true));
    JsonObject lost = pool.lease("s1"); // think of this reply as lost: signalling timed out
    pool.call(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "w1").put("wait", true));
    assertTrue(pool.call(Addresses.POOL_RELEASE, new JsonObject().put("sessionId", "w1")).getBoolean("released"),
        "a waiting session leaves the line the same way");
    assertEquals(0, pool.status().getInteger("waiting"));
    assertTrue(pool.call(Addresses.POOL_RELEASE, new JsonObject().put("sessionId", "s1")).getBoolean("released"));
    assertFalse(pool.current(lost));
    assertEquals(ErrorCode.NOT_FOUND.code(), pool.failureCode(Addresses.POOL_RELEASE,
        new JsonObject().put("sessionId", "s1")), "nothing left to give back");
    assertEquals(1, pool.status().getInteger("free"));
  }

  @Test
  void aSessionThatStopsWaitingLeavesTheLine(Vertx vx) throws Exception {
    deploy(vx, PoolClient.range("u", 1, 1).put("waitingLine", true));
    JsonObject held = pool.lease("s0");
    pool.call(Addresses.POOL_LEASE, new JsonObject().put("sessionId", "w").put("wait", true));
    assertTrue(pool.call(Addresses.POOL_CANCEL_WAIT, new JsonObject().put("sessionId", "w")).getBoolean("removed"));
    assertFalse(pool.call(Addresses.POOL_CANCEL_WAIT, new JsonObject().put("sessionId", "w")).getBoolean("removed"));
    assertEquals(0, pool.status().getInteger("waiting"));
    pool.release(held);
    assertEquals(1, pool.status().getInteger("free"), "the account went to the free line, not to the gone waiter");
  }

  @Test
  void leasesAreConfirmedNodeLocallyForHalfTheTtlRenewedByHeartbeatsAndWithdrawnOnReleaseAndUndeploy(Vertx vx)
      throws Exception {
    List<JsonObject> seen = new CopyOnWriteArrayList<>();
    ConfirmedLeases copy = new ConfirmedLeases();
    MessageConsumer<JsonObject> c = vx.eventBus().localConsumer(Addresses.POOL_LEASES_CONFIRMED, m -> {
      synchronized (copy) {
        copy.apply(m.body());
      }
      seen.add(m.body().copy().put("at", System.nanoTime()));
    });
    c.completion().await(5, TimeUnit.SECONDS);
    deploy(vx, PoolClient.range("u", 1, 2).put("leaseTtlSec", 3)); // heartbeats every 1 s, confirmations 1.5 s
    JsonObject beat = awaitPublication(seen, 0, m -> m.getBoolean(ConfirmedLeases.FULL, false), "a heartbeat's set");
    assertEquals(new JsonObject(), beat.getJsonObject(ConfirmedLeases.LEASES));
    long bound = beat.getLong(ConfirmedLeases.UNTIL_NANOS) - beat.getLong("at");
    assertTrue(bound > 0 && bound <= 1_500_000_000L, "confirmed for at most half the TTL: " + bound + " ns");

    JsonObject l = pool.lease("s1");
    String acc = l.getString("accountId");
    long token = l.getLong("token");
    int from = seen.size();
    JsonObject added = awaitPublication(seen, 0, m -> m.getJsonObject(ConfirmedLeases.LEASES, new JsonObject())
        .containsKey(acc) && !m.getBoolean(ConfirmedLeases.FULL, false), "the grant's delta");
    assertEquals(token, added.getJsonObject(ConfirmedLeases.LEASES).getLong(acc));
    synchronized (copy) {
      assertTrue(copy.confirms(acc, token));
    }
    // The next heartbeat lists the lease again and moves the bound on.
    JsonObject renewed = awaitPublication(seen, from, m -> m.getBoolean(ConfirmedLeases.FULL, false)
        && m.getJsonObject(ConfirmedLeases.LEASES).containsKey(acc), "a heartbeat's set with the lease");
    assertTrue(renewed.getLong(ConfirmedLeases.UNTIL_NANOS) - added.getLong(ConfirmedLeases.UNTIL_NANOS) > 0);

    pool.release(l);
    JsonObject released = awaitPublication(seen, 0, m -> m.containsKey(ConfirmedLeases.RELEASED), "the release");
    assertEquals(new JsonObject().put(acc, token), released.getJsonObject(ConfirmedLeases.RELEASED));
    synchronized (copy) {
      assertFalse(copy.confirms(acc, token), "a released lease is not confirmed");
    }
    awaitPublication(seen, seen.size(), m -> m.getBoolean(ConfirmedLeases.FULL, false), "a heartbeat after the release");
    synchronized (copy) {
      assertEquals(0, copy.size(), "the set is empty again: nothing stays behind");
    }

    assertEquals(0, pool.status().getInteger("leased"));
    int before = seen.size();
    vx.undeploy(deployment).await(10, TimeUnit.SECONDS);
    deployment = null;
    awaitPublication(seen, before, m -> m.getBoolean(ConfirmedLeases.FULL, false)
        && !m.containsKey(ConfirmedLeases.UNTIL_NANOS), "undeploy withdraws the confirmation");
    // A publication already on its way when the undeploy finished is ahead of this one on the consumer's loop.
    vx.eventBus().publish(Addresses.POOL_LEASES_CONFIRMED, new JsonObject().put("marker", true));
    awaitPublication(seen, before, m -> m.getBoolean("marker", false), "the test's own marker");
    int after = seen.size();
    // Silence can only be watched: a heartbeat timer left running would publish within one period (1 s) of
    // the last heartbeat, so the watch ends a margin after that, not at a fixed time.
    long lastBeatNanos = seen.stream().filter(m -> m.containsKey(ConfirmedLeases.UNTIL_NANOS))
        .mapToLong(m -> m.getLong("at")).max().orElseThrow();
    Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(lastBeatNanos - System.nanoTime()) + 1300));
    assertEquals(after, seen.size(), "no heartbeat after undeploy: " + seen.subList(after, seen.size()));
    c.unregister().await(5, TimeUnit.SECONDS);
  }

  /** The first publication from index {@code from} on that matches, waiting up to 10 s. */
  private static JsonObject awaitPublication(List<JsonObject> seen, int from, Predicate<JsonObject> p, String what)
      throws InterruptedException {
    return Eventually.await(WAIT, "a publication on pool.leases.confirmed: " + what,
        () -> List.copyOf(seen.subList(from, seen.size())), l -> l.stream().anyMatch(p))
        .stream().filter(p).findFirst().orElseThrow();
  }
}
