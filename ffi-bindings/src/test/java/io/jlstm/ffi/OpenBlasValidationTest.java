package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every argument is checked before the downcall, and the message names it with needed and actual values. */
class OpenBlasValidationTest {

    private static OpenBlas blas;
    private static Arena arena;
    /** 100 floats each. */
    private static MemorySegment a;
    private static MemorySegment b;
    private static MemorySegment c;

    @BeforeAll
    static void setUp() {
        blas = TestLibraries.bundled();
        arena = Arena.ofShared();
        a = arena.allocate(100 * Float.BYTES);
        b = arena.allocate(100 * Float.BYTES);
        c = arena.allocate(100 * Float.BYTES);
    }

    @AfterAll
    static void tearDown() {
        arena.close();
    }

    private static void assertRejected(Executable call, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '" + fragment + "'");
        }
    }

    /** A valid 5 x 6 = (5 x 4)(4 x 6) call, with one thing changed by the caller. */
    private static void gemm(int m, int n, int k, MemorySegment a, long aOff, int lda, MemorySegment b, long bOff,
                             int ldb, MemorySegment c, long cOff, int ldc) {
        blas.sgemm(false, false, m, n, k, 1f, a, aOff, lda, b, bOff, ldb, 0f, c, cOff, ldc);
    }

    @Test
    void validCallPasses() {
        gemm(5, 6, 4, a, 0, 4, b, 0, 6, c, 0, 6);
    }

    @Test
    void negativeDimensions() {
        assertRejected(() -> gemm(-1, 6, 4, a, 0, 4, b, 0, 6, c, 0, 6), "sgemm", "m must be >= 0", "-1");
        assertRejected(() -> gemm(5, -2, 4, a, 0, 4, b, 0, 6, c, 0, 6), "n must be >= 0", "-2");
        assertRejected(() -> gemm(5, 6, -3, a, 0, 4, b, 0, 6, c, 0, 6), "k must be >= 0", "-3");
        assertRejected(() -> blas.sgemv(false, -1, 4, 1f, a, 0, 4, b, 0, 0f, c, 0), "sgemv", "m must be >= 0");
        assertRejected(() -> blas.sgemv(false, 4, -1, 1f, a, 0, 4, b, 0, 0f, c, 0), "n must be >= 0");
    }

    @Test
    void leadingDimensions() {
        assertRejected(() -> gemm(5, 6, 4, a, 0, 3, b, 0, 6, c, 0, 6), "lda must be >= max(1, k", "= 4", "got 3");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 5, c, 0, 6), "ldb must be >= max(1, n", "= 6", "got 5");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, c, 0, 0), "ldc must be >= max(1, n", "= 6", "got 0");
        // Transposed storage changes which dimension bounds the leading dimension.
        assertRejected(() -> blas.sgemm(true, false, 5, 6, 4, 1f, a, 0, 4, b, 0, 6, 0f, c, 0, 6),
                "lda must be >= max(1, m", "= 5", "got 4");
        assertRejected(() -> blas.sgemm(false, true, 5, 6, 4, 1f, a, 0, 4, b, 0, 3, 0f, c, 0, 6),
                "ldb must be >= max(1, k", "= 4", "got 3");
        // k == 0 still needs lda >= 1.
        assertRejected(() -> gemm(5, 6, 0, a, 0, 0, b, 0, 6, c, 0, 6), "lda must be >= max(1, k", "= 1", "got 0");
        assertRejected(() -> blas.sgemv(false, 4, 5, 1f, a, 0, 4, b, 0, 0f, c, 0), "sgemv", "lda", "= 5", "got 4");
    }

    @Test
    void segmentsTooSmall() {
        // A: 5 x 4 at offset 85 needs 85 + 4*4 + 4 = 105 floats, has 100.
        assertRejected(() -> gemm(5, 6, 4, a, 85, 4, b, 0, 6, c, 0, 6), "a is too small", "105", "has 100");
        // B: 4 x 6 with ldb 30 needs 3*30 + 6 = 96 (fits); ldb 32 needs 102.
        gemm(5, 6, 4, a, 0, 4, b, 0, 30, c, 0, 6);
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 32, c, 0, 6), "b is too small", "102", "has 100");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, c, 71, 6), "c is too small", "101", "has 100");
        assertRejected(() -> gemm(5, 6, 4, a, Long.MAX_VALUE, 4, b, 0, 6, c, 0, 6), "a is too small");
        MemorySegment odd = arena.allocate(23);  // 5 whole floats
        assertRejected(() -> blas.sgemv(false, 1, 6, 1f, a, 0, 6, odd, 0, 0f, c, 0), "x is too small", "6", "has 5");
        assertRejected(() -> blas.sgemv(true, 1, 6, 1f, a, 0, 6, b, 0, 0f, c, 95), "y is too small", "101", "has 100");
        assertRejected(() -> blas.sgemv(false, 20, 6, 1f, a, 0, 6, b, 0, 0f, c, 0), "a is too small", "120");
    }

    @Test
    void negativeOffsets() {
        assertRejected(() -> gemm(5, 6, 4, a, -1, 4, b, 0, 6, c, 0, 6), "aOff must be >= 0");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, -1, 6, c, 0, 6), "bOff must be >= 0");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, c, -1, 6), "cOff must be >= 0");
        assertRejected(() -> blas.sgemv(false, 4, 5, 1f, a, 0, 5, b, -1, 0f, c, 0), "xOff must be >= 0");
        assertRejected(() -> blas.sgemv(false, 4, 5, 1f, a, 0, 5, b, 0, 0f, c, -2), "yOff must be >= 0");
    }

    @Test
    void heapSegments() {
        MemorySegment heap = MemorySegment.ofArray(new float[100]);
        assertRejected(() -> gemm(5, 6, 4, heap, 0, 4, b, 0, 6, c, 0, 6), "a is a heap segment", "off-heap");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, heap, 0, 6, c, 0, 6), "b is a heap segment");
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, heap, 0, 6), "c is a heap segment");
        assertRejected(() -> blas.sgemv(false, 4, 5, 1f, a, 0, 5, heap, 0, 0f, c, 0), "x is a heap segment");
    }

    @Test
    void readOnlyOutput() {
        assertRejected(() -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, c.asReadOnly(), 0, 6), "c is read-only");
        assertRejected(() -> blas.sgemv(false, 4, 5, 1f, a, 0, 5, b, 0, 0f, c.asReadOnly(), 0), "y is read-only");
        // Read-only inputs are fine.
        gemm(5, 6, 4, a.asReadOnly(), 0, 4, b.asReadOnly(), 0, 6, c, 0, 6);
    }

    @Test
    void nullSegments() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> gemm(5, 6, 4, null, 0, 4, b, 0, 6, c, 0, 6));
        assertTrue(e.getMessage().contains("a is null"), e.getMessage());
    }

    @Test
    void emptyProductsReturnAtOnceButStillValidate() {
        c.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 7f);
        gemm(0, 6, 4, a, 0, 4, b, 0, 6, c, 0, 6);
        gemm(5, 0, 4, a, 0, 4, b, 0, 1, c, 0, 1);
        assertEquals(7f, c.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
        assertRejected(() -> gemm(0, 6, 4, a, 0, 4, b, 0, 6, c.asReadOnly(), 0, 6), "c is read-only");
    }

    @Test
    void closedArenaIsAnIllegalState() {
        MemorySegment dead;
        try (Arena scratch = Arena.ofConfined()) {
            dead = scratch.allocate(100 * Float.BYTES);
        }
        MemorySegment closed = dead;
        assertThrows(IllegalStateException.class, () -> gemm(5, 6, 4, closed, 0, 4, b, 0, 6, c, 0, 6));
        assertThrows(IllegalStateException.class, () -> gemm(5, 6, 4, a, 0, 4, b, 0, 6, closed, 3, 6));
    }

    @Test
    void threadCountMustBePositive() {
        assertRejected(() -> blas.setNumThreads(0), "n must be >= 1", "got 0");
        assertRejected(() -> blas.setNumThreads(-4), "got -4");
    }
}
