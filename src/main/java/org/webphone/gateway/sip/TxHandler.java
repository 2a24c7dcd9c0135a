package org.webphone.gateway.sip;

import javax.sip.ClientTransaction;
import javax.sip.message.Response;

/**
 * What to do with the responses and the timeout of one client transaction; stored as the transaction's
 * application data, so the verticle routes responses without any lookup table.
 */
interface TxHandler {
  void response(Response r, ClientTransaction tx);

  void timeout();

  static TxHandler of(java.util.function.BiConsumer<Response, ClientTransaction> onResponse, Runnable onTimeout) {
    return new TxHandler() {
      @Override
      public void response(Response r, ClientTransaction tx) {
        onResponse.accept(r, tx);
      }

      @Override
      public void timeout() {
        onTimeout.run();
      }
    };
  }
}
