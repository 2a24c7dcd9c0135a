package org.webphone.gateway.pool;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.webphone.gateway.common.ClusterFormat;

/**
 * The cluster format of the pool (docs/pool.md, "Mixed versions"): every {@link PoolOp}, every result and the
 * nested records of the {@link PoolState} as JSON objects {@code {v, kind, ...}}. Hazelcast carries them as bytes
 * inside its {@code DataSerializable} wrappers ({@link HazelcastPoolStore.Writer}, {@link PoolReply},
 * {@link PoolState}), so no Java class of the pool is ever Java-serialized between nodes and a node of another
 * release reads what it knows: unknown fields are ignored, missing ones take the defaults below, a newer major
 * version or an unknown kind is refused with an {@link IllegalStateException} saying so.
 *
 * <p>Stateless; any thread. Field names are spelled here, not taken from the bus vocabulary, so that renaming a
 * bus field never changes what the pool stores.
 */
final class PoolCodec {
  static final String KIND = "kind";

  private PoolCodec() {
  }

  /** {v, kind}: the head of every object of the pool's cluster format. */
  static JsonObject head(String kind) {
    return ClusterFormat.stamp(new JsonObject()).put(KIND, kind);
  }

  static byte[] bytes(JsonObject j) {
    return j.toBuffer().getBytes();
  }

  /** The object in {@code bytes}, checked: readable version and the {@code kind} expected (null: any). */
  static JsonObject parse(byte[] bytes, String kind) {
    JsonObject j;
    try {
      j = new JsonObject(Buffer.buffer(bytes));
    } catch (DecodeException | ClassCastException | NullPointerException e) {
      throw new IllegalStateException("pool " + (kind == null ? "message" : kind) + " is not a JSON object: "
          + e.getMessage());
    }
    String why = ClusterFormat.unreadable(j, "pool " + j.getValue(KIND, kind));
    if (why != null) {
      throw new IllegalStateException(why);
    }
    if (kind != null && !kind.equals(j.getValue(KIND))) {
      throw new IllegalStateException("pool message of kind " + j.getValue(KIND) + " where " + kind + " was expected");
    }
    return j;
  }

  // ------------------------------------------------------------------ operations

  static JsonObject op(PoolOp<?> op) {
    if (op instanceof PoolOp.Lease o) {
      return head("lease").put("sessionId", o.sessionId()).put("nodeId", o.nodeId()).put("member", o.member())
          .put("mayWait", o.mayWait()).put("maxWaiting", o.maxWaiting()).put("now", o.now());
    } else if (op instanceof PoolOp.Release o) {
      return head("release").put("accountId", o.accountId()).put("token", o.token()).put("now", o.now());
    } else if (op instanceof PoolOp.Validate o) {
      return head("validate").put("accountId", o.accountId()).put("token", o.token());
    } else if (op instanceof PoolOp.ReleaseSession o) {
      return head("releaseSession").put("sessionId", o.sessionId()).put("now", o.now());
    } else if (op instanceof PoolOp.CancelWait o) {
      return head("cancelWait").put("sessionId", o.sessionId()).put("now", o.now());
    } else if (op instanceof PoolOp.Positions o) {
      return head("positions").put("member", o.member());
    } else if (op instanceof PoolOp.Heartbeat o) {
      return head("heartbeat").put("member", o.member()).put("ttlMs", o.ttlMs()).put("now", o.now());
    } else if (op instanceof PoolOp.DropMember o) {
      return head("dropMember").put("member", o.member()).put("now", o.now());
    } else if (op instanceof PoolOp.Reconcile o) {
      return head("reconcile").put("wanted", creds(o.wanted())).put("now", o.now());
    } else if (op instanceof PoolOp.ReconcileNamed o) {
      JsonObject named = new JsonObject();
      o.named().forEach((agent, c) -> named.put(agent, cred(c)));
      return head("reconcileNamed").put("wanted", creds(o.wanted())).put("named", named).put("now", o.now());
    } else if (op instanceof PoolOp.LeaseNamed o) {
      return head("leaseNamed").put("sessionId", o.sessionId()).put("agent", o.agent()).put("nodeId", o.nodeId())
          .put("member", o.member()).put("now", o.now());
    } else if (op instanceof PoolOp.CountsOnly) {
      return head("counts");
    } else if (op instanceof PoolOp.Status) {
      return head("status");
    }
    throw new IllegalArgumentException("no cluster format for pool op " + op.getClass().getName());
  }

  /** The op {@code j} describes; unknown kinds (an op of a newer release) are refused. */
  static PoolOp<?> op(JsonObject j) {
    String kind = j.getValue(KIND) instanceof String s ? s : "";
    long now = num(j, "now");
    return switch (kind) {
      case "lease" -> new PoolOp.Lease(str(j, "sessionId"), str(j, "nodeId"), str(j, "member"),
          j.getValue("mayWait") instanceof Boolean b && b, (int) num(j, "maxWaiting"), now);
      case "release" -> new PoolOp.Release(str(j, "accountId"), num(j, "token"), now);
      case "validate" -> new PoolOp.Validate(str(j, "accountId"), num(j, "token"));
      case "releaseSession" -> new PoolOp.ReleaseSession(str(j, "sessionId"), now);
      case "cancelWait" -> new PoolOp.CancelWait(str(j, "sessionId"), now);
      case "positions" -> new PoolOp.Positions(str(j, "member"));
      case "heartbeat" -> new PoolOp.Heartbeat(str(j, "member"), num(j, "ttlMs"), now);
      case "dropMember" -> new PoolOp.DropMember(str(j, "member"), now);
      case "reconcile" -> new PoolOp.Reconcile(creds(array(j, "wanted")), now);
      case "reconcileNamed" -> {
        LinkedHashMap<String, PoolState.Cred> named = new LinkedHashMap<>();
        JsonObject n = j.getValue("named") instanceof JsonObject o ? o : new JsonObject();
        n.forEach(e -> named.put(e.getKey(), cred(asObject(e.getValue(), "named line"))));
        yield new PoolOp.ReconcileNamed(creds(array(j, "wanted")), named, now);
      }
      case "leaseNamed" -> new PoolOp.LeaseNamed(str(j, "sessionId"), str(j, "agent"), str(j, "nodeId"),
          str(j, "member"), now);
      case "counts" -> new PoolOp.CountsOnly();
      case "status" -> new PoolOp.Status();
      default -> throw new IllegalStateException("pool op of unknown kind '" + kind
          + "' (from a newer node?): refused");
    };
  }

  // ------------------------------------------------------------------ results

  /** A result of {@link PoolOp#apply}: {v, kind:"reply", type, value}. */
  static JsonObject result(Object r) {
    JsonObject j = head("reply");
    if (r == null) {
      return j.put("type", "none");
    } else if (r instanceof Boolean b) {
      return j.put("type", "boolean").put("value", b);
    } else if (r instanceof PoolState.Counts c) {
      return j.put("type", "counts").put("value", counts(c));
    } else if (r instanceof PoolState.LeaseResult l) {
      return j.put("type", "lease").put("value", new JsonObject().put("grant", grant(l.grant()))
          .put("position", l.position()).put("counts", counts(l.counts())));
    } else if (r instanceof PoolState.ReleaseResult l) {
      return j.put("type", "release").put("value", new JsonObject().put("status", l.status().name())
          .put("handedTo", grant(l.handedTo())).put("counts", counts(l.counts())));
    } else if (r instanceof PoolState.NamedResult n) {
      return j.put("type", "named").put("value", new JsonObject().put("grant", grant(n.grant()))
          .put("previous", lease(n.previous())));
    } else if (r instanceof PoolState.DropResult d) {
      return j.put("type", "drop").put("value", drop(d));
    } else if (r instanceof PoolState.HeartbeatResult h) {
      JsonObject mine = new JsonObject();
      h.mine().forEach(mine::put);
      return j.put("type", "heartbeat").put("value", new JsonObject().put("dropped", drop(h.dropped()))
          .put("mine", mine).put("lastToken", h.lastToken()));
    } else if (r instanceof PoolState.ReconcileResult c) {
      return j.put("type", "reconcile").put("value", new JsonObject().put("added", c.added())
          .put("removed", c.removed()).put("retiring", c.retiring()).put("handed", grants(c.handed()))
          .put("counts", counts(c.counts())));
    } else if (r instanceof PoolState.Status s) {
      JsonArray leases = new JsonArray();
      s.leases().forEach(l -> leases.add(lease(l)));
      JsonArray waiters = new JsonArray();
      s.waiters().forEach(w -> waiters.add(waiter(w)));
      return j.put("type", "status").put("value", new JsonObject().put("counts", counts(s.counts()))
          .put("leases", leases).put("waiters", waiters).put("lastToken", s.lastToken()));
    } else if (r instanceof Map<?, ?> m) {
      JsonObject positions = new JsonObject();
      m.forEach((k, v) -> positions.put((String) k, v));
      return j.put("type", "positions").put("value", positions);
    }
    throw new IllegalArgumentException("no cluster format for pool result " + r.getClass().getName());
  }

  static Object result(JsonObject j) {
    String type = j.getValue("type") instanceof String s ? s : "";
    JsonObject v = j.getValue("value") instanceof JsonObject o ? o : new JsonObject();
    return switch (type) {
      case "none" -> null;
      case "boolean" -> j.getValue("value") instanceof Boolean b && b;
      case "counts" -> counts(v);
      case "lease" -> new PoolState.LeaseResult(grant(v, "grant"), (int) num(v, "position"), counts(v, "counts"));
      case "release" -> new PoolState.ReleaseResult(releaseStatus(v), grant(v, "handedTo"), counts(v, "counts"));
      case "named" -> new PoolState.NamedResult(grant(v, "grant"),
          v.getValue("previous") instanceof JsonObject p ? lease(p) : null);
      case "drop" -> drop(v);
      case "heartbeat" -> {
        HashMap<String, Long> mine = new HashMap<>();
        JsonObject m = v.getValue("mine") instanceof JsonObject o ? o : new JsonObject();
        m.forEach(e -> mine.put(e.getKey(), e.getValue() instanceof Number n ? n.longValue() : 0L));
        yield new PoolState.HeartbeatResult(drop(asObject(v.getValue("dropped"), "dropped")), mine,
            num(v, "lastToken"));
      }
      case "reconcile" -> new PoolState.ReconcileResult((int) num(v, "added"), (int) num(v, "removed"),
          (int) num(v, "retiring"), grants(array(v, "handed")), counts(v, "counts"));
      case "status" -> {
        List<PoolState.Lease> leases = new ArrayList<>();
        array(v, "leases").forEach(l -> leases.add(lease(asObject(l, "lease"))));
        List<PoolState.Waiter> waiters = new ArrayList<>();
        array(v, "waiters").forEach(w -> waiters.add(waiter(asObject(w, "waiter"))));
        yield new PoolState.Status(counts(v, "counts"), leases, waiters, num(v, "lastToken"));
      }
      case "positions" -> {
        LinkedHashMap<String, Integer> positions = new LinkedHashMap<>();
        v.forEach(e -> positions.put(e.getKey(), e.getValue() instanceof Number n ? n.intValue() : 0));
        yield positions;
      }
      default -> throw new IllegalStateException("pool result of unknown type '" + type
          + "' (from a newer node?): refused");
    };
  }

  private static PoolState.ReleaseStatus releaseStatus(JsonObject v) {
    try {
      return PoolState.ReleaseStatus.valueOf(str(v, "status"));
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("pool release status '" + v.getValue("status") + "' unknown: refused");
    }
  }

  private static JsonObject drop(PoolState.DropResult d) {
    return new JsonObject().put("freed", d.freed()).put("unqueued", d.unqueued()).put("handed", grants(d.handed()))
        .put("counts", counts(d.counts()));
  }

  private static PoolState.DropResult drop(JsonObject v) {
    return new PoolState.DropResult((int) num(v, "freed"), (int) num(v, "unqueued"), grants(array(v, "handed")),
        counts(v, "counts"));
  }

  // ------------------------------------------------------------------ records (also the state's entries)

  static JsonObject cred(PoolState.Cred c) {
    return new JsonObject().put("username", c.username()).put("password", c.password())
        .put("authUser", c.authUser()).put("displayName", c.displayName());
  }

  static PoolState.Cred cred(JsonObject j) {
    return new PoolState.Cred(str(j, "username"), optStr(j, "password"), optStr(j, "authUser"),
        optStr(j, "displayName"));
  }

  private static JsonArray creds(List<PoolState.Cred> list) {
    JsonArray a = new JsonArray();
    list.forEach(c -> a.add(cred(c)));
    return a;
  }

  private static ArrayList<PoolState.Cred> creds(JsonArray a) {
    ArrayList<PoolState.Cred> out = new ArrayList<>();
    a.forEach(c -> out.add(cred(asObject(c, "account"))));
    return out;
  }

  static JsonObject lease(PoolState.Lease l) {
    return l == null ? null : new JsonObject().put("accountId", l.accountId()).put("token", l.token())
        .put("nodeId", l.nodeId()).put("sessionId", l.sessionId()).put("member", l.member()).put("since", l.since());
  }

  static PoolState.Lease lease(JsonObject j) {
    return new PoolState.Lease(str(j, "accountId"), num(j, "token"), optStr(j, "nodeId"), str(j, "sessionId"),
        str(j, "member"), num(j, "since"));
  }

  static JsonObject waiter(PoolState.Waiter w) {
    return new JsonObject().put("sessionId", w.sessionId()).put("nodeId", w.nodeId()).put("member", w.member())
        .put("since", w.since());
  }

  static PoolState.Waiter waiter(JsonObject j) {
    return new PoolState.Waiter(str(j, "sessionId"), optStr(j, "nodeId"), str(j, "member"), num(j, "since"));
  }

  private static JsonObject grant(PoolState.Grant g) {
    return g == null ? null : new JsonObject().put("lease", lease(g.lease())).put("account", cred(g.cred()));
  }

  /** The grant {@code parent.field}, or null when it has none. */
  private static PoolState.Grant grant(JsonObject parent, String field) {
    Object g = parent.getValue(field);
    return g == null ? null : grant(asObject(g, "grant"));
  }

  private static PoolState.Grant grant(JsonObject g) {
    return new PoolState.Grant(lease(asObject(g.getValue("lease"), "lease")), cred(asObject(g.getValue("account"),
        "account")));
  }

  private static JsonArray grants(List<PoolState.Grant> list) {
    JsonArray a = new JsonArray();
    list.forEach(g -> a.add(grant(g)));
    return a;
  }

  private static List<PoolState.Grant> grants(JsonArray a) {
    List<PoolState.Grant> out = new ArrayList<>();
    a.forEach(g -> out.add(grant(asObject(g, "grant"))));
    return out;
  }

  private static JsonObject counts(PoolState.Counts c) {
    return new JsonObject().put("total", c.total()).put("free", c.free()).put("leased", c.leased())
        .put("waiting", c.waiting());
  }

  private static PoolState.Counts counts(JsonObject j) {
    return new PoolState.Counts((int) num(j, "total"), (int) num(j, "free"), (int) num(j, "leased"),
        (int) num(j, "waiting"));
  }

  private static PoolState.Counts counts(JsonObject parent, String field) {
    return counts(parent.getValue(field) instanceof JsonObject o ? o : new JsonObject());
  }

  // ------------------------------------------------------------------ field access with defaults

  /** A number field; missing: 0 (every number of the format has 0 as its neutral value). */
  static long num(JsonObject j, String name) {
    Object v = j.getValue(name);
    if (v == null) {
      return 0;
    }
    if (v instanceof Number n) {
      return n.longValue();
    }
    throw new IllegalStateException("pool field " + name + " is not a number: " + v);
  }

  /** A string the pool cannot work without (an id): missing is a refusal, not a default. */
  static String str(JsonObject j, String name) {
    if (j.getValue(name) instanceof String s) {
      return s;
    }
    throw new IllegalStateException("pool " + j.getValue(KIND, "entry") + " without " + name + ": refused");
  }

  /** A string the pool only passes on (a display name): missing is null. */
  static String optStr(JsonObject j, String name) {
    return j.getValue(name) instanceof String s ? s : null;
  }

  static JsonArray array(JsonObject j, String name) {
    return j.getValue(name) instanceof JsonArray a ? a : new JsonArray();
  }

  static JsonObject asObject(Object v, String what) {
    if (v instanceof JsonObject o) {
      return o;
    }
    if (v instanceof Map<?, ?> m) {
      @SuppressWarnings("unchecked")
      Map<String, Object> map = (Map<String, Object>) m;
      return new JsonObject(map);
    }
    throw new IllegalStateException("pool " + what + " is not an object: " + v);
  }
}
