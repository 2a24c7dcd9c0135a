package org.webphone.gateway.config;

/** A configuration value that stops the node at start. {@link #getMessage()} is the one line printed. */
public final class ConfigException extends RuntimeException {
  private final String key;

  public ConfigException(String key, String problem) {
    super("configuration error: " + key + ": " + problem);
    this.key = key;
  }

  public String key() {
    return key;
  }
}
