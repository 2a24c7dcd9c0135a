package org.webphone.gateway.config;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.webphone.gateway.common.WebOrigin;

/**
 * The node's configuration: {@code default-config.json} on the classpath, overlaid by an optional file
 * ({@code --config FILE} or {@code WEBPHONE_CONFIG}), overlaid by one environment variable per key.
 *
 * <p>The variable of key {@code media.rtpPortMin} is {@code WEBPHONE_MEDIA_RTP_PORT_MIN}: the dotted path,
 * camelCase split at capitals, upper-cased, joined by {@code _}. Arrays and objects are given as JSON
 * ({@code WEBPHONE_DIAL_ALLOW='["600"]'}); an array of strings may also be a comma list. The same keys are
 * read from system properties {@code -Dwebphone.media.rtpPortMin=...}, which win over the environment.
 *
 * <p>A key that the defaults do not know, a value of the wrong type or out of range is a
 * {@link ConfigException} naming the key; {@code Main} prints it on one line and exits with 2.
 * The config is immutable after {@link #load}; verticles receive it as their deployment config
 * ({@link #json()}) and read it back with {@link #from(JsonObject)}.
 */
public final class GatewayConfig {
  public static final String ENV_PREFIX = "WEBPHONE_";
  public static final String PROP_PREFIX = "webphone.";

  private final JsonObject json;

  private GatewayConfig(JsonObject json) {
    this.json = json;
  }

  /** Wraps an already validated config (a verticle's deployment config). */
  public static GatewayConfig from(JsonObject json) {
    return new GatewayConfig(json);
  }

  /** The same config with {@code cluster.enabled=true} (the {@code --cluster} flag). */
  public static GatewayConfig withClusterEnabled(GatewayConfig c) {
    JsonObject j = c.json();
    j.getJsonObject("cluster").put("enabled", true);
    return new GatewayConfig(j);
  }

  /** Defaults only, then {@code overrides} merged on top and validated; for tests. */
  public static GatewayConfig of(JsonObject overrides) {
    JsonObject defaults = defaults();
    List<String> unknown = new ArrayList<>();
    merge(defaults, overrides, "", unknown);
    if (!unknown.isEmpty()) {
      throw new ConfigException(unknown.get(0), "unknown key");
    }
    GatewayConfig config = new GatewayConfig(defaults);
    config.validate();
    return config;
  }

  /**
   * Loads and validates the configuration.
   *
   * @param file  a JSON file to overlay, or null
   * @param env   the environment ({@code System.getenv()})
   * @param props system properties
   */
  public static GatewayConfig load(Path file, Map<String, String> env, Map<Object, Object> props) {
    JsonObject cfg = defaults();
    if (file == null && env.get(ENV_PREFIX + "CONFIG") != null && !env.get(ENV_PREFIX + "CONFIG").isBlank()) {
      file = Path.of(env.get(ENV_PREFIX + "CONFIG"));
    }
    if (file != null) {
      JsonObject fromFile;
      try {
        fromFile = new JsonObject(Files.readString(file, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new ConfigException("--config", "cannot read " + file + ": " + e.getMessage());
      } catch (DecodeException | ClassCastException e) {
        throw new ConfigException("--config", file + " is not a JSON object: " + firstLine(e.getMessage()));
      }
      List<String> unknown = new ArrayList<>();
      merge(cfg, fromFile, "", unknown);
      if (!unknown.isEmpty()) {
        throw new ConfigException(unknown.get(0), "unknown key in " + file);
      }
    }
    for (String key : leafKeys(defaults(), "")) {
      String value = env.get(envName(key));
      Object prop = props.get(PROP_PREFIX + key);
      if (prop != null) {
        value = prop.toString();
      }
      if (value != null) {
        setPath(cfg, key, parseLike(getPath(defaults(), key), value, key));
      }
    }
    GatewayConfig config = new GatewayConfig(cfg);
    config.validate();
    return withDemoAdminPort(config);
  }

  /**
   * In demo mode a node configured by {@link #load} (the command line, {@code mvn exec:exec}) opens its admin
   * surface (full /health, /metrics) on {@code http.adminHost}, loopback, at {@code http.port + 1} unless
   * {@code http.adminPort} names a port: the newcomer sees the full health without it being on the public
   * port. {@link #of} (tests, embedding) leaves it off: an in-process node opens only the ports it is given.
   */
  private static GatewayConfig withDemoAdminPort(GatewayConfig c) {
    if (!c.demoMode() || c.getInt("http.adminPort") != 0 || c.getInt("http.port") == 65535) {
      return c;
    }
    JsonObject j = c.json();
    j.getJsonObject("http").put("adminPort", c.getInt("http.port") + 1);
    return new GatewayConfig(j);
  }

  /** The environment variable for a dotted key: {@code media.rtpPortMin} → {@code WEBPHONE_MEDIA_RTP_PORT_MIN}. */
  public static String envName(String key) {
    StringBuilder sb = new StringBuilder(ENV_PREFIX);
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c == '.') {
        sb.append('_');
      } else if (Character.isUpperCase(c)) {
        sb.append('_').append(c);
      } else {
        sb.append(Character.toUpperCase(c));
      }
    }
    return sb.toString();
  }

  public JsonObject json() {
    return json.copy();
  }

  public String getString(String key) {
    Object v = getPath(json, key);
    return v == null ? null : v.toString();
  }

  public int getInt(String key) {
    return ((Number) getPath(json, key)).intValue();
  }

  public long getLong(String key) {
    return ((Number) getPath(json, key)).longValue();
  }

  public boolean getBoolean(String key) {
    return (Boolean) getPath(json, key);
  }

  public JsonArray getArray(String key) {
    return (JsonArray) getPath(json, key);
  }

  public JsonObject getObject(String key) {
    return (JsonObject) getPath(json, key);
  }

  /** True when no PBX is configured: the node then starts the embedded demo PBX and points its lines at it. */
  public boolean demoMode() {
    return getString("pbx.host").isBlank();
  }

  /** The PBX host the lines register with: the configured one, or the embedded demo PBX. */
  public String pbxHost() {
    return demoMode() ? getString("demo.bindAddress") : getString("pbx.host");
  }

  public int pbxPort() {
    return demoMode() ? getInt("demo.port") : getInt("pbx.port");
  }

  /**
   * The transport the lines use toward the PBX: {@code pbx.transport}, or the older {@code sip.transport} when
   * that is left at udp; always udp toward the demo PBX.
   */
  public String pbxTransport() {
    String t = getString("pbx.transport");
    return demoMode() ? "udp" : "udp".equals(t) ? getString("sip.transport") : t;
  }

  /** The SIP domain of the accounts: {@code pbx.domain}, else the PBX host. */
  public String pbxDomain() {
    String d = getString("pbx.domain");
    return d.isBlank() ? pbxHost() : d;
  }

  /** Address written into SIP Contact/Via: {@code sip.announcedAddress}, else the bind address. */
  public String sipAnnouncedAddress() {
    String a = getString("sip.announcedAddress");
    return a.isBlank() ? getString("sip.bindAddress") : a;
  }

  /** Address written into SDP and ICE candidates: {@code media.announcedAddress}, else the bind address. */
  public String mediaAnnouncedAddress() {
    String a = getString("media.announcedAddress");
    return a.isBlank() ? getString("media.bindAddress") : a;
  }

  /**
   * The addresses of the browsers' host candidates as configured: {@code media.announcedAddress} (the older,
   * one-address key) then {@code media.announcedAddresses}; empty when neither is set (the WebRTC port's bind
   * address, or with a wildcard bind the host's interfaces, is then used: {@code media.ice.CandidateAddresses}).
   */
  public List<String> mediaCandidateAddresses() {
    List<String> out = new ArrayList<>();
    String one = getString("media.announcedAddress");
    if (!one.isBlank()) {
      out.add(one.trim());
    }
    for (Object o : getArray("media.announcedAddresses")) {
      if (!out.contains(o)) {
        out.add((String) o);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- validation

  /** The PBX name its TLS certificate must carry: {@code pbx.tlsServerName}, else {@code pbx.host}. */
  public String pbxTlsServerName() {
    String n = getString("pbx.tlsServerName");
    return n.isBlank() ? pbxHost() : n;
  }

  /** A TLS listening point needs its certificate and key; lines over TLS need the listening point. */
  private void validateSipTls() {
    int tlsPort = getInt("sip.tlsPort");
    if ("tls".equals(pbxTransport()) && tlsPort == 0) {
      throw new ConfigException("sip.tlsPort", "the lines use TLS (pbx.transport or sip.transport tls): set sip.tlsPort"
          + " (e.g. 5061) and sip.tlsCert, sip.tlsKey");
    }
    if (getBoolean("pbx.sipsUri") && !"tls".equals(pbxTransport())) {
      throw new ConfigException("pbx.sipsUri", "sips: URIs (RFC 5630) ask for TLS on every hop, and pbx.transport is "
          + pbxTransport() + ": use pbx.transport=tls, or set pbx.sipsUri=false");
    }
    for (String k : new String[] {"sip.tlsCert", "sip.tlsKey"}) {
      if (tlsPort > 0 && getString(k).isBlank()) {
        throw new ConfigException(k, "sip.tlsPort " + tlsPort + " needs a certificate and key: sip.tlsCert and sip.tlsKey"
            + " (PEM files)");
      }
    }
    for (String k : new String[] {"sip.tlsCert", "sip.tlsKey", "pbx.tlsTrust"}) {
      String f = getString(k);
      if (!f.isBlank() && !Files.isReadable(Path.of(f))) {
        throw new ConfigException(k, "file not readable: " + f);
      }
    }
  }

  private static final Pattern HOSTISH = Pattern.compile("^[A-Za-z0-9.:\\-\\[\\]]*$");

  private void validate() {
    checkTypes(defaults(), json, "");
    port("http.port", false);
    port("cluster.port", true);
    port("sip.port", false);
    port("sip.tlsPort", true);
    port("pbx.port", false);
    port("pbx.secondaryPort", true);
    port("demo.port", false);
    port("media.webrtcPort", false);
    port("media.rtpPortMin", false);
    port("media.rtpPortMax", false);
    if (getInt("media.rtpPortMin") % 2 != 0) {
      throw new ConfigException("media.rtpPortMin", "must be even (RTP uses even ports, RTCP the next odd one)");
    }
    if (getInt("media.rtpPortMax") < getInt("media.rtpPortMin") + 1) {
      throw new ConfigException("media.rtpPortMax", "must be greater than media.rtpPortMin");
    }
    oneOf("sip.transport", Set.of("udp", "tcp", "tls"));
    oneOf("pbx.transport", Set.of("udp", "tcp", "tls"));
    oneOf("sip.dtmfMode", Set.of("rfc4733", "info"));
    oneOf("media.pathCodec", Set.of("PCMU", "PCMA"));
    pbxSrtp();
    oneOf("sip.tlsClientAuth", Set.of("Want", "Enabled", "Disabled"));
    host("pbx.tlsServerName", true);
    validateSipTls();
    host("http.host", false);
    host("sip.bindAddress", false);
    host("sip.announcedAddress", true);
    host("pbx.host", true);
    host("pbx.secondaryHost", true);
    host("demo.bindAddress", false);
    host("media.bindAddress", false);
    host("media.announcedAddress", true);
    for (Object o : getArray("media.announcedAddresses")) {
      if (!(o instanceof String a) || a.isBlank() || !HOSTISH.matcher(a).matches()) {
        throw new ConfigException("media.announcedAddresses", "must be an array of IP addresses or host names, got "
            + describe(o));
      }
    }
    positive("sip.registerExpires", 30, 86400);
    positive("sip.optionsIntervalSec", 0, 86400);
    positive("pbx.resolveIntervalSec", 0, 86400);
    positive("pbx.failoverAfter", 1, 100);
    positive("pbx.failbackAfter", 1, 100);
    positive("sip.rejectCode", 400, 699);
    positive("sip.tcpIdleSec", 1, 86400);
    positive("sip.maxTcpConnections", 1, 1_000_000);
    positive("sip.maxMessageBytes", 4096, 1024 * 1024);
    positive("media.timeoutSec", 1, 86400);
    positive("media.holdTimeoutSec", 1, 864000);
    positive("media.rtcpIntervalMs", 100, 60000);
    positive("media.dtlsHelloTimeoutMs", 100, 60000);
    positive("media.dtlsHandshakeTimeoutMs", 100, 60000);
    positive("media.dtlsMaxHandshakes", 1, 1024);
    positive("media.dtlsHandshakesPerAddress", 1, 1024);
    iceTcpPort();
    positive("media.iceTcpFirstStunTimeoutMs", 100, 60000);
    positive("media.iceTcpConnectionsPerAddress", 1, 100_000);
    positive("pool.leaseTtlSec", 3, 3600);
    positive("pool.maxWaiting", 0, 1_000_000);
    positive("dial.maxLength", 1, 128);
    positive("limits.maxSessionsPerIp", 1, 1_000_000);
    positive("limits.accountsPerIp", 0, 1_000_000);
    positive("limits.callsPerMinutePerSession", 1, 1_000_000);
    positive("limits.callsPerMinutePerIp", 1, 1_000_000);
    positive("limits.maxFrameBytes", 1024, 16 * 1024 * 1024);
    positive("limits.messagesPerSecond", 1, 1_000_000);
    positive("limits.idleSessionSec", 1, 864000);
    positive("limits.requestTimeoutMs", 100, 600_000);
    positive("session.resumeGraceSec", 0, 3600);
    positive("session.autoAnswerDelayMs", 0, 60000);
    positive("auth.tokenMaxAgeSec", 1, 86400);
    positive("shutdown.graceSec", 0, 600);
    positive("shutdown.drainLimitSec", 1, 86400);
    positive("node.eventLoops", 0, 1024);
    String nodeId = getString("node.id");
    if (!nodeId.isEmpty() && !org.webphone.gateway.common.NodeIds.valid(nodeId)) {
      // It names bus addresses and the owner in resume tokens: docs/pool.md, "Mixed versions" and node ids.
      throw new ConfigException("node.id", org.webphone.gateway.common.NodeIds.problem(nodeId));
    }
    boolean cert = !getString("http.tlsCert").isBlank();
    boolean key = !getString("http.tlsKey").isBlank();
    if (cert != key) {
      throw new ConfigException(cert ? "http.tlsKey" : "http.tlsCert", "TLS needs both http.tlsCert and http.tlsKey");
    }
    for (String k : new String[] {"http.tlsCert", "http.tlsKey"}) {
      String f = getString(k);
      if (!f.isBlank() && !Files.isReadable(Path.of(f))) {
        throw new ConfigException(k, "file not readable: " + f);
      }
    }
    for (Object o : getArray("dial.allow")) {
      if (!(o instanceof String s)) {
        throw new ConfigException("dial.allow", "must be an array of regular expressions");
      }
      try {
        Pattern.compile(s);
      } catch (PatternSyntaxException e) {
        throw new ConfigException("dial.allow", "bad pattern " + s + ": " + firstLine(e.getDescription()));
      }
    }
    for (Object o : getArray("dial.blockedPrefixes")) {
      if (!(o instanceof String)) {
        throw new ConfigException("dial.blockedPrefixes", "must be an array of strings");
      }
    }
    List<String> sources = new ArrayList<>();
    for (Object o : getArray("pbx.allowedSources")) {
      if (!(o instanceof String s)) {
        throw new ConfigException("pbx.allowedSources", "must be an array of IP addresses or CIDR blocks");
      }
      sources.add(s);
    }
    try {
      IpRanges.parse(sources);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("pbx.allowedSources", e.getMessage());
    }
    for (Object o : getArray("http.allowedOrigins")) {
      if (!(o instanceof String s) || (!s.equals("*") && WebOrigin.parse(s) == null)) {
        throw new ConfigException("http.allowedOrigins",
            "must be an array of origins (scheme://host[:port], no path) or \"*\", got " + describe(o));
      }
    }
    validateHttpSurface();
    for (Object o : getArray("http.trustedProxies")) {
      try {
        IpRanges.parse(Collections.singletonList(o instanceof String s ? s : null));
      } catch (IllegalArgumentException e) {
        throw new ConfigException("http.trustedProxies", e.getMessage() + " (IP addresses or CIDR blocks only)");
      }
    }
    AccountList.fromConfig(this); // throws ConfigException for a bad pool
    AccountList.agentsFromConfig(this); // and for bad named lines
    positive("availability.wrapUpSec", 0, 86400);
    positive("availability.rejectCode", 400, 699);
    oneOf("availability.whenNotAvailable", Set.of("reject", "unregister"));
    IceServerUrls.fromConfig(this); // throws ConfigException for a bad ice.* key
  }

  /** The keys of the HTTP hardening: origins, headers, timeouts, the admin surface. */
  private void validateHttpSurface() {
    String publicOrigin = getString("http.publicOrigin");
    if (!publicOrigin.isBlank() && WebOrigin.parse(publicOrigin) == null) {
      throw new ConfigException("http.publicOrigin", "must be an origin (scheme://host[:port], no path), got "
          + describe(publicOrigin));
    }
    // One header value: no ';' or ',' (a second directive or header value), nothing outside printable ASCII.
    if (!CSP_SOURCES.matcher(getString("http.frameAncestors")).matches()) {
      throw new ConfigException("http.frameAncestors", "must be a CSP source list such as 'self' https://shop.example"
          + " ('none' or * are allowed), got " + describe(getString("http.frameAncestors")));
    }
    positive("http.idleTimeoutSec", 1, 86400);
    positive("http.headerTimeoutSec", 1, 3600);
    port("http.adminPort", true);
    host("http.adminHost", false);
    if (getInt("http.adminPort") == getInt("http.port")) {
      throw new ConfigException("http.adminPort", "must differ from http.port (" + getInt("http.port") + ")");
    }
    String token = getString("http.adminToken");
    if (!token.isEmpty() && !ADMIN_TOKEN.matcher(token).matches()) {
      throw new ConfigException("http.adminToken", "must be blank or at least 16 printable characters without spaces");
    }
  }

  private static final String CSP_CHARS = "[\\x21-\\x2b\\x2d-\\x3a\\x3c-\\x7e]+";
  private static final Pattern CSP_SOURCES = Pattern.compile("^" + CSP_CHARS + "( " + CSP_CHARS + ")*$");
  private static final Pattern ADMIN_TOKEN = Pattern.compile("^[\\x21-\\x7e]{16,256}$");

  private void port(String key, boolean zeroAllowed) {
    int p = getInt(key);
    if (p < (zeroAllowed ? 0 : 1) || p > 65535) {
      throw new ConfigException(key, "must be a port " + (zeroAllowed ? "0" : "1") + "..65535, got " + p);
    }
  }

  /**
   * {@code media.iceTcpPort}: 0 (off) or 1024..65535; below 1024 only 80 or 443 with a public announced address,
   * because Chromium drops remote candidates on ports below 1024 other than 80/443, and 80/443 on private ones.
   */
  private void iceTcpPort() {
    port("media.iceTcpPort", true);
    int p = getInt("media.iceTcpPort");
    if (p == 0 || p >= 1024) {
      return;
    }
    if (p != 80 && p != 443) {
      throw new ConfigException("media.iceTcpPort", "must be 0, 1024..65535, or 80/443 with a public "
          + "media.announcedAddress (browsers ignore candidates on other ports below 1024), got " + p);
    }
    java.net.InetAddress a = IpRanges.literal(mediaAnnouncedAddress());
    if (a == null || a.isLoopbackAddress() || a.isSiteLocalAddress() || a.isLinkLocalAddress()
        || a.isAnyLocalAddress() || IpRanges.parse(List.of("100.64.0.0/10")).contains(a)) {
      throw new ConfigException("media.iceTcpPort", p + " needs a public IP address as media.announcedAddress "
          + "(browsers ignore candidates on port " + p + " of a private address), got \"" + mediaAnnouncedAddress()
          + "\"");
    }
  }

  private void positive(String key, long min, long max) {
    long v = getLong(key);
    if (v < min || v > max) {
      throw new ConfigException(key, "must be " + min + ".." + max + ", got " + v);
    }
  }

  /**
   * SDES puts the SRTP keys in the SDP, so they are only as secret as the SIP transport: refuse them over plain
   * UDP/TCP unless media.pbxSrtpOverPlainSip says the network is trusted (the media verticle then warns).
   */
  private void pbxSrtp() {
    try {
      org.webphone.gateway.media.SdesCrypto.suites(getArray("media.pbxSrtpSuites").stream()
          .map(o -> o instanceof String t ? t : String.valueOf(o)).toList());
    } catch (IllegalArgumentException e) {
      throw new ConfigException("media.pbxSrtpSuites", e.getMessage());
    }
    if (getBoolean("media.pbxSrtp") && !"tls".equals(pbxTransport()) && !getBoolean("media.pbxSrtpOverPlainSip")) {
      throw new ConfigException("media.pbxSrtp", "SDES keys travel in the SDP, and pbx.transport is " + pbxTransport()
          + ": they would cross the network in clear text. Use pbx.transport=tls, or set"
          + " media.pbxSrtpOverPlainSip=true where the path to the PBX is trusted (lab use)");
    }
  }

  private void oneOf(String key, Set<String> allowed) {
    String v = getString(key);
    if (!allowed.contains(v)) {
      throw new ConfigException(key, "must be one of " + new TreeSet<>(allowed) + ", got \"" + v + "\"");
    }
  }

  private void host(String key, boolean blankAllowed) {
    String v = getString(key);
    if ((v.isBlank() && !blankAllowed) || !HOSTISH.matcher(v).matches()) {
      throw new ConfigException(key, "must be an IP address or host name, got \"" + v + "\"");
    }
  }

  private static void checkTypes(JsonObject defaults, JsonObject actual, String prefix) {
    for (String name : defaults.fieldNames()) {
      String key = prefix + name;
      Object d = defaults.getValue(name);
      Object a = actual.getValue(name);
      if (a == null) {
        throw new ConfigException(key, "must not be null");
      }
      if (d instanceof JsonObject dObj && !key.equals("pool.range")) {
        if (!(a instanceof JsonObject aObj)) {
          throw new ConfigException(key, "must be an object");
        }
        checkTypes(dObj, aObj, key + ".");
      } else if (d instanceof JsonObject && !(a instanceof JsonObject)) {
        throw new ConfigException(key, "must be an object");
      } else if (d instanceof Number && !(a instanceof Number)) {
        throw new ConfigException(key, "must be a number, got " + describe(a));
      } else if (d instanceof Number && (a instanceof Double || a instanceof Float)
          && ((Number) a).doubleValue() != Math.rint(((Number) a).doubleValue())) {
        throw new ConfigException(key, "must be a whole number, got " + a);
      } else if (d instanceof Boolean && !(a instanceof Boolean)) {
        throw new ConfigException(key, "must be true or false, got " + describe(a));
      } else if (d instanceof String && !(a instanceof String)) {
        throw new ConfigException(key, "must be a string, got " + describe(a));
      } else if (d instanceof JsonArray && !(a instanceof JsonArray)) {
        throw new ConfigException(key, "must be an array, got " + describe(a));
      }
    }
  }

  private static String describe(Object a) {
    String s = a instanceof String ? "\"" + a + "\"" : String.valueOf(a);
    return s.length() > 60 ? s.substring(0, 60) + "..." : s;
  }

  // ---------------------------------------------------------------- JSON paths

  static JsonObject defaults() {
    try (InputStream in = GatewayConfig.class.getResourceAsStream("/default-config.json")) {
      if (in == null) {
        throw new IllegalStateException("default-config.json missing from the classpath");
      }
      return new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Deep-merges {@code over} into {@code base}; keys unknown to {@code base} are collected. */
  private static void merge(JsonObject base, JsonObject over, String prefix, List<String> unknown) {
    for (String name : over.fieldNames()) {
      String key = prefix + name;
      if (!base.containsKey(name)) {
        unknown.add(key);
        continue;
      }
      Object b = base.getValue(name);
      Object o = over.getValue(name);
      if (b instanceof JsonObject bObj && o instanceof JsonObject oObj && !key.equals("pool.range")) {
        merge(bObj, oObj, key + ".", unknown);
      } else {
        base.put(name, o);
      }
    }
  }

  /** Every key that has its own environment variable (objects are descended into, except pool.range). */
  static List<String> leafKeys(JsonObject obj, String prefix) {
    List<String> keys = new ArrayList<>();
    for (String name : obj.fieldNames()) {
      Object v = obj.getValue(name);
      String key = prefix + name;
      if (v instanceof JsonObject o && !key.equals("pool.range")) {
        keys.addAll(leafKeys(o, key + "."));
      } else {
        keys.add(key);
      }
    }
    return keys;
  }

  static Object getPath(JsonObject obj, String key) {
    String[] parts = key.split("\\.");
    Object cur = obj;
    for (String p : parts) {
      if (!(cur instanceof JsonObject o)) {
        return null;
      }
      cur = o.getValue(p);
    }
    return cur;
  }

  private static void setPath(JsonObject obj, String key, Object value) {
    String[] parts = key.split("\\.");
    JsonObject cur = obj;
    for (int i = 0; i < parts.length - 1; i++) {
      cur = cur.getJsonObject(parts[i]);
    }
    cur.put(parts[parts.length - 1], value);
  }

  private static Object parseLike(Object def, String raw, String key) {
    String v = raw.trim();
    try {
      if (def instanceof Boolean) {
        if (v.equalsIgnoreCase("true") || v.equals("1") || v.equalsIgnoreCase("yes")) {
          return true;
        }
        if (v.equalsIgnoreCase("false") || v.equals("0") || v.equalsIgnoreCase("no")) {
          return false;
        }
        throw new ConfigException(key, "must be true or false, got \"" + raw + "\" (from " + envName(key) + ")");
      }
      if (def instanceof Number) {
        return Long.parseLong(v);
      }
      if (def instanceof JsonArray) {
        if (v.startsWith("[")) {
          return new JsonArray(v);
        }
        JsonArray arr = new JsonArray();
        for (String s : v.split(",")) {
          if (!s.isBlank()) {
            arr.add(s.trim());
          }
        }
        return arr;
      }
      if (def instanceof JsonObject) {
        return new JsonObject(v);
      }
      return raw;
    } catch (NumberFormatException e) {
      throw new ConfigException(key, "must be a whole number, got \"" + raw + "\" (from " + envName(key) + ")");
    } catch (DecodeException | ClassCastException e) {
      throw new ConfigException(key, "must be JSON, got \"" + raw + "\" (from " + envName(key) + ")");
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
