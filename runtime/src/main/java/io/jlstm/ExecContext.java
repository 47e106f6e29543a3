package io.jlstm;

import io.jlstm.backend.Backend;
import io.jlstm.simd.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * What one forward pass works with: the backend for products, the pointwise kernels, an arena for
 * the results it hands back (lives as long as the caller wants) and a scratch arena (closed when
 * the pass ends). Used by one thread for one pass.
 */
record ExecContext(Backend backend, Kernels kernels, Arena results, Arena scratch) {

    /** Zero-filled floats in the scratch arena. */
    MemorySegment scratchFloats(long count) {
        return scratch.allocate(Math.max(1, count) * Float.BYTES, 64);
    }

    /** Zero-filled floats in the results arena. */
    MemorySegment resultFloats(long count) {
        return results.allocate(Math.max(1, count) * Float.BYTES, 64);
    }
}
