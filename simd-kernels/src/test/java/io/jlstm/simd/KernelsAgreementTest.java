package io.jlstm.simd;

import static io.jlstm.simd.Fixtures.LENGTHS;
import static io.jlstm.simd.Fixtures.SPECIALS;
import static io.jlstm.simd.Fixtures.random;
import static io.jlstm.simd.Fixtures.read;
import static io.jlstm.simd.Fixtures.segment;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Scalar twin and vector kernels side by side, at every width, on the same seeded data with
 * non-zero offsets and prime lengths. Where both do the same float operations in the same order
 * (activations, axpy, gemv transposed, the fused cells) they must agree bit for bit; reductions
 * are summed in a different order, so there a tolerance applies.
 */
class KernelsAgreementTest {
    private static final Kernels SCALAR = KernelProvider.scalar();
    private static final int PAD = 3;

    private static void assertBitwise(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i];
            float a = actual[i];
            boolean same = Float.isNaN(e) ? Float.isNaN(a) : Float.floatToRawIntBits(e) == Float.floatToRawIntBits(a);
            int index = i;
            assertTrue(same, () -> what + " [" + index + "]: scalar " + e + " vector " + a);
        }
    }

    private static void assertClose(float[] expected, float[] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(expected[i] - actual[i]);
            int index = i;
            assertTrue(d <= tol * (1 + Math.abs(expected[i])),
                    () -> what + " [" + index + "]: scalar " + expected[index] + " vector " + actual[index]);
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void activationsAreBitwiseEqual(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(42);
        for (Activation a : Activation.values()) {
            for (int n : LENGTHS) {
                float[] data = random(rnd, n, -12f, 12f);
                MemorySegment s1 = segment(data, PAD);
                MemorySegment s2 = segment(data, PAD);
                SCALAR.activate(a, s1, PAD, n);
                v.activate(a, s2, PAD, n);
                assertBitwise(read(s1, 0, n + 2 * PAD), read(s2, 0, n + 2 * PAD), a + " n=" + n);
            }
            // Special values, repeated so that they land in vector lanes as well as in the tail.
            float[] specials = new float[SPECIALS.length * 3];
            for (int i = 0; i < specials.length; i++) {
                specials[i] = SPECIALS[i % SPECIALS.length];
            }
            MemorySegment s1 = segment(specials, 1);
            MemorySegment s2 = segment(specials, 1);
            SCALAR.activate(a, s1, 1, specials.length);
            v.activate(a, s2, 1, specials.length);
            float[] out = read(s2, 1, specials.length);
            assertBitwise(read(s1, 1, specials.length), out, a + " specials");
            for (int i = 0; i < specials.length; i++) {
                if (Float.isNaN(specials[i])) {
                    assertTrue(Float.isNaN(out[i]), a + ": NaN must stay NaN");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void tanhKeepsTheSignOfZeroInVectorLanes(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        float[] zeros = new float[64];
        java.util.Arrays.fill(zeros, -0f);
        MemorySegment s = segment(zeros, 0);
        v.activate(Activation.TANH, s, 0, zeros.length);
        for (float f : read(s, 0, zeros.length)) {
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(f));
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void softmaxDotAxpyAgree(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(7);
        for (int n : LENGTHS) {
            float[] x = random(rnd, n, -20f, 20f);
            float[] y = random(rnd, n, -1f, 1f);
            MemorySegment s1 = segment(x, PAD);
            MemorySegment s2 = segment(x, PAD);
            SCALAR.softmax(s1, PAD, n);
            v.softmax(s2, PAD, n);
            assertClose(read(s1, 0, n + 2 * PAD), read(s2, 0, n + 2 * PAD), 1e-6, "softmax n=" + n);

            MemorySegment xs = segment(x, PAD);
            MemorySegment ys = segment(y, 5);
            float d1 = SCALAR.dot(xs, PAD, ys, 5, n);
            float d2 = v.dot(xs, PAD, ys, 5, n);
            double mag = 0;
            for (int i = 0; i < n; i++) {
                mag += Math.abs(x[i] * y[i]);
            }
            assertEquals(d1, d2, 1e-6 * (1 + mag), "dot n=" + n);

            MemorySegment y1 = segment(y, 5);
            MemorySegment y2 = segment(y, 5);
            SCALAR.axpy(n, -0.75f, xs, PAD, y1, 5);
            v.axpy(n, -0.75f, xs, PAD, y2, 5);
            assertBitwise(read(y1, 0, n + 10), read(y2, 0, n + 10), "axpy n=" + n);
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void gemvAgrees(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(11);
        int[][] shapes = {{1, 1}, {7, 13}, {13, 7}, {37, 1021}, {1021, 37}, {4, 64}, {64, 256}};
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int lda = n + 3;
            float[] a = random(rnd, m * lda, -1f, 1f);
            for (boolean trans : new boolean[] {false, true}) {
                int xl = trans ? m : n;
                int yl = trans ? n : m;
                float[] x = random(rnd, xl, -1f, 1f);
                float[] y = random(rnd, yl, -1f, 1f);
                for (float beta : new float[] {0f, 1f, 0.5f}) {
                    MemorySegment as = segment(a, 2);
                    MemorySegment xs = segment(x, 1);
                    MemorySegment y1 = segment(y, 4);
                    MemorySegment y2 = segment(y, 4);
                    SCALAR.gemv(trans, m, n, 1.5f, as, 2, lda, xs, 1, beta, y1, 4);
                    v.gemv(trans, m, n, 1.5f, as, 2, lda, xs, 1, beta, y2, 4);
                    String what = "gemv trans=" + trans + " " + m + "x" + n + " beta=" + beta;
                    if (trans) {
                        assertBitwise(read(y1, 0, yl + 8), read(y2, 0, yl + 8), what);
                    } else {
                        assertClose(read(y1, 0, yl + 8), read(y2, 0, yl + 8), 2e-6 * Math.sqrt(n + 1), what);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void sgemmAgrees(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(13);
        int[][] shapes = {{1, 1, 1}, {7, 13, 37}, {37, 1021, 5}, {13, 100, 64}, {5, 48, 3}, {9, 67, 0}};
        for (int[] shape : shapes) {
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0;
                boolean tb = (t & 2) != 0;
                int m = shape[0];
                int n = shape[1];
                int k = shape[2];
                int lda = (ta ? m : k) + 2;
                int ldb = (tb ? k : n) + 1;
                int ldc = n + 5;
                float[] a = random(rnd, (ta ? k : m) * lda, -1f, 1f);
                float[] b = random(rnd, (tb ? n : k) * ldb, -1f, 1f);
                float[] c = random(rnd, m * ldc, -1f, 1f);
                MemorySegment as = segment(a, 1);
                MemorySegment bs = segment(b, 2);
                MemorySegment c1 = segment(c, 3);
                MemorySegment c2 = segment(c, 3);
                SCALAR.sgemm(ta, tb, m, n, k, 0.5f, as, 1, lda, bs, 2, ldb, 0.25f, c1, 3, ldc);
                v.sgemm(ta, tb, m, n, k, 0.5f, as, 1, lda, bs, 2, ldb, 0.25f, c2, 3, ldc);
                assertClose(read(c1, 0, c.length + 6), read(c2, 0, c.length + 6), 2e-6 * Math.sqrt(k + 1),
                        "sgemm " + ta + "/" + tb + " " + m + "x" + n + "x" + k);
            }
        }
    }

    /** The LSTM backward row: every width gives the scalar kernels' bits, for every activation pair. */
    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void lstmBackwardIsBitwiseEqual(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(23);
        for (Activation act : Activation.values()) {
            for (Activation rec : Activation.values()) {
                for (int u : new int[] {0, 1, 7, 13, 37, 300}) {
                    String what = act + "/" + rec + " units=" + u;
                    float[] gates = new float[4 * u];
                    for (int i = 0; i < gates.length; i++) { // activated gates: outputs in each activation's range
                        Activation a = i / Math.max(1, u) == 2 ? act : rec;
                        gates[i] = a.apply(rnd.nextFloat() * 8 - 4);
                    }
                    float[] actC = new float[u];
                    for (int i = 0; i < u; i++) {
                        actC[i] = act.apply(rnd.nextFloat() * 4 - 2);
                    }
                    float[] cPrev = random(rnd, u, -2f, 2f);
                    float[] dh = random(rnd, u, -1f, 1f);
                    float[] dc = random(rnd, u, -1f, 1f);
                    MemorySegment dc1 = segment(dc, 1);
                    MemorySegment dc2 = segment(dc, 1);
                    MemorySegment dz1 = segment(new float[4 * u], 2);
                    MemorySegment dz2 = segment(new float[4 * u], 2);
                    SCALAR.lstmCellBackward(segment(gates, 3), 3, segment(cPrev, 0), 0, segment(actC, 2), 2,
                            segment(dh, 1), 1, dc1, 1, dz1, 2, u, act, rec);
                    v.lstmCellBackward(segment(gates, 3), 3, segment(cPrev, 0), 0, segment(actC, 2), 2,
                            segment(dh, 1), 1, dc2, 1, dz2, 2, u, act, rec);
                    assertBitwise(read(dc1, 0, u + 2), read(dc2, 0, u + 2), "lstm backward dc " + what);
                    assertBitwise(read(dz1, 0, 4 * u + 4), read(dz2, 0, 4 * u + 4), "lstm backward dz " + what);
                }
            }
        }
    }

    /**
     * The tanh/sigmoid LSTM cell, which the vector kernels run in one pass with the activations in
     * registers, on every special input (zeros, subnormals, the tiny cut-off, the clamp, infinities,
     * NaNs) in every gate and in c.
     */
    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void defaultCellIsBitwiseEqualOnSpecialInputs(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        int n = SPECIALS.length;
        for (int u : new int[] {n, 64, 301}) {
            for (int shift = 0; shift < 4; shift++) {
                float[] gates = new float[4 * u];
                float[] c = new float[u];
                for (int i = 0; i < gates.length; i++) {
                    gates[i] = SPECIALS[(i * 7 + shift) % n];
                }
                for (int i = 0; i < u; i++) {
                    c[i] = SPECIALS[(i * 3 + 5 * shift) % n];
                }
                MemorySegment c1 = segment(c, 1);
                MemorySegment c2 = segment(c, 1);
                MemorySegment h1 = segment(new float[u], 3);
                MemorySegment h2 = segment(new float[u], 3);
                SCALAR.lstmCell(segment(gates, 2), 2, c1, 1, h1, 3, u, Activation.TANH, Activation.SIGMOID);
                v.lstmCell(segment(gates, 2), 2, c2, 1, h2, 3, u, Activation.TANH, Activation.SIGMOID);
                String what = "units=" + u + " shift=" + shift;
                assertBitwise(read(c1, 0, u + 2), read(c2, 0, u + 2), "lstm c " + what);
                assertBitwise(read(h1, 0, u + 6), read(h2, 0, u + 6), "lstm h " + what);
            }
        }
    }

    @ParameterizedTest(name = "{0} bits")
    @ValueSource(ints = {128, 256, 512})
    void cellsAreBitwiseEqual(int bits) {
        Kernels v = Fixtures.vectorOrSkip(bits);
        Random rnd = new Random(17);
        // 300 and 1021 cross a strip boundary; 16 and 17 are one 512-bit vector (with and without a
        // scalar tail), the pipelined default cell's shortest loop
        int[] unitCounts = {0, 1, 7, 13, 16, 17, 37, 300, 1021};
        for (Activation act : Activation.values()) {
            for (Activation rec : Activation.values()) {
                for (int u : unitCounts) {
                    String what = act + "/" + rec + " units=" + u;
                    // LSTM
                    float[] gates = random(rnd, 4 * u, -4f, 4f);
                    float[] c = random(rnd, u, -2f, 2f);
                    MemorySegment g1 = segment(gates, 2);
                    MemorySegment g2 = segment(gates, 2);
                    MemorySegment c1 = segment(c, 1);
                    MemorySegment c2 = segment(c, 1);
                    MemorySegment h1 = segment(new float[u], 3);
                    MemorySegment h2 = segment(new float[u], 3);
                    SCALAR.lstmCell(g1, 2, c1, 1, h1, 3, u, act, rec);
                    v.lstmCell(g2, 2, c2, 1, h2, 3, u, act, rec);
                    assertBitwise(read(c1, 0, u + 2), read(c2, 0, u + 2), "lstm c " + what);
                    assertBitwise(read(h1, 0, u + 6), read(h2, 0, u + 6), "lstm h " + what);

                    // GRU, reset_after = true
                    float[] xp = random(rnd, 3 * u, -3f, 3f);
                    float[] hp = random(rnd, 3 * u, -3f, 3f);
                    float[] h = random(rnd, u, -1f, 1f);
                    h1 = segment(h, 1);
                    h2 = segment(h, 1);
                    SCALAR.gruCellResetAfter(segment(xp, 2), 2, segment(hp, 4), 4, h1, 1, u, act, rec);
                    v.gruCellResetAfter(segment(xp, 2), 2, segment(hp, 4), 4, h2, 1, u, act, rec);
                    assertBitwise(read(h1, 0, u + 2), read(h2, 0, u + 2), "gru after " + what);

                    // GRU, reset_after = false: both halves
                    float[] hp2 = random(rnd, 2 * u, -3f, 3f);
                    float[] hpH = random(rnd, u, -3f, 3f);
                    MemorySegment x1 = segment(xp, 2);
                    MemorySegment x2 = segment(xp, 2);
                    MemorySegment rh1 = segment(new float[u], 1);
                    MemorySegment rh2 = segment(new float[u], 1);
                    h1 = segment(h, 1);
                    h2 = segment(h, 1);
                    SCALAR.gruGatesResetBefore(x1, 2, segment(hp2, 3), 3, h1, 1, rh1, 1, u, rec);
                    v.gruGatesResetBefore(x2, 2, segment(hp2, 3), 3, h2, 1, rh2, 1, u, rec);
                    assertBitwise(read(x1, 0, 3 * u + 4), read(x2, 0, 3 * u + 4), "gru gates xp " + what);
                    assertBitwise(read(rh1, 0, u + 2), read(rh2, 0, u + 2), "gru gates rh " + what);
                    SCALAR.gruFinishResetBefore(x1, 2, segment(hpH, 1), 1, h1, 1, u, act);
                    v.gruFinishResetBefore(x2, 2, segment(hpH, 1), 1, h2, 1, u, act);
                    assertBitwise(read(h1, 0, u + 2), read(h2, 0, u + 2), "gru finish " + what);
                }
            }
        }
    }
}
