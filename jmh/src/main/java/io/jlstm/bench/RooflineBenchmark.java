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
import java.util.concurrent.atomic.AtomicBoolean;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Control;
import org.openjdk.jmh.infra.ThreadParams;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * This machine's limits, measured in the same run as the workloads (issue 3 asks for the ratios
 * against them, not against figures from elsewhere):
 * <ul>
 *   <li>{@code sgemm2048}: OpenBLAS sgemm 2048x2048x2048; GFLOP/s = 2 n<sup>3</sup> / time.
 *       The arithmetic ceiling of W3.</li>
 *   <li>{@code javaGemv4MB}: the Java kernels' gemv, transposed (the {@code h @ U} of a step),
 *       over a 512x2048 matrix = 4 MiB; GB/s = 4 MiB / time. The weight-streaming ceiling of
 *       W1 and W2 (the matrix stays in cache between calls, as the recurrent kernel does).</li>
 *   <li>{@code openblasGemv4MB}: the same product through OpenBLAS sgemv, at 1 and 2 threads.</li>
 *   <li>{@code read4MB_1t}, {@code read4MB_2t}, {@code read2MB_*}, {@code read256KB_*}: the
 *       raw read bandwidth, a vector sum with 8 accumulators over 4 MiB (the recurrent kernel of
 *       W2), over 2 MiB (the same in bfloat16) and over 256 KiB (the recurrent kernel of W4),
 *       by one thread or by two threads each
 *       reading its own half, forward and backward in turn as the packed products stream their
 *       weights (so a read starts on what the last one left in L2); GB/s = bytes / time. No product
 *       can stream its weights faster than they can be read in that order: the weight-streaming
 *       ceiling of W1, W2, W2x2 and W4.</li>
 *   <li>{@code read16KB_1t}: the same sum over 16 KiB, which stays in L1, 16 times per op (as many
 *       bytes per op as {@code read256KB_1t}); no workload's weights fit in L1, so no floor uses it:
 *       against {@code read256KB_1t} it shows whether the L2 rate is the loop's limit or the
 *       core's (the path from L2 into L1).</li>
 *   <li>{@code handoff}: two threads passing a flag back and forth (one sets it, the other sees it
 *       and clears it); the time per op is one round trip, two one-way hand-offs between the two
 *       cores. A batch-1 step split across two threads waits for one each step (each thread needs
 *       the other's half of h), unless it has other work to do meanwhile.</li>
 * </ul>
 * {@code jmh/run-comparison} turns the times into GFLOP/s and GB/s in its report, from the median
 * time per op (sample time, as {@link WorkloadBenchmark} measures the workloads).
 */
@BenchmarkMode(Mode.SampleTime)
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

    /** Bytes of the read-bandwidth matrices: the recurrent kernels of W2 (4 MiB), of W2 in bfloat16
     *  (2 MiB) and of W4 (256 KiB). */
    static final long READ_LARGE = 4L << 20;
    static final long READ_MEDIUM = 2L << 20;
    static final long READ_SMALL = 256L << 10;
    /** Bytes of the L1-resident read (L1 is 32 KiB on the cores measured so far). */
    static final long READ_L1 = 16L << 10;

    /** The matrices the read benchmarks sum, shared by the threads of a trial. */
    @State(Scope.Benchmark)
    public static class ReadData {
        Arena arena;
        MemorySegment large;
        MemorySegment medium;
        MemorySegment small;
        MemorySegment l1;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            Random rnd = new Random(Workloads.SEED);
            large = Segments.random(arena, rnd, READ_LARGE / Float.BYTES);
            medium = Segments.random(arena, rnd, READ_MEDIUM / Float.BYTES);
            small = Segments.random(arena, rnd, READ_SMALL / Float.BYTES);
            l1 = Segments.random(arena, rnd, READ_L1 / Float.BYTES);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** Which half of the matrices a thread reads when two threads read, and in which direction next. */
    @State(Scope.Thread)
    public static class Half {
        int index;
        /** Flipped after every read: the kernels stream their weights forward and backward in turn. */
        boolean descending;

        @Setup(Level.Trial)
        public void setUp(ThreadParams params) {
            index = params.getThreadIndex();
        }
    }

    private static final VectorSpecies<Float> READ_SPECIES = FloatVector.SPECIES_PREFERRED;

    /**
     * Sum of {@code bytes} from {@code from}, 8 vectors per iteration (8 independent adds), in blocks
     * of 64 KiB (or one block of {@code bytes}, if smaller) visited last to first every other call
     * (as the packed products visit their panels, so that a call starts on what the last one read
     * last); {@code bytes} is a multiple of the block. A read small enough for L1 is summed
     * {@link Report#readPasses} times.
     */
    static float read(MemorySegment m, long from, long bytes, Half h) {
        boolean down = h.descending;
        h.descending = !down;
        long block = Math.min(64L << 10, bytes);
        long blocks = bytes / block;
        long passes = Report.readPasses(bytes);
        float sum = 0f;
        for (long b = 0; b < blocks; b++) {
            sum += readBlock(m, from + (down ? blocks - 1 - b : b) * block, block, passes);
        }
        return sum;
    }

    private static float readBlock(MemorySegment m, long from, long bytes, long passes) {
        VectorSpecies<Float> s = READ_SPECIES;
        long vb = (long) s.length() * Float.BYTES;
        FloatVector a0 = FloatVector.zero(s), a1 = FloatVector.zero(s), a2 = FloatVector.zero(s), a3 = FloatVector.zero(s);
        FloatVector a4 = FloatVector.zero(s), a5 = FloatVector.zero(s), a6 = FloatVector.zero(s), a7 = FloatVector.zero(s);
        java.nio.ByteOrder o = java.nio.ByteOrder.nativeOrder();
        for (long pass = 0; pass < passes; pass++) {
            for (long p = from; p < from + bytes; p += 8 * vb) {
                a0 = a0.add(FloatVector.fromMemorySegment(s, m, p, o));
                a1 = a1.add(FloatVector.fromMemorySegment(s, m, p + vb, o));
                a2 = a2.add(FloatVector.fromMemorySegment(s, m, p + 2 * vb, o));
                a3 = a3.add(FloatVector.fromMemorySegment(s, m, p + 3 * vb, o));
                a4 = a4.add(FloatVector.fromMemorySegment(s, m, p + 4 * vb, o));
                a5 = a5.add(FloatVector.fromMemorySegment(s, m, p + 5 * vb, o));
                a6 = a6.add(FloatVector.fromMemorySegment(s, m, p + 6 * vb, o));
                a7 = a7.add(FloatVector.fromMemorySegment(s, m, p + 7 * vb, o));
            }
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    @Benchmark
    @Threads(1)
    public float read4MB_1t(ReadData d, Half h) {
        return read(d.large, 0, READ_LARGE, h);
    }

    @Benchmark
    @Threads(2)
    public float read4MB_2t(ReadData d, Half h) {
        return read(d.large, h.index * (READ_LARGE / 2), READ_LARGE / 2, h);
    }

    @Benchmark
    @Threads(1)
    public float read2MB_1t(ReadData d, Half h) {
        return read(d.medium, 0, READ_MEDIUM, h);
    }

    @Benchmark
    @Threads(2)
    public float read2MB_2t(ReadData d, Half h) {
        return read(d.medium, h.index * (READ_MEDIUM / 2), READ_MEDIUM / 2, h);
    }

    @Benchmark
    @Threads(1)
    public float read256KB_1t(ReadData d, Half h) {
        return read(d.small, 0, READ_SMALL, h);
    }

    @Benchmark
    @Threads(2)
    public float read256KB_2t(ReadData d, Half h) {
        return read(d.small, h.index * (READ_SMALL / 2), READ_SMALL / 2, h);
    }

    @Benchmark
    @Threads(1)
    public float read16KB_1t(ReadData d, Half h) {
        return read(d.l1, 0, READ_L1, h);
    }

    /** The flag of {@link #handoff}: true once ping set it, false once pong cleared it. */
    @State(Scope.Group)
    public static class Flag {
        final AtomicBoolean set = new AtomicBoolean();
    }

    /** Sets the flag once the other thread has cleared it: one op is one round trip (JMH's own sample 18). */
    @Benchmark
    @Group("handoff")
    @GroupThreads(1)
    public void ping(Flag f, Control control) {
        pass(f, control, false);
    }

    /** Clears the flag once the other thread has set it. */
    @Benchmark
    @Group("handoff")
    @GroupThreads(1)
    public void pong(Flag f, Control control) {
        pass(f, control, true);
    }

    /** Spins until the flag reads {@code from}, then flips it; gives up when the iteration ends. */
    private static void pass(Flag f, Control control, boolean from) {
        while (!control.stopMeasurement && !f.set.compareAndSet(from, !from)) {
            Thread.onSpinWait();
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
