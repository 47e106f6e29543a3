package io.jlstm.backend;

import io.jlstm.ffi.OpenBlas;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * GEMM through OpenBLAS ({@code cblas_sgemm}) by the Foreign Function API. The library is loaded
 * once per JVM and lives as long as it; this object is stateless and thread-safe and owns no memory.
 */
public final class OpenBlasBackend implements Backend {

    private final OpenBlas blas;
    private final String origin;

    public OpenBlasBackend(OpenBlas blas, String origin) {
        this.blas = Objects.requireNonNull(blas, "blas");
        this.origin = origin;
        // OpenBLAS's own pool: as many threads as jlstm.threads allows (default 1). Its idle
        // workers spin, and on a small machine a spinning worker slows every single-threaded
        // step that follows a GEMM; more threads are an explicit choice.
        blas.setNumThreads(Backends.threads());
    }

    /** The bound library. */
    public OpenBlas library() {
        return blas;
    }

    @Override
    public String name() {
        return "openblas";
    }

    @Override
    public String description() {
        return "openblas (" + origin + ")";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc) {
        blas.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
}
