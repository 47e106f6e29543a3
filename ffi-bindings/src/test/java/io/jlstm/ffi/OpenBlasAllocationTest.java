package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The per-time-step calls allocate nothing once compiled, with offsets (which slice the segment) as
 * well as without: the slices are scalar-replaced because the downcall handles are constants.
 */
class OpenBlasAllocationTest {

    private static final int ROUNDS = 300;
    private static final int CALLS = 5_000;

    @Test
    void sgemmAndSgemvWithOffsetsAllocateNothingOnceCompiled() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
                "per-thread allocation counters are not available");
        var flags = ManagementFactory.getRuntimeMXBean().getInputArguments();
        assumeTrue(flags.stream().noneMatch(f -> f.equals("-Xint") || f.startsWith("-XX:TieredStopAtLevel")),
                "needs the C2 compiler (escape analysis), JVM flags: " + flags);
        OpenBlas blas = TestLibraries.bundled();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4 * 64 * Float.BYTES);
            MemorySegment x = arena.allocate(64 * Float.BYTES);
            MemorySegment y = arena.allocate(64 * Float.BYTES);
            long allocated = -1;
            // Rounds until C2 has compiled the loop: the last rounds must show zero.
            for (int round = 0; round < ROUNDS && allocated != 0; round++) {
                long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < CALLS; i++) {
                    blas.sgemv(false, 4, 16, 1f, a, 3, 16, x, 1, 0.5f, y, 2);
                    blas.sgemm(false, true, 2, 3, 4, 1f, a, 1, 4, x, 2, 4, 0f, y, 7, 3);
                }
                allocated = threads.getCurrentThreadAllocatedBytes() - before;
            }
            assertEquals(0, allocated, "bytes allocated by " + CALLS + " sgemv+sgemm calls after " + ROUNDS + " rounds");
        }
    }
}
