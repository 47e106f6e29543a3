package io.jlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Native float segments filled with seeded uniform(-1, 1) values, for the kernel benchmarks. */
final class Segments {
    private Segments() {
    }

    /** {@code n} floats in {@code arena} (64-byte aligned, as the runtime allocates them). */
    static MemorySegment random(Arena arena, Random rnd, long n) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }
}
