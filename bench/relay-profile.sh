#!/bin/bash
# Where a forwarded packet's CPU goes in our relay: runs the relay load benchmark (bench/media-load.sh, gateway
# only) for N calls and, during its measured window, counts per thread the system calls, context switches and
# CPU (perf stat, software events and syscall tracepoints only) and records a JFR CPU profile of the same JVM.
#   bench/relay-profile.sh [N]          e.g. bench/relay-profile.sh 300     (window 30 s; perf and JFR take 10 s of it)
# Output: target/bench/<time>-profile/{bench.log,perf-threads.txt,relay.jfr,hot-methods.txt}; the summary
# printed at the end (JFR over the same 10 s) divides each relay thread's counts by the packets it forwarded in the window.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
command -v perf >/dev/null || { echo "perf not found (Debian package linux-perf)" >&2; exit 2; }
OUT="target/bench/$(date -u +%Y%m%dT%H%M%S)-profile"
mkdir -p "$OUT"
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
java -Xmx2g -Dice4j.harvest.mapping.aws.enabled=false -Djava.net.preferIPv4Stack=true \
  -Dlogback.configurationFile=bench/logback-quiet.xml -Dseconds=30 ${JAVA_OPTS:-} \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  org.webphone.gateway.media.MediaLoadBenchmark "$N" >"$OUT/bench.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
# The window starts 3 s after the generator's sender thread exists (MediaLoadBenchmark's warm-up).
for _ in $(seq 600); do
  grep -qx load-sender /proc/$PID/task/*/comm 2>/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$OUT/bench.log"; exit 1; }
  sleep 0.5
done
sleep 4
# JFR over the same 10 s as perf (the handshakes of the set-up stay out of the profile).
jcmd $PID JFR.start name=window settings=profile duration=10s filename="$PWD/$OUT/relay.jfr" >/dev/null &
# CPU samples of every thread, kernel included, to split the relay's time by where it runs: the kernel (system
# calls), OpenSSL through jitsi-srtp's JNI library, the JVM, or JIT-compiled Java (no symbol map: "[unknown]").
perf record -q -e cpu-clock -F 2000 -p $PID -o "$OUT/perf.data" -- sleep 10 2>/dev/null &
REC=$!
perf stat --per-thread -p $PID -x, -o "$OUT/perf-threads.txt" \
  -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex \
  -- sleep 10
wait $REC || true
wait $PID || true
trap - EXIT
grep -v '^\[' "$OUT/bench.log" | grep -v '^$' | tail -8
# Per relay thread group: events per forwarded packet (both directions of the window share the same rate).
fwd=$(grep -oE 'received=[0-9]+' "$OUT/bench.log" | head -1 | cut -d= -f2)
win=$(grep -oE 'window=[0-9.]+' "$OUT/bench.log" | head -1 | cut -d= -f2)
python3 - "$OUT/perf-threads.txt" "$fwd" "$win" <<'PY'
import sys, collections
path, received, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# packets forwarded per second in each direction = received / window; perf counted 10 s
per_dir = received / window * 10.0
groups = collections.defaultdict(lambda: collections.Counter())
for line in open(path):
    f = line.strip().split(',')
    if len(f) < 4 or not f[1].replace('.', '').isdigit():
        continue
    name = f[0].rsplit('-', 1)[0]
    name = name.rstrip('0123456789-') or name
    groups[name][f[3]] += float(f[1])
print("per thread group, for the 10 s perf window: value per forwarded packet (%.0f packets each way)" % per_dir)
for g, c in sorted(groups.items(), key=lambda kv: -kv[1]['task-clock']):
    if c['task-clock'] < 50:  # ms
        continue
    fwd = 2 * per_dir if g.startswith('media-') else per_dir
    print("  %-18s cpu %6.2f us  ctxsw %5.2f  syscalls %5.2f  recvfrom %5.2f  sendto %5.2f  epoll_wait %5.2f  futex %5.2f" % (
        g, c['task-clock'] * 1000 / fwd, c['context-switches'] / fwd, c['raw_syscalls:sys_enter'] / fwd,
        c['syscalls:sys_enter_recvfrom'] / fwd, c['syscalls:sys_enter_sendto'] / fwd,
        c['syscalls:sys_enter_epoll_wait'] / fwd, c['syscalls:sys_enter_futex'] / fwd))
print("  (media-* groups are divided by the packets of both directions, the generator's by one direction)")
PY
echo "relay threads' CPU samples by where they ran (perf, % of the relay threads' samples):"
perf report -i "$OUT/perf.data" --stdio --sort comm,dso 2>/dev/null | grep -E '^ +[0-9.]+% +media-' \
  | awk '{s[$3]+=$1; t+=$1} END {for (k in s) printf "  %5.1f %%  %s\n", 100*s[k]/t, k}' | sort -rn | head -12
if command -v jfr >/dev/null; then
  jfr print --events jdk.ExecutionSample --stack-depth 64 "$OUT/relay.jfr" >"$OUT/samples.txt"
  python3 - "$OUT/samples.txt" <<'PY' | tee "$OUT/hot-methods.txt"
import sys, re, collections
# Blocks of `jfr print`: sampledThread = "name" ..., then the frames, one a line, top first.
samples = []
thread, frames = None, None
for line in open(sys.argv[1]):
    m = re.search(r'sampledThread = "([^"]+)"', line)
    if m:
        thread, frames = m.group(1), []
        samples.append((thread, frames))
        continue
    m = re.match(r'\s+([\w$.<>]+)\(.*line:', line)
    if m and frames is not None:
        frames.append(m.group(1))
relay = [(t, f) for t, f in samples if t.startswith('media-')]
print("JFR execution samples of the relay's threads: %d (of %d)" % (len(relay), len(samples)))
# Inclusive share of what a sample was doing, first match from the top of the stack wins.
cats = [
    ('socket receive (JDK + JNI)', ('DatagramChannelImpl.receive', 'DatagramChannelImpl.untrustedReceive')),
    ('socket send (JDK + JNI)', ('DatagramChannelImpl.send',)),
    ('selector (epoll)', ('SelectorImpl.select', 'EPollSelectorImpl')),
    ('SRTP (jitsi-srtp)', ('org.jitsi.srtp',)),
    ('RTCP statistics', ('RtcpStats', 'RtcpLeg', 'RtcpScheduler')),
    ('address lookup / maps', ('ConcurrentHashMap', 'InetSocketAddress', 'InetAddress')),
    ('ice4j', ('org.ice4j',)),
    ('DTLS (bctls)', ('org.bouncycastle',)),
]
inc = collections.Counter()
top = collections.Counter()
for t, f in relay:
    if f:
        top[f[0]] += 1
    hit = 'our code (the rest)'
    for frame in f:
        for name, keys in cats:
            if any(k in frame for k in keys):
                hit = name
                break
        else:
            continue
        break
    inc[hit] += 1
for k, v in inc.most_common():
    print("  %5.1f %%  %s" % (100.0 * v / max(1, len(relay)), k))
print("top frames:")
for k, v in top.most_common(25):
    print("  %5.1f %%  %s" % (100.0 * v / max(1, len(relay)), k))
PY
fi
