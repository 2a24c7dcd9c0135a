#!/usr/bin/env bash
# Issue 19's rolling-restart measurement, for bench/RESULTS.md ("Rolling restart of a drained cluster"):
#
#   bench/rolling-restart.sh [HOLD_MS] [CLIENTS] [NODES]
#       HOLD_MS  length of each call (default 20000)
#       CLIENTS  virtual clients calling back to back, with audio (default 4)
#       NODES    how many of the three nodes are restarted, one after the other (default 3)
#
# Runs the rolling test of e2e/ClusterBehindHaproxyIT in network namespaces (needs root, like bin/test): three nodes
# from the packaged jar (deploy/webphone.service's ExecStart, deploy/webphone.env, deploy/cluster.xml), HAProxy with
# deploy/haproxy.cfg, Kamailio + a SIPp UAS echoing RTP, the load tool of the same jar as a lite cluster member,
# headless Chromium with an idle page. From the first SIGTERM: node1 drains until it exits, starts again from the jar
# until ready, checked healthy by HAProxy and in the cluster, then node2, ... Prints each node's drain and restart
# time, the total, and the load tool's counts (calls ended by the gateway must be 0). The whole output stays in
# target/failsafe-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD=${1:-20000}
CLIENTS=${2:-4}
NODES=${3:-3}
case "$HOLD$CLIENTS$NODES" in ''|*[!0-9]*) echo "usage: bench/rolling-restart.sh [HOLD_MS] [CLIENTS] [NODES]" >&2; exit 2 ;; esac
if [ "$HOLD" -lt 1000 ] || [ "$HOLD" -gt 300000 ] || [ "$CLIENTS" -lt 1 ] || [ "$CLIENTS" -gt 6 ] \
   || [ "$NODES" -lt 1 ] || [ "$NODES" -gt 3 ]; then
  echo "rolling-restart: HOLD_MS must be 1000..300000, CLIENTS 1..6 (the pool has 8 accounts) and NODES 1..3" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "rolling-restart: needs root (network namespaces)" >&2
  exit 2
fi
OUT=target/failsafe-reports/org.webphone.gateway.e2e.ClusterBehindHaproxyIT-output.txt
rm -f "$OUT"
echo "rolling-restart: $(date -u '+%F %T') UTC, $CLIENTS clients, calls of $HOLD ms, $NODES node(s) restarted, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
unshare -n -- bash -c 'ip link set lo up && exec mvn -o -B -ntp -q verify -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
  -Dit.test="ClusterBehindHaproxyIT#aRollingRestart*" -Drolling.holdMs="$1" -Drolling.clients="$2" -Drolling.nodes="$3" \
  -Djunit.jupiter.execution.timeout.default=30m' bash "$HOLD" "$CLIENTS" "$NODES" > target/rolling-restart.log 2>&1 || status=$?
FIG=$( [ -f "$OUT" ] && grep '^ROLLING-FIGURES ' "$OUT" | tail -1 | cut -d' ' -f2- || true)
if [ -z "$FIG" ]; then
  echo "rolling-restart: no figures; see target/rolling-restart.log and target/failsafe-reports/" >&2
  tail -30 target/rolling-restart.log >&2
  exit 1
fi
printf '%s' "$FIG" | python3 -c '
import json, sys
f = json.load(sys.stdin)
print("machine: %d cpus, %s; load before %s, after %s" % (f["cpus"], f["model"], f["loadBefore"], f["loadAfter"]))
print("%d nodes behind HAProxy, %d clients, calls of %d ms with audio" % (f["nodes"], f["clients"], f["holdMs"]))
for n in f["steps"]:
    print("%s: %d call(s) at SIGTERM, drained in %.1f s, back (ready, healthy at HAProxy, in the cluster) %.1f s later"
          % (n["node"], n["callsAtSigterm"], n["drainMs"] / 1000, n["restartMs"] / 1000))
print("rolling restart: %.1f s from the first SIGTERM to the last node back" % (f["totalMs"] / 1000))
print("calls: %d attempted, %d completed, %d failed, %d ended by the gateway, %d moved before the call (placed again), "
      "%d sessions reopened; most contacts beyond one per account: %d"
      % (f["attempted"], f["completed"], f["failed"], f["endedByGateway"], f["movedBeforeCall"], f["reopened"],
         f["mostExtraContacts"]))
'
exit $status
