#!/usr/bin/env bash
# ICE restart after a network change (issue 18), for bench/RESULTS.md:
#
#   bench/ice-restart.sh [CHANGES]        (default 12, at least 10)
#
# Runs e2e/IceRestartTest with -Dicerestart.changes=CHANGES in network namespaces (needs root, like bin/test):
# a gateway node (own JVM) with SIPp as the PBX (answers, echoes the RTP) on one host, headless Chromium on
# another whose media address is replaced CHANGES times during one call (10.251.0.2 <-> 10.251.0.12; the
# page's WebSocket is on a second link and stays up). For each change: the time from the page's first
# `disconnected`/`failed` to the first inbound audio packet after it (restoreMs), and how long Chromium took
# to notice the change (detectMs). Prints each figure and the median; the test's own checks (audio both
# ways, no DTLS handshake, no BYE or re-INVITE, same WebSocket) hold for every change. Bounded: one call,
# CHANGES changes of at most ~40 s each. The whole output stays in target/surefire-reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=${1:-12}
case "$CHANGES" in ''|*[!0-9]*) echo "usage: bench/ice-restart.sh [CHANGES]" >&2; exit 2 ;; esac
if [ "$CHANGES" -lt 10 ] || [ "$CHANGES" -gt 50 ]; then
  echo "ice-restart: CHANGES must be 10..50" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "ice-restart: needs root (network namespaces)" >&2
  exit 2
fi
OUT=target/surefire-reports/org.webphone.gateway.e2e.IceRestartTest-output.txt
rm -f "$OUT"
echo "ice-restart: $(date -u '+%F %T') UTC, $CHANGES address changes, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
status=0
WEBPHONE_DEPS_INSTALLED=1 bin/test -Dtest=IceRestartTest -Dsurefire.failIfNoSpecifiedTests=false \
  -Dicerestart.changes="$CHANGES" > target/ice-restart.log 2>&1 || status=$?
if [ ! -f "$OUT" ]; then
  echo "ice-restart: the test did not run; see target/ice-restart.log" >&2
  tail -30 target/ice-restart.log >&2
  exit 1
fi
grep '^ICE-RESTART-FIGURE ' "$OUT" | cut -d' ' -f2- || true
grep '^ICE-RESTART-SUMMARY ' "$OUT" | cut -d' ' -f2- || echo "ice-restart: no summary (the test stopped early); see $OUT"
echo "ice-restart: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$status" != 0 ]; then
  echo "ice-restart: the test failed (exit $status); see target/ice-restart.log" >&2
  grep -E 'AssertionError|expected' target/ice-restart.log | head -5 >&2 || true
fi
exit "$status"
