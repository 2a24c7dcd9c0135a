package org.webphone.gateway.pool;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.DataSerializable;
import java.io.IOException;

/**
 * The result of a {@link PoolOp} on its way back from the member that owns the pool's entry, in the pool's
 * cluster format ({@link PoolCodec}). Hazelcast passes it by reference when the caller is that member; otherwise
 * the bytes are decoded on the caller by {@link #value}, which refuses what this release cannot read.
 *
 * <p>Made on a partition thread, read once on the pool verticle's context; never shared.
 */
final class PoolReply implements DataSerializable {
  private Object value;
  private byte[] bytes;

  /** For Hazelcast, which then calls {@link #readData}. */
  PoolReply() {
  }

  PoolReply(Object value) {
    this.value = value;
  }

  /** The op's result; throws {@link IllegalStateException} when it came in a format this release cannot read. */
  Object value() {
    if (bytes != null) {
      byte[] b = bytes;
      bytes = null;
      value = PoolCodec.result(PoolCodec.parse(b, "reply"));
    }
    return value;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    out.writeByteArray(bytes != null ? bytes : PoolCodec.bytes(PoolCodec.result(value)));
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    bytes = in.readByteArray();
  }
}
