package org.webphone.gateway.signalling;

import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import org.webphone.gateway.config.GatewayConfig;

/**
 * Response headers of the public port.
 * <ul>
 *   <li>On every response: {@code X-Content-Type-Options: nosniff} (a script is run only if served as one),
 *       {@code Referrer-Policy: no-referrer} (the page's address, which may carry a token, goes nowhere) and
 *       {@code Content-Security-Policy: frame-ancestors <http.frameAncestors>}: which sites may frame the page
 *       ({@code 'self'} by default). No {@code X-Frame-Options}: it cannot name the sites a company allows,
 *       and the phone is meant to be embedded.</li>
 *   <li>On the page's files (scripts, HTML): CORS for the origins of {@code http.allowedOrigins}, since
 *       {@code <script type="module" src="https://gateway/js/web-phone.js">} on another site is fetched in
 *       CORS mode and runs only with {@code Access-Control-Allow-Origin}; {@code Vary: Origin} so that a cache
 *       never hands one site's answer to another.</li>
 * </ul>
 * Stateless apart from the configuration; runs on the signalling event loop.
 */
final class PageHeaders {
  private final String frameAncestors;
  private final OriginPolicy origins;

  PageHeaders(GatewayConfig cfg, OriginPolicy origins) {
    this.frameAncestors = "frame-ancestors " + cfg.getString("http.frameAncestors");
    this.origins = origins;
  }

  /** First on every route: the headers are added just before the response's head is written. */
  void security(RoutingContext rc) {
    rc.addHeadersEndHandler(x -> {
      HttpServerResponse r = rc.response();
      r.putHeader("X-Content-Type-Options", "nosniff");
      r.putHeader("Referrer-Policy", "no-referrer");
      r.putHeader("Content-Security-Policy", frameAncestors);
    });
    rc.next();
  }

  /** Before the static files: CORS for an allowed origin, none for others. */
  void cors(RoutingContext rc) {
    String allow = origins.corsOrigin(rc.request().getHeader("Origin"));
    rc.addHeadersEndHandler(x -> {
      HttpServerResponse r = rc.response();
      r.headers().add("Vary", "Origin");
      if (allow != null) {
        r.putHeader("Access-Control-Allow-Origin", allow);
      }
    });
    rc.next();
  }
}
