package org.webphone.gateway.pool;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The whole pool as one value: accounts, free line, leases, waiting line, member heartbeats.
 *
 * <p>It is kept as ONE entry of a Hazelcast map (or in memory when standalone) and changed only by
 * {@link PoolOp}s, which Hazelcast runs one at a time on the partition that owns the entry: that is what
 * makes "at most one holder per account" hold cluster-wide without locks. Every method here is
 * deterministic given its arguments (time comes in as {@code now}), because Hazelcast replays the same
 * op on the backup copy and both copies must end up equal.
 *
 * <p>Between nodes (migration, backup, a split-brain merge) it travels in the pool's cluster format
 * ({@link #writeData}, docs/pool.md "Mixed versions"), never Java-serialized.
 *
 * <p>Not thread-safe; never shared outside one op.
 */
final class PoolState implements DataSerializable {

  /** The credentials of one account. Travels inside the cluster only; never logged. */
  record Cred(String username, String password, String authUser, String displayName) implements Serializable {
    @Override
    public String toString() {
      return "Cred[" + username + "]";
    }
  }

  record Lease(String accountId, long token, String nodeId, String sessionId, String member, long since)
      implements Serializable {
  }

  record Waiter(String sessionId, String nodeId, String member, long since) implements Serializable {
  }

  /** A lease just made: the reply to a lease request, or an account handed to a waiter. */
  record Grant(Lease lease, Cred cred) implements Serializable {
  }

  record Counts(int total, int free, int leased, int waiting) implements Serializable {
  }

  private final Map<String, Cred> accounts = new HashMap<>();
  /**
   * Named lines: agent identity (an access token's {@code sub}) → its fixed account. These accounts are in
   * {@link #accounts} (so leases, release, validate and expiry treat them like any other) but never in the free
   * line nor handed to a waiter: only their agent's session gets them.
   */
  private final Map<String, String> agents = new TreeMap<>();
  /** Accounts removed from the configuration while leased: dropped when their lease ends. */
  private final Set<String> retired = new HashSet<>();
  /** Free accounts, least recently released first (the Ozeki webphone server's queue order). */
  private final ArrayDeque<String> free = new ArrayDeque<>();
  private final LinkedHashMap<String, Lease> leases = new LinkedHashMap<>();
  private final Map<String, String> leaseOfSession = new HashMap<>();
  /**
   * Token of the last lease of each account that ended by an explicit release: a release repeated with it
   * succeeds again and changes nothing. Leases taken away (TTL, member loss) are not here, so their holders
   * get STALE_TOKEN. Hazelcast re-runs an op when the member that ran it dies before answering, and
   * signalling may retry after a timeout; neither must turn a good release into STALE_TOKEN.
   */
  private final Map<String, Long> releasedToken = new HashMap<>();
  private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
  /** Last sign of life of each cluster member that holds leases or waiters (ms, the caller's clock). */
  private final Map<String, Long> heartbeats = new TreeMap<>(); // sorted: the backup must drop members in the same order
  /**
   * Last token issued, for all accounts together. A token is at least the wall clock of its lease (ms ×
   * 1000), so a cluster restarted from nothing (or a state copy that won a split-brain merge) still issues
   * tokens above all earlier ones, unless some copy ran more than 1000 leases per ms; 2^53 is reached in
   * the year 2255, so tokens stay exact in JavaScript too.
   */
  private long lastToken;

  PoolState(long now) {
    this.lastToken = now * 1000;
  }

  /** For Hazelcast, which then calls {@link #readData}. */
  PoolState() {
    this(0);
  }

  /** The anonymous pool's counts: named lines are not part of it. */
  Counts counts() {
    int namedLeased = 0;
    for (String id : agents.values()) {
      namedLeased += leases.containsKey(id) ? 1 : 0;
    }
    return new Counts(accounts.size() - agents.size(), free.size(), leases.size() - namedLeased, waiters.size());
  }

  private boolean named(String accountId) {
    return agents.containsValue(accountId);
  }

  long lastToken() {
    return lastToken;
  }

  // ---------------------------------------------------------------- leases

  /** Outcome of a lease request: a grant, or a place in the waiting line (position > 0), or neither (empty). */
  record LeaseResult(Grant grant, int position, Counts counts) implements Serializable {
  }

  LeaseResult lease(String sessionId, String nodeId, String member, boolean wait, int maxWaiting, long now) {
    heartbeats.put(member, now);
    String held = leaseOfSession.get(sessionId);
    if (held != null) {
      // A retried request (the first reply was lost or timed out) gets the same lease, not a second account.
      Lease l = leases.get(held);
      return new LeaseResult(new Grant(l, accounts.get(held)), 0, counts());
    }
    int pos = positionOf(sessionId);
    if (pos > 0) {
      return new LeaseResult(null, pos, counts());
    }
    String id = free.pollFirst();
    if (id != null) {
      return new LeaseResult(grant(id, sessionId, nodeId, member, now), 0, counts());
    }
    if (wait && waiters.size() < maxWaiting) {
      waiters.addLast(new Waiter(sessionId, nodeId, member, now));
      return new LeaseResult(null, waiters.size(), counts());
    }
    return new LeaseResult(null, 0, counts());
  }

  private Grant grant(String accountId, String sessionId, String nodeId, String member, long now) {
    // Never below the clock (ms × 1000): after a split-brain merge or a restart from nothing, tokens handed
    // out by a lost copy of the state are not handed out again, so a fenced holder stays fenced.
    lastToken = Math.max(lastToken + 1, now * 1000);
    Lease l = new Lease(accountId, lastToken, nodeId, sessionId, member, now);
    leases.put(accountId, l);
    leaseOfSession.put(sessionId, accountId);
    return new Grant(l, accounts.get(accountId));
  }

  /**
   * Outcome of a named line's lease: the grant, and the lease it took over from another session of the same
   * agent ({@code previous}, null when the line was free); {@code grant} null: no line for that identity.
   */
  record NamedResult(Grant grant, Lease previous) implements Serializable {
  }

  /**
   * Leases the named line of {@code agent} to {@code sessionId}. A line held by another session is taken
   * over: that lease ends (its holder's next release or validate finds it stale: it is fenced) and the new
   * one gets a new, larger token. A repeated request of the same session gets the same lease.
   */
  NamedResult leaseNamed(String sessionId, String agent, String nodeId, String member, long now) {
    String id = agents.get(agent);
    if (id == null) {
      return new NamedResult(null, null);
    }
    heartbeats.put(member, now);
    Lease held = leases.get(id);
    if (held != null && held.sessionId().equals(sessionId)) {
      return new NamedResult(new Grant(held, accounts.get(id)), null);
    }
    if (held != null) {
      leases.remove(id);
      leaseOfSession.remove(held.sessionId());
    }
    return new NamedResult(grant(id, sessionId, nodeId, member, now), held);
  }

  enum ReleaseStatus { RELEASED, STALE, NOT_FOUND }

  /** Outcome of a release; {@code handedTo} is the grant made to the longest waiter, if any. */
  record ReleaseResult(ReleaseStatus status, Grant handedTo, Counts counts) implements Serializable {
  }

  ReleaseResult release(String accountId, long token, long now) {
    if (Long.valueOf(token).equals(releasedToken.get(accountId))) {
      return new ReleaseResult(ReleaseStatus.RELEASED, null, counts()); // a repeat: already done, change nothing
    }
    Lease l = leases.get(accountId);
    if (l == null || l.token() != token) {
      ReleaseStatus s = accounts.containsKey(accountId) ? ReleaseStatus.STALE : ReleaseStatus.NOT_FOUND;
      return new ReleaseResult(s, null, counts());
    }
    releasedToken.put(accountId, token);
    Grant handed = endLease(l, now);
    return new ReleaseResult(ReleaseStatus.RELEASED, handed, counts());
  }

  /** Ends a lease; the account goes to the longest waiter, or to the tail of the free line, or away if retired. */
  private Grant endLease(Lease l, long now) {
    leases.remove(l.accountId());
    leaseOfSession.remove(l.sessionId());
    if (retired.remove(l.accountId())) {
      accounts.remove(l.accountId());
      releasedToken.remove(l.accountId());
      return null;
    }
    if (named(l.accountId())) {
      return null; // waits for its agent, not in the free line
    }
    Waiter w = waiters.pollFirst();
    if (w != null) {
      return grant(l.accountId(), w.sessionId(), w.nodeId(), w.member(), now);
    }
    free.addLast(l.accountId());
    return null;
  }

  boolean isCurrent(String accountId, long token) {
    Lease l = leases.get(accountId);
    return l != null && l.token() == token;
  }

  // ---------------------------------------------------------------- waiting line

  int positionOf(String sessionId) {
    int i = 0;
    for (Waiter w : waiters) {
      i++;
      if (w.sessionId().equals(sessionId)) {
        return i;
      }
    }
    return 0;
  }

  /**
   * Ends whatever {@code sessionId} has: its lease (as a release with its token) or its place in line.
   * For a session that gave up before it learned its lease (its lease request timed out).
   */
  ReleaseResult releaseSession(String sessionId, long now) {
    String id = leaseOfSession.get(sessionId);
    if (id != null) {
      return release(id, leases.get(id).token(), now);
    }
    ReleaseStatus s = cancelWait(sessionId) ? ReleaseStatus.RELEASED : ReleaseStatus.NOT_FOUND;
    return new ReleaseResult(s, null, counts());
  }

  boolean cancelWait(String sessionId) {
    return waiters.removeIf(w -> w.sessionId().equals(sessionId));
  }

  /** Positions (1-based) of the waiters of one member, by session id. */
  Map<String, Integer> positionsOf(String member) {
    Map<String, Integer> out = new LinkedHashMap<>();
    int i = 0;
    for (Waiter w : waiters) {
      i++;
      if (w.member().equals(member)) {
        out.put(w.sessionId(), i);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- members

  /** Leases and waiters given back because their member left or stopped beating. */
  record DropResult(int freed, int unqueued, List<Grant> handed, Counts counts) implements Serializable {
  }

  /**
   * A heartbeat's outcome: what was dropped, and the leases the caller's member holds now ({@code mine},
   * account id → token) as of token {@code lastToken}, so the caller can tell its sessions which of
   * their leases were taken away.
   */
  record HeartbeatResult(DropResult dropped, HashMap<String, Long> mine, long lastToken) implements Serializable {
  }

  HeartbeatResult heartbeat(String member, long now, long ttlMs) {
    DropResult d = expire(member, now, ttlMs);
    HashMap<String, Long> mine = new HashMap<>();
    for (Lease l : leases.values()) {
      if (l.member().equals(member)) {
        mine.put(l.accountId(), l.token());
      }
    }
    return new HeartbeatResult(d, mine, lastToken);
  }

  /**
   * Records that {@code member} is alive and drops every member whose last heartbeat is older than
   * {@code ttlMs}, and leases whose member is unknown (defensive: should not happen).
   */
  private DropResult expire(String member, long now, long ttlMs) {
    heartbeats.put(member, now);
    List<String> dead = new ArrayList<>();
    for (Map.Entry<String, Long> e : heartbeats.entrySet()) {
      if (e.getValue() < now - ttlMs) {
        dead.add(e.getKey());
      }
    }
    int freed = 0;
    int unqueued = 0;
    List<Grant> handed = new ArrayList<>();
    for (String m : dead) {
      DropResult r = dropMember(m, now);
      freed += r.freed();
      unqueued += r.unqueued();
      handed.addAll(r.handed());
    }
    for (Lease l : List.copyOf(leases.values())) {
      if (!heartbeats.containsKey(l.member())) {
        freed++;
        addIfNotNull(handed, endLease(l, now));
      }
    }
    return new DropResult(freed, unqueued, handed, counts());
  }

  /** Frees the leases and drops the waiters of a member that left the cluster or stopped. */
  DropResult dropMember(String member, long now) {
    heartbeats.remove(member);
    int unqueued = 0;
    for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
      if (it.next().member().equals(member)) {
        it.remove();
        unqueued++;
      }
    }
    int freed = 0;
    List<Grant> handed = new ArrayList<>();
    for (Lease l : List.copyOf(leases.values())) {
      if (l.member().equals(member)) {
        freed++;
        addIfNotNull(handed, endLease(l, now));
      }
    }
    return new DropResult(freed, unqueued, handed, counts());
  }

  private static void addIfNotNull(List<Grant> list, Grant g) {
    if (g != null) {
      list.add(g);
    }
  }

  // ---------------------------------------------------------------- configuration

  /** What a reconciliation changed. */
  record ReconcileResult(int added, int removed, int retiring, List<Grant> handed, Counts counts)
      implements Serializable {
  }

  /**
   * Makes the pool's account set equal to {@code wanted}: new accounts join the tail of the free line
   * (or go to waiters), credentials of known ones are updated, absent free ones are removed, absent
   * leased ones are retired when their lease ends. Valid leases are never touched.
   */
  ReconcileResult reconcile(List<Cred> wanted, long now) {
    return reconcile(wanted, Map.of(), now);
  }

  /**
   * As {@link #reconcile(List, long)}, with the named lines {@code named} (agent identity → account), which
   * replace the previous mapping; their accounts are kept out of the free line.
   */
  ReconcileResult reconcile(List<Cred> wanted, Map<String, Cred> named, long now) {
    Set<String> names = new HashSet<>();
    int added = 0;
    List<Grant> handed = new ArrayList<>();
    Set<String> wasNamed = new HashSet<>(agents.values());
    agents.clear();
    for (Map.Entry<String, Cred> e : new TreeMap<>(named).entrySet()) {
      Cred c = e.getValue();
      names.add(c.username());
      retired.remove(c.username());
      agents.put(e.getKey(), c.username());
      if (accounts.put(c.username(), c) != null && !wasNamed.contains(c.username())) {
        free.remove(c.username()); // was an anonymous account: it leaves the free line
      }
    }
    for (Cred c : wanted) {
      names.add(c.username());
      retired.remove(c.username());
      boolean wasNamedOnly = wasNamed.contains(c.username()) && !leases.containsKey(c.username());
      if (accounts.put(c.username(), c) == null || wasNamedOnly) {
        added++;
        Waiter w = waiters.pollFirst();
        if (w != null) {
          handed.add(grant(c.username(), w.sessionId(), w.nodeId(), w.member(), now));
        } else {
          free.addLast(c.username());
        }
      }
    }
    int removed = 0;
    int retiring = 0;
    for (String id : List.copyOf(accounts.keySet())) {
      if (names.contains(id)) {
        continue;
      }
      if (leases.containsKey(id)) {
        if (retired.add(id)) {
          retiring++;
        }
      } else {
        accounts.remove(id);
        free.remove(id);
        releasedToken.remove(id);
        removed++;
      }
    }
    return new ReconcileResult(added, removed, retiring, handed, counts());
  }

  // ---------------------------------------------------------------- status

  record Status(Counts counts, List<Lease> leases, List<Waiter> waiters, long lastToken) implements Serializable {
  }

  Status status() {
    return new Status(counts(), List.copyOf(leases.values()), List.copyOf(waiters), lastToken);
  }

  /** Free account ids in lease order (tests check the fair order with it). */
  List<String> freeOrder() {
    return List.copyOf(free);
  }

  // ---------------------------------------------------------------- cluster format (docs/pool.md, "Mixed versions")

  private static final java.util.Set<String> KNOWN = Set.of(org.webphone.gateway.common.ClusterFormat.V,
      PoolCodec.KIND, "lastToken", "accounts", "agents", "retired", "free", "leases", "releasedToken", "waiters",
      "heartbeats");
  /** Top-level fields a newer release added: kept and written back, so an older owner does not drop them. */
  private JsonObject unknown = new JsonObject();
  /** The bytes of a state this release cannot read (a newer major version), kept to be written back unchanged. */
  private byte[] unreadable;
  private String refusal;

  /** Why this copy cannot be used (a newer major version, or malformed), or null. */
  String refusal() {
    return refusal;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    out.writeByteArray(unreadable != null ? unreadable : PoolCodec.bytes(toJson()));
  }

  /** Never throws: a state it cannot read is kept as bytes and every op on it is refused (see {@link #refusal}). */
  @Override
  public void readData(ObjectDataInput in) throws IOException {
    byte[] bytes = in.readByteArray();
    try {
      fill(PoolCodec.parse(bytes, "poolState"));
    } catch (IllegalStateException e) {
      unreadable = bytes;
      refusal = e.getMessage();
      org.webphone.gateway.common.ClusterFormat.refused(org.webphone.gateway.common.ClusterFormat.Channel.POOL,
          refusal);
    }
  }

  JsonObject toJson() {
    JsonObject j = PoolCodec.head("poolState").put("lastToken", lastToken);
    JsonArray accs = new JsonArray();
    accounts.values().forEach(c -> accs.add(PoolCodec.cred(c)));
    JsonArray ls = new JsonArray();
    leases.values().forEach(l -> ls.add(PoolCodec.lease(l)));
    JsonArray ws = new JsonArray();
    waiters.forEach(w -> ws.add(PoolCodec.waiter(w)));
    j.put("accounts", accs).put("agents", new JsonObject(new LinkedHashMap<>(agents)))
        .put("retired", new JsonArray(new ArrayList<>(retired))).put("free", new JsonArray(new ArrayList<>(free)))
        .put("leases", ls).put("releasedToken", new JsonObject(new LinkedHashMap<>(releasedToken)))
        .put("waiters", ws).put("heartbeats", new JsonObject(new LinkedHashMap<>(heartbeats)));
    unknown.forEach(e -> {
      if (!j.containsKey(e.getKey())) {
        j.put(e.getKey(), e.getValue());
      }
    });
    return j;
  }

  /** A state from its cluster format; throws {@link IllegalStateException} when this release cannot read it. */
  static PoolState fromJson(JsonObject j) {
    PoolState s = new PoolState();
    s.fill(j);
    return s;
  }

  private void fill(JsonObject j) {
    try {
      fillChecked(j);
    } catch (ClassCastException | NullPointerException e) {
      throw new IllegalStateException("pool state is malformed: " + e.getMessage());
    }
  }

  private void fillChecked(JsonObject j) {
    lastToken = PoolCodec.num(j, "lastToken");
    PoolCodec.array(j, "accounts").forEach(c -> {
      Cred cred = PoolCodec.cred(PoolCodec.asObject(c, "account"));
      accounts.put(cred.username(), cred);
    });
    strings(j, "agents").forEach((agent, id) -> agents.put(agent, (String) id));
    PoolCodec.array(j, "retired").forEach(id -> retired.add((String) id));
    PoolCodec.array(j, "free").forEach(id -> free.add((String) id));
    PoolCodec.array(j, "leases").forEach(o -> {
      Lease l = PoolCodec.lease(PoolCodec.asObject(o, "lease"));
      leases.put(l.accountId(), l);
      leaseOfSession.put(l.sessionId(), l.accountId());
    });
    strings(j, "releasedToken").forEach((id, t) -> releasedToken.put(id, ((Number) t).longValue()));
    PoolCodec.array(j, "waiters").forEach(o -> waiters.add(PoolCodec.waiter(PoolCodec.asObject(o, "waiter"))));
    strings(j, "heartbeats").forEach((m, t) -> heartbeats.put(m, ((Number) t).longValue()));
    j.forEach(e -> {
      if (!KNOWN.contains(e.getKey())) {
        unknown.put(e.getKey(), e.getValue());
      }
    });
  }

  /** The object field {@code name} as a map (missing: empty). */
  private static Map<String, Object> strings(JsonObject j, String name) {
    return j.getValue(name) == null ? Map.of() : PoolCodec.asObject(j.getValue(name), name).getMap();
  }
}
