package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
                    kern.gemvPacked(k, n, packed, 2, Fixtures.segment(x, 0), 0, y, 0, split[0], split[1]);
                    for (int j = 0; j < n; j++) {
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
                    kern.gemvPackedBf16(k, n, packed, 6, Fixtures.segment(x, 0), 0, y, 0, split[0], split[1]);
                    for (int j = 0; j < n; j++) {
                        double expected = y0[j];
                        if (j >= split[0] && j < split[1]) {
                            for (int r = 0; r < k; r++) {
                                expected += (double) x[r] * ScalarKernels.fromBf16(ScalarKernels.toBf16(b[1 + r * n + j]));
                            }
                        }
                        assertEquals(expected, y.getAtIndex(Fixtures.F, j), 1e-5 * (1 + k),
                                kern.name() + " bf16 " + k + "x" + n + " column " + j);
                    }
                }
            }
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
            assertThrows(IllegalArgumentException.class, () -> kern.gemvPacked(4, 2 * panel, packed, 0, x, 0, y, 0, 1, 5));
            assertThrows(IllegalArgumentException.class,
                    () -> kern.gemvPacked(4, 2 * panel, packed, 0, x, 0, y, 0, 0, 2 * panel + 1));
            assertThrows(IndexOutOfBoundsException.class, () -> kern.gemvPacked(4, 2 * panel, packed, 1, x, 0, y, 0, 0, panel));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> kern.packPanels(4, 2 * panel, MemorySegment.ofArray(new float[3]), 0, 2 * panel, packed, 0));
        }
    }
}
