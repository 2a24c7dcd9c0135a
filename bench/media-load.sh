#!/bin/sh
# Relay load: N concurrent synthetic WebRTC calls (ICE + DTLS + SRTP) through one media verticle to a
# UDP echo "PBX", G.711 20 ms both ways. Arguments: call counts (default 100).
# The measured window (default 20 s): JAVA_OPTS=-Dseconds=30 bench/media-load.sh 500
#   bench/media-load.sh 100 200
set -e
cd "$(dirname "$0")/.."
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
exec java -Xmx2g -Dice4j.harvest.mapping.aws.enabled=false -Djava.net.preferIPv4Stack=true \
  -Dlogback.configurationFile=bench/logback-quiet.xml ${JAVA_OPTS:-} \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  org.webphone.gateway.media.MediaLoadBenchmark "$@"
