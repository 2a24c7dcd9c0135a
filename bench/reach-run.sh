#!/usr/bin/env bash
# Issue 18's reach measurement, for bench/RESULTS.md ("Reach: click to first audio per path"):
#
#   bench/reach-run.sh [CALLS] [ROUTES] [drop|reject]
#       CALLS   echo calls per route (default 20)
#       ROUTES  comma list of UDP_DIRECT, ICE_TCP, TURN_UDP, TURN_TCP, TURN_TLS
#               (default UDP_DIRECT,ICE_TCP,TURN_UDP,TURN_TLS)
#       drop    blocked traffic is dropped, as most firewalls do (default); reject: refused at once
#   REACH_NODE_CONFIG='{"media": {...}}'  extra node config (e.g. what turns ICE-TCP on)
#
# Runs e2e/ReachBench in network namespaces (needs root, like bin/test): a gateway node (own JVM, demo PBX
# echo extension 600), coturn (use-auth-secret, UDP/TCP 3478, TLS 443 with a test CA certificate) and headless
# Chromium whose nftables firewall lets through only the page's port and the route measured. For each call:
# the time from the click on Call to the first audio packet received by the browser (getStats), gathering
# included; the routes are taken in turn; a call that takes another route (selected candidate pair) or gets no
# audio within 15 s is counted as failed with its reason (ICE_TCP says whether the gateway offered a TCP
# candidate). Prints the median, p90, min and max per route. The whole output stays in target/surefire-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-20}
ROUTES=${2:-UDP_DIRECT,ICE_TCP,TURN_UDP,TURN_TLS}
BLOCK=${3:-drop}
case "$CALLS" in ''|*[!0-9]*) echo "usage: bench/reach-run.sh [CALLS] [ROUTES] [drop|reject]" >&2; exit 2 ;; esac
case "$BLOCK" in drop|reject) ;; *) echo "reach-run: block must be drop or reject" >&2; exit 2 ;; esac
if [ "$CALLS" -lt 1 ] || [ "$CALLS" -gt 200 ]; then
  echo "reach-run: CALLS must be 1..200" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "reach-run: needs root (network namespaces)" >&2
  exit 2
fi
OUT=target/surefire-reports/org.webphone.gateway.e2e.ReachBench-output.txt
rm -f "$OUT"
echo "reach-run: $(date -u '+%F %T') UTC, $CALLS calls per route ($ROUTES), blocked traffic: $BLOCK," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
# The bench has a run time of its own: up to about 10 s per call on a busy machine.
WEBPHONE_DEPS_INSTALLED=1 bin/test -Dtest=ReachBench -Dsurefire.failIfNoSpecifiedTests=false \
  -Dreach.calls="$CALLS" -Dreach.routes="$ROUTES" -Dreach.block="$BLOCK" \
  -Dreach.nodeConfig="${REACH_NODE_CONFIG:-{\}}" \
  -Djunit.jupiter.execution.timeout.default=60m > target/reach-run.log 2>&1 || status=$?
if [ ! -f "$OUT" ]; then
  echo "reach-run: the bench did not run; see target/reach-run.log" >&2
  tail -30 target/reach-run.log >&2
  exit 1
fi
FIG=$(grep '^REACH-FIGURES ' "$OUT" | tail -1 | cut -d' ' -f2-)
if [ -z "$FIG" ]; then
  echo "reach-run: no figures (the bench stopped early); see $OUT" >&2
  exit 1
fi
printf '%s' "$FIG" | python3 -c '
import json, sys
f = json.load(sys.stdin)
print("machine: %d cpus, %s; load before %s, after %s" % (f["cpus"], f["model"], f["loadBefore"], f["loadAfter"]))
print("blocked traffic: %s; %d calls per route" % (f["block"], f["calls"]))
print("%-11s %6s %6s %8s %8s %8s %8s" % ("route", "ok", "failed", "median", "p90", "min", "max"))
for name, r in f["routes"].items():
    if r["ok"]:
        print("%-11s %6d %6d %6d ms %5d ms %5d ms %5d ms" % (name, r["ok"], r["failed"], r["medianMs"], r["p90Ms"],
              r["minMs"], r["maxMs"]))
    else:
        print("%-11s %6d %6d        -" % (name, r["ok"], r["failed"]))
    for why in r["failures"]:
        print("    failed: " + why)
' || printf '%s\n' "$FIG"
echo "reach-run: finished $(date -u '+%F %T') UTC; exit status $status (0: every call took its route)"
exit "$status"
