package org.webphone.gateway.sip;

import javax.sip.ClientTransaction;
import javax.sip.message.Response;

/**
 * What to do with the responses and the timeout of one client transaction; stored as the transaction's
 * application data, so the verticle routes responses without any lookup table.
 */
interface TxHandler {
  void response(Response r, ClientTransaction tx);

  void timeout(ClientTransaction tx);

  static TxHandler of(java.util.function.BiConsumer<Response, ClientTransaction> onResponse, Runnable onTimeout) {
    return of(onResponse, tx -> onTimeout.run());
  }

  /** As {@link #of(java.util.function.BiConsumer, Runnable)}, the timeout told which transaction timed out. */
  static TxHandler of(java.util.function.BiConsumer<Response, ClientTransaction> onResponse,
      java.util.function.Consumer<ClientTransaction> onTimeout) {
    return new TxHandler() {
      @Override
      public void response(Response r, ClientTransaction tx) {
        onResponse.accept(r, tx);
      }

      @Override
      public void timeout(ClientTransaction tx) {
        onTimeout.accept(tx);
      }
    };
  }
}
