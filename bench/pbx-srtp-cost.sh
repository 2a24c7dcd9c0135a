#!/bin/sh
# CPU per forwarded packet with SDES-SRTP on the PBX leg too (SRTP on both legs) vs plain RTP toward the PBX
# (SRTP⇄RTP), in one run: MediaLoadBenchmark alternates the two modes, each in a fresh JVM, ROUNDS times
# (default 2), N synthetic calls each (default 100), G.711 20 ms both ways through the media verticle to a UDP
# echo "PBX". With SRTP the echo answers the gateway's offer with the gateway's own key, so what it echoes
# decrypts on the way back: the gateway protects and unprotects every PBX-leg packet, the echo does no crypto.
#   bench/pbx-srtp-cost.sh            # 100 calls, 2 rounds, 15 s windows
#   ROUNDS=3 SECONDS_PER_RUN=20 bench/pbx-srtp-cost.sh 200
set -e
cd "$(dirname "$0")/.."
CALLS=${1:-100}
ROUNDS=${ROUNDS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%Y-%m-%dT%H:%MZ)"
round=1
while [ "$round" -le "$ROUNDS" ]; do
  for srtp in false true; do
    echo "== round $round, pbxSrtp=$srtp"
    java -Xmx2g -Dice4j.harvest.mapping.aws.enabled=false -Djava.net.preferIPv4Stack=true \
      -Dlogback.configurationFile=bench/logback-quiet.xml -Dseconds="$SECONDS_PER_RUN" -DpbxSrtp="$srtp" \
      -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
      org.webphone.gateway.media.MediaLoadBenchmark "$CALLS" | grep -E "calls|forwarded|path:|cpu:" || true
  done
  round=$((round + 1))
done
