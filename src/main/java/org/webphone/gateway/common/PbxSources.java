package org.webphone.gateway.common;

import io.vertx.core.Vertx;
import io.vertx.core.shareddata.LocalMap;
import java.util.function.Supplier;
import org.webphone.gateway.config.IpRanges;

/**
 * The addresses the PBX may send from, as the SIP verticle knows them ({@code pbx.allowedSources}, else the
 * registrars' addresses as resolved and re-resolved by its PbxResolver), handed to the media verticle of the same
 * node for {@code media.learnPbxAddress}: the media side does no DNS of its own and follows a secondary registrar,
 * an SRV target or a changed address. Kept in a node-local shared map ({@link IpRanges} is immutable and
 * {@link io.vertx.core.shareddata.Shareable}, so a read is a map look-up, no copy). Thread-safe.
 */
public final class PbxSources {
  private static final String MAP = "webphone.pbx";
  private static final String KEY = "sources";

  private PbxSources() {
  }

  /** The SIP side's current sources (called at start and on every change of the registrars' addresses). */
  public static void publish(Vertx vertx, IpRanges sources) {
    vertx.sharedData().<String, IpRanges>getLocalMap(MAP).put(KEY, sources);
  }

  /**
   * What the SIP side published last; before it has (or without a SIP verticle on this node) {@code fallback},
   * which may be null. Safe to call from any thread, e.g. the RTP thread before a call's PBX is learned.
   */
  public static Supplier<IpRanges> reader(Vertx vertx, IpRanges fallback) {
    LocalMap<String, IpRanges> map = vertx.sharedData().getLocalMap(MAP);
    return () -> {
      IpRanges s = map.get(KEY);
      return s != null ? s : fallback;
    };
  }
}
