#!/bin/sh
# Account pool: lease+return throughput and latency on 1 and 3 nodes (see bench/RESULTS.md, "Account pool").
# Usage: bench/pool-bench.sh [seconds]   (from the repository root; builds test classes first)
set -eu
secs=${1:-10}
mvn -o -q -B test-compile
cp="target/test-classes:target/classes:$(cat target/classpath.txt)"
for args in "local 1 100 8" "cluster 1 100 8" "cluster 3 100 8" "cluster 3 1000 8"; do
  echo "== $args $secs  ($(uptime | sed 's/.*load/load/'))"
  # shellcheck disable=SC2086
  java -Xmx1g -Djava.net.preferIPv4Stack=true -Dlogback.configurationFile=/dev/null -cp "$cp" \
    org.webphone.gateway.pool.PoolBench $args "$secs" 2>&1 | grep -E '^(mode|lease|return)'
done
