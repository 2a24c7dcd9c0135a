#!/bin/sh
# Resume on any node: latency a forwarding node adds to a frame and its event, and its CPU per forwarded
# session (see bench/RESULTS.md, "Resume on any node"). Two node JVMs on loopback, clustered, demo PBXs.
# Usage: bench/resume-forward.sh [rounds sessions pingsPerSecond seconds]   (from the repository root)
set -eu
mvn -o -q -B test-compile
cp="target/test-classes:target/classes:$(cat target/classpath.txt)"
echo "== $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uptime | sed 's/.*load/load/')"
java -Xmx512m -Djava.net.preferIPv4Stack=true -Dlogback.configurationFile=/dev/null -Dproject.basedir="$PWD" -cp "$cp" \
  org.webphone.gateway.node.ForwardingBench "${1:-2000}" "${2:-40}" "${3:-5}" "${4:-20}" 2>&1 | grep -E '^(Ping|CPU)'
