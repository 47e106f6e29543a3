package io.jlstm.bench;

import io.jlstm.backend.Backends;
import io.jlstm.backend.OpenBlasBackend;
import io.jlstm.ffi.OpenBlas;
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
 * This machine's limits, measured in the same run as the workloads (issue 3 asks for the ratios
 * against them, not against figures from elsewhere):
 * <ul>
 *   <li>{@code sgemm2048}: OpenBLAS sgemm 2048x2048x2048; GFLOP/s = 2 n<sup>3</sup> / time.
 *       The arithmetic ceiling of W3.</li>
 *   <li>{@code javaGemv4MB}: the Java kernels' gemv, transposed (the {@code h @ U} of a step),
 *       over a 512x2048 matrix = 4 MiB; GB/s = 4 MiB / time. The weight-streaming ceiling of
 *       W1 and W2 (the matrix stays in L2/L3 between calls, as the recurrent kernel does).</li>
 *   <li>{@code openblasGemv4MB}: the same product through OpenBLAS sgemv, at 1 and 2 threads.</li>
 * </ul>
 * {@code jmh/run-comparison} turns the times into GFLOP/s and GB/s in its report.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class RooflineBenchmark {

    /** Side of the sgemm. */
    static final int GEMM_N = 2048;
    /** gemv matrix: GEMV_ROWS x GEMV_COLS floats = 4 MiB. */
    static final int GEMV_ROWS = 512;
    static final int GEMV_COLS = 2048;

    /** OpenBLAS at a thread count, with the sgemm and sgemv operands. */
    @State(Scope.Benchmark)
    public static class Blas {
        @Param({"1", "2"})
        public int threads;

        OpenBlas blas;
        Arena arena;
        MemorySegment a;
        MemorySegment b;
        MemorySegment c;
        MemorySegment v;
        MemorySegment x;
        MemorySegment y;

        @Setup(Level.Trial)
        public void setUp() {
            blas = ((OpenBlasBackend) Backends.openblas()).library();
            blas.setNumThreads(threads);
            arena = Arena.ofShared();
            Random rnd = new Random(Workloads.SEED);
            long nn = (long) GEMM_N * GEMM_N;
            a = Segments.random(arena, rnd, nn);
            b = Segments.random(arena, rnd, nn);
            c = Segments.random(arena, rnd, nn);
            v = Segments.random(arena, rnd, (long) GEMV_ROWS * GEMV_COLS);
            x = Segments.random(arena, rnd, GEMV_ROWS);
            y = Segments.random(arena, rnd, GEMV_COLS);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** The Java kernels' gemv operands (the kernels are single-threaded). */
    @State(Scope.Thread)
    public static class JavaGemv {
        Kernels kernels;
        Arena arena;
        MemorySegment v;
        MemorySegment x;
        MemorySegment y;

        @Setup(Level.Trial)
        public void setUp() {
            kernels = KernelProvider.get();
            arena = Arena.ofShared();
            Random rnd = new Random(Workloads.SEED);
            v = Segments.random(arena, rnd, (long) GEMV_ROWS * GEMV_COLS);
            x = Segments.random(arena, rnd, GEMV_ROWS);
            y = Segments.random(arena, rnd, GEMV_COLS);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    @Benchmark
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public MemorySegment sgemm2048(Blas s) {
        s.blas.sgemm(false, false, GEMM_N, GEMM_N, GEMM_N, 1f, s.a, 0, GEMM_N, s.b, 0, GEMM_N, 0f, s.c, 0, GEMM_N);
        return s.c;
    }

    @Benchmark
    public MemorySegment openblasGemv4MB(Blas s) {
        s.blas.sgemv(true, GEMV_ROWS, GEMV_COLS, 1f, s.v, 0, GEMV_COLS, s.x, 0, 0f, s.y, 0);
        return s.y;
    }

    @Benchmark
    public MemorySegment javaGemv4MB(JavaGemv s) {
        s.kernels.gemv(true, GEMV_ROWS, GEMV_COLS, 1f, s.v, 0, GEMV_COLS, s.x, 0, 0f, s.y, 0);
        return s.y;
    }
}
