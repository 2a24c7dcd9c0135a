package org.webphone.gateway.media;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * rtpengine (userspace forwarding, started by {@code bench/media-vs-rtpengine.sh}) as the relay of the load
 * benchmark. Per call an ng {@code offer} with the browser's SDP, rewritten toward the PBX as plain RTP/AVP
 * without ICE and with RTCP demultiplexed; then an {@code answer} with the PBX's SDP, rewritten toward the
 * browser with ICE (rtpengine is full ICE, controlled, as the answerer) and DTLS-SRTP in the passive role,
 * so the synthetic browser is the DTLS client exactly as against our relay.
 */
final class RtpengineLoadRelay implements LoadRelay {
  private final NgClient ng;
  private final int pid;

  RtpengineLoadRelay(int ngPort, int pid) throws Exception {
    this.ng = new NgClient(ngPort);
    this.pid = pid;
    ng.request(NgClient.dict("command", "ping"));
    // Our relay's deployment runs jitsi-srtp's one-off cipher self-benchmark (seconds) in this JVM; without
    // it the generator's first protect would stall the sender and make it send in bursts to catch up.
    org.webphone.gateway.media.rtp.SrtpKeys.warmUp();
  }

  @Override
  public String name() {
    return "rtpengine";
  }

  @Override
  public String open(String callId, String browserOffer, String pbxAnswer) throws Exception {
    ng.request(NgClient.dict("command", "offer", "call-id", callId, "from-tag", "b-" + callId,
        "sdp", browserOffer, "transport-protocol", "RTP/AVP", "ICE", "remove", "DTLS", "passive",
        "rtcp-mux", List.of("demux")));
    Map<String, Object> answer = ng.request(NgClient.dict("command", "answer", "call-id", callId,
        "from-tag", "b-" + callId, "to-tag", "p-" + callId, "sdp", pbxAnswer, "ICE", "force",
        "DTLS", "passive", "rtcp-mux", List.of("require")));
    return (String) answer.get("sdp");
  }

  @Override
  public void close(String callId) throws Exception {
    ng.request(NgClient.dict("command", "delete", "call-id", callId, "from-tag", "b-" + callId));
  }

  @Override
  public long cpuNanos() throws IOException {
    return LoadRelay.procCpuNanos("/proc/" + pid + "/stat");
  }

  @Override
  public long rssBytes() throws IOException {
    return LoadRelay.rssOf(pid);
  }

  @Override
  public String cpuScope() {
    return "rtpengine process " + pid + ": utime+stime of /proc/" + pid + "/stat, all its threads";
  }

  @Override
  public Object windowStart() throws IOException {
    return new long[] {LoadRelay.procCpuNanos("/proc/self/stat"), GatewayLoadRelay.javaThreadsCpu(true)};
  }

  /**
   * The generator JVM's own threads (GC, JIT, VM): with our relay in process they are counted apart as
   * {@code jvmInternalCpu}; here they show how much of that the generator alone causes.
   */
  @Override
  public String windowDetails(Object start, long sent, long echoed, long received) throws IOException {
    long[] s = (long[]) start;
    long internal = (LoadRelay.procCpuNanos("/proc/self/stat") - s[0]) - (GatewayLoadRelay.javaThreadsCpu(true) - s[1]);
    return String.format("generatorJvmInternalCpu=%.2fs", internal / 1e9);
  }

  @Override
  public void close() {
    // rtpengine is started and stopped by the script, by PID
  }
}
