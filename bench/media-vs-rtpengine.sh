#!/bin/bash
# The relay load benchmark (bench/media-load.sh) run side by side against our media verticle and against
# rtpengine (userspace forwarding only, no kernel module), interleaved, on loopback.
#   bench/media-vs-rtpengine.sh [-r ROUNDS] N...      e.g. bench/media-vs-rtpengine.sh -r 2 100 500
# Each round runs, for every N, both relays one after the other; the order alternates between rounds so
# that a drift of the shared machine's load does not favour one side. rtpengine is started for each of its
# runs on a free ng port and a port range of its own, and stopped by PID. Window: JAVA_OPTS=-Dseconds=20.
# Needs the rtpengine daemon on the PATH (Debian package rtpengine-daemon; a benchmark-only peer).
# BASELINE=DIR adds, in every round, a run of the gateway built in DIR (another checkout, e.g. the commit before
# a change; its classes are compiled there first): before/after and rtpengine in the same interleaved rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=2
if [ "${1:-}" = "-r" ]; then ROUNDS=$2; shift 2; fi
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(100)
command -v rtpengine >/dev/null || { echo "rtpengine not found (Debian package rtpengine-daemon)" >&2; exit 2; }
OUT="target/bench/$(date -u +%Y%m%dT%H%M%S)-rtpengine"
mkdir -p "$OUT"
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
if [ -n "${BASELINE:-}" ]; then
  (cd "$BASELINE" && mvn -o -q -B test-compile dependency:build-classpath \
    -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test)
  BASE_CP="$BASELINE/target/test-classes:$BASELINE/target/classes:$(cat "$BASELINE/target/test-classpath.txt")"
fi
JAVA=(java -Xmx2g -Dice4j.harvest.mapping.aws.enabled=false -Djava.net.preferIPv4Stack=true
  -Dlogback.configurationFile=bench/logback-quiet.xml ${JAVA_OPTS:-}
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)")

RTPE_PID=""
cleanup() { if [ -n "$RTPE_PID" ]; then kill "$RTPE_PID" 2>/dev/null || true; wait "$RTPE_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
free_udp_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_gateway() { # $1 = calls
  echo "== $(date -u +%H:%M:%S) gateway, $1 calls, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/runs.log"
  "${JAVA[@]}" -Drelay=gateway org.webphone.gateway.media.MediaLoadBenchmark "$1" 2>&1 | tee -a "$OUT/runs.log"
}

run_baseline() { # $1 = calls; the gateway of $BASELINE (the same JVM flags, its own classpath)
  [ -n "${BASELINE:-}" ] || return 0
  echo "== $(date -u +%H:%M:%S) gateway (baseline $BASELINE), $1 calls, load $(cut -d' ' -f1-3 /proc/loadavg)" \
    | tee -a "$OUT/runs.log"
  "${JAVA[@]:0:${#JAVA[@]}-2}" -cp "$BASE_CP" -Drelay=gateway org.webphone.gateway.media.MediaLoadBenchmark "$1" 2>&1 \
    | sed 's/^relay=gateway /relay=baseline /' | tee -a "$OUT/runs.log"
}

run_rtpengine() { # $1 = calls
  local ng min log
  ng=$(free_udp_port)
  # 4 ports per call (RTP and RTCP on each side), below the ephemeral range like the gateway's.
  min=$((20000 + 2 * (RANDOM % 3000)))
  log="$OUT/rtpengine-$1-$(date -u +%H%M%S).log"
  rtpengine --config-file=none --foreground --log-stderr --log-level=5 --table=-1 \
    --interface=127.0.0.1 --listen-ng="127.0.0.1:$ng" --port-min="$min" --port-max=$((min + 4 * $1 + 999)) \
    --dtls-cert-cipher=prime256v1 --dtls-passive >"$log" 2>&1 &
  RTPE_PID=$!
  for _ in $(seq 50); do grep -q "Startup complete" "$log" && break; sleep 0.1; done
  kill -0 "$RTPE_PID" || { echo "rtpengine did not start, see $log" >&2; exit 1; }
  echo "== $(date -u +%H:%M:%S) rtpengine $(rtpengine --version 2>&1 | head -1) pid $RTPE_PID ng $ng ports $min.., $1 calls, load $(cut -d' ' -f1-3 /proc/loadavg)" \
    | tee -a "$OUT/runs.log"
  "${JAVA[@]}" -Drelay=rtpengine -Drtpengine.ng="$ng" -Drtpengine.pid="$RTPE_PID" \
    org.webphone.gateway.media.MediaLoadBenchmark "$1" 2>&1 | tee -a "$OUT/runs.log"
  kill "$RTPE_PID"; wait "$RTPE_PID" 2>/dev/null || true; RTPE_PID=""
}

for r in $(seq "$ROUNDS"); do
  for n in "${SIZES[@]}"; do
    if [ $((r % 2)) -eq 1 ]; then run_gateway "$n"; run_rtpengine "$n"; run_baseline "$n"
    else run_baseline "$n"; run_rtpengine "$n"; run_gateway "$n"; fi
  done
done
echo "== summary (also in $OUT/runs.log)"
grep -E '^relay=' "$OUT/runs.log" | sed -E 's/ \(([0-9.]+%)\/call, ([0-9.]+) us per forwarded packet\)/ perCall=\1 usPerPacket=\2/'
