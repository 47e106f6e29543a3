package io.jlstm.backend;

import java.lang.foreign.MemorySegment;

/**
 * The heavy products of a forward pass: row-major single-precision GEMM into a gate buffer.
 * Pointwise work (activations, cell updates) stays in {@code io.jlstm.simd} whatever the backend.
 *
 * <p>Implementations hold no per-call state and are thread-safe; they own no memory: every
 * segment belongs to the caller. Offsets are in floats.
 */
public interface Backend {

    /** Short name: {@code java} or {@code openblas}. */
    String name();

    /** One line for humans: what this backend runs on (kernel width, library path and config). */
    String description();

    /**
     * {@code C = alpha*op(A)*op(B) + beta*C}, row-major. op(A) is m×k, op(B) is k×n, C is m×n;
     * A is stored m×k (or k×m when {@code transA}), B k×n (or n×k when {@code transB}).
     * {@code beta == 0} overwrites C.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
               float beta, MemorySegment c, long cOff, int ldc);
}
