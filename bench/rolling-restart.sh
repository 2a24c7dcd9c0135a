#!/usr/bin/env bash
# Issue 19's rolling-restart measurement, for bench/RESULTS.md ("Rolling restart of a drained 2-node cluster"):
#
#   bench/rolling-restart.sh [HOLD_MS] [CLIENTS]
#       HOLD_MS  length of each call (default 20000)
#       CLIENTS  virtual clients calling back to back, with audio (default 4)
#
# Runs node/RollingRestartBench (loopback only): two gateway node JVMs in one Hazelcast cluster, Kamailio
# (bench/kamailio/bench.cfg) and a SIPp UAS echoing RTP, the event-bus load tool as a lite cluster member. From the
# first SIGTERM: node a drains until it exits, starts again (same command) until ready and back in the cluster,
# then node b. Prints each node's drain and restart time and the total, with the load tool's counts (calls
# ended by the gateway must be 0). The whole output stays in target/surefire-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD=${1:-20000}
CLIENTS=${2:-4}
case "$HOLD$CLIENTS" in ''|*[!0-9]*) echo "usage: bench/rolling-restart.sh [HOLD_MS] [CLIENTS]" >&2; exit 2 ;; esac
if [ "$HOLD" -lt 1000 ] || [ "$HOLD" -gt 300000 ] || [ "$CLIENTS" -lt 1 ] || [ "$CLIENTS" -gt 8 ]; then
  echo "rolling-restart: HOLD_MS must be 1000..300000 and CLIENTS 1..8 (the pool has 10 accounts)" >&2
  exit 2
fi
OUT=target/surefire-reports/org.webphone.gateway.node.RollingRestartBench-output.txt
rm -f "$OUT"
echo "rolling-restart: $(date -u '+%F %T') UTC, $CLIENTS clients, calls of $HOLD ms, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
WEBPHONE_DEPS_INSTALLED=1 bin/test -Dtest=RollingRestartBench -Dsurefire.failIfNoSpecifiedTests=false \
  -Drolling.holdMs="$HOLD" -Drolling.clients="$CLIENTS" \
  -Djunit.jupiter.execution.timeout.default=30m > target/rolling-restart.log 2>&1 || status=$?
FIG=$( [ -f "$OUT" ] && grep '^ROLLING-FIGURES ' "$OUT" | tail -1 | cut -d' ' -f2- || true)
if [ -z "$FIG" ]; then
  echo "rolling-restart: no figures; see target/rolling-restart.log and $OUT" >&2
  tail -30 target/rolling-restart.log >&2
  exit 1
fi
printf '%s' "$FIG" | python3 -c '
import json, sys
f = json.load(sys.stdin)
print("machine: %d cpus, %s; load before %s, after %s" % (f["cpus"], f["model"], f["loadBefore"], f["loadAfter"]))
print("%d clients, calls of %d ms with audio" % (f["clients"], f["holdMs"]))
for n in f["nodes"]:
    print("node %d: %d call(s) at SIGTERM, drained in %.1f s, back in the cluster %.1f s later"
          % (n["node"], n["callsAtSigterm"], n["drainMs"] / 1000, n["restartMs"] / 1000))
print("rolling restart: %.1f s from the first SIGTERM to the second node back" % (f["totalMs"] / 1000))
print("calls: %d attempted, %d completed, %d failed, %d ended by the gateway, %d moved before the call (placed again), "
      "%d sessions reopened; most contacts beyond one per account: %d"
      % (f["attempted"], f["completed"], f["failed"], f["endedByGateway"], f["movedBeforeCall"], f["reopened"],
         f["mostExtraContacts"]))
'
exit $status
