#!/bin/sh
# CPU per forwarded packet on the ICE-TCP path vs the UDP path, in the same run: N synthetic WebRTC calls
# (ICE + DTLS + SRTP, G.711 20 ms both ways through a UDP echo "PBX") first over UDP, then with every browser on
# ICE-TCP (RFC 6544, RFC 4571 frames), through one in-process media verticle. Arguments: call counts
# (default 50); window JAVA_OPTS=-Dseconds=20. Prints one "relay=gateway ..." line per transport with
# "us per forwarded packet" (CPU of the gateway's threads / packets relayed both ways).
# Runs the pair twice (udp,tcp,udp,tcp); compare the second pair.
#   bench/ice-tcp-vs-udp.sh 50
set -e
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 50
# The pair twice: in a fresh JVM the first window under-counts (bench/RESULTS.md); read the second pair.
JAVA_OPTS="-Dtransports=udp,tcp,udp,tcp ${JAVA_OPTS:-}" exec bench/media-load.sh "$@"
