package org.webphone.gateway.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A baresip agent (softphone) on loopback: plays a WAV as its microphone ({@code aufile}), records what it
 * sends and receives to WAV files ({@code sndfile}), answers automatically, and takes commands over
 * {@code ctrl_tcp} (netstring JSON). No sound card is needed.
 */
public final class Baresip implements AutoCloseable {
  private final PeerProcess process;
  private final Path dir;
  private final int ctrlPort;
  private final int sipPort;

  private Baresip(PeerProcess process, Path dir, int ctrlPort, int sipPort) {
    this.process = process;
    this.dir = dir;
    this.ctrlPort = ctrlPort;
    this.sipPort = sipPort;
  }

  /**
   * Starts baresip with one account.
   *
   * @param user       the SIP user, e.g. "2000"
   * @param password   its password at the registrar, or null to not register
   * @param registrar  "127.0.0.1:port" of the registrar, or null for a direct (unregistered) account
   * @param microphone the WAV it sends (8 kHz mono works best: no resampling)
   */
  public static Baresip start(Path dir, String user, String password, String registrar, Path microphone)
      throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, (String) null);
  }

  /**
   * The same with media encryption {@code mediaenc} (the account's {@code mediaenc}, e.g. "srtp-mand": SDES
   * on RTP/SAVP, which it offers and insists on; the srtp module is loaded), or null for plain RTP/AVP.
   * baresip logs the suite it agreed as "SRTP is Enabled (cryptosuite=...)".
   */
  public static Baresip start(Path dir, String user, String password, String registrar, Path microphone,
                              String mediaenc) throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, null, mediaenc);
  }

  /**
   * Over SIP/TLS: the account registers with {@code registrar} ("127.0.0.1:tlsPort") over TLS, trusts
   * {@code caPem}, presents {@code certAndKey} (one PEM file with both, as baresip wants it), and with
   * {@code mediaenc} (e.g. "srtp-mand": RTP/SAVP with SDES, or null) encrypts its media.
   */
  public record Tls(Path certAndKey, Path caPem, String mediaenc) {
  }

  /** {@link #start(Path, String, String, String, Path)}, over TLS when {@code tls} is not null. */
  public static Baresip start(Path dir, String user, String password, String registrar, Path microphone, Tls tls)
      throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, tls, tls == null ? null : tls.mediaenc());
  }

  /**
   * {@link #start(Path, String, String, String, Path)} with RTP ports for {@code calls} calls at a time (the
   * default is one: a transferee needs two, the old call's and the one to the transfer target).
   */
  public static Baresip start(Path dir, String user, String password, String registrar, Path microphone, int calls)
      throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, null, null, calls);
  }

  /**
   * {@link #start(Path, String, String, String, Path)} with baresip's SIP trace ({@code -s}): every SIP message it
   * sends and receives is in its log ({@link #process()}), e.g. the SDP of a re-INVITE that holds its call.
   */
  public static Baresip startTracingSip(Path dir, String user, String password, String registrar, Path microphone)
      throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, null, null, 1, true);
  }

  private static Baresip start(Path dir, String user, String password, String registrar, Path microphone,
                               Tls tls, String mediaenc) throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, tls, mediaenc, 1);
  }

  private static Baresip start(Path dir, String user, String password, String registrar, Path microphone,
                               Tls tls, String mediaenc, int calls) throws IOException, InterruptedException {
    return start(dir, user, password, registrar, microphone, tls, mediaenc, calls, false);
  }

  private static Baresip start(Path dir, String user, String password, String registrar, Path microphone,
                               Tls tls, String mediaenc, int calls, boolean sipTrace)
      throws IOException, InterruptedException {
    PeerProcess.requireBinary("baresip");
    Files.createDirectories(dir);
    int sipPort = Ports.free();
    int ctrlPort = Ports.free();
    int rtp = Ports.freeRange(2 * calls);
    String config = String.join("\n",
        "poll_method epoll",
        // "lo" is refused ("could not get IPv4 address"); the address works and keeps SDP on loopback.
        "net_interface 127.0.0.1",
        "sip_listen 127.0.0.1:" + sipPort,
        "call_local_timeout 120",
        "call_max_calls 4",
        "audio_player aubridge,nil",
        "audio_alert aubridge,nil",
        "audio_source aufile," + microphone.toAbsolutePath(),
        "snd_path " + dir.toAbsolutePath(),
        "rtp_ports " + rtp + "-" + (rtp + 2 * calls - 1),
        "module_path /usr/lib/baresip/modules",
        "module g711.so",
        "module aufile.so",
        "module aubridge.so",
        "module sndfile.so",
        mediaenc != null ? "module srtp.so" : "",
        "module_tmp account.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        "ctrl_tcp_listen 127.0.0.1:" + ctrlPort,
        tls == null ? "" : "sip_certificate " + tls.certAndKey().toAbsolutePath(),
        tls == null ? "" : "sip_cafile " + tls.caPem().toAbsolutePath(),
        "");
    Files.writeString(dir.resolve("config"), config);
    String aor = registrar == null ? "<sip:" + user + "@127.0.0.1:" + sipPort + ">"
        : "<sip:" + user + "@" + registrar + (tls == null ? "" : ";transport=tls") + ">";
    String params = registrar == null ? ";regint=0" : ";auth_pass=" + password + ";regint=60";
    Files.writeString(dir.resolve("accounts"), aor + params + ";answermode=auto;audio_codecs=PCMU,PCMA"
        + (mediaenc != null ? ";mediaenc=" + mediaenc : "") + "\n");
    List<String> command = new java.util.ArrayList<>(List.of("baresip", "-f", dir.toAbsolutePath().toString()));
    if (sipTrace) {
      command.add("-s");
    }
    PeerProcess p = PeerProcess.start("baresip-" + user, command, dir);
    Baresip b = new Baresip(p, dir, ctrlPort, sipPort);
    p.awaitLog(l -> l.contains("baresip is ready") || l.contains("ctrl_tcp: TCP socket listening"), Duration.ofSeconds(10));
    if (registrar != null) {
      p.awaitLog(l -> l.contains("200 OK") || l.contains("registered successfully"), Duration.ofSeconds(10));
    }
    return b;
  }

  public int sipPort() {
    return sipPort;
  }

  public PeerProcess process() {
    return process;
  }

  /** Sends a ctrl_tcp command (e.g. "dial" with "sip:1000@..." or "hangup") and returns the raw response. */
  public String command(String command, String params) throws IOException {
    String json = "{\"command\":\"" + command + "\",\"params\":\"" + (params == null ? "" : params) + "\",\"token\":\"t\"}";
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", ctrlPort), 2000);
      s.setSoTimeout(3000);
      OutputStream out = s.getOutputStream();
      out.write((body.length + ":").getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.write(',');
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[8192];
      int n = in.read(buf);
      return n <= 0 ? "" : new String(buf, 0, n, StandardCharsets.UTF_8);
    }
  }

  public void awaitLog(String fragment, Duration timeout) throws InterruptedException {
    process.awaitLog(l -> l.contains(fragment), timeout);
  }

  /** The WAV of what baresip received (decoded), once a call has started. */
  public Optional<Path> receivedWav() throws IOException {
    try (var s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith("-dec.wav")).findFirst();
    }
  }

  /**
   * The newest recording of what baresip received, once sndfile has finished its header (it does when the
   * call's audio stops: the RIFF size then counts the whole file); null before.
   */
  public Path finishedRecording() throws IOException {
    Path newest = newestRecording();
    if (newest == null || Files.size(newest) <= 8000) {
      return null;
    }
    byte[] head = new byte[8];
    try (var in = Files.newInputStream(newest)) {
      if (in.readNBytes(head, 0, 8) < 8) {
        return null;
      }
    }
    long riffSize = java.nio.ByteBuffer.wrap(head, 4, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() & 0xFFFFFFFFL;
    return riffSize == Files.size(newest) - 8 ? newest : null;
  }

  /** Where the newest recording of what baresip received ends now (0 before any): a mark for {@link #heardSince}. */
  public long heardMark() throws IOException {
    Path newest = newestRecording();
    return newest == null ? 0 : Files.size(newest);
  }

  /**
   * sox's statistics (as {@link #soxStat}) of what baresip received after {@code mark}, once at least
   * {@code seconds} of it are recorded (at most 15 s of waiting): a part of a call still running, whose WAV header
   * is not finished yet (the samples are read raw, as the header's format says).
   */
  public double[] heardSince(long mark, double seconds) throws IOException, InterruptedException {
    Path wav = Eventually.await(Duration.ofSeconds(15), seconds + " s more of baresip's recording", () -> {
      Path p = newestRecording();
      return p != null && Files.size(p) - mark >= seconds * bytesPerSecond(p) ? p : null;
    });
    java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(Files.readAllBytes(wav), 0, 44).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    int channels = h.getShort(22);
    int rate = h.getInt(24);
    int bits = h.getShort(34);
    byte[] all = Files.readAllBytes(wav);
    long from = Math.max(44, mark);
    int frame = channels * bits / 8;
    long to = from + (all.length - from) / frame * frame;
    Path raw = dir.resolve("heard-" + System.nanoTime() + ".raw");
    Files.write(raw, java.util.Arrays.copyOfRange(all, (int) from, (int) to));
    try {
      return soxStat(List.of("-t", "raw", "-r", String.valueOf(rate), "-e", "signed", "-b", String.valueOf(bits),
          "-c", String.valueOf(channels), raw.toString()));
    } finally {
      Files.deleteIfExists(raw);
    }
  }

  private static int bytesPerSecond(Path wav) throws IOException {
    byte[] head = new byte[44];
    try (var in = Files.newInputStream(wav)) {
      if (in.readNBytes(head, 0, 44) < 44) {
        return Integer.MAX_VALUE;
      }
    }
    return java.nio.ByteBuffer.wrap(head).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(28);
  }

  private Path newestRecording() throws IOException {
    try (var s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith("-dec.wav"))
          .max((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).orElse(null);
    }
  }

  /** sox's statistics of a WAV: RMS amplitude and rough frequency in Hz. */
  public static double[] soxStat(Path wav) throws IOException, InterruptedException {
    return soxStat(List.of(wav.toString()));
  }

  private static double[] soxStat(List<String> input) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>(List.of("sox"));
    command.addAll(input);
    command.addAll(List.of("-n", "stat"));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return new double[] {number(out, "RMS\\s+amplitude:\\s+([0-9.]+)"), number(out, "Rough\\s+frequency:\\s+([0-9.]+)")};
  }

  private static double number(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
  }

  @Override
  public void close() {
    process.close();
  }
}
