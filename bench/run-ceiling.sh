#!/usr/bin/env bash
# The ceiling of the peers: SIPp UAC -> the benchmark Kamailio -> SIPp UAS, no gateway.
#   bench/run-ceiling.sh RATE CALLS HOLD_MS
# Prints SIPp's final statistics: successful/failed calls, call rate, and the repartition of the
# response time INVITE -> 200 (the set-up time of the peers alone).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200}; CALLS=${2:-12000}; HOLD=${3:-1000}
OUT="$PWD/target/bench/$(date -u +%Y%m%dT%H%M%SZ)-ceiling"
mkdir -p "$OUT"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
UAS=$(free_port); UAS_M=$(free_port); UAC=$(free_port); UAC_M=$(free_port); PBX=$(free_port)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
sipp -sf bench/sipp/uas-bench.xml -i 127.0.0.1 -p "$UAS" -mp "$UAS_M" -timer_resol 10 -nostdin -m 100000000 \
  -timeout 3600 > "$OUT/uas.log" 2>&1 &
PIDS+=($!)
kamailio -DD -E -m 256 -M 16 -f bench/kamailio/bench.cfg -l "udp:127.0.0.1:$PBX" \
  -A "UAS_URI=\"sip:127.0.0.1:$UAS\"" -A "CTL_SOCK=\"unix:$OUT/kamailio.ctl\"" > "$OUT/kamailio.log" 2>&1 &
PIDS+=($!)
sleep 1
set +e
# SIPp's own -timeout did not end runs with calls stuck on lost packets here: bound it from outside.
timeout $((CALLS / RATE + 90)) sipp "127.0.0.1:$PBX" -sf bench/sipp/uac-bench.xml -s 600 -i 127.0.0.1 -p "$UAC" \
  -mp "$UAC_M" -timer_resol 10 -nostdin -r "$RATE" -m "$CALLS" -d "$HOLD" -l $((RATE * (HOLD / 1000 + 2) + 100)) \
  -trace_stat -fd 5 -stf "$OUT/uac-stat.csv" > "$OUT/uac.log" 2>&1
RC=$?
set -e
# The last statistics line: created, successful, failed, still stuck, INVITE -> 200 repartition.
python3 - "$OUT/uac-stat.csv" <<'PY'
import sys
rows = open(sys.argv[1]).read().splitlines()
d = dict(zip(rows[0].split(";"), rows[-1].split(";")))
created, ok, failed, current = (int(d[k]) for k in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "CurrentCall"))
print(f"created={created} successful={ok} failed={failed} unfinished={current} "
      f"mean INVITE->200={d['ResponseTime1(C)']} elapsed={d['ElapsedTime(C)']}")
print("INVITE->200 repartition:", {k.split("_", 1)[1]: int(v) for k, v in d.items()
                                    if k.startswith("ResponseTimeRepartition1_")})
PY
echo "sipp exit=$RC results in $OUT"
