package org.webphone.gateway.signalling.protocol;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import org.webphone.gateway.common.ErrorCode;

/**
 * A validated client frame. {@link #parse} is the one validator of every frame, bus or WebSocket: it
 * checks JSON, method and the method's parameter table, and throws {@link ProtocolException} with the
 * stable code otherwise.
 */
public record ClientFrame(ClientMethod method, JsonObject body, Object ref) {
  /** The two fields of every client frame besides its method's parameters. */
  public static final String METHOD = "method";
  public static final String REF = "ref";

  /** A new frame of {@code method}, to which a client (the load tool, a test) adds the parameters. */
  public static JsonObject build(ClientMethod method) {
    return new JsonObject().put(METHOD, method.name());
  }

  /** Parses the text of a WebSocket frame. */
  public static ClientFrame parse(String text) {
    JsonObject json;
    try {
      Object v = io.vertx.core.json.Json.decodeValue(text);
      if (!(v instanceof JsonObject o)) {
        throw new ProtocolException(ErrorCode.BAD_JSON, "the frame is not a JSON object");
      }
      json = o;
    } catch (DecodeException e) {
      throw new ProtocolException(ErrorCode.BAD_JSON, "the frame is not valid JSON");
    }
    return of(json);
  }

  /** Validates a frame already decoded (the bus form). */
  public static ClientFrame of(JsonObject json) {
    if (json == null) {
      throw new ProtocolException(ErrorCode.BAD_JSON, "the frame is not a JSON object");
    }
    Object ref = json.getValue(REF);
    if (ref != null && !(ref instanceof String s && s.length() <= 64) && !(ref instanceof Number)) {
      throw new ProtocolException(ErrorCode.BAD_FIELD, "ref must be a string of at most 64 characters or a number");
    }
    Object m = json.getValue(METHOD);
    if (m == null) {
      throw new ProtocolException(ErrorCode.MISSING_FIELD, "method is missing");
    }
    if (!(m instanceof String name)) {
      throw new ProtocolException(ErrorCode.BAD_FIELD, "method must be a string");
    }
    ClientMethod method = ClientMethod.byName(name);
    if (method == null) {
      throw new ProtocolException(ErrorCode.UNKNOWN_METHOD,
          "unknown method " + (name.length() > 40 ? name.substring(0, 40) + "..." : name));
    }
    for (Field f : method.fields()) {
      check(method, f, json.getValue(f.name()));
    }
    return new ClientFrame(method, json, ref);
  }

  private static void check(ClientMethod method, Field f, Object v) {
    if (v == null) {
      if (f.mandatory()) {
        throw new ProtocolException(ErrorCode.MISSING_FIELD, method + " needs " + f.name());
      }
      return;
    }
    switch (f.type()) {
      case STRING -> {
        if (!(v instanceof String s)) {
          throw new ProtocolException(ErrorCode.BAD_FIELD, f.name() + " must be a string");
        }
        if (s.isEmpty() || s.length() > f.maxLength()) {
          throw new ProtocolException(ErrorCode.BAD_FIELD,
              f.name() + " must have 1.." + f.maxLength() + " characters");
        }
        if (f.pattern() != null && !f.pattern().matcher(s).matches()) {
          throw new ProtocolException(ErrorCode.BAD_FIELD, f.name() + " has characters that are not allowed");
        }
      }
      case BOOLEAN -> {
        if (!(v instanceof Boolean)) {
          throw new ProtocolException(ErrorCode.BAD_FIELD, f.name() + " must be true or false");
        }
      }
      case NUMBER -> {
        if (!(v instanceof Number)) {
          throw new ProtocolException(ErrorCode.BAD_FIELD, f.name() + " must be a number");
        }
      }
      default -> throw new IllegalStateException();
    }
  }

  public String string(String field) {
    return body.getString(field);
  }

  /** The value of a parameter of the method's table. */
  public String string(Field field) {
    return body.getString(field.name());
  }
}
