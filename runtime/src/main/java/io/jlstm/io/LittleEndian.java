package io.jlstm.io;

import io.jlstm.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;

/** Little-endian output of the writers: both file formats store float32 little-endian, tensors hold native order. */
final class LittleEndian {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int CHUNK_FLOATS = 1 << 18; // a 1 MiB staging buffer

    private LittleEndian() {
    }

    /** Writes all values of {@code tensor} as little-endian float32, through a bounded staging buffer. */
    static void writeFloats(FileChannel channel, Tensor tensor) throws IOException {
        long n = tensor.size();
        if (n == 0) {
            return;
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) Math.min(n, CHUNK_FLOATS) * Float.BYTES);
        MemorySegment staging = MemorySegment.ofBuffer(buffer);
        int chunk = buffer.capacity() / Float.BYTES;
        for (long done = 0; done < n; ) {
            int count = (int) Math.min(chunk, n - done);
            MemorySegment.copy(tensor.segment(), ValueLayout.JAVA_FLOAT, done * Float.BYTES, staging, F32, 0, count);
            writeFully(channel, buffer.clear().limit(count * Float.BYTES));
            done += count;
        }
    }

    static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
