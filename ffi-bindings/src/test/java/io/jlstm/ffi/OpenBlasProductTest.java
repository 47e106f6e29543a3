package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * sgemm and sgemv of both libraries against a naive double-precision twin: every transpose combination,
 * tight and padded leading dimensions, zero and non-zero offsets, beta 0 and non-zero. Padding of the
 * inputs holds NaN (a read outside the matrix poisons the result) and padding of the output a sentinel
 * (a write outside the matrix is caught).
 */
class OpenBlasProductTest {

    private static final float SENTINEL = 12345.5f;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /** One stored operand: off floats, rows x cols with leading dimension ld, a tail of padding. */
    private record Stored(MemorySegment segment, long off, int rows, int cols, int ld) {
        float get(int r, int c) {
            return segment.getAtIndex(F, off + (long) r * ld + c);
        }

        /** The matrix as a dense heap array (the naive loops run fast on it before they are compiled). */
        double[][] copy(boolean transposed) {
            double[][] m = transposed ? new double[cols][rows] : new double[rows][cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    if (transposed) {
                        m[c][r] = get(r, c);
                    } else {
                        m[r][c] = get(r, c);
                    }
                }
            }
            return m;
        }
    }

    /** A random rows x cols matrix whose padding holds fill. */
    private static Stored stored(Arena arena, Random random, int rows, int cols, boolean padded, float fill) {
        int ld = Math.max(1, cols) + (padded ? 3 : 0);
        long off = padded ? 5 : 0;
        long size = Math.max(1, off + (long) rows * ld + (padded ? 2 : 0));
        MemorySegment s = arena.allocate(size * Float.BYTES, Float.BYTES);
        for (long i = 0; i < size; i++) {
            s.setAtIndex(F, i, fill);
        }
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                s.setAtIndex(F, off + (long) r * ld + c, random.nextFloat() * 2 - 1);
            }
        }
        return new Stored(s, off, rows, cols, ld);
    }

    static Stream<Arguments> gemmCases() {
        int[][] shapes = {{1, 1, 1}, {7, 13, 37}, {37, 1021, 5}, {13, 5, 1021}, {64, 64, 64}, {3, 4, 0}, {0, 5, 3},
                {5, 0, 3}};
        return Stream.of("bundled", "system").flatMap(lib -> Stream.of(shapes)
                .map(s -> Arguments.of(lib, s[0], s[1], s[2])));
    }

    @ParameterizedTest(name = "{0} m={1} n={2} k={3}")
    @MethodSource("gemmCases")
    void sgemmMatchesNaive(String which, int m, int n, int k) {
        OpenBlas blas = TestLibraries.named(which);
        Random random = new Random(31L * m + 7L * n + k);
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                for (boolean padded : new boolean[] {false, true}) {
                    for (float beta : new float[] {0f, 0.75f}) {
                        String variant = which + " m=" + m + " n=" + n + " k=" + k + " transA=" + transA
                                + " transB=" + transB + " padded=" + padded + " beta=" + beta;
                        try (Arena arena = Arena.ofConfined()) {
                            Stored a = transA ? stored(arena, random, k, m, padded, Float.NaN)
                                    : stored(arena, random, m, k, padded, Float.NaN);
                            Stored b = transB ? stored(arena, random, n, k, padded, Float.NaN)
                                    : stored(arena, random, k, n, padded, Float.NaN);
                            // beta == 0: C's old values must not be read, so make them NaN.
                            Stored c = stored(arena, random, m, n, padded, SENTINEL);
                            if (beta == 0f) {
                                fillInside(c, Float.NaN);
                            }
                            float alpha = -1.25f;
                            double[][] opA = a.copy(transA);  // m x k
                            double[][] opB = b.copy(transB);  // k x n
                            double[][] expected = new double[m][n];
                            double[][] scale = new double[m][n];
                            for (int i = 0; i < m; i++) {
                                for (int j = 0; j < n; j++) {
                                    double sum = 0;
                                    double abs = 0;
                                    for (int p = 0; p < k; p++) {
                                        double product = opA[i][p] * opB[p][j];
                                        sum += product;
                                        abs += Math.abs(product);
                                    }
                                    double old = beta == 0f ? 0 : c.get(i, j);
                                    expected[i][j] = alpha * sum + beta * old;
                                    scale[i][j] = Math.abs(alpha) * abs + Math.abs(beta * old);
                                }
                            }
                            blas.sgemm(transA, transB, m, n, k, alpha, a.segment(), a.off(), a.ld(),
                                    b.segment(), b.off(), b.ld(), beta, c.segment(), c.off(), c.ld());
                            for (int i = 0; i < m; i++) {
                                for (int j = 0; j < n; j++) {
                                    assertClose(expected[i][j], c.get(i, j), scale[i][j], k,
                                            variant + " at C[" + i + "][" + j + "]");
                                }
                            }
                            assertPaddingUntouched(c, variant);
                        }
                    }
                }
            }
        }
    }

    static Stream<Arguments> gemvCases() {
        int[][] shapes = {{1, 1}, {7, 13}, {37, 1021}, {1021, 37}, {256, 1024}, {0, 5}, {5, 0}};
        return Stream.of("bundled", "system").flatMap(lib -> Stream.of(shapes)
                .map(s -> Arguments.of(lib, s[0], s[1])));
    }

    @ParameterizedTest(name = "{0} m={1} n={2}")
    @MethodSource("gemvCases")
    void sgemvMatchesNaive(String which, int m, int n) {
        OpenBlas blas = TestLibraries.named(which);
        Random random = new Random(17L * m + n);
        for (boolean trans : new boolean[] {false, true}) {
            for (boolean padded : new boolean[] {false, true}) {
                for (float beta : new float[] {0f, -0.5f}) {
                    String variant = which + " m=" + m + " n=" + n + " trans=" + trans + " padded=" + padded
                            + " beta=" + beta;
                    int xLength = trans ? m : n;
                    int yLength = trans ? n : m;
                    try (Arena arena = Arena.ofConfined()) {
                        Stored a = stored(arena, random, m, n, padded, Float.NaN);
                        // Vectors as 1 x length matrices: same padding scheme.
                        Stored x = stored(arena, random, 1, xLength, padded, Float.NaN);
                        Stored y = stored(arena, random, 1, yLength, padded, SENTINEL);
                        if (beta == 0f) {
                            fillInside(y, Float.NaN);
                        }
                        float alpha = 0.625f;
                        double[][] opA = a.copy(trans);  // yLength x xLength
                        double[] xs = x.copy(false)[0];
                        double[] expected = new double[yLength];
                        double[] scale = new double[yLength];
                        for (int i = 0; i < yLength; i++) {
                            double sum = 0;
                            double abs = 0;
                            for (int p = 0; p < xLength; p++) {
                                double product = opA[i][p] * xs[p];
                                sum += product;
                                abs += Math.abs(product);
                            }
                            double old = beta == 0f ? 0 : y.get(0, i);
                            expected[i] = alpha * sum + beta * old;
                            scale[i] = Math.abs(alpha) * abs + Math.abs(beta * old);
                        }
                        blas.sgemv(trans, m, n, alpha, a.segment(), a.off(), a.ld(), x.segment(), x.off(), beta,
                                y.segment(), y.off());
                        for (int i = 0; i < yLength; i++) {
                            assertClose(expected[i], y.get(0, i), scale[i], xLength, variant + " at y[" + i + "]");
                        }
                        assertPaddingUntouched(y, variant);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"bundled", "system"})
    void reportsConfigAndThreads(String which) {
        OpenBlas blas = TestLibraries.named(which);
        assertTrue(blas.config().contains("OpenBLAS"), blas.config());
        assertTrue(!blas.coreName().isBlank(), blas.coreName());
        int before = blas.numThreads();
        assertTrue(before >= 1, "numThreads " + before);
        try {
            blas.setNumThreads(1);
            assertEquals(1, blas.numThreads());
        } finally {
            blas.setNumThreads(before);
        }
        System.out.println(which + ": " + blas.path() + " | " + blas.config() + " | core " + blas.coreName()
                + " | threads " + before);
    }

    @Test
    void bothLibrariesAgreeOnALargeProduct() {
        OpenBlas system = TestLibraries.systemOrSkip();
        OpenBlas bundled = TestLibraries.bundled();
        int m = 129, n = 257, k = 65;
        try (Arena arena = Arena.ofConfined()) {
            Random random = new Random(5);
            MemorySegment a = random(arena, random, (long) m * k);
            MemorySegment b = random(arena, random, (long) k * n);
            MemorySegment c1 = arena.allocate((long) m * n * Float.BYTES);
            MemorySegment c2 = arena.allocate((long) m * n * Float.BYTES);
            system.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c1, 0, n);
            bundled.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c2, 0, n);
            for (long i = 0; i < (long) m * n; i++) {
                assertEquals(c1.getAtIndex(F, i), c2.getAtIndex(F, i), 1e-4f, "C[" + i + "]");
            }
        }
    }

    private static MemorySegment random(Arena arena, Random random, long floats) {
        MemorySegment s = arena.allocate(floats * Float.BYTES);
        for (long i = 0; i < floats; i++) {
            s.setAtIndex(F, i, random.nextFloat() * 2 - 1);
        }
        return s;
    }

    private static void fillInside(Stored s, float value) {
        for (int r = 0; r < s.rows(); r++) {
            for (int c = 0; c < s.cols(); c++) {
                s.segment().setAtIndex(F, s.off() + (long) r * s.ld() + c, value);
            }
        }
    }

    /** Every float of the segment outside the rows x cols matrix still holds the sentinel. */
    private static void assertPaddingUntouched(Stored s, String variant) {
        long size = s.segment().byteSize() / Float.BYTES;
        for (long i = 0; i < size; i++) {
            long rel = i - s.off();
            boolean inside = rel >= 0 && rel / s.ld() < s.rows() && rel % s.ld() < s.cols();
            if (!inside && s.segment().getAtIndex(F, i) != SENTINEL) {
                fail(variant + ": float " + i + " outside the output matrix was written: " + s.segment().getAtIndex(F, i));
            }
        }
    }

    /** Forward error bound of a length-k float dot product, with room to spare. */
    private static void assertClose(double expected, float actual, double scale, int k, String where) {
        double tolerance = 4 * (k + 2) * 0x1p-24 * scale + 1e-30;
        if (!(Math.abs(actual - expected) <= tolerance)) {
            fail(where + ": expected " + expected + ", got " + actual + " (tolerance " + tolerance + ")");
        }
    }
}
