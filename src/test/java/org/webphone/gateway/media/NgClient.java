package org.webphone.gateway.media;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * rtpengine's ng control protocol for the relay benchmark: a cookie, a space and a bencoded dictionary per UDP
 * datagram, the reply echoing the cookie. rtpengine caches replies by cookie, so a retransmission after a lost
 * datagram is safe. Values are strings, integers, lists and dictionaries; strings decode as UTF-8.
 */
final class NgClient {
  private static final AtomicLong COOKIES = new AtomicLong(System.nanoTime() & 0xFFFFFFFL);
  private final InetSocketAddress server;

  NgClient(int port) {
    server = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
  }

  /** Sends one command; returns the reply dictionary, or throws when rtpengine says "error" or is silent. */
  Map<String, Object> request(Map<String, Object> command) throws IOException {
    String cookie = Long.toString(COOKIES.incrementAndGet());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes((cookie + " ").getBytes(StandardCharsets.UTF_8));
    encode(command, out);
    byte[] msg = out.toByteArray();
    try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
      s.setSoTimeout(2000);
      byte[] buf = new byte[65536];
      for (int attempt = 0; attempt < 4; attempt++) {
        s.send(new DatagramPacket(msg, msg.length, server));
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        try {
          s.receive(p);
        } catch (SocketTimeoutException e) {
          continue;
        }
        int sp = indexOf(buf, p.getLength(), (byte) ' ');
        if (sp < 0 || !cookie.equals(new String(buf, 0, sp, StandardCharsets.UTF_8))) {
          continue;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> reply = (Map<String, Object>) new Decoder(Arrays.copyOfRange(buf, sp + 1, p.getLength())).next();
        if (!"ok".equals(reply.get("result")) && !"pong".equals(reply.get("result"))) {
          throw new IOException("rtpengine " + command.get("command") + ": " + reply);
        }
        return reply;
      }
    }
    throw new IOException("rtpengine did not answer " + command.get("command") + " on " + server);
  }

  /** A dictionary for {@link #request} from key/value pairs, in the order given. */
  static Map<String, Object> dict(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  private static int indexOf(byte[] b, int len, byte c) {
    for (int i = 0; i < len; i++) {
      if (b[i] == c) {
        return i;
      }
    }
    return -1;
  }

  static void encode(Object v, ByteArrayOutputStream out) {
    if (v instanceof Number n) {
      out.writeBytes(("i" + n.longValue() + "e").getBytes(StandardCharsets.US_ASCII));
    } else if (v instanceof String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      out.writeBytes((b.length + ":").getBytes(StandardCharsets.US_ASCII));
      out.writeBytes(b);
    } else if (v instanceof List<?> l) {
      out.write('l');
      l.forEach(x -> encode(x, out));
      out.write('e');
    } else if (v instanceof Map<?, ?> m) {
      out.write('d');
      // bencode wants the keys sorted
      new TreeMap<>(m).forEach((k, x) -> {
        encode(k, out);
        encode(x, out);
      });
      out.write('e');
    } else {
      throw new IllegalArgumentException("cannot bencode " + v);
    }
  }

  private static final class Decoder {
    private final byte[] b;
    private int pos;

    Decoder(byte[] b) {
      this.b = b;
    }

    Object next() throws IOException {
      if (pos >= b.length) {
        throw new IOException("truncated bencode");
      }
      byte c = b[pos];
      if (c == 'i') {
        int end = find('e');
        long v = Long.parseLong(new String(b, pos + 1, end - pos - 1, StandardCharsets.US_ASCII));
        pos = end + 1;
        return v;
      }
      if (c == 'l') {
        pos++;
        List<Object> l = new ArrayList<>();
        while (b[pos] != 'e') {
          l.add(next());
        }
        pos++;
        return l;
      }
      if (c == 'd') {
        pos++;
        Map<String, Object> m = new LinkedHashMap<>();
        while (b[pos] != 'e') {
          String k = (String) next();
          m.put(k, next());
        }
        pos++;
        return m;
      }
      int colon = find(':');
      int len = Integer.parseInt(new String(b, pos, colon - pos, StandardCharsets.US_ASCII));
      String s = new String(b, colon + 1, len, StandardCharsets.UTF_8);
      pos = colon + 1 + len;
      return s;
    }

    private int find(char c) throws IOException {
      for (int i = pos; i < b.length; i++) {
        if (b[i] == c) {
          return i;
        }
      }
      throw new IOException("bad bencode");
    }
  }
}
