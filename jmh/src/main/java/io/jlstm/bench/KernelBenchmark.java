package io.jlstm.bench;

import io.jlstm.backend.Backends;
import io.jlstm.backend.OpenBlasBackend;
import io.jlstm.ffi.OpenBlas;
import io.jlstm.simd.Activation;
import io.jlstm.simd.KernelProvider;
import io.jlstm.simd.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Each kernel at the sizes of the workloads, Vector API ({@code impl=vector}: what
 * {@link KernelProvider#get()} chose) against the scalar twin ({@code impl=scalar}), and OpenBLAS
 * (one thread) where it has the same operation.
 *
 * <p>Activations and the cell update work in place on the same buffer call after call: the
 * values stay bounded (tanh, sigmoid and the cell are contractions) and the approximations are
 * branch-free, so the time does not drift with the data.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class KernelBenchmark {

    static final int ACT_N = 1024;
    static final int CELL_UNITS = 256;
    /** gemv: A is GEMV_M x GEMV_N, transposed (x has GEMV_M elements): h @ U for 256 units. */
    static final int GEMV_M = 256;
    static final int GEMV_N = 1024;
    /** sgemm: C[M, N] = A[M, K] B[K, N]. */
    static final int GEMM_M = 64;
    static final int GEMM_N = 512;
    static final int GEMM_K = 256;

    /** The operands, shared by every kernel. */
    @State(Scope.Thread)
    public static class Data {
        Arena arena;
        MemorySegment act;
        MemorySegment gates;
        MemorySegment c;
        MemorySegment h;
        MemorySegment gemvA;
        MemorySegment gemvX;
        MemorySegment gemvY;
        MemorySegment gemmA;
        MemorySegment gemmB;
        MemorySegment gemmC;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            Random rnd = new Random(Workloads.SEED);
            act = Segments.random(arena, rnd, ACT_N);
            gates = Segments.random(arena, rnd, 4L * CELL_UNITS);
            c = Segments.random(arena, rnd, CELL_UNITS);
            h = Segments.random(arena, rnd, CELL_UNITS);
            gemvA = Segments.random(arena, rnd, (long) GEMV_M * GEMV_N);
            gemvX = Segments.random(arena, rnd, GEMV_M);
            gemvY = Segments.random(arena, rnd, GEMV_N);
            gemmA = Segments.random(arena, rnd, (long) GEMM_M * GEMM_K);
            gemmB = Segments.random(arena, rnd, (long) GEMM_K * GEMM_N);
            gemmC = Segments.random(arena, rnd, (long) GEMM_M * GEMM_N);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** Which Java kernels. */
    @State(Scope.Thread)
    public static class Impl {
        @Param({"vector", "scalar"})
        public String impl;

        Kernels k;

        @Setup(Level.Trial)
        public void setUp() {
            k = switch (impl) {
                case "vector" -> KernelProvider.get();
                case "scalar" -> KernelProvider.scalar();
                default -> throw new IllegalArgumentException("unknown impl " + impl);
            };
        }
    }

    /** OpenBLAS on one thread. */
    @State(Scope.Thread)
    public static class Blas {
        OpenBlas blas;

        @Setup(Level.Trial)
        public void setUp() {
            blas = ((OpenBlasBackend) Backends.openblas()).library();
            blas.setNumThreads(1);
        }
    }

    @Benchmark
    public MemorySegment activateTanh(Impl i, Data d) {
        i.k.activate(Activation.TANH, d.act, 0, ACT_N);
        return d.act;
    }

    @Benchmark
    public MemorySegment activateSigmoid(Impl i, Data d) {
        i.k.activate(Activation.SIGMOID, d.act, 0, ACT_N);
        return d.act;
    }

    @Benchmark
    public MemorySegment lstmCell(Impl i, Data d) {
        i.k.lstmCell(d.gates, 0, d.c, 0, d.h, 0, CELL_UNITS, Activation.TANH, Activation.SIGMOID);
        return d.h;
    }

    @Benchmark
    public MemorySegment gemv(Impl i, Data d) {
        i.k.gemv(true, GEMV_M, GEMV_N, 1f, d.gemvA, 0, GEMV_N, d.gemvX, 0, 0f, d.gemvY, 0);
        return d.gemvY;
    }

    @Benchmark
    public MemorySegment sgemm(Impl i, Data d) {
        i.k.sgemm(false, false, GEMM_M, GEMM_N, GEMM_K, 1f, d.gemmA, 0, GEMM_K, d.gemmB, 0, GEMM_N,
                0f, d.gemmC, 0, GEMM_N);
        return d.gemmC;
    }

    @Benchmark
    public MemorySegment openblasGemv(Blas b, Data d) {
        b.blas.sgemv(true, GEMV_M, GEMV_N, 1f, d.gemvA, 0, GEMV_N, d.gemvX, 0, 0f, d.gemvY, 0);
        return d.gemvY;
    }

    @Benchmark
    public MemorySegment openblasSgemm(Blas b, Data d) {
        b.blas.sgemm(false, false, GEMM_M, GEMM_N, GEMM_K, 1f, d.gemmA, 0, GEMM_K, d.gemmB, 0, GEMM_N,
                0f, d.gemmC, 0, GEMM_N);
        return d.gemmC;
    }
}
