package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The packed batch-1 product against a double-precision x·B, on every implementation. */
class PackedGemvTest {

    @Test
    void packedProductMatchesNaiveOnOddShapesAndSplits() {
        Random rnd = new Random(7);
        for (Kernels kern : Fixtures.implementations()) {
            int panel = kern.panelWidth();
            for (int[] shape : new int[][] {{1, 1}, {7, 13}, {37, 1021}, {64, 1024}, {13, 2 * panel + 5}, {0, 9}, {5, 0}}) {
                int k = shape[0];
                int n = shape[1];
                int ldb = n + 3;
                float[] b = Fixtures.random(rnd, k * ldb + 1, -1, 1);
                float[] x = Fixtures.random(rnd, k, -1, 1);
                float[] y0 = Fixtures.random(rnd, n, -1, 1);
                MemorySegment bs = Fixtures.segment(b, 0);
                MemorySegment packed = MemorySegment.ofArray(new float[(int) kern.packedSize(k, n) + 2]);
                kern.packPanels(k, n, bs, 1, ldb, packed, 2);
                // whole range at once, then split at a panel boundary as two threads would
                int mid = Math.min(n, ((n / 2) / panel) * panel);
                for (int[] split : new int[][] {{0, n}, {0, mid}, {mid, n}}) {
                    MemorySegment y = Fixtures.segment(y0.clone(), 0);
                    kern.gemvPacked(k, n, packed, 2, Fixtures.segment(x, 0), 0, y, 0, split[0], split[1], false);
                    MemorySegment down = Fixtures.segment(y0.clone(), 0);
                    kern.gemvPacked(k, n, packed, 2, Fixtures.segment(x, 0), 0, down, 0, split[0], split[1], true);
                    for (int j = 0; j < n; j++) {
                        assertEquals(y.getAtIndex(Fixtures.F, j), down.getAtIndex(Fixtures.F, j), kern.name()
                                + " descending panels " + k + "x" + n + " range " + split[0] + ".." + split[1]
                                + " column " + j);
                        double expected = y0[j];
                        if (j >= split[0] && j < split[1]) {
                            for (int r = 0; r < k; r++) {
                                expected += (double) x[r] * b[1 + r * ldb + j];
                            }
                        }
                        float actual = y.getAtIndex(Fixtures.F, j);
                        assertEquals(expected, actual, 1e-5 * (1 + k), kern.name() + " " + k + "x" + n + " range "
                                + split[0] + ".." + split[1] + " column " + j);
                    }
                }
            }
        }
    }

    @Test
    void packedGemmEqualsRowByRowGemvBitForBitAndTouchesOnlyItsRange() {
        Random rnd = new Random(13);
        for (Kernels kern : Fixtures.implementations()) {
            int panel = kern.panelWidth();
            // rows that leave every mix of 6-, 4- and 1-row tiles; 120 x 600 runs in row blocks (108 + 12)
            int[][] shapes = {{1, 1, 1}, {5, 7, 13}, {4, 37, 2 * panel}, {9, 64, 1024}, {67, 13, 2 * panel + 5},
                {3, 0, 9}, {0, 5, 9}, {6, 5, 0}, {8, 130, panel / 2 + 3}, {30, 40, 2 * panel}, {34, 17, panel + 7},
                {11, 9, 4 * panel}, {120, 600, 2 * panel + 5}};
            for (int[] shape : shapes) {
                int m = shape[0];
                int k = shape[1];
                int n = shape[2];
                int lda = k + 2;
                int ldc = n + 5;
                // (b holds k x max(1, n): a zero-column matrix still has a leading dimension of 1)
                float[] b = Fixtures.random(rnd, k * Math.max(1, n) + 1, -1, 1);
                float[] a = Fixtures.random(rnd, m * lda + 3, -1, 1);
                float[] c0 = Fixtures.random(rnd, m * ldc + 4, -1, 1);
                MemorySegment packed = MemorySegment.ofArray(new float[(int) kern.packedSize(k, n) + 2]);
                kern.packPanels(k, n, Fixtures.segment(b, 0), 1, Math.max(1, n), packed, 2);
                int mid = Math.min(n, ((n / 2) / panel) * panel);
                for (int[] split : new int[][] {{0, n}, {0, mid}, {mid, n}}) {
                    MemorySegment expected = Fixtures.segment(c0.clone(), 0);
                    for (int i = 0; i < m; i++) {
                        kern.gemvPacked(k, n, packed, 2, Fixtures.segment(a, 0), 3 + (long) i * lda, expected,
                                4 + (long) i * ldc, split[0], split[1], false);
                    }
                    for (boolean descending : new boolean[] {false, true}) {
                        MemorySegment c = Fixtures.segment(c0.clone(), 0);
                        kern.gemmPacked(m, k, n, Fixtures.segment(a, 0), 3, lda, packed, 2, c, 4, ldc, split[0],
                                split[1], descending);
                        for (int e = 0; e < c0.length; e++) {
                            assertEquals(expected.getAtIndex(Fixtures.F, e), c.getAtIndex(Fixtures.F, e),
                                    kern.name() + " " + m + "x" + k + "x" + n + " range " + split[0] + ".." + split[1]
                                            + (descending ? " descending" : "") + " element " + e);
                        }
                    }
                }
            }
        }
    }

    @Test
    void rowSplitIsAValidCutThatKeepsWholeTiles() {
        for (Kernels kern : Fixtures.implementations()) {
            for (int m = 2; m <= 200; m++) {
                int mid = kern.gemmRowSplit(m);
                assertTrue(mid >= 1 && mid < m, kern.name() + " split of " + m + " rows at " + mid);
            }
        }
        assertEquals(32, KernelProvider.scalar().gemmRowSplit(64));
        Kernels wide = Fixtures.vectorOrSkip(512);
        if (VectorKernels.Bits512.WIDE_TILE) {
            // 64 rows: 32 + 32, each 4 six-row tiles and 2 four-row ones; 13 rows: 5 + 8 (a 4-row tile and a
            // row | two 4-row tiles), not 6 + 7 (a 6-row tile and a single row)
            assertEquals(32, wide.gemmRowSplit(64));
            assertEquals(5, wide.gemmRowSplit(13));
        }
    }

    @Test
    void theSixRowTileIsLeftToC2OnHotSpot() {
        Fixtures.vectorOrSkip(512);
        String vm = System.getProperty("java.vm.name", "");
        assumeTrue(vm.contains("HotSpot") || vm.contains("Server VM"),
                "skipping: the compiler directive is HotSpot's, this VM is " + vm);
        assertEquals(null, VectorKernels.Bits512.WIDE_TILE_OFF);
        assertTrue(CompilerDirectives.excludeFromC1("io.jlstm.simd.NoSuchClass::noSuchMethod") == null,
                "a directive for a method that does not exist is accepted too");
    }

    @Test
    void packedGemmRejectsBadShapesBeforeTouchingMemory() {
        for (Kernels kern : Fixtures.implementations()) {
            int panel = kern.panelWidth();
            MemorySegment packed = MemorySegment.ofArray(new float[(int) kern.packedSize(4, 8)]);
            MemorySegment a = MemorySegment.ofArray(new float[2 * 4]);
            MemorySegment c = MemorySegment.ofArray(new float[2 * 8]);
            IllegalArgumentException lda = assertThrows(IllegalArgumentException.class,
                    () -> kern.gemmPacked(2, 4, 8, a, 0, 3, packed, 0, c, 0, 8, 0, 8, false));
            assertTrue(lda.getMessage().contains("lda"), lda.getMessage());
            IndexOutOfBoundsException small = assertThrows(IndexOutOfBoundsException.class,
                    () -> kern.gemmPacked(3, 4, 8, a, 0, 4, packed, 0, c, 0, 8, 0, 8, true));
            assertTrue(small.getMessage().contains("a ("), small.getMessage());
            IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                    () -> kern.gemmPacked(2, 4, 8, a, 0, 4, packed, 0, c, 0, 8, 1, 8, false));
            assertTrue(range.getMessage().contains("panel width " + panel), range.getMessage());
            assertThrows(IndexOutOfBoundsException.class,
                    () -> kern.gemmPacked(2, 4, 8, a, 0, 4, packed, 0, c, 1, 8, 0, 8, true));
        }
    }

    @Test
    void bf16PackedProductMatchesNaiveWithRoundedWeights() {
        Random rnd = new Random(11);
        for (Kernels kern : Fixtures.implementations()) {
            int panel = kern.panelWidth();
            for (int[] shape : new int[][] {{1, 1}, {7, 13}, {37, 1021}, {64, 1024}, {13, 2 * panel + 5}, {0, 9}}) {
                int k = shape[0];
                int n = shape[1];
                float[] b = Fixtures.random(rnd, k * n + 1, -1, 1);
                float[] x = Fixtures.random(rnd, k, -1, 1);
                float[] y0 = Fixtures.random(rnd, n, -1, 1);
                MemorySegment packed = MemorySegment.ofArray(new byte[(int) kern.packedSizeBf16Bytes(k, n) + 6]);
                kern.packPanelsBf16(k, n, Fixtures.segment(b, 0), 1, n, packed, 6);
                int mid = Math.min(n, ((n / 2) / panel) * panel);
                for (int[] split : new int[][] {{0, n}, {0, mid}, {mid, n}}) {
                    MemorySegment y = Fixtures.segment(y0.clone(), 0);
                    kern.gemvPackedBf16(k, n, packed, 6, Fixtures.segment(x, 0), 0, y, 0, split[0], split[1], false);
                    MemorySegment down = Fixtures.segment(y0.clone(), 0);
                    kern.gemvPackedBf16(k, n, packed, 6, Fixtures.segment(x, 0), 0, down, 0, split[0], split[1], true);
                    for (int j = 0; j < n; j++) {
                        assertEquals(y.getAtIndex(Fixtures.F, j), down.getAtIndex(Fixtures.F, j), kern.name()
                                + " bf16 descending panels " + k + "x" + n + " column " + j);
                        double expected = y0[j];
                        if (j >= split[0] && j < split[1]) {
                            for (int r = 0; r < k; r++) {
                                expected += (double) x[r] * decodedBf16(kern, b, 1 + r * n, n, j);
                            }
                        }
                        assertEquals(expected, y.getAtIndex(Fixtures.F, j), 1e-5 * (1 + k),
                                kern.name() + " bf16 " + k + "x" + n + " column " + j);
                    }
                }
            }
        }
    }

    /**
     * The value column {@code j} of the row at {@code b[row..]} decodes to once packed by
     * {@code kern}: rounded to bfloat16, or for the second column of a vector kernel's pair the
     * paired word (its low half the first column's bfloat16 bits).
     */
    private static float decodedBf16(Kernels kern, float[] b, int row, int n, int j) {
        int low = ScalarKernels.toBf16(b[row + j]) & 0xFFFF;
        if (!(kern instanceof VectorKernels)) {
            return ScalarKernels.fromBf16((short) low);
        }
        int l = kern.panelWidth() / 8;
        int inPair = j % (2 * l);
        if (inPair < l) {
            return ScalarKernels.fromBf16((short) low);
        }
        int partner = ScalarKernels.toBf16(b[row + j - l]) & 0xFFFF;
        return ScalarKernels.pairedValue(ScalarKernels.pairedHigh(b[row + j], partner), partner);
    }

    @Test
    void pairedBf16IsAsCloseAsRoundingToBf16() {
        Random rnd = new Random(12);
        float[] edges = {0f, -0f, 1f, -1f, 1f + 0x1p-8f, 1f - 0x1p-9f, 0x1p-126f, 0x1.fffffep127f, -0x1.fffffep127f,
                1e-30f, -3.75e-7f, 65504f, 0.1f};
        for (int i = 0; i < 200_000; i++) {
            float w = i < edges.length ? edges[i]
                    : (float) ((rnd.nextDouble() * 2 - 1) * Math.pow(2, rnd.nextInt(60) - 40));
            int low = i % 7 == 0 ? 0 : i % 7 == 1 ? 0xFFFF : rnd.nextInt(1 << 16);
            float got = ScalarKernels.pairedValue(ScalarKernels.pairedHigh(w, low), low);
            double bound = Math.abs((double) w) * 0x1p-8 + 0x1p-133;
            assertTrue(Float.isFinite(got), "paired value of " + w + " with low " + low + " is " + got);
            assertTrue(Math.abs((double) got - w) <= bound, "paired value of " + w + " with low " + low + " is " + got
                    + ", off by more than 2^-8 of it");
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1.0f, ScalarKernels.fromBf16(ScalarKernels.toBf16(1.0f)));
        // 1 + 2^-8 lies exactly between two bfloat16 values: ties go to the even one (1.0)
        assertEquals(1.0f, ScalarKernels.fromBf16(ScalarKernels.toBf16(1.0f + 0x1p-8f)));
        assertEquals(1.0f + 0x1p-7f, ScalarKernels.fromBf16(ScalarKernels.toBf16(1.0f + 0x1p-8f + 0x1p-12f)));
        assertEquals(Float.POSITIVE_INFINITY, ScalarKernels.fromBf16(ScalarKernels.toBf16(Float.POSITIVE_INFINITY)));
        assertTrue(Float.isNaN(ScalarKernels.fromBf16(ScalarKernels.toBf16(Float.NaN))));
    }

    @Test
    void rangesAndSizesAreChecked() {
        for (Kernels kern : Fixtures.implementations()) {
            int panel = kern.panelWidth();
            MemorySegment packed = MemorySegment.ofArray(new float[(int) kern.packedSize(4, 2 * panel)]);
            MemorySegment x = MemorySegment.ofArray(new float[4]);
            MemorySegment y = MemorySegment.ofArray(new float[2 * panel]);
            assertThrows(IllegalArgumentException.class, () -> kern.gemvPacked(4, 2 * panel, packed, 0, x, 0, y, 0, 1, 5, false));
            assertThrows(IllegalArgumentException.class,
                    () -> kern.gemvPacked(4, 2 * panel, packed, 0, x, 0, y, 0, 0, 2 * panel + 1, true));
            assertThrows(IndexOutOfBoundsException.class, () -> kern.gemvPacked(4, 2 * panel, packed, 1, x, 0, y, 0, 0, panel, false));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> kern.packPanels(4, 2 * panel, MemorySegment.ofArray(new float[3]), 0, 2 * panel, packed, 0));
        }
    }
}
