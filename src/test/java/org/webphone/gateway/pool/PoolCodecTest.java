package org.webphone.gateway.pool;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.internal.serialization.InternalSerializationService;
import com.hazelcast.internal.serialization.impl.DefaultSerializationServiceBuilder;
import com.hazelcast.internal.serialization.impl.SerializationConstants;
import com.hazelcast.internal.serialization.Data;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.webphone.gateway.common.ClusterFormat;

/**
 * The pool's cluster format (docs/pool.md, "Mixed versions") through Hazelcast's own serialization service, as
 * between two members: every op and result survives the trip; fields a newer release added are ignored (and kept
 * on the state); missing ones take their defaults; a newer major version or an unknown op is refused with a
 * sentence and counted, never thrown from inside Hazelcast's deserialization.
 */
class PoolCodecTest {
  private static final long T0 = 1_700_000_000_000L;
  private final InternalSerializationService hz = new DefaultSerializationServiceBuilder().build();

  /** A pool with a bit of everything: anonymous and named accounts, leases, waiters, a release, a retiring one. */
  private static PoolState busyPool() {
    PoolState s = new PoolState(T0);
    ArrayList<PoolState.Cred> creds = new ArrayList<>();
    for (String n : List.of("1001", "1002", "1003")) {
      creds.add(new PoolState.Cred(n, "pw-" + n, "auth-" + n, n.equals("1003") ? null : "Line " + n));
    }
    LinkedHashMap<String, PoolState.Cred> named = new LinkedHashMap<>();
    named.put("alice@example.com", new PoolState.Cred("2001", "pw", "2001", "Alice"));
    s.reconcile(creds, named, T0);
    PoolState.Grant g = s.lease("s1", "a", "m1", false, 10, T0 + 1).grant();
    s.release(g.lease().accountId(), g.lease().token(), T0 + 2);
    s.lease("s2", "a", "m1", false, 10, T0 + 3);
    s.lease("s3", "b", "m2", false, 10, T0 + 4);
    s.lease("s4", "b", "m2", false, 10, T0 + 5);
    s.lease("w1", "b", "m2", true, 10, T0 + 6);
    s.leaseNamed("s5", "alice@example.com", "a", "m1", T0 + 7);
    s.reconcile(new ArrayList<>(creds.subList(1, 3)), named, T0 + 8); // 1001 leased: retiring
    return s;
  }

  /** Through Hazelcast: what a member receives of {@code o}. */
  @SuppressWarnings("unchecked")
  private <T> T acrossTheCluster(T o) {
    Data d = hz.toData(o);
    assertEquals(SerializationConstants.CONSTANT_TYPE_DATA_SERIALIZABLE, d.getType(),
        o.getClass().getSimpleName() + " travels as DataSerializable (the cluster format), not Java-serialized");
    return (T) hz.toObject(d);
  }

  /** A {@code DataSerializable} of {@code type} read from exactly {@code json}, as if a member had sent it. */
  private <T extends DataSerializable> T received(T empty, JsonObject json) throws IOException {
    ObjectDataOutput out = hz.createObjectDataOutput();
    out.writeByteArray(json.toBuffer().getBytes());
    empty.readData(hz.createObjectDataInput(((com.hazelcast.internal.nio.BufferObjectDataOutput) out).toByteArray()));
    return empty;
  }

  private static List<PoolOp<?>> everyOp() {
    ArrayList<PoolState.Cred> wanted = new ArrayList<>(List.of(new PoolState.Cred("1", "p", "a", "d")));
    LinkedHashMap<String, PoolState.Cred> named = new LinkedHashMap<>(Map.of("bob", new PoolState.Cred("2", "q",
        "b", null)));
    return List.of(new PoolOp.Lease("s", "n", "m", true, 7, T0), new PoolOp.Release("1", 42, T0),
        new PoolOp.Validate("1", 42), new PoolOp.ReleaseSession("s", T0), new PoolOp.CancelWait("s", T0),
        new PoolOp.Positions("m"), new PoolOp.Heartbeat("m", 3000, T0), new PoolOp.DropMember("m", T0),
        new PoolOp.Reconcile(wanted, T0), new PoolOp.ReconcileNamed(wanted, named, T0),
        new PoolOp.LeaseNamed("s", "bob", "n", "m", T0), new PoolOp.CountsOnly(), new PoolOp.Status());
  }

  @Test
  void theStateCrossesTheClusterWhole() {
    PoolState s = busyPool();
    PoolState copy = acrossTheCluster(s);
    assertEquals(s.toJson(), copy.toJson());
    assertEquals(s.status(), copy.status());
    assertEquals(s.freeOrder(), copy.freeOrder());
    // The copy behaves as the original: the same next lease, the same repeat-release answer, the same expiry.
    assertEquals(s.lease("s9", "a", "m1", false, 10, T0 + 9), copy.lease("s9", "a", "m1", false, 10, T0 + 9));
    assertEquals(s.lease("s2", "a", "m1", false, 10, T0 + 9), copy.lease("s2", "a", "m1", false, 10, T0 + 9));
    assertEquals(s.heartbeat("m1", T0 + 60_000, 1000), copy.heartbeat("m1", T0 + 60_000, 1000));
    assertEquals(s.toJson(), copy.toJson());
  }

  @Test
  void everyOpAndEveryResultCrossTheClusterUnchanged() {
    for (PoolOp<?> op : everyOp()) {
      HazelcastPoolStore.Writer<?> w = acrossTheCluster(new HazelcastPoolStore.Writer<>(op));
      assertEquals(op, w.op());
      assertEquals(op, acrossTheCluster(new HazelcastPoolStore.Reader<>(op)).op());
      // Its result, on a busy pool, comes back equal.
      Object r = op.apply(busyPool());
      assertEquals(r, acrossTheCluster(new PoolReply(r)).value(), op.getClass().getSimpleName() + "'s result");
    }
    assertNull(acrossTheCluster(new PoolReply(null)).value());
  }

  @Test
  void fieldsANewerReleaseAddedAreIgnoredInOpsAndResultsAndKeptInTheState() throws IOException {
    JsonObject lease = PoolCodec.op(new PoolOp.Lease("s", "n", "m", true, 7, T0)).put("priority", 5)
        .put("writtenBy", "next");
    HazelcastPoolStore.Writer<?> w = received(new HazelcastPoolStore.Writer<>(), lease);
    assertEquals(new PoolOp.Lease("s", "n", "m", true, 7, T0), w.op());

    PoolState.Counts counts = new PoolState.Counts(3, 1, 2, 0);
    JsonObject reply = PoolCodec.result(counts).put("writtenBy", "next");
    reply.getJsonObject("value").put("parked", 4);
    assertEquals(counts, received(new PoolReply(), reply).value());

    JsonObject state = busyPool().toJson().put("writtenBy", "next").put("parkedLines", new JsonObject().put("1002", 1));
    state.getJsonArray("leases").getJsonObject(0).put("clientIp", "192.0.2.1");
    PoolState s = received(new PoolState(), state);
    assertNull(s.refusal());
    assertEquals(busyPool().status(), s.status(), "the state is read as if the new fields were not there");
    PoolState back = acrossTheCluster(s);
    assertEquals("next", back.toJson().getString("writtenBy"), "a new top-level field survives an older owner");
    assertEquals(new JsonObject().put("1002", 1), back.toJson().getJsonObject("parkedLines"));
  }

  @Test
  void missingFieldsTakeTheirDefaultsAndAMissingIdIsRefused() throws IOException {
    JsonObject lease = PoolCodec.op(new PoolOp.Lease("s", "n", "m", true, 7, T0));
    lease.remove("mayWait");
    lease.remove("maxWaiting");
    lease.remove(ClusterFormat.V);
    assertEquals(new PoolOp.Lease("s", "n", "m", false, 0, T0), received(new HazelcastPoolStore.Writer<>(), lease)
        .op(), "mayWait false, maxWaiting 0, no v: version 1");

    JsonObject state = busyPool().toJson();
    state.remove("waiters");
    state.remove("heartbeats");
    state.remove("releasedToken");
    PoolState s = received(new PoolState(), state);
    assertNull(s.refusal());
    assertEquals(0, s.counts().waiting());
    assertEquals(busyPool().status().leases(), s.status().leases());

    JsonObject noAccount = PoolCodec.op(new PoolOp.Release("1", 42, T0));
    noAccount.remove("accountId");
    long before = ClusterFormat.refusedCount(ClusterFormat.Channel.POOL);
    HazelcastPoolStore.Writer<?> bad = received(new HazelcastPoolStore.Writer<>(), noAccount);
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> bad.process(new AbstractMap.SimpleEntry<>("pool", busyPool())));
    assertTrue(e.getMessage().contains("without accountId"), e.getMessage());
    assertEquals(before + 1, ClusterFormat.refusedCount(ClusterFormat.Channel.POOL));
  }

  @Test
  void aNewerMajorVersionIsRefusedWithASentenceAndCountedAndTheStateIsKeptAsItCame() throws IOException {
    long before = ClusterFormat.refusedCount(ClusterFormat.Channel.POOL);
    JsonObject v2op = PoolCodec.op(new PoolOp.Release("1", 42, T0)).put(ClusterFormat.V, 2);
    HazelcastPoolStore.Writer<?> w = received(new HazelcastPoolStore.Writer<>(), v2op);
    PoolState pool = busyPool();
    String was = pool.toJson().encode();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> w.process(new AbstractMap.SimpleEntry<>("pool", pool)));
    assertTrue(e.getMessage().contains("format v2 from a newer node; this node reads up to v1"), e.getMessage());
    assertEquals(was, pool.toJson().encode(), "nothing changed");

    JsonObject v2state = busyPool().toJson().put(ClusterFormat.V, 2).put("leases", "a shape v1 cannot read");
    PoolState s = received(new PoolState(), v2state);
    assertTrue(s.refusal().contains("format v2"), s.refusal());
    Map.Entry<String, PoolState> entry = new AbstractMap.SimpleEntry<>("pool", s);
    assertThrows(IllegalStateException.class,
        () -> new HazelcastPoolStore.Writer<>(new PoolOp.Heartbeat("m", 1000, T0)).process(entry));
    ObjectDataOutput out = hz.createObjectDataOutput();
    s.writeData(out);
    assertArrayEquals(v2state.toBuffer().getBytes(), hz.createObjectDataInput(
        ((com.hazelcast.internal.nio.BufferObjectDataOutput) out).toByteArray()).readByteArray(),
        "an older owner hands the newer state on unchanged");

    PoolReply reply = received(new PoolReply(), PoolCodec.result(true).put(ClusterFormat.V, 2));
    assertThrows(IllegalStateException.class, reply::value);
    assertTrue(ClusterFormat.refusedCount(ClusterFormat.Channel.POOL) >= before + 3, "each refusal is counted");
  }

  @Test
  void anOpOfAnUnknownKindIsRefusedNotMisread() throws IOException {
    HazelcastPoolStore.Writer<?> w = received(new HazelcastPoolStore.Writer<>(),
        PoolCodec.head("park").put("accountId", "1"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> w.process(new AbstractMap.SimpleEntry<>("pool", busyPool())));
    assertTrue(e.getMessage().contains("unknown kind 'park'"), e.getMessage());
    HashMap<String, Object> junk = new HashMap<>();
    junk.put("not", "json");
    assertThrows(IllegalStateException.class, () -> PoolCodec.parse("{not json".getBytes(), null));
    assertThrows(IllegalStateException.class, () -> PoolCodec.parse(new JsonObject(junk).put(ClusterFormat.V, "x")
        .toBuffer().getBytes(), null));
  }
}
