package io.jlstm.simd;

import static io.jlstm.simd.Fixtures.LENGTHS;
import static io.jlstm.simd.Fixtures.random;
import static io.jlstm.simd.Fixtures.read;
import static io.jlstm.simd.Fixtures.segment;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every implementation against naive double-precision twins of each kernel. */
class KernelsReferenceTest {
    static List<Kernels> implementations() {
        return Fixtures.implementations();
    }

    private static void assertNear(double expected, float actual, double tol, String what) {
        assertTrue(Math.abs(expected - actual) <= tol, () -> what + ": expected " + expected + " got " + actual
                + " (|diff| " + Math.abs(expected - actual) + " > " + tol + ")");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void activations(Kernels k) {
        Random rnd = new Random(1);
        for (Activation a : Activation.values()) {
            for (int n : LENGTHS) {
                float[] x = random(rnd, n, -10f, 10f);
                MemorySegment s = segment(x, 2);
                k.activate(a, s, 2, n);
                float[] out = read(s, 2, n);
                for (int i = 0; i < n; i++) {
                    assertNear(a.applyExact(x[i]), out[i], 1e-6, k + " " + a + "(" + x[i] + ")");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmax(Kernels k) {
        Random rnd = new Random(2);
        for (int n : LENGTHS) {
            float[] x = random(rnd, n, -30f, 30f);
            MemorySegment s = segment(x, 1);
            k.softmax(s, 1, n);
            float[] out = read(s, 1, n);
            double max = Double.NEGATIVE_INFINITY;
            for (float v : x) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (float v : x) {
                sum += Math.exp(v - max);
            }
            double total = 0;
            for (int i = 0; i < n; i++) {
                assertNear(Math.exp(x[i] - max) / sum, out[i], 1e-6, k + " softmax n=" + n + " [" + i + "]");
                total += out[i];
            }
            if (n > 0) {
                assertEquals(1.0, total, 1e-5, k + " softmax sums to 1, n=" + n);
            }
        }
        // Large inputs do not overflow thanks to the max subtraction.
        float[] big = {1000f, 1000f, 999f};
        MemorySegment s = segment(big, 0);
        k.softmax(s, 0, 3);
        double e = Math.exp(-1);
        assertNear(1 / (2 + e), read(s, 0, 3)[0], 1e-6, k + " softmax large");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxEdgeCasesGiveNaN(Kernels k) {
        for (int n : new int[] {1, 5, 37}) {
            float[] nan = random(new Random(3), n, -1f, 1f);
            nan[n / 2] = Float.NaN;
            float[] negInf = new float[n];
            java.util.Arrays.fill(negInf, Float.NEGATIVE_INFINITY);
            for (float[] x : new float[][] {nan, negInf}) {
                MemorySegment s = segment(x, 0);
                k.softmax(s, 0, n);
                for (float v : read(s, 0, n)) {
                    assertTrue(Float.isNaN(v), k + " softmax of NaN / all -inf gives NaN, n=" + n);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void dotAndAxpy(Kernels k) {
        Random rnd = new Random(4);
        for (int n : LENGTHS) {
            float[] x = random(rnd, n, -1f, 1f);
            float[] y = random(rnd, n, -1f, 1f);
            double ref = 0;
            double mag = 0;
            for (int i = 0; i < n; i++) {
                ref += (double) x[i] * y[i];
                mag += Math.abs((double) x[i] * y[i]);
            }
            assertNear(ref, k.dot(segment(x, 3), 3, segment(y, 0), 0, n), 1e-6 * (1 + mag), k + " dot n=" + n);
            MemorySegment ys = segment(y, 2);
            k.axpy(n, 3f, segment(x, 1), 1, ys, 2);
            float[] out = read(ys, 0, n + 4);
            assertEquals(-987.25f, out[n + 3], "axpy stays inside y");
            for (int i = 0; i < n; i++) {
                assertNear(y[i] + 3.0 * x[i], out[i + 2], 1e-6, k + " axpy");
            }
        }
    }

    /** Naive double gemv: op(A) x with A row-major m x n. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void gemv(Kernels k) {
        Random rnd = new Random(5);
        int[][] shapes = {{0, 5}, {5, 0}, {1, 1}, {7, 13}, {37, 1021}, {1021, 37}, {6, 5}};
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int lda = n + 2;
            float[] a = random(rnd, m * lda, -1f, 1f);
            for (boolean trans : new boolean[] {false, true}) {
                int xl = trans ? m : n;
                int yl = trans ? n : m;
                float[] x = random(rnd, xl, -1f, 1f);
                for (float beta : new float[] {0f, 1f, -0.5f}) {
                    float[] y = random(rnd, yl, -1f, 1f);
                    if (beta == 0f && yl > 0) {
                        y[0] = Float.NaN; // beta == 0 must overwrite, not multiply
                    }
                    MemorySegment ys = segment(y, 1);
                    k.gemv(trans, m, n, 0.75f, segment(a, 4), 4, lda, segment(x, 2), 2, beta, ys, 1);
                    float[] out = read(ys, 1, yl);
                    for (int r = 0; r < yl; r++) {
                        double s = 0;
                        double mag = 0;
                        for (int c = 0; c < xl; c++) {
                            double av = trans ? a[c * lda + r] : a[r * lda + c];
                            s += av * x[c];
                            mag += Math.abs(av * x[c]);
                        }
                        double ref = 0.75 * s + (beta == 0f ? 0 : beta * (double) y[r]);
                        assertNear(ref, out[r], 2e-6 * (1 + mag),
                                k + " gemv trans=" + trans + " " + m + "x" + n + " beta=" + beta + " [" + r + "]");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void sgemm(Kernels k) {
        Random rnd = new Random(6);
        int[][] shapes = {{1, 1, 1}, {7, 13, 37}, {37, 1021, 5}, {5, 37, 1021}, {17, 49, 16}, {4, 96, 8},
            {0, 3, 4}, {3, 0, 4}, {3, 4, 0}, {1, 1021, 3}, {13, 1, 7}};
        float[][] alphaBeta = {{1f, 0f}, {0.5f, 2f}, {0f, -1f}, {-1f, 1f}};
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int kk = shape[2];
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0;
                boolean tb = (t & 2) != 0;
                for (float[] ab : alphaBeta) {
                    float alpha = ab[0];
                    float beta = ab[1];
                    int lda = (ta ? m : kk) + 3; // leading dimensions larger than the rows
                    int ldb = (tb ? kk : n) + 1;
                    int ldc = n + 2;
                    float[] a = random(rnd, Math.max(0, (ta ? kk : m) * lda), -1f, 1f);
                    float[] b = random(rnd, Math.max(0, (tb ? n : kk) * ldb), -1f, 1f);
                    float[] c = random(rnd, m * ldc, -1f, 1f);
                    if (beta == 0f && c.length > 0) {
                        c[0] = Float.NaN;
                    }
                    MemorySegment cs = segment(c, 2);
                    k.sgemm(ta, tb, m, n, kk, alpha, segment(a, 1), 1, lda, segment(b, 3), 3, ldb, beta, cs, 2, ldc);
                    float[] out = read(cs, 2, c.length);
                    String what = k + " sgemm transA=" + ta + " transB=" + tb + " " + m + "x" + n + "x" + kk
                            + " alpha=" + alpha + " beta=" + beta;
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < ldc; j++) {
                            if (j >= n) { // padding between rows of C stays untouched
                                assertEquals(c[i * ldc + j], out[i * ldc + j], what + " padding");
                                continue;
                            }
                            double s = 0;
                            double mag = 0;
                            for (int p = 0; p < kk; p++) {
                                double av = ta ? a[p * lda + i] : a[i * lda + p];
                                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                                s += av * bv;
                                mag += Math.abs(av * bv);
                            }
                            double old = c[i * ldc + j];
                            double ref = alpha * s + (beta == 0f ? 0 : beta * old);
                            assertNear(ref, out[i * ldc + j], 2e-6 * (1 + mag + (beta == 0f ? 0 : Math.abs(old))),
                                    what + " [" + i + "," + j + "]");
                        }
                    }
                }
            }
        }
    }

    private static double act(Activation a, double x) {
        return a.applyExact(x);
    }

    /** The LSTM backward row against the chain rule in double, from random gates and states. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void lstmBackwardMatchesTheChainRule(Kernels k) {
        Random rnd = new Random(31);
        for (Activation act : Activation.values()) {
            for (Activation rec : Activation.values()) {
                for (int u : new int[] {1, 13, 37}) {
                    String what = k + " " + act + "/" + rec + " units=" + u;
                    float[] pre = random(rnd, 4 * u, -3f, 3f);
                    float[] gates = new float[4 * u];
                    for (int i = 0; i < gates.length; i++) {
                        gates[i] = (i / u == 2 ? act : rec).apply(pre[i]);
                    }
                    float[] cPrev = random(rnd, u, -2f, 2f);
                    float[] actC = new float[u];
                    for (int j = 0; j < u; j++) {
                        actC[j] = act.apply(gates[u + j] * cPrev[j] + gates[j] * gates[2 * u + j]);
                    }
                    float[] dh = random(rnd, u, -1f, 1f);
                    float[] dc = random(rnd, u, -1f, 1f);
                    MemorySegment dcs = segment(dc, 2);
                    MemorySegment dz = segment(new float[4 * u], 1);
                    k.lstmCellBackward(segment(gates, 0), 0, segment(cPrev, 3), 3, segment(actC, 1), 1, segment(dh, 2), 2,
                            dcs, 2, dz, 1, u, act, rec);
                    float[] dzOut = read(dz, 1, 4 * u);
                    float[] dcOut = read(dcs, 2, u);
                    for (int j = 0; j < u; j++) {
                        double i = gates[j];
                        double f = gates[u + j];
                        double g = gates[2 * u + j];
                        double o = gates[3 * u + j];
                        double a = actC[j];
                        double dcT = dc[j] + dh[j] * o * slope(act, a);
                        double[] want = {dcT * g * slope(rec, i), dcT * cPrev[j] * slope(rec, f),
                            dcT * i * slope(act, g), dh[j] * a * slope(rec, o)};
                        for (int q = 0; q < 4; q++) {
                            assertNear(want[q], dzOut[q * u + j], 1e-5 * (1 + Math.abs(want[q])), what + " dz[" + (q * u + j) + "]");
                        }
                        assertNear(dcT * f, dcOut[j], 1e-5 * (1 + Math.abs(dcT * f)), what + " dc[" + j + "]");
                    }
                }
            }
        }
    }

    /** d act / dx where act outputs {@code y}, in double from the definitions. */
    private static double slope(Activation a, double y) {
        return switch (a) {
            case LINEAR -> 1;
            case RELU -> y > 0 ? 1 : 0;
            case SIGMOID -> y * (1 - y);
            case HARD_SIGMOID -> y > 0 && y < 1 ? 1.0 / 6 : 0;
            case TANH -> 1 - y * y;
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void cellsMatchTheFormulas(Kernels k) {
        Random rnd = new Random(8);
        double tol = 1e-5;
        for (Activation act : Activation.values()) {
            for (Activation rec : Activation.values()) {
                for (int u : new int[] {1, 13, 37}) {
                    String what = k + " " + act + "/" + rec + " units=" + u;
                    float[] gates = random(rnd, 4 * u, -4f, 4f);
                    float[] c = random(rnd, u, -2f, 2f);
                    MemorySegment cs = segment(c, 1);
                    MemorySegment hs = segment(new float[u], 2);
                    k.lstmCell(segment(gates, 3), 3, cs, 1, hs, 2, u, act, rec);
                    float[] cOut = read(cs, 1, u);
                    float[] hOut = read(hs, 2, u);
                    for (int j = 0; j < u; j++) {
                        double i = act(rec, gates[j]);
                        double f = act(rec, gates[u + j]);
                        double g = act(act, gates[2 * u + j]);
                        double o = act(rec, gates[3 * u + j]);
                        double cn = f * c[j] + i * g;
                        double h = o * act(act, cn);
                        assertNear(cn, cOut[j], tol * (1 + Math.abs(cn)), what + " lstm c[" + j + "]");
                        assertNear(h, hOut[j], tol * (1 + Math.abs(h)), what + " lstm h[" + j + "]");
                    }

                    float[] xp = random(rnd, 3 * u, -3f, 3f);
                    float[] hp = random(rnd, 3 * u, -3f, 3f);
                    float[] h0 = random(rnd, u, -1f, 1f);
                    MemorySegment h1 = segment(h0, 1);
                    k.gruCellResetAfter(segment(xp, 0), 0, segment(hp, 5), 5, h1, 1, u, act, rec);
                    float[] out = read(h1, 1, u);
                    for (int j = 0; j < u; j++) {
                        double z = act(rec, xp[j] + hp[j]);
                        double r = act(rec, xp[u + j] + hp[u + j]);
                        double hh = act(act, xp[2 * u + j] + r * hp[2 * u + j]);
                        double h = z * h0[j] + (1 - z) * hh;
                        assertNear(h, out[j], tol * (1 + Math.abs(h)), what + " gru after h[" + j + "]");
                    }

                    float[] hp2 = random(rnd, 2 * u, -3f, 3f);
                    MemorySegment xs = segment(xp, 2);
                    MemorySegment rh = segment(new float[u], 1);
                    MemorySegment h2 = segment(h0, 1);
                    k.gruGatesResetBefore(xs, 2, segment(hp2, 0), 0, h2, 1, rh, 1, u, rec);
                    float[] rhOut = read(rh, 1, u);
                    float[] zOut = read(xs, 2, u);
                    assertEquals(h0[0], read(h2, 1, 1)[0], "h is only read");
                    float[] hpH = new float[u];
                    for (int j = 0; j < u; j++) {
                        double z = act(rec, xp[j] + hp2[j]);
                        double r = act(rec, xp[u + j] + hp2[u + j]);
                        assertNear(z, zOut[j], tol, what + " gru before z[" + j + "]");
                        assertNear(r * h0[j], rhOut[j], tol, what + " gru before rh[" + j + "]");
                        hpH[j] = (float) (rnd.nextFloat() * 2 - 1);
                    }
                    k.gruFinishResetBefore(xs, 2, segment(hpH, 3), 3, h2, 1, u, act);
                    out = read(h2, 1, u);
                    for (int j = 0; j < u; j++) {
                        double z = zOut[j];
                        double hh = act(act, xp[2 * u + j] + (double) hpH[j]);
                        double h = z * h0[j] + (1 - z) * hh;
                        assertNear(h, out[j], tol * (1 + Math.abs(h)), what + " gru finish h[" + j + "]");
                    }
                }
            }
        }
    }
}
