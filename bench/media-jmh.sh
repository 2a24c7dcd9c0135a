#!/bin/sh
# JMH benchmark of the media relay's per-packet path (SRTP unprotect + RTP send; RTP rewrite + SRTP
# protect + send), with bytes allocated per packet. Extra arguments go to JMH, e.g. `-f 2 -i 40`.
#   bench/media-jmh.sh
set -e
cd "$(dirname "$0")/.."
mvn -o -q -B test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
exec java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
  org.openjdk.jmh.Main MediaPacketPathBenchmark -prof gc "$@"
