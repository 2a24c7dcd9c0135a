package org.webphone.gateway.node;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Kamailio's usrloc counters read every 200 ms ({@code kamcmd stats.get_statistics usrloc:}): the most
 * registered accounts seen, and the most contacts beyond one per account (0: no account was ever registered
 * by two lines at once). A thread of its own, stopped by {@link #close}.
 */
public final class UsrlocWatch implements AutoCloseable {
  private final Path ctl;
  private final AtomicInteger users = new AtomicInteger();
  private final AtomicInteger mostUsers = new AtomicInteger();
  private final AtomicInteger mostExtra = new AtomicInteger();
  private final Thread thread;
  private volatile boolean running = true;

  public UsrlocWatch(Path ctl) {
    this.ctl = ctl;
    thread = new Thread(this::loop, "usrloc-watch");
    thread.setDaemon(true);
    thread.start();
  }

  private void loop() {
    while (running) {
      try {
        Process p = new ProcessBuilder("kamcmd", "-s", "unix:" + ctl, "stats.get_statistics", "usrloc:")
            .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor(5, TimeUnit.SECONDS)) {
          int u = stat(out, "location_users");
          int c = stat(out, "location_contacts");
          if (u >= 0 && c >= 0) {
            users.set(u);
            mostUsers.accumulateAndGet(u, Math::max);
            mostExtra.accumulateAndGet(c - u, Math::max);
          }
        } else {
          p.destroyForcibly();
        }
        Thread.sleep(200);
      } catch (IOException e) {
        return;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  private static int stat(String out, String name) {
    for (String l : out.split("\n")) {
      if (l.contains(name)) {
        return Integer.parseInt(l.substring(l.lastIndexOf('=') + 1).trim());
      }
    }
    return -1;
  }

  public int users() {
    return users.get();
  }

  public int mostUsers() {
    return mostUsers.get();
  }

  public int mostExtraContacts() {
    return mostExtra.get();
  }

  @Override
  public void close() throws InterruptedException {
    running = false;
    thread.join(10_000);
  }
}
