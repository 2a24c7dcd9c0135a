package org.webphone.gateway.media.ice;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import org.ice4j.Transport;
import org.ice4j.TransportAddress;
import org.ice4j.ice.harvest.AbstractUdpListener;
import org.ice4j.ice.harvest.SinglePortUdpHarvester;

/**
 * The node's single ICE port: one ice4j {@link SinglePortUdpHarvester} shared by every browser leg,
 * demultiplexed by ICE ufrag and then by remote address (the Jitsi Videobridge model). It is also the only
 * harvester that offers loopback candidates, which tests need.
 */
public final class IceService implements AutoCloseable {
  static {
    // ice4j reads this static when the harvester is constructed: push mode hands us every datagram on its
    // receive thread through Component.setBufferCallback, with no per-call socket thread.
    AbstractUdpListener.USE_PUSH_API = true;
    configureIce4j();
  }

  /**
   * ice4j settings that must hold before the first Agent: no AWS metadata probe (it blocks the first agent
   * for about 1.6 s), a large receive buffer on the single port, and no STUN mapping. ice4j reads system properties through jitsi-metaconfig, where an
   * empty {@code -Dice4j.harvest.mapping.stun.addresses=} is a STRING, not a list, and makes every
   * {@code new Agent()} throw; such a blank value is removed so the library default (none) applies.
   */
  public static void configureIce4j() {
    if (System.getProperty("ice4j.harvest.mapping.aws.enabled") == null) {
      System.setProperty("ice4j.harvest.mapping.aws.enabled", "false");
    }
    if (System.getProperty("ice4j.harvest.udp.receive-buffer-size") == null) {
      // Every browser leg of the node arrives on this one socket; the OS default (about 200 KB) overflows
      // within milliseconds at a few hundred calls whenever the receive thread is descheduled.
      System.setProperty("ice4j.harvest.udp.receive-buffer-size", String.valueOf(4 * 1024 * 1024));
    }
    String stun = System.getProperty("ice4j.harvest.mapping.stun.addresses");
    if (stun != null && stun.isBlank()) {
      System.clearProperty("ice4j.harvest.mapping.stun.addresses");
    }
  }

  private final SinglePortUdpHarvester harvester;
  private final String announcedAddress;
  private final int port;
  private final AtomicInteger liveAgents = new AtomicInteger();

  /** Binds the port; blocking, call from a worker thread. */
  public IceService(String bindAddress, int port, String announcedAddress) throws IOException {
    IceBufferPool.install();
    this.harvester = new SinglePortUdpHarvester(new TransportAddress(bindAddress, port, Transport.UDP));
    this.port = harvester.getLocalAddress().getPort();
    this.announcedAddress = announcedAddress;
  }

  SinglePortUdpHarvester harvester() {
    return harvester;
  }

  /** The address written in the SDP candidates (the 1:1 NAT address when configured). */
  public String announcedAddress() {
    return announcedAddress;
  }

  public int port() {
    return port;
  }

  /** ICE agents created and not yet freed. */
  public int liveAgents() {
    return liveAgents.get();
  }

  void agentCreated() {
    liveAgents.incrementAndGet();
  }

  void agentFreed() {
    liveAgents.decrementAndGet();
  }

  @Override
  public void close() {
    harvester.close();
  }
}
