package io.jlstm;

import java.lang.foreign.MemorySegment;

/** A bias copied into each row of a row-major float32 buffer, as the layers need it before a product adds onto it. Stateless; owns no memory. */
final class BiasRows {
    private BiasRows() {
    }

    /**
     * Copies {@code rowBytes} from offset 0 of {@code row} into each of the first {@code rows} rows
     * of {@code dst} ({@code rowBytes} apart): a bias before a product adds onto it.
     *
     * <p>The loop is counted in an {@code int} on purpose. Counted in a {@code long}, the same loop
     * in {@code UnitSplit.halfStep} made C2 recompile that method about every 80-120 ms for as long
     * as a JMH fork of W4 on two threads ran (uncommon trap {@code profile_predicate} at the loop,
     * never reaching the trap limit that ends such a cycle); counted in an {@code int}, it traps 3-4
     * times and C2 then keeps its code ({@code -Xlog:deoptimization=debug}, 2026-12-07).
     */
    static void repeat(MemorySegment row, MemorySegment dst, int rows, long rowBytes) {
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(row, 0, dst, r * rowBytes, rowBytes);
        }
    }
}
