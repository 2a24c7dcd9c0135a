#!/bin/sh
# JMH: SRTP protect/unprotect per 172-byte packet for AES128_CM_HMAC_SHA1_80 and AEAD_AES_128_GCM, and the
# per-packet cost of the RTCP statistics hooks. Extra arguments go to JMH.
#   bench/srtp-profile-jmh.sh
set -e
cd "$(dirname "$0")/.."
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
exec java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  org.openjdk.jmh.Main SrtpProfileBenchmark -prof gc "$@"
