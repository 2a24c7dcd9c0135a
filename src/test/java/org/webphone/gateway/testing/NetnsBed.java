package org.webphone.gateway.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Several "hosts" on one machine: network namespaces named {@code wpt-<pid>-<n>-<role>}, each joined by a
 * veth pair to a Linux bridge in a namespace of its own, with private addresses {@code 10.251.0.x/24} that
 * exist only inside the bed (never on the machine's own interfaces; beds do not see each other, so every
 * bed may use the same addresses). Processes run inside a host with {@code ip netns exec}; nftables rules
 * are loaded inside a host; {@link #forward} makes a TCP port of a host reachable from the test's own
 * network namespace (chromedriver, {@code /health}).
 *
 * <p>Needs root ({@code ip netns add}). Without it {@link #create} skips the test with a message, but fails
 * it under CI ({@code CI} set) or {@code WEBPHONE_REQUIRE_PEERS=true}, as a missing peer does. Works from
 * inside bin/test's {@code unshare -n}: {@code /run/netns} is in the machine's mount namespace, which is also
 * why a bed that is not closed outlives the test; {@link #close} deletes every namespace of the bed and kills
 * what still runs in them (all started by this bed's user), and a JVM shutdown hook does the same as a last
 * resort. Methods are called from the test thread; {@link #close} is idempotent.
 */
public final class NetnsBed implements AutoCloseable {
  /** The bed's /24: hosts get addresses in it, the bridge none. */
  public static final String SUBNET = "10.251.0.";
  private static final AtomicInteger BEDS = new AtomicInteger();

  private final String prefix;
  private final String bridgeNs;
  /** Every namespace the bed made, the bridge's first: what {@link #close} deletes. */
  private final List<String> namespaces = Collections.synchronizedList(new ArrayList<>());
  private final List<NetnsForward> forwards = Collections.synchronizedList(new ArrayList<>());
  private final Thread hook;
  private boolean closed;

  private NetnsBed(String prefix) {
    this.prefix = prefix;
    this.bridgeNs = prefix + "-br";
    this.hook = new Thread(this::deleteAll, "netns-bed-cleanup-" + prefix);
  }

  /** A bed with its bridge and no hosts yet; skips (or fails under CI) without root. */
  public static NetnsBed create() throws IOException, InterruptedException {
    requireNamespaces();
    NetnsBed bed = new NetnsBed("wpt-" + ProcessHandle.current().pid() + "-" + BEDS.incrementAndGet());
    Runtime.getRuntime().addShutdownHook(bed.hook);
    try {
      bed.addNamespace(bed.bridgeNs);
      ip("-n", bed.bridgeNs, "link", "add", "br0", "type", "bridge");
      ip("-n", bed.bridgeNs, "link", "set", "br0", "up");
      return bed;
    } catch (IOException | RuntimeException | Error e) {
      bed.close();
      throw e;
    }
  }

  /**
   * A host namespace {@code <prefix>-<role>} on the bridge, with loopback up and the addresses
   * {@code 10.251.0.<octet>} for each of {@code lastOctets} on its interface {@code eth0}.
   */
  public Host host(String role, int... lastOctets) throws IOException, InterruptedException {
    if (lastOctets.length == 0 || !role.matches("[a-z0-9]{1,12}")) {
      throw new IllegalArgumentException("a host needs a short lowercase role and at least one address");
    }
    String ns = prefix + "-" + role;
    addNamespace(ns);
    // Created directly in the two namespaces: no name is ever taken in the caller's namespace.
    String port = "p" + namespaces.size();
    ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", bridgeNs);
    ip("-n", bridgeNs, "link", "set", port, "master", "br0", "up");
    List<String> addresses = new ArrayList<>();
    for (int octet : lastOctets) {
      addresses.add(SUBNET + octet);
      ip("-n", ns, "addr", "add", SUBNET + octet + "/24", "dev", "eth0");
    }
    ip("-n", ns, "link", "set", "eth0", "up");
    return new Host(ns, List.copyOf(addresses));
  }

  /**
   * A second interface {@code ifname} of {@code host} on the bridge, with {@code cidr} (e.g. {@code 10.251.1.2/24}:
   * another subnet on the same bridge): a second network of that host, as a phone's Wi-Fi and mobile links.
   */
  public void link(Host host, String ifname, String cidr) throws IOException, InterruptedException {
    String port = "q" + LINKS.incrementAndGet();
    ip("link", "add", ifname, "netns", host.name(), "type", "veth", "peer", "name", port, "netns", bridgeNs);
    ip("-n", bridgeNs, "link", "set", port, "master", "br0", "up");
    ip("-n", host.name(), "addr", "add", cidr, "dev", ifname);
    ip("-n", host.name(), "link", "set", ifname, "up");
  }

  private static final AtomicInteger LINKS = new AtomicInteger();

  /** A free port on this namespace's loopback that leads to {@code ip:port} as seen from inside {@code host}. */
  public int forward(Host host, String ip, int port) throws IOException {
    NetnsForward f = NetnsForward.start(host.name(), ip, port, Ports.free());
    forwards.add(f);
    return f.localPort();
  }

  /** The same as {@link #forward}, on a given local port (chromedriver must be reached on its own port). */
  public void forward(Host host, String ip, int port, int localPort) throws IOException {
    forwards.add(NetnsForward.start(host.name(), ip, port, localPort));
  }

  /**
   * A headless Chromium whose chromedriver (and so the browser) runs inside {@code host}, reached through
   * a {@link #forward}; the page at {@code origin} (e.g. {@code http://10.251.0.1:8080}) counts as a secure
   * context, so it gets the microphone over plain HTTP.
   */
  public Browser browser(Host host, Path microphoneWav, String origin) throws IOException {
    return browser(host, microphoneWav, origin, null);
  }

  /**
   * The same as {@link #browser(Host, Path, String)}, with chromedriver and Chromium run with {@code HOME} set to
   * {@code home} (null: unchanged): Chromium on Linux reads the certificates it trusts besides its own roots from
   * {@code $HOME/.pki/nssdb}, where a test puts its {@link TestCa} (Debian's {@code certutil}). Its ICE
   * candidates are the host's real addresses only, as a visitor's browser's (no loopback candidates): the
   * {@code home} form is the one for reach tests, where what the browser gathers is part of the result.
   */
  public Browser browser(Host host, Path microphoneWav, String origin, Path home) throws IOException {
    int port = Ports.free();
    Path script = Files.createTempFile("chromedriver-" + host.name() + "-", ".sh");
    try {
      Files.writeString(script, "#!/bin/sh\n" + (home == null ? "" : "export HOME='" + home.toAbsolutePath() + "'\n")
          + "exec ip netns exec " + host.name() + " " + Browser.CHROMEDRIVER + " \"$@\"\n");
      if (!script.toFile().setExecutable(true)) {
        throw new IOException("cannot make " + script + " executable");
      }
      forward(host, "127.0.0.1", port, port);
      return Browser.start(microphoneWav, script.toFile(), port,
          List.of("--unsafely-treat-insecure-origin-as-secure=" + origin), home == null);
    } finally {
      // chromedriver has been exec'd by now (or never will be): the script is no longer needed.
      Files.deleteIfExists(script);
    }
  }

  /** One namespace of the bed: its name, its addresses, and how to run things in it. */
  public static final class Host {
    private final String name;
    private final List<String> addresses;

    private Host(String name, List<String> addresses) {
      this.name = name;
      this.addresses = addresses;
    }

    public String name() {
      return name;
    }

    /** The first address. */
    public String address() {
      return addresses.get(0);
    }

    public List<String> addresses() {
      return addresses;
    }

    /** {@code command} prefixed to run inside this host. */
    public List<String> inside(List<String> command) {
      List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", name));
      c.addAll(command);
      return c;
    }

    /**
     * Starts {@code command} inside this host as a peer stopped by PID ({@code ip netns exec} execs, so the PID
     * is the command's).
     */
    public PeerProcess start(String logName, List<String> command) throws IOException {
      return PeerProcess.start(logName, inside(command), null);
    }

    /** Runs {@code command} inside this host to its end (30 s at most); its output; fails on a non-zero exit. */
    public String run(String... command) throws IOException, InterruptedException {
      return exec(inside(Arrays.asList(command)), null);
    }

    /** Loads an nftables ruleset (nft -f syntax) into this host. */
    public void nft(String ruleset) throws IOException, InterruptedException {
      PeerProcess.requireBinary("nft");
      exec(inside(List.of("nft", "-f", "-")), ruleset);
    }
  }

  private void addNamespace(String ns) throws IOException, InterruptedException {
    ip("netns", "add", ns);
    namespaces.add(ns);
    ip("-n", ns, "link", "set", "lo", "up");
  }

  private static void ip(String... args) throws IOException, InterruptedException {
    List<String> c = new ArrayList<>(List.of("ip"));
    c.addAll(Arrays.asList(args));
    exec(c, null);
  }

  private static String exec(List<String> command, String stdin) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    if (stdin != null) {
      p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    }
    p.getOutputStream().close();
    // Output is read before waiting: a chatty command must not block on a full pipe.
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", command) + ": no exit within 30 s");
    }
    if (p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out.trim());
    }
    return out;
  }

  /**
   * Skips (developer) or fails (CI) when this process cannot create namespaces: not root, or no {@code ip}.
   */
  private static void requireNamespaces() throws IOException {
    PeerProcess.requireBinary("ip");
    String status = Files.readString(Path.of("/proc/self/status"));
    boolean root = status.lines().anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[2].equals("0"));
    if (root) {
      return;
    }
    String msg = "the namespace test bed needs root (ip netns add): run bin/test as root, as CI does";
    if ("true".equals(System.getenv("WEBPHONE_REQUIRE_PEERS")) || System.getenv("CI") != null) {
      throw new AssertionError(msg);
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(false, msg);
  }

  /** Stops the forwarders, kills what still runs in the bed's namespaces, deletes them. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    deleteAll();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // the JVM is already shutting down: the hook is running or ran
    }
  }

  private void deleteAll() {
    List<NetnsForward> fs;
    synchronized (forwards) {
      fs = new ArrayList<>(forwards);
      forwards.clear();
    }
    fs.forEach(NetnsForward::close);
    List<String> all;
    synchronized (namespaces) {
      all = new ArrayList<>(namespaces);
      namespaces.clear();
    }
    all.forEach(NetnsBed::killInside);
    for (String ns : all) {
      try {
        ip("netns", "del", ns);
      } catch (IOException | InterruptedException | RuntimeException e) {
        System.err.println("netns bed: could not delete " + ns + ": " + e);
      }
    }
  }

  /** Whatever still runs in a namespace of this bed was started by the test through it: ended by PID. */
  private static void killInside(String ns) {
    try {
      for (String pid : exec(List.of("ip", "netns", "pids", ns), null).split("\\s+")) {
        if (!pid.isBlank()) {
          ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
        }
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      System.err.println("netns bed: could not list the processes of " + ns + ": " + e);
    }
  }
}
