package org.webphone.gateway.config;

import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.webphone.gateway.common.messages.Fields;

/**
 * The SIP accounts of the pool, from {@code pool.accounts} (explicit list) or, when that is empty, from
 * {@code pool.range} (the Ozeki webphone example's generator: {@code oz880}..{@code oz898} is prefix "oz8", from 80, to 98).
 */
public final class AccountList {
  /** One SIP account. The password never leaves the node that registers it and is never logged. */
  public record Account(String username, String password, String authUser, String displayName) {
    public JsonObject toJson() {
      return new JsonObject().put(Fields.USERNAME, username).put(Fields.PASSWORD, password)
          .put(Fields.AUTH_USER, authUser).put(Fields.DISPLAY_NAME, displayName);
    }

    /** The {@code account} of a lease ({@code pool.account.lease}, {@code sip.line.open}). */
    public static Account fromJson(JsonObject j) {
      return new Account(j.getString(Fields.USERNAME), j.getString(Fields.PASSWORD),
          j.getString(Fields.AUTH_USER, j.getString(Fields.USERNAME)),
          j.getString(Fields.DISPLAY_NAME, j.getString(Fields.USERNAME)));
    }

    @Override
    public String toString() {
      return "Account[" + username + "]";
    }
  }

  private static final Pattern USER = Pattern.compile("^[A-Za-z0-9._~!$&'()*+,;=-]{1,64}$");
  private static final int MAX_ACCOUNTS = 100_000;

  private AccountList() {
  }

  private static final Pattern AGENT_ID = Pattern.compile("^[\\x21-\\x7e]{1,128}$");

  private static Account account(String key, JsonObject o) {
    String user = o.getValue("username") instanceof String s ? s : null;
    String pass = o.getValue("password") instanceof String s ? s : null;
    if (user == null || !USER.matcher(user).matches()) {
      throw new ConfigException(key + ".username", "must be a SIP user part (letters, digits, ._-), 1-64 chars");
    }
    if (pass == null) {
      throw new ConfigException(key + ".password", "must be a string");
    }
    String authUser = o.getValue("authUser", user) instanceof String s ? s : null;
    String display = o.getValue("displayName", user) instanceof String s ? s : null;
    if (authUser == null || display == null) {
      throw new ConfigException(key, "authUser and displayName must be strings");
    }
    return new Account(user, pass, authUser, display);
  }

  /**
   * The named lines of {@code pool.agents}: agent identity (an access token's {@code sub}) → its fixed account,
   * in configuration order. Identities and user names are unique, and no user name is also in the anonymous pool.
   */
  public static Map<String, Account> agentsFromConfig(GatewayConfig cfg) {
    Map<String, Account> out = new LinkedHashMap<>();
    Set<String> users = new HashSet<>();
    for (Account a : fromConfig(cfg)) {
      users.add(a.username());
    }
    var list = cfg.getArray("pool.agents");
    for (int i = 0; i < list.size(); i++) {
      String key = "pool.agents[" + i + "]";
      if (!(list.getValue(i) instanceof JsonObject o)) {
        throw new ConfigException(key, "must be an object {id, username, password, authUser?, displayName?}");
      }
      String id = o.getValue("id") instanceof String s ? s : null;
      if (id == null || !AGENT_ID.matcher(id).matches()) {
        throw new ConfigException(key + ".id", "must be the agent's identity (the token's sub), 1-128 printable chars");
      }
      Account a = account(key, o);
      if (out.containsKey(id)) {
        throw new ConfigException(key + ".id", "duplicate agent " + id);
      }
      if (!users.add(a.username())) {
        throw new ConfigException(key + ".username", "account " + a.username()
            + " is already in the pool (pool.accounts, pool.range) or another agent's");
      }
      for (String f : o.fieldNames()) {
        if (!Set.of("id", "username", "password", "authUser", "displayName").contains(f)) {
          throw new ConfigException(key + "." + f, "unknown key");
        }
      }
      out.put(id, a);
    }
    return out;
  }

  public static List<Account> fromConfig(GatewayConfig cfg) {
    List<Account> out = new ArrayList<>();
    var explicit = cfg.getArray("pool.accounts");
    if (!explicit.isEmpty()) {
      for (int i = 0; i < explicit.size(); i++) {
        String key = "pool.accounts[" + i + "]";
        if (!(explicit.getValue(i) instanceof JsonObject o)) {
          throw new ConfigException(key, "must be an object {username, password, authUser?, displayName?}");
        }
        out.add(account(key, o));
      }
    } else {
      JsonObject r = cfg.getObject("pool.range");
      Object from = r.getValue("from");
      Object to = r.getValue("to");
      Object prefix = r.getValue("prefix", "");
      Object tmpl = r.getValue("passwordTemplate", "{user}");
      for (String f : r.fieldNames()) {
        if (!Set.of("from", "to", "prefix", "passwordTemplate").contains(f)) {
          throw new ConfigException("pool.range." + f, "unknown key");
        }
      }
      if (!(from instanceof Number) || !(to instanceof Number)) {
        throw new ConfigException("pool.range", "needs whole numbers \"from\" and \"to\"");
      }
      if (!(prefix instanceof String p) || !(tmpl instanceof String t)) {
        throw new ConfigException("pool.range", "\"prefix\" and \"passwordTemplate\" must be strings");
      }
      long a = ((Number) from).longValue();
      long b = ((Number) to).longValue();
      if (a < 0 || b < a) {
        throw new ConfigException("pool.range.to", "must be >= pool.range.from (>= 0), got " + a + ".." + b);
      }
      if (b - a + 1 > MAX_ACCOUNTS) {
        throw new ConfigException("pool.range", "more than " + MAX_ACCOUNTS + " accounts");
      }
      for (long n = a; n <= b; n++) {
        String user = p + n;
        if (!USER.matcher(user).matches()) {
          throw new ConfigException("pool.range.prefix", "gives an invalid SIP user \"" + user + "\"");
        }
        out.add(new Account(user, t.replace("{user}", user).replace("{n}", Long.toString(n)), user, user));
      }
    }
    Set<String> seen = new HashSet<>();
    for (Account acc : out) {
      if (!seen.add(acc.username())) {
        throw new ConfigException("pool.accounts", "duplicate username " + acc.username());
      }
    }
    if (out.isEmpty()) {
      throw new ConfigException("pool", "no accounts configured");
    }
    return out;
  }
}
