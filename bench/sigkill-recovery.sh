#!/usr/bin/env bash
# Issue 19's lease recovery after SIGKILL, for bench/RESULTS.md ("Lease recovery after SIGKILL"):
#
#   bench/sigkill-recovery.sh [ROUNDS]     ROUNDS kills (default 5, at most 20)
#
# Runs e2e/DeployedClusterIT with -Ddeploy.killRounds=ROUNDS in network namespaces (needs root, like bin/test):
# three nodes from the packaged jar (deploy/webphone.service's ExecStart, deploy/webphone.env), HAProxy with
# deploy/haproxy.cfg, Kamailio + SIPp, headless Chromium in a call. Each round kills (SIGKILL) the node holding the
# browser's line, measures the time until a survivor logs that it freed the dead member's lease, waits for the page's
# fresh line (one contact at Kamailio), then starts the killed node again from the jar. Prints each round and the
# median. The whole output stays in target/failsafe-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
case "$ROUNDS" in ''|*[!0-9]*) echo "usage: bench/sigkill-recovery.sh [ROUNDS]" >&2; exit 2 ;; esac
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 20 ]; then
  echo "sigkill-recovery: ROUNDS must be 1..20" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "sigkill-recovery: needs root (network namespaces)" >&2
  exit 2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
unshare -n -- bash -c 'ip link set lo up && exec mvn -o -B -ntp -q verify -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
  -Dit.test=DeployedClusterIT -Ddeploy.killRounds="$1"' bash "$ROUNDS" >/dev/null || {
  echo "sigkill-recovery: the run failed; see target/failsafe-reports/" >&2
  exit 1
}
OUT=target/failsafe-reports/org.webphone.gateway.e2e.DeployedClusterIT-output.txt
grep -E '^round [0-9]+: ' "$OUT"
grep -oE 'lease back after SIGKILL: [0-9]+' "$OUT" | grep -oE '[0-9]+$' | sort -n \
  | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
      printf "lease recovery after SIGKILL: median %d ms of %d (min %d, max %d)\n", m, NR, a[1], a[NR] }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
