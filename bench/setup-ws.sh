#!/usr/bin/env bash
# Set-up latency over the WebSocket, beside the PBX-only round trip, in one run (issue 21), loopback only:
#   WsSetupBench (WebSocket sessions + synthetic WebRTC browsers) -> gateway node -> Kamailio (digest on
#   REGISTER and INVITE) -> SIPp UAS (answers at once, echoes RTP)
#   SIPp UAC (digest, -timer_resol 1) -> the same Kamailio -> the same UAS       (before and after the gateway)
#
#   bench/setup-ws.sh [--rounds N] [--plan rate:1:20,rate:10:200,burst:10:5,burst:25:5] [--baseline-calls 200]
#
# Each round: PBX-only baseline, the gateway's plan, PBX-only baseline again. The gateway is its own JVM with the
# run command's flags (GATEWAY_JAVA_OPTS, default the -X flags of this tree's pom; a before/after pair with
# GATEWAY_CLASSES needs the other build's flags given in GATEWAY_JAVA_OPTS); BENCH_JFR=1 records it
# with JFR (profile settings) into the result directory. Results: target/bench/setup-<time>/ (summary.txt,
# per-round JSON, logs). Needs a build: mvn -q -B -o test-compile (for target/classpath.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=1
PLAN=rate:1:20,rate:10:200,burst:10:5,burst:25:5
BASE_CALLS=200
SESSIONS=30
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --plan) PLAN=$2; shift 2 ;;
    --baseline-calls) BASE_CALLS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f target/classpath.txt ] || { echo "build first: mvn -q -B -o test-compile" >&2; exit 2; }
CP="$ROOT/target/classes:$(cat target/classpath.txt)"
# GATEWAY_CLASSES: the gateway's classes from elsewhere (e.g. a build of the code before a change), so a
# before/after pair runs against the same peers with the same bench client; default target/classes.
GW_CP="${GATEWAY_CLASSES:-$ROOT/target/classes}:$(cat target/classpath.txt)"
OUT="$ROOT/target/bench/setup-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
free_udp_pair() { python3 -c '
import socket
while True:
    a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a.bind(("127.0.0.1",0)); p=a.getsockname()[1]
    if p % 2: continue
    try:
        b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b.bind(("127.0.0.1",p+2)); print(p); break
    except OSError: pass'; }

UAS_PORT=$(free_port); UAS_MEDIA=$(free_udp_pair); PBX_PORT=$(free_port)
sipp -sf bench/sipp/uas-bench.xml -i 127.0.0.1 -p "$UAS_PORT" -mp "$UAS_MEDIA" -rtp_echo -timer_resol 1 -nostdin \
  -m 100000000 -timeout 3600 -trace_err > "$OUT/sipp-uas.log" 2>&1 &
PIDS+=($!)
kamailio -DD -E -m 256 -M 16 -f bench/kamailio/bench.cfg -l "udp:127.0.0.1:$PBX_PORT" -A INVITE_AUTH \
  -A "UAS_URI=\"sip:127.0.0.1:$UAS_PORT\"" -A "CTL_SOCK=\"unix:$OUT/kamailio.ctl\"" > "$OUT/kamailio.log" 2>&1 &
PIDS+=($!)
sleep 1

HTTP=$(free_port); ADMIN=$(free_port)
POOL=$((SESSIONS + 10))
GATEWAY_JAVA_OPTS=${GATEWAY_JAVA_OPTS:-$(sed -n '/exec-maven-plugin/,/<\/plugin>/p' pom.xml \
  | grep -o '<argument>-X[^<]*</argument>' | sed 's/<[^>]*>//g' | tr '\n' ' ')}
JFR=()
[ "${BENCH_JFR:-0}" = 1 ] && JFR=("-XX:StartFlightRecording=settings=profile,filename=$OUT/gateway.jfr")
echo "gateway JVM flags: $GATEWAY_JAVA_OPTS ${JFR[*]}; classes ${GATEWAY_CLASSES:-target/classes}" | tee "$OUT/summary.txt"
env WEBPHONE_PBX_HOST=127.0.0.1 WEBPHONE_PBX_PORT="$PBX_PORT" \
  WEBPHONE_POOL_RANGE="{\"prefix\":\"\",\"from\":2000,\"to\":$((2000 + POOL - 1)),\"passwordTemplate\":\"secret-{user}\"}" \
  WEBPHONE_LIMITS_CALLS_PER_MINUTE_PER_SESSION=1000000 WEBPHONE_LIMITS_CALLS_PER_MINUTE_PER_IP=1000000 \
  WEBPHONE_LIMITS_MESSAGES_PER_SECOND=1000000 WEBPHONE_LIMITS_MAX_SESSIONS_PER_IP=100000 \
  WEBPHONE_LIMITS_ACCOUNTS_PER_IP=100000 WEBPHONE_LOG_LEVEL="${WEBPHONE_LOG_LEVEL:-WARN}" \
  WEBPHONE_HTTP_PORT="$HTTP" WEBPHONE_HTTP_ADMIN_PORT="$ADMIN" WEBPHONE_SIP_PORT="$(free_port)" \
  WEBPHONE_MEDIA_WEBRTC_PORT="$(free_port)" WEBPHONE_MEDIA_ICE_TCP_PORT="$(free_port)" \
  java $GATEWAY_JAVA_OPTS "${JFR[@]}" -Dice4j.harvest.mapping.aws.enabled=false -Djava.net.preferIPv4Stack=true \
  -cp "$GW_CP" org.webphone.gateway.Main > "$OUT/gateway.log" 2>&1 &
GW=$!
PIDS+=($GW)
for _ in $(seq 1 180); do curl -sf "http://127.0.0.1:$HTTP/health" > /dev/null && break; sleep 1; done
curl -sf "http://127.0.0.1:$HTTP/health" > /dev/null || { echo "gateway not ready; see $OUT/gateway.log" >&2; exit 1; }

baseline() { # $1: label. SIPp UAC at 10/s, $BASE_CALLS calls: INVITE sent -> 200 received, the 407 round included
  local dir="$OUT/baseline-$1"
  mkdir -p "$dir"
  # -trace_msg: SIPp's own response times (-trace_rtt) are whole milliseconds; its message trace has microseconds.
  (cd "$dir" && timeout 120 sipp -sf "$ROOT/bench/sipp/uac-auth-rtt.xml" -s 600 "127.0.0.1:$PBX_PORT" -i 127.0.0.1 \
    -p "$(free_port)" -au bench -ap secret-bench -r 10 -m "$BASE_CALLS" -d 1000 -l 100 -timer_resol 1 -nostdin \
    -trace_msg -trace_err > sipp.log 2>&1) || true
  python3 - "$dir" "$1" <<'PY'
import glob, re, statistics, sys
d, label = sys.argv[1], sys.argv[2]
first, ok = {}, {}
for f in glob.glob(d + "/*_messages.log"):
    for block in re.split(r"\n-{20,} ", "\n" + open(f, errors="replace").read())[1:]:
        head, _, msg = block.partition("\n")
        m = re.match(r"(\d{4}-\d\d-\d\d)\s+(\d\d):(\d\d):(\d\d\.\d+)", head.strip())
        t = [int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))] if m else []
        cid = re.search(r"^Call-ID:\s*(\S+)", msg, re.M | re.I)
        if not t or not cid:
            continue
        cid, t = cid.group(1), t[-1]
        if "message sent" in msg and re.search(r"^INVITE sip:", msg, re.M):
            first.setdefault(cid, t)
        elif "message received" in msg and re.search(r"^SIP/2.0 200", msg, re.M) and re.search(r"^CSeq:\s*2 INVITE", msg, re.M):
            ok.setdefault(cid, t)
v = sorted((ok[c] - first[c]) % 86400 * 1000 for c in ok if c in first)
if not v:
    print(f"PBX-only {label}: no calls measured (see {d}/sipp.log)"); sys.exit()
q = lambda p: v[min(len(v) - 1, max(0, -(-p * len(v) // 100) - 1))]
print(f"PBX-only {label}: INVITE -> 200 (407 round included) n={len(v)} median {statistics.median(v):.2f} ms p90 {q(90):.2f} ms max {v[-1]:.2f} ms")
PY
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S)" | tee -a "$OUT/summary.txt"
  baseline "r$r-before" | tee -a "$OUT/summary.txt"
  java -Djava.net.preferIPv4Stack=true ${WSBENCH_JAVA_OPTS:-} -cp "$CP" org.webphone.gateway.load.WsSetupBench --port "$HTTP" --admin-port "$ADMIN" \
    --sessions "$SESSIONS" --plan "$PLAN" --json "$OUT/ws-r$r.json" > "$OUT/ws-r$r.log" 2>&1 \
    || { echo "round $r: some calls failed or the run stopped (see ws-r$r.log)"; grep -h '^setup bench:' "$OUT/ws-r$r.log" || true; } \
    | tee -a "$OUT/summary.txt"
  python3 - "$OUT/ws-r$r.json" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
try: r = json.load(open(sys.argv[1]))
except Exception as e: print("no WebSocket result:", e); sys.exit()
for p in r["phases"]:
    g = p.get("gatewayAdded", {})
    ga = lambda k: g.get(k, {}).get("p50Ms", "-")
    print(f'{p["phase"]:>14}: n={p["calls"]} failed={p["failed"]} Call->Ack {p["ackMs"]["p50"]} | ->Answer {p["answerMs"]["p50"]}'
          f' | ->InCall {p["inCallMs"]["p50"]} (p90 {p["inCallMs"]["p90"]}) | ->both {p["setupMs"]["p50"]} (p90 {p["setupMs"]["p90"]})'
          f' | ->first echo {p["firstAudioMs"]["p50"]} | Answer after InCall {p["answerAfterInCall"]}'
          f' | gateway-added p50 Call->INVITE {ga("call_to_invite")} 200->InCall {ga("answer_to_incall")} {p["failures"] or ""}')
PY
  baseline "r$r-after" | tee -a "$OUT/summary.txt"
  echo "round $r ended: load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt"
done
[ "${BENCH_JFR:-0}" = 1 ] && jcmd "$GW" JFR.dump filename="$OUT/gateway.jfr" > /dev/null 2>&1 || true
echo "results in $OUT"
