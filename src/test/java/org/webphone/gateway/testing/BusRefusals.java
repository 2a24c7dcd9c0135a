package org.webphone.gateway.testing;

import io.vertx.core.eventbus.ReplyException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;

/** Event-bus requests that a test expects to be refused, and the failure code they were refused with. */
public final class BusRefusals {
  private BusRefusals() {
  }

  /**
   * The failure code of an event-bus request that must be refused: {@code request} blocks for the reply
   * (a {@link ReplyException}, bare or wrapped in an {@link ExecutionException}); its success is an
   * AssertionError naming {@code what} and the answer.
   */
  public static int failureCode(Callable<?> request, String what) throws Exception {
    Object answer;
    try {
      answer = request.call();
    } catch (ReplyException e) {
      return e.failureCode();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ReplyException re) {
        return re.failureCode();
      }
      throw e;
    }
    throw new AssertionError(what + " should have been refused but answered " + answer);
  }
}
