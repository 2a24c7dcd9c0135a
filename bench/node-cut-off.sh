#!/usr/bin/env bash
# Issue 19's "a node cut off", for bench/RESULTS.md ("A node cut off"):
#
#   bench/node-cut-off.sh [ROUNDS]     ROUNDS cuts and heals (default 5, at most 10)
#
# Runs e2e/NodeCutOffIT with -Dcutoff.rounds=ROUNDS in network namespaces (needs root, like bin/test): three nodes
# from the packaged jar (deploy/webphone.service's ExecStart, deploy/webphone.env, deploy/cluster.xml with its pool
# quorum of 2, merge delays lowered to 5 s), Kamailio as the PBX. Each round: two lines on node 3 and one session
# waiting on each other node, node 3 cut off from the others with nftables (the PBX still reachable), then the cut
# healed. Prints, per round, the time from the cut to node 3's sessions closed and to its accounts registered by the
# survivors, and from the heal to exact pool counts on all three nodes; then the medians. The whole output stays in
# target/failsafe-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
case "$ROUNDS" in ''|*[!0-9]*) echo "usage: bench/node-cut-off.sh [ROUNDS]" >&2; exit 2 ;; esac
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 10 ]; then
  echo "node-cut-off: ROUNDS must be 1..10" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "node-cut-off: needs root (network namespaces)" >&2
  exit 2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
unshare -n -- bash -c 'ip link set lo up && exec mvn -o -B -ntp -q verify -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
  -Dit.test=NodeCutOffIT -Dcutoff.rounds="$1"' bash "$ROUNDS" >/dev/null || {
  echo "node-cut-off: the run failed; see target/failsafe-reports/" >&2
  exit 1
}
OUT=target/failsafe-reports/org.webphone.gateway.e2e.NodeCutOffIT-output.txt
grep -E '^round [0-9]+: ' "$OUT"
median() {
  sort -n | awk -v what="$1" '{ a[NR] = $1 } END { if (NR == 0) exit 1; m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
      printf "%s: median %d ms of %d (min %d, max %d)\n", what, m, NR, a[1], a[NR] }'
}
grep -oE 'sessions closed [0-9]+' "$OUT" | grep -oE '[0-9]+$' | median "cut to node 3's sessions closed"
grep -oE 'survivors [0-9]+' "$OUT" | grep -oE '[0-9]+$' | median "cut to its accounts registered by the survivors"
grep -oE 'nodes [0-9]+ ms after the heal' "$OUT" | grep -oE '[0-9]+' | median "heal to exact counts"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
