#!/usr/bin/env bash
# One load benchmark on this machine, loopback only:
#   virtual clients (LoadTool) -> gateway node(s) -> Kamailio (digest auth) -> SIPp UAS
#
#   bench/run-load.sh [--nodes N] [--node-process] [--pool N] -- [LoadTool options, e.g. --clients 100 --calls 2000 --rate 50]
#
# --nodes 1 (default): the load tool starts the gateway node in its own JVM (--target in-process).
# --nodes 2..: N gateway processes form one Hazelcast cluster sharing one pool (a private copy of
#   cluster.xml: own cluster name and ports); the load tool joins it as a lite member (--target cluster).
# --node-process: with one node too, the node is its own JVM (a cluster of one) and the load tool joins it,
#   so the node's CPU and memory are its own, not mixed with the load tool's (and its synthetic browsers').
# --media among the LoadTool options: every call carries audio; SIPp then runs with -rtp_echo (sends every
#   RTP packet back) and the gateway JVM(s) are sampled every 2 s by bench/load-media-sampler.py (/proc of
#   the node, the tool and SIPp, the node's full /health (admin port), UDP drops by socket owner): node-samples-<n>.csv, and
#   for the plateau with the most media sessions: calls held, CPU % of a core and RSS, per call too, the
#   tool's, SIPp's and the machine's CPU, drops, and the relay's counters (media-summary.txt).
# --pool: accounts in the pool (default: clients + 10), users 2000.., password "secret-<user>".
# While it runs, Kamailio's registrations are sampled twice a second: the most accounts registered at
# once, and the most contacts beyond one per account (0 = no account was ever registered by two lines at
# once, i.e. never leased twice) go into the result directory, with every log and summary.json. Needs a build: mvn -q -B -o test-compile (for target/classpath.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODES=1
POOL=
SEPARATE=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --node-process) SEPARATE=1; shift ;;
    --pool) POOL=$2; shift 2 ;;
    *) echo "unknown option $1 (load tool options go after --)" >&2; exit 2 ;;
  esac
done
[ "${1:-}" = "--" ] && shift
LOAD_ARGS=("$@")
CLIENTS=10
MEDIA=0
for ((i = 0; i < ${#LOAD_ARGS[@]}; i++)); do
  [ "${LOAD_ARGS[$i]}" = "--clients" ] && CLIENTS=${LOAD_ARGS[$((i + 1))]}
  [ "${LOAD_ARGS[$i]}" = "--media" ] && MEDIA=1
done
PROCS=0 # node processes
{ [ "$NODES" -gt 1 ] || [ "$SEPARATE" = 1 ]; } && PROCS=$NODES
POOL=${POOL:-$((CLIENTS + 10))}
[ -f target/classpath.txt ] || { echo "build first: mvn -q -B -o test-compile" >&2; exit 2; }
CP="$ROOT/target/classes:$(cat target/classpath.txt)"
OUT="$ROOT/target/bench/$(date -u +%Y%m%dT%H%M%SZ)-n$NODES"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
even_range() { # an even port P with P..P+$1-1 free for UDP
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
# below the kernel's ephemeral range: outgoing connections cannot take ports of it during the run
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    p = random.randrange(10000, low - n) & ~1
    socks = []
    try:
        for q in range(p, p + n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", q)); socks.append(s)
        print(p); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}

UAS_PORT=$(free_port); UAS_MEDIA=$(even_range 4); PBX_PORT=$(free_port)
CTL="unix:$OUT/kamailio.ctl"
ECHO=()
[ "$MEDIA" = 1 ] && ECHO=(-rtp_echo) # binds the media port and port+2; one echo for every call
sipp -sf bench/sipp/uas-bench.xml -i 127.0.0.1 -p "$UAS_PORT" -mp "$UAS_MEDIA" "${ECHO[@]}" -timer_resol 10 -nostdin \
  -m 100000000 -timeout 3600 -trace_err -trace_screen > "$OUT/sipp.log" 2>&1 &
SIPP_PID=$!
PIDS+=($!)
kamailio -DD -E -m 256 -M 16 -f bench/kamailio/bench.cfg -l "udp:127.0.0.1:$PBX_PORT" \
  -A "UAS_URI=\"sip:127.0.0.1:$UAS_PORT\"" -A "CTL_SOCK=\"$CTL\"" > "$OUT/kamailio.log" 2>&1 &
PIDS+=($!)
sleep 1

common_env() { # the gateway's configuration, shared by every node
  echo WEBPHONE_PBX_HOST=127.0.0.1 WEBPHONE_PBX_PORT="$PBX_PORT" \
    WEBPHONE_POOL_RANGE="{\"prefix\":\"\",\"from\":2000,\"to\":$((2000 + POOL - 1)),\"passwordTemplate\":\"secret-{user}\"}" \
    WEBPHONE_LIMITS_CALLS_PER_MINUTE_PER_SESSION=1000000 WEBPHONE_LIMITS_MESSAGES_PER_SECOND=1000000 \
    WEBPHONE_LIMITS_REQUEST_TIMEOUT_MS=10000 WEBPHONE_LOG_LEVEL="${WEBPHONE_LOG_LEVEL:-WARN}"
}
# RTP ports of a node: two per call (RTP, RTCP), and a call holds its pair from set-up to the end of its
# tear-down; every client in a call at once, twice over, at least 2000 (at 500/s a 2000-port range ran out).
RTP_PORTS=$((CLIENTS * 4 > 2000 ? CLIENTS * 4 : 2000))
# One block for all nodes, split in turn: ranges chosen one per node could overlap (each was free when chosen,
# before any node had bound it), and a node then failed to start with "Address already in use".
RTP_BASE=$(even_range $((RTP_PORTS * (PROCS > 0 ? PROCS : 1))))
[ -n "$RTP_BASE" ] || { echo "no block of $RTP_PORTS free UDP ports per node below the ephemeral range" >&2; exit 1; }
node_env() { # ports of node $1, HTTP on $2, the admin surface (full /health, /metrics) on $3
  local rtp=$((RTP_BASE + ($1 - 1) * RTP_PORTS))
  echo WEBPHONE_NODE_ID="gw-$1" WEBPHONE_HTTP_PORT="$2" WEBPHONE_HTTP_ADMIN_PORT="$3" WEBPHONE_SIP_PORT="$(free_port)" \
    WEBPHONE_MEDIA_WEBRTC_PORT="$(free_port)" WEBPHONE_MEDIA_ICE_TCP_PORT="$(free_port)" WEBPHONE_MEDIA_RTP_PORT_MIN="$rtp" \
    WEBPHONE_MEDIA_RTP_PORT_MAX="$((rtp + RTP_PORTS - 1))"
}
# BENCH_GC: the collector of every JVM (default ParallelGC); BENCH_GC_LOG=1 writes each JVM's GC log.
JAVA=(java -Xmx1g ${BENCH_GC:--XX:+UseParallelGC} ${BENCH_GC_LOG:+-Xlog:gc:file=$OUT/gc-%p.log} -Djava.net.preferIPv4Stack=true -Dice4j.harvest.mapping.aws.enabled=false
  -Dice4j.harvest.mapping.stun.addresses= -cp "$CP")

# BENCH_NODE_CPUS (with --node-process or --nodes N): pin the node JVM(s) to these CPUs (taskset list, e.g. 0),
# and run the script under `taskset -c <the others>` so the generator and the peers stay off them.
PIN=()
[ -n "${BENCH_NODE_CPUS:-}" ] && PIN=(taskset -c "$BENCH_NODE_CPUS")
TARGET=(--target in-process)
HTTP=()
ADMIN=()
NODE_PIDS=()
if [ "$PROCS" -gt 0 ]; then
  HZ=$(even_range 20)
  sed -e "s|<cluster-name>webphone-gateway</cluster-name>|<cluster-name>bench-$$-$RANDOM</cluster-name>|" \
    -e "s|>5701</port>|>$HZ</port>|" cluster.xml > "$OUT/cluster.xml"
  for n in $(seq 1 "$NODES"); do
    HTTP[$n]=$(free_port)
    ADMIN[$n]=$(free_port)
    env $(common_env) $(node_env "$n" "${HTTP[$n]}" "${ADMIN[$n]}") WEBPHONE_CLUSTER_ENABLED=true \
      WEBPHONE_CLUSTER_CONFIG="$OUT/cluster.xml" "${PIN[@]}" "${JAVA[@]}" org.webphone.gateway.Main > "$OUT/node-$n.log" 2>&1 &
    PIDS+=($!)
    NODE_PIDS[$n]=$!
  done
  for n in $(seq 1 "$NODES"); do
    for _ in $(seq 1 180); do curl -sf "http://127.0.0.1:${HTTP[$n]}/health" > /dev/null && break; sleep 1; done
    curl -sf "http://127.0.0.1:${ADMIN[$n]}/health" > "$OUT/health-$n-before.json" \
      || { echo "node $n not ready; see $OUT/node-$n.log" >&2; exit 1; }
  done
  TARGET=(--target cluster --cluster-config "$OUT/cluster.xml")
fi

# Sampler: the most accounts registered at once, and the most contacts beyond one per account ever seen
# (Kamailio's usrloc counters; 0 extra contacts = no account was registered by two lines at once).
(
  max_users=0; max_extra=0; most=()
  while true; do
    read -r users contacts < <(kamcmd -s "$CTL" stats.get_statistics usrloc: 2>/dev/null | awk \
      '/location_users/ {u=$3} /location_contacts/ {c=$3} END {print (u==""?0:u), (c==""?0:c)}')
    [ "${users:-0}" -gt "$max_users" ] && max_users=$users
    [ $((${contacts:-0} - ${users:-0})) -gt "$max_extra" ] && max_extra=$((contacts - users))
    spread=""
    for n in $(seq 1 "$NODES"); do # sessions held by each node (cluster runs): are they spread?
      [ -n "${HTTP[$n]:-}" ] || continue
      s=$(curl -s -m 1 "http://127.0.0.1:${ADMIN[$n]}/health" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("sessions") or 0)' 2>/dev/null || echo 0)
      [ "${s:-0}" -gt "${most[$n]:-0}" ] && most[$n]=$s
      spread="$spread gw-$n=${most[$n]:-0}"
    done
    echo "max_registered_accounts=$max_users max_extra_contacts=$max_extra${spread:+ max_sessions_per_node:$spread}" \
      > "$OUT/registrations.txt"
    # Every UDP socket's buffer use and drops (skmem ...,d<dropped>): who lost datagrams, if anyone did.
    ss -uamnp > "$OUT/udp-sockets.tmp" 2>/dev/null && mv "$OUT/udp-sockets.tmp" "$OUT/udp-sockets.txt"
    sleep 0.5
  done
) 2>/dev/null &
SAMPLER=$!
PIDS+=($SAMPLER)

set +e
TOOL_HTTP=$(free_port)
TOOL_ADMIN=$(free_port)
env $(common_env) $( [ "$PROCS" -eq 0 ] && node_env 1 "$TOOL_HTTP" "$TOOL_ADMIN" ) "${JAVA[@]}" org.webphone.gateway.load.LoadTool \
  "${TARGET[@]}" --json "$OUT/summary.json" "${LOAD_ARGS[@]}" > "$OUT/load.log" 2>&1 &
TOOL=$!
PIDS+=($TOOL)
if [ "$MEDIA" = 1 ]; then
  # The gateway's JVM(s) every 2 s (bench/load-media-sampler.py). In-process (no --node-process), the node
  # is the load tool's JVM: its figures then include the synthetic browsers.
  for n in $(seq 1 "$NODES"); do
    if [ "$PROCS" -gt 0 ]; then pid=${NODE_PIDS[$n]}; port=${ADMIN[$n]}; else pid=$TOOL; port=$TOOL_ADMIN; fi
    python3 bench/load-media-sampler.py sample "$OUT" "$n" "$pid" "$port" "$TOOL" "$SIPP_PID" 2>/dev/null &
    PIDS+=($!)
  done
fi
tail -n +1 -f --pid="$TOOL" "$OUT/load.log" | grep --line-buffered -v ' WARN \| INFO \|^[A-Z][a-z][a-z] [0-9]\|^INFO: \|^WARNING: \| role from '
wait "$TOOL"
RC=$?
set -e
sleep 1
if [ "$PROCS" -gt 0 ]; then
  for n in $(seq 1 "$NODES"); do
    curl -s "http://127.0.0.1:${ADMIN[$n]}/health" > "$OUT/health-$n-after.json" || true
  done
  python3 - "$OUT" "$NODES" <<'PY' || true
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    h = json.load(open(f"{out}/health-{i}-after.json"))
    print(f"node {h.get('nodeId')}: members={len(h['cluster']['members'])} pool={h.get('pool')} sessions={h.get('sessions')} calls={h.get('calls')}")
PY
fi
if [ "$MEDIA" = 1 ]; then
  python3 bench/load-media-sampler.py summary "$OUT" "$NODES" "$PROCS" | tee "$OUT/media-summary.txt" || true
fi
cat "$OUT/registrations.txt" 2>/dev/null || true
# UDP datagrams dropped for a full receive buffer in this run's network namespace (whole machine without one).
awk '/^Udp:/ {if (!h) {split($0, k); h=1} else {for (i = 2; i <= NF; i++) if (k[i] ~ /RcvbufErrors|InErrors/) printf "udp_%s=%s ", k[i], $i; print ""}}' \
  /proc/net/snmp | tee "$OUT/udp-errors.txt"
python3 - "$OUT/udp-sockets.txt" <<'PY' 2>/dev/null || true
import re, sys
# Sockets that dropped datagrams, as last sampled: address, process, receive buffer, drops.
for addr, proc, mem in re.findall(r'(\S+:\d+)\s+\S+:\S+\s+(?:users:\(\("([^"]+)".*)?\n\s*skmem:\(([^)]*)\)', open(sys.argv[1]).read()):
    m = dict(re.findall(r'([a-z]+)(\d+)', mem))
    if int(m.get("d", 0)) > 0:
        print(f"udp socket {addr} ({proc or '?'}): receive buffer {m['rb']} bytes, dropped {m['d']}")
PY
echo "exit=$RC results in $OUT"
exit "$RC"
