package io.jlstm.backend;

import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The pure-Java backend: the Vector API kernels of {@code io.jlstm.simd} (or their scalar twins).
 * Always available. Stateless and thread-safe; owns no memory.
 */
public final class JavaBackend implements Backend {

    private final Kernels kernels;

    public JavaBackend(Kernels kernels) {
        this.kernels = Objects.requireNonNull(kernels, "kernels");
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public String description() {
        return "java (" + kernels.name() + ")";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc) {
        if (m == 1 && !transA) {
            // A single row (a batch-1 step): y = x·op(B) is a gemv over B, which streams B once
            // without the packing and tiling a GEMM would pay for.
            if (transB) {
                kernels.gemv(false, n, k, alpha, b, bOff, ldb, a, aOff, beta, c, cOff);
            } else {
                kernels.gemv(true, k, n, alpha, b, bOff, ldb, a, aOff, beta, c, cOff);
            }
            return;
        }
        kernels.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
}
