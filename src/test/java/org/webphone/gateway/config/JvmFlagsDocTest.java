package org.webphone.gateway.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Keeps the production JVM flags in one state everywhere they are written: deploy/webphone.env (the systemd unit's,
 * and DeployedClusterIT's), the README's run command ({@code mvn exec:exec}, i.e. the pom's arguments), the
 * README's text and docs/deploy.md. The measurements behind them are in bench/RESULTS.md, "Memory footprint".
 */
class JvmFlagsDocTest {
  private static final Path BASE = Path.of(System.getProperty("project.basedir", "."));

  private static List<String> envFlags() throws Exception {
    for (String line : Files.readAllLines(BASE.resolve("deploy/webphone.env"))) {
      if (line.startsWith("WEBPHONE_JAVA_OPTS=")) {
        return List.of(line.substring("WEBPHONE_JAVA_OPTS=".length()).trim().split("\\s+"));
      }
    }
    throw new AssertionError("deploy/webphone.env sets no WEBPHONE_JAVA_OPTS");
  }

  @Test
  void theRunCommandOfThePomStartsTheJvmWithTheFlagsOfTheUnit() throws Exception {
    String pom = Files.readString(BASE.resolve("pom.xml"));
    int start = pom.indexOf("<artifactId>exec-maven-plugin</artifactId>");
    assertTrue(start > 0, "pom.xml has the exec-maven-plugin");
    String exec = pom.substring(start, pom.indexOf("</arguments>", start));
    List<String> jvmFlags = new ArrayList<>();
    Matcher m = Pattern.compile("<argument>(-X[^<]*)</argument>").matcher(exec);
    while (m.find()) {
      jvmFlags.add(m.group(1));
    }
    assertEquals(envFlags(), jvmFlags, "the pom's exec:exec -X flags, in the order of deploy/webphone.env");
  }

  @Test
  void theReadmeAndTheDeployDocShowTheFlagsOfTheUnit() throws Exception {
    String flags = String.join(" ", envFlags());
    String deployDoc = Files.readString(BASE.resolve("docs/deploy.md"));
    assertTrue(deployDoc.contains("`WEBPHONE_JAVA_OPTS=" + flags + "`"), "docs/deploy.md shows " + flags);
    String readme = Files.readString(BASE.resolve("README.md")).replaceAll("\\s+", " ");
    assertTrue(readme.contains("`" + flags + "`"), "the README shows " + flags);
  }
}
