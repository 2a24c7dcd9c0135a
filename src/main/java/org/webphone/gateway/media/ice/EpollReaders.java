package org.webphone.gateway.media.ice;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.socket.DatagramPacket;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The WebRTC port's reader group on Netty's epoll transport: each reader is a socket of the SO_REUSEPORT group
 * read with recvmmsg, up to {@link #BATCH} datagrams per system call (the port carries every browser's packets,
 * so under load its queue holds many at each wake-up), on a thread of its own. Each datagram is copied into the
 * reader's array and handed to the target on that thread, like the JDK readers of {@link WebRtcPort}.
 * Only where the native transport loads ({@link #available}); WebRtcPort falls back to its JDK readers otherwise.
 */
final class EpollReaders implements AutoCloseable {
  /** Datagrams per recvmmsg. */
  static final int BATCH = 16;
  private static final int MAX_DATAGRAM = 2048;

  /** Gets each datagram on its reader's thread; {@code b} is reused after the call returns. */
  interface Sink {
    void onDatagram(byte[] b, int len, InetSocketAddress from);
  }

  private final MultiThreadIoEventLoopGroup group;
  private final List<Channel> channels = new ArrayList<>();

  static boolean available() {
    return Epoll.isAvailable() && !Boolean.getBoolean("webphone.media.jdkReaders");
  }

  /** Binds {@code readers} sockets of a reuse-port group on {@code bound}; blocking (bind), call at start. */
  EpollReaders(InetSocketAddress bound, int readers, Sink sink) throws InterruptedException {
    AtomicInteger n = new AtomicInteger();
    group = new MultiThreadIoEventLoopGroup(readers, r -> {
      Thread t = new Thread(r, "media-webrtc-rx-" + n.getAndIncrement());
      t.setDaemon(true);
      return t;
    }, EpollIoHandler.newFactory());
    try {
      Bootstrap b = new Bootstrap().group(group).channel(EpollDatagramChannel.class)
          .option(ChannelOption.SO_REUSEADDR, true)
          .option(EpollChannelOption.SO_REUSEPORT, true)
          .option(ChannelOption.SO_RCVBUF, 4 << 20)
          .option(EpollChannelOption.MAX_DATAGRAM_PAYLOAD_SIZE, MAX_DATAGRAM)
          .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_DATAGRAM * BATCH));
      for (int i = 0; i < readers; i++) {
        // Registration takes the group's loops in turn: one socket per reader thread.
        channels.add(b.clone().handler(new Reader(sink)).bind(bound).sync().channel());
      }
    } catch (InterruptedException | RuntimeException e) {
      close();
      throw e;
    }
  }

  int threads() {
    return channels.size();
  }

  /** One socket's reader: its own array, on its own event loop thread. */
  private static final class Reader extends ChannelInboundHandlerAdapter {
    private final byte[] buf = new byte[MAX_DATAGRAM];
    private final Sink sink;

    Reader(Sink sink) {
      this.sink = sink;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      DatagramPacket p = (DatagramPacket) msg;
      try {
        ByteBuf content = p.content();
        int len = Math.min(content.readableBytes(), buf.length);
        content.getBytes(content.readerIndex(), buf, 0, len);
        sink.onDatagram(buf, len, p.sender());
      } finally {
        p.release();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      // a read error on one datagram; the socket stays
    }
  }

  @Override
  public void close() {
    for (Channel c : channels) {
      c.close().awaitUninterruptibly(2000);
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3000);
  }
}
