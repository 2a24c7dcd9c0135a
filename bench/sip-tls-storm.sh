#!/bin/sh
# Registration storm over SIP/TLS against UDP, one gateway SIP verticle and Kamailio on loopback:
# LINES lines register at once (digest auth), then over TLS CYCLES times the connection to Kamailio is reset
# (ss -K, as a NAT or load balancer dropping it) and every line REGISTERs again over a new one.
#   bench/sip-tls-storm.sh [LINES=1000] [CYCLES=5]
# Prints a Markdown table: wall time, CPU seconds of the gateway JVM and of Kamailio per phase. Needs root (ss -K).
set -e
cd "$(dirname "$0")/.."
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
exec java -Xmx1g -Djava.net.preferIPv4Stack=true -Dlogback.configurationFile=bench/logback-quiet.xml \
  -Dproject.basedir="$PWD" ${JAVA_OPTS:-} \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  org.webphone.gateway.sip.SipTlsStormBench "$@"
