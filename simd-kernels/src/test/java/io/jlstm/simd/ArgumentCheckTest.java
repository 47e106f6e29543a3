package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every implementation rejects bad sizes and short segments before touching memory. */
class ArgumentCheckTest {
    static List<Kernels> implementations() {
        return Fixtures.implementations();
    }

    private static MemorySegment floats(int n) {
        return Arena.ofAuto().allocate((long) n * Float.BYTES, 4);
    }

    private static void rejects(Class<? extends RuntimeException> type, Executable call, String... mentions) {
        RuntimeException e = assertThrows(type, call);
        for (String s : mentions) {
            assertTrue(e.getMessage().contains(s), () -> "message \"" + e.getMessage() + "\" should mention " + s);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void vectorKernels(Kernels k) {
        MemorySegment ten = floats(10);
        rejects(IllegalArgumentException.class, () -> k.activate(Activation.TANH, ten, 0, -1), "n", "-1");
        rejects(IndexOutOfBoundsException.class, () -> k.activate(Activation.TANH, ten, 3, 8), "x", "11", "10");
        rejects(IndexOutOfBoundsException.class, () -> k.activate(Activation.TANH, ten, -1, 2), "x", "offset");
        rejects(IndexOutOfBoundsException.class, () -> k.softmax(ten, Long.MAX_VALUE, 2), "x");
        rejects(IndexOutOfBoundsException.class, () -> k.dot(ten, 0, floats(9), 0, 10), "b", "10", "9");
        rejects(IndexOutOfBoundsException.class, () -> k.axpy(10, 1f, ten, 1, floats(10), 0), "x");
        rejects(IllegalArgumentException.class, () -> k.axpy(-3, 1f, ten, 0, ten, 0), "n");
        rejects(NullPointerException.class, () -> k.activate(null, ten, 0, 1));
        // n == 0 touches nothing, even at the very end of a segment.
        k.activate(Activation.TANH, ten, 10, 0);
        assertEquals(0f, k.dot(ten, 10, ten, 10, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void gemvAndSgemm(Kernels k) {
        MemorySegment big = floats(1000);
        rejects(IllegalArgumentException.class, () -> k.gemv(false, 3, 5, 1f, big, 0, 4, big, 0, 0f, big, 0),
                "lda", "5", "4");
        rejects(IllegalArgumentException.class, () -> k.gemv(false, -1, 5, 1f, big, 0, 5, big, 0, 0f, big, 0), "m");
        // 3 x 5 with lda 7 needs 2 * 7 + 5 = 19 floats.
        rejects(IndexOutOfBoundsException.class,
                () -> k.gemv(false, 3, 5, 1f, floats(18), 0, 7, big, 0, 0f, big, 0), "a", "19", "18");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gemv(true, 3, 5, 1f, big, 0, 5, floats(2), 0, 0f, big, 0), "x", "3");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gemv(true, 3, 5, 1f, big, 0, 5, big, 0, 0f, floats(4), 0), "y", "5");

        rejects(IllegalArgumentException.class,
                () -> k.sgemm(false, false, 2, 3, 4, 1f, big, 0, 3, big, 0, 3, 0f, big, 0, 3), "lda", "4");
        rejects(IllegalArgumentException.class,
                () -> k.sgemm(true, false, 2, 3, 4, 1f, big, 0, 1, big, 0, 3, 0f, big, 0, 3), "lda", "2");
        rejects(IllegalArgumentException.class,
                () -> k.sgemm(false, true, 2, 3, 4, 1f, big, 0, 4, big, 0, 3, 0f, big, 0, 3), "ldb", "4");
        rejects(IllegalArgumentException.class,
                () -> k.sgemm(false, false, 2, 3, 4, 1f, big, 0, 4, big, 0, 3, 0f, big, 0, 2), "ldc", "3");
        rejects(IllegalArgumentException.class,
                () -> k.sgemm(false, false, 2, 3, -4, 1f, big, 0, 4, big, 0, 3, 0f, big, 0, 3), "k");
        rejects(IndexOutOfBoundsException.class,
                () -> k.sgemm(false, false, 2, 3, 4, 1f, big, 0, 4, floats(11), 0, 3, 0f, big, 0, 3), "b", "12");
        rejects(IndexOutOfBoundsException.class,
                () -> k.sgemm(false, false, 2, 3, 4, 1f, big, 0, 4, big, 0, 3, 0f, floats(7), 2, 3), "c", "6");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void cells(Kernels k) {
        MemorySegment big = floats(1000);
        Activation t = Activation.TANH;
        Activation s = Activation.SIGMOID;
        rejects(IndexOutOfBoundsException.class, () -> k.lstmCell(floats(39), 0, big, 0, big, 0, 10, t, s),
                "gates", "40", "39");
        rejects(IndexOutOfBoundsException.class, () -> k.lstmCell(big, 0, floats(9), 0, big, 0, 10, t, s), "c");
        rejects(IndexOutOfBoundsException.class, () -> k.lstmCell(big, 0, big, 0, big, 995, 10, t, s), "h");
        rejects(IllegalArgumentException.class, () -> k.lstmCell(big, 0, big, 0, big, 0, -1, t, s), "units");
        rejects(NullPointerException.class, () -> k.lstmCell(big, 0, big, 0, big, 0, 1, null, s));
        rejects(IndexOutOfBoundsException.class,
                () -> k.lstmCellBackward(floats(39), 0, big, 0, big, 0, big, 0, big, 0, big, 0, 10, t, s), "gates", "40");
        rejects(IndexOutOfBoundsException.class,
                () -> k.lstmCellBackward(big, 0, big, 0, floats(9), 0, big, 0, big, 0, big, 0, 10, t, s), "actC");
        rejects(IndexOutOfBoundsException.class,
                () -> k.lstmCellBackward(big, 0, big, 0, big, 0, big, 0, big, 995, big, 0, 10, t, s), "dc");
        rejects(IndexOutOfBoundsException.class,
                () -> k.lstmCellBackward(big, 0, big, 0, big, 0, big, 0, big, 0, big, 961, 10, t, s), "dz");
        rejects(IllegalArgumentException.class,
                () -> k.lstmCellBackward(big, 0, big, 0, big, 0, big, 0, big, 0, big, 0, -1, t, s), "units");
        rejects(NullPointerException.class,
                () -> k.lstmCellBackward(big, 0, big, 0, big, 0, big, 0, big, 0, big, 0, 1, t, null));
        rejects(IndexOutOfBoundsException.class,
                () -> k.gruCellResetAfter(big, 0, floats(29), 0, big, 0, 10, t, s), "hp", "30");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gruGatesResetBefore(big, 0, floats(19), 0, big, 0, big, 0, 10, s), "hp", "20");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gruGatesResetBefore(big, 0, big, 0, big, 0, floats(9), 0, 10, s), "rh");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gruFinishResetBefore(floats(29), 0, big, 0, big, 0, 10, t), "xp", "30");
        rejects(IndexOutOfBoundsException.class,
                () -> k.gruFinishResetBefore(big, 0, floats(9), 0, big, 0, 10, t), "hpH");
    }
}
