package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The gemv of the kernels in use (the vector ones wherever the Vector API runs) allocates nothing
 * once C2 has compiled it. A batch-1 Dense step is a transposed
 * gemv, and it once allocated a vector box per pass of 4 rows on some shapes (12 KiB per 512 x
 * 2048 call, 384 B per 64 x 64 one). Rounds of calls run until one allocates zero bytes, within a
 * time bound; early rounds are not judged (the interpreter and C1 box vectors until C2 takes over).
 */
class GemvAllocationTest {

    private static final long LIMIT_NANOS = TimeUnit.SECONDS.toNanos(60);

    @ParameterizedTest(name = "trans={0} {1}x{2}")
    @CsvSource({"true, 512, 2048", "true, 64, 64", "true, 33, 100", "false, 2048, 512", "false, 64, 64"})
    void aCompiledGemvAllocatesNothing(boolean trans, int m, int n) {
        Kernels k = KernelProvider.get();
        ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadAllocatedMemorySupported() && mx.isThreadAllocatedMemoryEnabled(),
                "this JVM does not count the bytes a thread allocates, which this test measures");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate((long) m * n * Float.BYTES, 64);
            MemorySegment x = arena.allocate((long) Math.max(m, n) * Float.BYTES, 64);
            MemorySegment y = arena.allocate((long) Math.max(m, n) * Float.BYTES, 64);
            for (long i = 0; i < (long) m * n; i++) {
                a.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, (i % 13) * 0.01f);
            }
            int calls = (int) Math.max(50, 20_000_000L / ((long) m * n));
            long start = System.nanoTime();
            long last = -1;
            int rounds = 0;
            int zeros = 0; // consecutive rounds that allocated nothing: 3 in a row pass
            while (zeros < 3 && System.nanoTime() - start < LIMIT_NANOS) {
                long before = mx.getCurrentThreadAllocatedBytes();
                for (int c = 0; c < calls; c++) {
                    k.gemv(trans, m, n, 1f, a, 0, n, x, 0, 0f, y, 0);
                }
                last = mx.getCurrentThreadAllocatedBytes() - before;
                zeros = last == 0 ? zeros + 1 : 0;
                rounds++;
            }
            assertEquals(0, last, "bytes allocated by the last " + calls + " calls of " + k.name() + ", after "
                    + rounds + " rounds");
            assertEquals(3, zeros, "3 rounds in a row without allocation within the time bound");
        }
    }
}
