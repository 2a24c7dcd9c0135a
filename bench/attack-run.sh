#!/usr/bin/env bash
# The mixed attack run of issue 16 at full length, for bench/RESULTS.md:
#
#   bench/attack-run.sh [SECONDS]        (default 60)
#
# Runs e2e/MixedAttackTest with -Dattack.durationSec=SECONDS in network namespaces (needs root, like
# bin/test): a gateway node (own JVM, demo PBX) on one host, headless Chromium on another, the attack driver
# on a third with 30 addresses pinned to one core (WebSocket text/binary/ping floods at 2000 frames/s, a
# client that floods and never reads, 100 sockets that never send a frame, 200 INVITE/OPTIONS a second
# from strangers, 16 silent DTLS legs and one that sends a ClientHello and goes silent, 200 half-sent HTTP
# upgrades, 500 junk datagrams a second on the media port). Prints the figures (baseline call and node,
# the call under attack, what the attackers sent and got, recovery, threads and live heap after) and
# whether every check held. The whole output stays in target/surefire-reports/. Needs a build with the
# Maven dependencies present (bin/install-maven-deps).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-60}
case "$SECONDS_RUN" in ''|*[!0-9]*) echo "usage: bench/attack-run.sh [SECONDS]" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "attack-run: needs root (network namespaces)" >&2
  exit 2
fi
OUT=target/surefire-reports/org.webphone.gateway.e2e.MixedAttackTest-output.txt
rm -f "$OUT"
echo "attack-run: $(date -u '+%F %T') UTC, ${SECONDS_RUN} s of attack, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
WEBPHONE_DEPS_INSTALLED=1 bin/test -Dtest=MixedAttackTest -Dsurefire.failIfNoSpecifiedTests=false \
  -Dattack.durationSec="$SECONDS_RUN" > target/attack-run.log 2>&1 || status=$?
if [ ! -f "$OUT" ]; then
  echo "attack-run: the test did not run; see target/attack-run.log" >&2
  tail -30 target/attack-run.log >&2
  exit 1
fi
grep -E '^(ok|FAILED): ' "$OUT" || true
FIG=$(grep '^MIXED-ATTACK-FIGURES ' "$OUT" | tail -1 | cut -d' ' -f2-)
if [ -z "$FIG" ]; then
  echo "attack-run: no figures (the test stopped early); see $OUT" >&2
  exit 1
fi
printf '%s' "$FIG" | python3 -c '
import json, sys
f = json.load(sys.stdin)
sec = f["attackSec"]
def call(name):
    c = f.get(name)
    return "failed (no figures)" if not c else "connect %d ms, %d packets received (%.0f Hz), %d sent" % (
        c["connectMs"], c["packetsReceived"], c["peakHz"], c["packetsSent"])
def node(name):
    n = f.get(name)
    return "-" if not n else "%d threads, live heap %.1f MB" % (n["threads"], n["liveHeapBytes"] / 1e6)
print("started %s, attack %d s" % (f["startedAt"], sec))
print("baseline call:      " + call("baselineCall"))
print("call under attack:  " + call("attackCall"))
print("node at baseline:   " + node("baseline"))
print("node under attack:  " + node("underAttack"))
print("node after:         " + node("after") + ", counts back to 0 after %s s" % f.get("recoverySec", "-"))
a = f.get("attack", {})
print("what the attackers sent (per second over %d s) and got:" % sec)
for k in sorted(a):
    v = a[k]
    rate = " (%.0f/s)" % (v / sec) if k.endswith(".sent") else ""
    print("  %-55s %10d%s" % (k, v, rate))
' || printf '%s\n' "$FIG"
echo
echo "attack-run: finished $(date -u '+%F %T') UTC; test exit status $status (0: every check held)"
exit "$status"
