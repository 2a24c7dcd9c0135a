#!/usr/bin/env bash
# Memory footprint of ONE gateway node through a series of loads, in one run, loopback only:
#   load tool (--media, its own JVM) -> the node (its own JVM, the flags of deploy/webphone.env) -> Kamailio
#   (digest auth) -> SIPp UAS echoing RTP
#
#   bench/memory-footprint.sh [STEP...]        default: 100 400 1000:1000
#
# A STEP is N[:PACKET_MS]: N calls with audio (one synthetic browser each) ramped at MEM_RATE calls/s (default 10)
# and held until all N are up plus MEM_PLATEAU_SEC (default 12) seconds; PACKET_MS is the interval of each
# browser's packets (default 20 = 50 packets/s each way, 1000 = one packet a second). The node is started once;
# before the first step (idle, after a full GC and MEM_IDLE_SEC of rest) and at the plateau of each step it
# records PSS, RSS and their parts (/proc/<pid>/smaps_rollup), threads (/proc/<pid>/task), the live heap
# (GC.heap_info after the histogram's full GC) and, at the plateau of the step with the most calls at 20 ms, a
# class histogram (jcmd GC.class_histogram); after each step, when every call has ended, the same again (what
# the calls left behind); on the way up to a step of more than MEM_THREADS_AT calls (default 500), one sample when
# that many are up (threads at 0 and 500 calls). The histogram forces a full GC, so it is taken after the step's PSS samples.
# MEM_HEAP_DUMP=1: heap dumps at the largest 20 ms step and at the end. MEM_JAVA_OPTS replaces the node's flags (default: WEBPHONE_JAVA_OPTS of deploy/webphone.env).
# Results: target/bench/<time>-memory/ (memory.csv, histo-*.txt, summary.txt, logs). Bounded: every step by the
# load tool's --duration, every wait by a count. Needs a build: mvn -q -B -o test-compile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(100 400 1000:1000)
RATE=${MEM_RATE:-10}
PLATEAU=${MEM_PLATEAU_SEC:-12}
THREADS_AT=${MEM_THREADS_AT:-500}
MAXN=0
for s in "${STEPS[@]}"; do n=${s%%:*}; [ "$n" -gt "$MAXN" ] && MAXN=$n; done
[ -f target/classpath.txt ] || { echo "build first: mvn -q -B -o test-compile" >&2; exit 2; }
NODE_OPTS=${MEM_JAVA_OPTS:-$(sed -n 's/^WEBPHONE_JAVA_OPTS=//p' deploy/webphone.env)}
# The rest of deploy/webphone.env (e.g. MALLOC_ARENA_MAX) is the node's environment, as under the unit.
NODE_ENV=($(grep -E '^[A-Z_]+=' deploy/webphone.env | grep -v '^WEBPHONE_JAVA_OPTS=' || true))
[ -n "${MEM_ENV+x}" ] && NODE_ENV=($MEM_ENV)
CP="$ROOT/target/classes:$(cat target/classpath.txt)"
OUT="$ROOT/target/bench/$(date -u +%Y%m%dT%H%M%SZ)-memory"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 143' TERM INT
port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Peers: SIPp UAS echoing every RTP packet, Kamailio routing every call to it (bench/README.md, run-load.sh).
UAS_PORT=$(port); PBX_PORT=$(port); UAS_MEDIA=$(( ($(port) & ~3) ))
sipp -sf bench/sipp/uas-bench.xml -i 127.0.0.1 -p "$UAS_PORT" -mp "$UAS_MEDIA" -rtp_echo -timer_resol 10 -nostdin \
  -m 100000000 -timeout 3600 -trace_err > "$OUT/sipp.log" 2>&1 &
PIDS+=($!)
kamailio -DD -E -m 256 -M 16 -f bench/kamailio/bench.cfg -l "udp:127.0.0.1:$PBX_PORT" \
  -A "UAS_URI=\"sip:127.0.0.1:$UAS_PORT\"" -A "CTL_SOCK=\"unix:$OUT/kamailio.ctl\"" > "$OUT/kamailio.log" 2>&1 &
PIDS+=($!)

# The node: a cluster of one (the load tool joins it as a lite member), pool 2000.. as in run-load.sh.
HTTP=$(port); ADMIN=$(port); HZ=$(( 20000 + RANDOM % 20000 ))
RTP_PORTS=$(( MAXN * 4 > 2000 ? MAXN * 4 : 2000 ))
RTP_BASE=$(( 10000 + (RANDOM % 10) * 200 ))
sed -e "s|<cluster-name>webphone-gateway</cluster-name>|<cluster-name>mem-$$-$RANDOM</cluster-name>|" \
  -e "s|>5701</port>|>$HZ</port>|" cluster.xml > "$OUT/cluster.xml"
GW_ENV=(WEBPHONE_PBX_HOST=127.0.0.1 WEBPHONE_PBX_PORT="$PBX_PORT"
  WEBPHONE_POOL_RANGE="{\"prefix\":\"\",\"from\":2000,\"to\":$((2000 + MAXN + 9)),\"passwordTemplate\":\"secret-{user}\"}"
  WEBPHONE_LIMITS_CALLS_PER_MINUTE_PER_SESSION=1000000 WEBPHONE_LIMITS_MESSAGES_PER_SECOND=1000000
  WEBPHONE_LIMITS_REQUEST_TIMEOUT_MS=10000 WEBPHONE_LOG_LEVEL=WARN WEBPHONE_CLUSTER_ENABLED=true
  WEBPHONE_SHUTDOWN_DRAIN_LIMIT_SEC=5
  WEBPHONE_CLUSTER_CONFIG="$OUT/cluster.xml")
env "${GW_ENV[@]}" "${NODE_ENV[@]}" WEBPHONE_NODE_ID=mem-1 WEBPHONE_HTTP_PORT="$HTTP" WEBPHONE_HTTP_ADMIN_PORT="$ADMIN" \
  WEBPHONE_SIP_PORT="$(port)" WEBPHONE_MEDIA_WEBRTC_PORT="$(port)" WEBPHONE_MEDIA_ICE_TCP_PORT="$(port)" \
  WEBPHONE_MEDIA_RTP_PORT_MIN="$RTP_BASE" WEBPHONE_MEDIA_RTP_PORT_MAX="$((RTP_BASE + RTP_PORTS - 1))" \
  java $NODE_OPTS -Xlog:gc:file="$OUT/gc.log" -Djava.net.preferIPv4Stack=true -Dice4j.harvest.mapping.aws.enabled=false \
  -Dice4j.harvest.mapping.stun.addresses= -cp "$CP" org.webphone.gateway.Main > "$OUT/node.log" 2>&1 &
NODE=$!
PIDS+=($NODE)
for _ in $(seq 1 180); do curl -sf "http://127.0.0.1:$ADMIN/health" > /dev/null && break; sleep 1; done
curl -sf "http://127.0.0.1:$ADMIN/health" > /dev/null || { echo "node not ready; see $OUT/node.log" >&2; exit 1; }

sessions() { curl -s -m 2 "http://127.0.0.1:$ADMIN/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["media"]["sessions"])' 2>/dev/null || echo -1; }
echo "step,calls_up,pss_kb,pss_anon_kb,pss_file_kb,pss_shmem_kb,rss_kb,threads,live_heap_kb,load1" > "$OUT/memory.csv"
# One row: the node's smaps_rollup and threads now; the live heap column is filled by histo() for the row's step.
threads() { # label: the node's threads by name, digits folded (who holds a thread per call, if any)
  # (a thread may end between the listing and the read: that is no error)
  for t in /proc/"$NODE"/task/*/comm; do cat "$t" 2>/dev/null || true; done | sed 's/[0-9]\+/N/g' | sort | uniq -c \
    | sort -rn > "$OUT/threads-$1.txt" || true
}
nmt() { # label: where the JVM's own memory goes, when the flags turn Native Memory Tracking on
  case "$NODE_OPTS" in *NativeMemoryTracking*) jcmd "$NODE" VM.native_memory summary > "$OUT/nmt-$1.txt" 2>&1 || true ;; esac
}
record() { # step label, calls up
  python3 - "$NODE" "$1" "$2" >> "$OUT/memory.csv" <<'PY'
import os, sys
pid, step, up = sys.argv[1:]
r = {}
for line in open(f"/proc/{pid}/smaps_rollup"):
    p = line.split()
    if len(p) == 3 and p[2] == "kB":
        r[p[0].rstrip(":")] = int(p[1])
threads = len(os.listdir(f"/proc/{pid}/task"))
print(f"{step},{up},{r['Pss']},{r.get('Pss_Anon','')},{r.get('Pss_File','')},{r.get('Pss_Shmem','')},{r['Rss']},"
      f"{threads},,{os.getloadavg()[0]:.2f}")
PY
}
histo() { # label: full GC + class histogram, then the live heap
  jcmd "$NODE" GC.class_histogram > "$OUT/histo-$1.txt" 2>&1 || true
  # After the histogram's full GC its total is the live heap, whatever the collector.
  echo "$1,live_heap,,,,,,,$(awk '/^Total/ {print int($3 / 1024)}' "$OUT/histo-$1.txt")," >> "$OUT/memory.csv"
}
sleep "${MEM_IDLE_SEC:-20}"
histo idle
sleep 3
record idle 0
record idle 0
threads idle
nmt idle

HISTO_AT=0
for s in "${STEPS[@]}"; do n=${s%%:*}; ms=${s#*:}; [ "$ms" = "$s" ] && [ "$n" -gt "$HISTO_AT" ] && HISTO_AT=$n; done
for s in "${STEPS[@]}"; do
  n=${s%%:*}; ms=${s#*:}; [ "$ms" = "$s" ] && ms=20
  label="$n@${ms}ms"
  ramp=$(( n / RATE + 1 ))
  hold=$(( (ramp + PLATEAU + 40) * 1000 ))
  echo "step $label: $n calls ramped at $RATE/s, packets every $ms ms, held $((hold / 1000)) s"
  java -Xmx2g -XX:+UseParallelGC -Dload.media.packetMs="$ms" -Djava.net.preferIPv4Stack=true \
    -Dice4j.harvest.mapping.aws.enabled=false -Dice4j.harvest.mapping.stun.addresses= -cp "$CP" \
    org.webphone.gateway.load.LoadTool --target cluster --cluster-config "$OUT/cluster.xml" --clients "$n" --calls "$n" \
    --rate "$RATE" --hold-ms "$hold" --duration $(( hold / 1000 + ramp + n / 5 + 60 )) --open-concurrency 20 --progress 10 \
    --media --media-timeout-ms 30000 --setup-timeout-ms 60000 --json "$OUT/summary-$label.json" > "$OUT/load-$label.log" 2>&1 &
  TOOL=$!
  PIDS+=($TOOL)
  up=0
  mid=""
  for _ in $(seq 1 $(( (ramp + 120) * 2 ))); do
    up=$(sessions)
    # On the way up, one sample where THREADS_AT calls are up (threads at 0 and 500 calls: no thread per call).
    if [ -z "$mid" ] && [ "$up" -ge "$THREADS_AT" ] && [ "$n" -gt "$THREADS_AT" ]; then
      mid=1; record "$label-at$THREADS_AT" "$up"; threads "$label-at$THREADS_AT"
    fi
    [ "$up" -ge "$n" ] && break
    kill -0 "$TOOL" 2>/dev/null || break
    sleep 0.5
  done
  sleep $(( PLATEAU / 2 ))
  for _ in 1 2 3; do record "$label" "$(sessions)"; sleep 1; done
  threads "$label"
  nmt "$label"
  [ -n "${MEM_HEAP_DUMP:-}" ] && [ "$n" = "$HISTO_AT" ] && jcmd "$NODE" GC.heap_dump "$OUT/heap-$label.hprof" > /dev/null
  [ "$n" = "$HISTO_AT" ] && [ "$ms" = 20 ] && histo "$label"
  wait "$TOOL" || echo "load tool exit $? (see $OUT/load-$label.log)"
  grep -A40 '^ *summary\|^---' "$OUT/load-$label.log" | grep -i 'completed\|failed\|media' | head -8 || true
  for _ in $(seq 1 60); do [ "$(sessions)" = 0 ] && break; sleep 1; done
  sleep 5
  record "after-$label" "$(sessions)"
done
# Longer than any timer of an ended call (ice4j's STUN transactions, consent checks, the media timeout of 30 s):
# what the end histogram still holds of the calls is kept, not waiting to be freed.
sleep "${MEM_END_WAIT_SEC:-40}"
histo end
# What the ended calls left (MEM_HEAP_DUMP=1): a dump once every call is over.
[ -n "${MEM_HEAP_DUMP:-}" ] && jcmd "$NODE" GC.heap_dump "$OUT/heap-end.hprof" > /dev/null
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import csv, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/memory.csv")))
by = {}
for r in rows:
    if r["calls_up"] != "live_heap":
        by.setdefault(r["step"], []).append(r)
idle = min(int(r["pss_kb"]) for r in by["idle"])
print(f"{'step':<16}{'calls up':>9}{'PSS MB':>9}{'anon':>7}{'file':>7}{'shmem':>7}{'RSS MB':>9}{'threads':>9}{'PSS/call above idle':>21}")
for step, rs in by.items():
    m = lambda k: sum(int(r[k] or 0) for r in rs) / len(rs) / 1024
    up = max(int(r["calls_up"]) for r in rs)
    per = f"{(m('pss_kb') * 1024 - idle) / up:.0f} kB" if up > 0 else ""
    print(f"{step:<16}{up:>9}{m('pss_kb'):>9.1f}{m('pss_anon_kb'):>7.0f}{m('pss_file_kb'):>7.0f}{m('pss_shmem_kb'):>7.0f}"
          f"{m('rss_kb'):>9.1f}{max(int(r['threads']) for r in rs):>9}{per:>21}")
for r in rows:
    if r["calls_up"] == "live_heap":
        print(f"live heap after a full GC, {r['step']}: {int(r['live_heap_kb'] or 0) / 1024:.1f} MB")
# The classes that grew most per call: the histogram at the largest 20 ms step minus the idle one, over its calls.
import glob, re
def histo(path):
    h = {}
    for line in open(path):
        m = re.match(r"\s*\d+:\s+(\d+)\s+(\d+)\s+(\S+)", line)
        if m:
            h[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return h
steps = [p for p in glob.glob(f"{out}/histo-*@20ms.txt")]
if steps and max((int(r["calls_up"]) for r in by.get(steps[0].split("histo-")[1][:-4], [])), default=0) > 0:
    step = steps[0].split("histo-")[1][:-4]
    up = max(int(r["calls_up"]) for r in by[step])
    a, b = histo(f"{out}/histo-idle.txt"), histo(steps[0])
    grown = sorted(((b[k][1] - a.get(k, (0, 0))[1], b[k][0] - a.get(k, (0, 0))[0], k) for k in b), reverse=True)
    print(f"live heap grown per call at {step} ({up} calls up), largest classes:")
    for db, dn, k in grown[:12]:
        print(f"  {db / up / 1024:8.1f} kB  {dn / up:7.1f} objects  {k}")
PY
# GC pauses of the whole run (the unified log's "Pause" lines; ZGC's are its Pause Mark/Relocate phases).
python3 - "$OUT/gc.log" <<'PY' | tee -a "$OUT/summary.txt"
import re, sys
p = [float(m) for m in re.findall(r"Pause.*?([0-9.]+)ms$", open(sys.argv[1]).read(), re.M)]
p.sort()
if p:
    print(f"GC pauses: {len(p)}, p50 {p[len(p) // 2]:.2f} ms, p99 {p[min(len(p) - 1, int(len(p) * 0.99))]:.2f} ms, max {p[-1]:.2f} ms")
PY
echo "node flags: $NODE_OPTS ${NODE_ENV[*]}" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
