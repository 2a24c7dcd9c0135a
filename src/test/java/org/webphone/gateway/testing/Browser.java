package org.webphone.gateway.testing;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TimeoutException;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * A headless Debian Chromium driven through Debian's chromedriver (never a downloaded browser), with a
 * fake microphone playing a WAV file. Finds controls by the page's accessibility contract (accessible
 * names and the one {@code role=status} element). Close it to stop chromedriver and the browser.
 */
public final class Browser implements AutoCloseable {
  public static final String CHROMIUM = "/usr/bin/chromium";
  public static final String CHROMEDRIVER = "/usr/bin/chromedriver";

  private final ChromeDriverService service;
  private final ChromeDriver driver;
  private final Path profile;

  private Browser(ChromeDriverService service, ChromeDriver driver, Path profile) {
    this.service = service;
    this.driver = driver;
    this.profile = profile;
  }

  /** Starts a browser whose microphone plays {@code microphoneWav} (null: Chromium's own fake beep). */
  public static Browser start(Path microphoneWav) throws IOException {
    return start(microphoneWav, new File(CHROMEDRIVER), 0, List.of());
  }

  /**
   * Starts a browser through {@code driverExecutable} (an executable that runs chromedriver, e.g. inside a network
   * namespace), told to listen on {@code port} (0: any free port), with {@code extraArguments} for Chromium.
   */
  public static Browser start(Path microphoneWav, File driverExecutable, int port, List<String> extraArguments)
      throws IOException {
    return start(microphoneWav, driverExecutable, port, extraArguments, true);
  }

  /**
   * The same, with {@code loopbackCandidates} false for a browser on a host with a real interface (a
   * {@link NetnsBed} host): no ICE candidates on loopback, as a visitor's browser. With them, each TURN-UDP server
   * also gets an allocation from the loopback socket that can never be answered, so ICE gathering never completes.
   */
  public static Browser start(Path microphoneWav, File driverExecutable, int port, List<String> extraArguments,
      boolean loopbackCandidates) throws IOException {
    PeerProcess.requireBinary(CHROMIUM);
    PeerProcess.requireBinary(CHROMEDRIVER);
    Path profile = Files.createTempDirectory("webphone-chromium-");
    Files.createDirectories(Path.of("target", "peers"));
    ChromeDriverService.Builder builder = new ChromeDriverService.Builder().usingDriverExecutable(driverExecutable);
    ChromeDriverService service = (port == 0 ? builder.usingAnyFreePort() : builder.usingPort(port))
        .withLogFile(Path.of("target", "peers", "chromedriver-" + profile.getFileName() + ".log").toFile())
        .build();
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM);
    options.addArguments(
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic", "--user-data-dir=" + profile.toAbsolutePath(), "--window-size=420,860");
    if (loopbackCandidates) {
      options.addArguments("--allow-loopback-in-peer-connection");
    }
    if (microphoneWav != null) {
      options.addArguments("--use-file-for-fake-audio-capture=" + microphoneWav.toAbsolutePath());
    }
    options.addArguments(extraArguments);
    ChromeDriver driver;
    try {
      driver = new ChromeDriver(service, options);
    } catch (RuntimeException e) {
      service.stop();
      throw e;
    }
    driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(20));
    return new Browser(service, driver, profile);
  }

  public ChromeDriver driver() {
    return driver;
  }

  public void open(String url) {
    driver.get(url);
  }

  /** The text of the page's one {@code role="status"} element. */
  public String status() {
    List<WebElement> els = driver.findElements(By.cssSelector("[role=status]"));
    return els.isEmpty() ? "" : els.get(0).getText().trim();
  }

  /** Waits until the status line reads {@code expected} (exactly, or as a prefix when it ends with "..."). */
  public void awaitStatus(String expected, Duration timeout) {
    try {
      new WebDriverWait(driver, timeout, Duration.ofMillis(50)).until(d -> matches(status(), expected));
    } catch (TimeoutException e) {
      throw new AssertionError("status never became \"" + expected + "\" within " + timeout + "; it is \""
          + status() + "\"; browser log: " + consoleLog());
    }
  }

  private static boolean matches(String actual, String expected) {
    return expected.endsWith("...") ? actual.startsWith(expected.substring(0, expected.length() - 3))
        : actual.equals(expected);
  }

  /** The visible, enabled control whose accessible name is {@code name}. */
  public WebElement control(String name) {
    for (WebElement e : driver.findElements(By.cssSelector("button, input, [role=button]"))) {
      if (e.isDisplayed() && name.equals(e.getAccessibleName().trim())) {
        return e;
      }
    }
    throw new AssertionError("no visible control named \"" + name + "\"");
  }

  public void click(String name) {
    control(name).click();
  }

  /**
   * The button whose text is {@code name}, shown or hidden, enabled or not: for checks of a control's state, which
   * {@link #control} (visible controls only) cannot make.
   */
  public WebElement button(String name) {
    return driver.findElement(By.xpath("//button[normalize-space(.)='" + name + "']"));
  }

  /** Types into the dial box (accessible name "Number") with the keypad buttons, as a visitor would. */
  public void dialWithKeypad(String number) {
    for (char c : number.toCharArray()) {
      click(String.valueOf(c));
    }
  }

  public String dialBox() {
    return control("Number").getAttribute("value");
  }

  /** Starts recording every text the status line shows (read with {@link #statusHistory()}). */
  public void recordStatusHistory() {
    js("""
        const el = document.querySelector('[role=status]');
        window.__statusHistory = [el.textContent.trim()];
        new MutationObserver(() => {
          const t = el.textContent.trim();
          if (window.__statusHistory[window.__statusHistory.length - 1] !== t) window.__statusHistory.push(t);
        }).observe(el, {childList: true, characterData: true, subtree: true});
        """);
  }

  @SuppressWarnings("unchecked")
  public List<String> statusHistory() {
    return (List<String>) js("return window.__statusHistory || []");
  }

  public Object js(String script, Object... args) {
    return ((JavascriptExecutor) driver).executeScript(script, args);
  }

  /**
   * Audio the browser receives: {@code packetsReceived}, {@code audioLevel} and {@code totalAudioEnergy}
   * of the inbound RTP stream, and the frequency (Hz) of the strongest tone in the remote audio as a
   * WebAudio analyser hears it over {@code listenMs}. The page trickles its candidates, so "In call" may show
   * before the audio path is up: the listening starts once the connection is {@code connected} (at most 10 s).
   */
  public RemoteAudio remoteAudio(long listenMs) {
    return remoteAudio(listenMs, "window.webphone && window.webphone.pc");
  }

  /** The same for the RTCPeerConnection the JavaScript expression {@code pcExpression} names (e.g. an audio path's). */
  public RemoteAudio remoteAudio(long listenMs, String pcExpression) {
    String script = """
        const done = arguments[arguments.length - 1];
        const listenMs = arguments[0];
        (async () => {
          const pc = PC_EXPRESSION;
          if (!pc) { done({error: 'no PC_EXPRESSION'}); return; }""".replace("PC_EXPRESSION", pcExpression) + """

          const upBy = Date.now() + 10000;
          while (pc.connectionState !== 'connected' && Date.now() < upBy) await new Promise(r => setTimeout(r, 50));
          const recv = pc.getReceivers().find(r => r.track && r.track.kind === 'audio');
          const ctx = new AudioContext();
          const src = ctx.createMediaStreamSource(new MediaStream([recv.track]));
          const an = ctx.createAnalyser();
          an.fftSize = 8192;
          src.connect(an);
          const bins = new Float32Array(an.frequencyBinCount);
          const sum = new Float32Array(an.frequencyBinCount);
          const t0 = Date.now();
          let frames = 0;
          while (Date.now() - t0 < listenMs) {
            await new Promise(r => setTimeout(r, 100));
            an.getFloatFrequencyData(bins);
            for (let i = 0; i < bins.length; i++) sum[i] += Math.pow(10, bins[i] / 20);
            frames++;
          }
          let best = 1;
          for (let i = 2; i < sum.length; i++) if (sum[i] > sum[best]) best = i;
          const peakHz = best * ctx.sampleRate / an.fftSize;
          ctx.close();
          let packets = 0, level = 0, energy = 0, lost = 0;
          (await pc.getStats()).forEach(s => {
            if (s.type === 'inbound-rtp' && s.kind === 'audio') {
              packets = s.packetsReceived || 0; level = s.audioLevel || 0;
              energy = s.totalAudioEnergy || 0; lost = s.packetsLost || 0;
            }
          });
          done({packets, level, energy, lost, peakHz, frames});
        })().catch(e => done({error: String(e)}));
        """;
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) ((JavascriptExecutor) driver).executeAsyncScript(script, listenMs);
    if (m == null || m.containsKey("error")) {
      throw new AssertionError("remote audio could not be measured: " + m);
    }
    return new RemoteAudio(num(m, "packets").longValue(), num(m, "level").doubleValue(),
        num(m, "energy").doubleValue(), num(m, "lost").longValue(), num(m, "peakHz").doubleValue());
  }

  private static Number num(Map<String, Object> m, String key) {
    return (Number) Objects.requireNonNull(m.get(key), key);
  }

  /**
   * What {@link #remoteAudio} measured: inbound packets, instantaneous level, total energy, packets lost and
   * the analyser's strongest frequency in Hz.
   */
  public record RemoteAudio(long packets, double level, double energy, long lost, double peakHz) {
    /** What an echo call must bring back: over 100 packets, energy (not one quiet sample), the tone within 25 Hz. */
    public void assertEchoOf(int hz) {
      org.junit.jupiter.api.Assertions.assertAll("the echoed " + hz + " Hz tone: " + this,
          () -> org.junit.jupiter.api.Assertions.assertTrue(packets > 100, "inbound RTP packets"),
          () -> org.junit.jupiter.api.Assertions.assertTrue(energy > 0.005, "audio energy"),
          () -> org.junit.jupiter.api.Assertions.assertTrue(Math.abs(peakHz - hz) < 25, "frequency"));
    }
  }

  /**
   * The codec of the browser's inbound and outbound audio as its getStats() codec reports name them
   * ({@code "audio/opus audio/opus"}: inbound mimeType, a space, outbound mimeType; "none" for a side without one).
   */
  public String audioCodecs() {
    Object s = ((JavascriptExecutor) driver).executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        const pc = window.webphone && window.webphone.pc;
        if (!pc) { done('no pc'); return; }
        pc.getStats().then(st => {
          const mime = (type) => { let m = 'none'; st.forEach(s => {
            if (s.type === type && s.kind === 'audio' && s.codecId && st.get(s.codecId)) m = st.get(s.codecId).mimeType; });
            return m; };
          done(mime('inbound-rtp') + ' ' + mime('outbound-rtp'));
        });
        """);
    return String.valueOf(s);
  }

  /** Packets the browser has sent on its outbound audio stream. */
  public long packetsSent() {
    Object n = ((JavascriptExecutor) driver).executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        const pc = window.webphone && window.webphone.pc;
        if (!pc) { done(-1); return; }
        pc.getStats().then(st => { let n = 0; st.forEach(s => {
          if (s.type === 'outbound-rtp' && s.kind === 'audio') n = s.packetsSent || 0; }); done(n); });
        """);
    return ((Number) Objects.requireNonNull(n)).longValue();
  }

  public String consoleLog() {
    try {
      return driver.manage().logs().get("browser").getAll().toString();
    } catch (RuntimeException e) {
      return "(no browser log)";
    }
  }

  public void screenshot(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.write(file, driver.getScreenshotAs(OutputType.BYTES));
  }

  @Override
  public void close() {
    try {
      driver.quit();
    } catch (RuntimeException ignored) {
      // the browser may already be gone; the service stop below still ends chromedriver
    }
    service.stop();
    try (var walk = Files.walk(profile)) {
      walk.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // a temp profile left behind is harmless
    }
  }

  /** A WAV tone for the fake microphone, made with sox (48 kHz mono, {@code seconds} long). */
  public static Path tone(Path dir, int hz, int seconds) throws IOException, InterruptedException {
    return tone(dir, hz, seconds, 48000);
  }

  /** A mono 16-bit WAV sine of {@code hz} at {@code rate} samples per second, made with sox. */
  public static Path tone(Path dir, int hz, int seconds, int rate) throws IOException, InterruptedException {
    PeerProcess.requireBinary("sox");
    Path wav = dir.resolve("tone-" + hz + "-" + rate + ".wav");
    Process p = new ProcessBuilder("sox", "-n", "-r", String.valueOf(rate), "-c", "1", "-b", "16", wav.toString(),
        "synth", String.valueOf(seconds), "sine", String.valueOf(hz), "vol", "0.5").redirectErrorStream(true).start();
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("sox failed: " + new String(p.getInputStream().readAllBytes()));
    }
    return wav;
  }
}
