package org.webphone.gateway.sip.demo;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.datagram.DatagramSocket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The echo extension's media: one UDP socket per call that sends every datagram back to where it came
 * from (RTP and RTCP alike), and the SDP answer that points at it. Sockets are closed on BYE, on stop, and
 * after {@link #MAX_CALL_MS} at the latest, so a lost BYE leaks nothing.
 */
final class EchoCalls {
  private static final Logger LOG = LoggerFactory.getLogger("demo");
  static final long MAX_CALL_MS = 3_600_000;
  private static final Pattern PT = Pattern.compile("(?m)^m=audio \\d+ RTP/AVP ([0-9 ]+)");

  private record Echo(DatagramSocket socket, long timer) {
  }

  private final Vertx vertx;
  private final String host;
  private final Map<String, Echo> calls = new HashMap<>();

  EchoCalls(Vertx vertx, String host) {
    this.vertx = vertx;
    this.host = host;
  }

  /** Binds a socket for call {@code sipCallId}; completes with the SDP answer to {@code offer}. */
  Future<String> open(String sipCallId, String offer) {
    DatagramSocket s = vertx.createDatagramSocket();
    s.handler(p -> s.send(p.data(), p.sender().port(), p.sender().host()));
    return s.listen(0, host).map(x -> {
      long timer = vertx.setTimer(MAX_CALL_MS, t -> close(sipCallId));
      Echo old = calls.put(sipCallId, new Echo(s, timer));
      if (old != null) {
        old.socket().close();
        vertx.cancelTimer(old.timer());
      }
      int port = s.localAddress().port();
      LOG.info("demo: echo call {} on {}:{}", sipCallId, host, port);
      return answer(offer, port);
    });
  }

  boolean has(String sipCallId) {
    return calls.containsKey(sipCallId);
  }

  void close(String sipCallId) {
    Echo e = calls.remove(sipCallId);
    if (e != null) {
      vertx.cancelTimer(e.timer());
      e.socket().close();
      LOG.info("demo: echo call {} ended", sipCallId);
    }
  }

  void closeAll() {
    for (String id : new ArrayList<>(calls.keySet())) {
      close(id);
    }
  }

  int size() {
    return calls.size();
  }

  /** PCMU/PCMA/telephone-event as offered (all three when there is no offer). */
  String answer(String offer, int port) {
    List<String> pts = new ArrayList<>();
    Matcher m = offer == null ? null : PT.matcher(offer);
    String offered = m != null && m.find() ? " " + m.group(1).trim() + " " : " 0 8 101 ";
    for (String pt : new String[] {"0", "8"}) {
      if (offered.contains(" " + pt + " ")) {
        pts.add(pt);
      }
    }
    String dtmfPt = offer == null ? "101" : telephoneEventPt(offer);
    if (pts.isEmpty()) {
      pts.add("0");
    }
    StringBuilder sdp = new StringBuilder("v=0\r\no=webphone-demo 1 1 IN IP4 ").append(host)
        .append("\r\ns=echo\r\nc=IN IP4 ").append(host).append("\r\nt=0 0\r\nm=audio ").append(port)
        .append(" RTP/AVP ").append(String.join(" ", pts));
    if (dtmfPt != null) {
      sdp.append(' ').append(dtmfPt);
    }
    sdp.append("\r\n");
    for (String pt : pts) {
      sdp.append("a=rtpmap:").append(pt).append(pt.equals("0") ? " PCMU/8000\r\n" : " PCMA/8000\r\n");
    }
    if (dtmfPt != null) {
      sdp.append("a=rtpmap:").append(dtmfPt).append(" telephone-event/8000\r\na=fmtp:").append(dtmfPt)
          .append(" 0-16\r\n");
    }
    return sdp.append("a=sendrecv\r\n").toString();
  }

  private static String telephoneEventPt(String offer) {
    Matcher m = Pattern.compile("(?mi)^a=rtpmap:(\\d+) telephone-event/8000").matcher(offer);
    return m.find() ? m.group(1) : null;
  }
}
