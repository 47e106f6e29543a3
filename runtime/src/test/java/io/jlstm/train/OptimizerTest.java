package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class OptimizerTest {

    // ---------------------------------------------------------------- helpers

    private static float[][] randomArrays(Random rnd, float scale, int... lengths) {
        float[][] a = new float[lengths.length][];
        for (int i = 0; i < lengths.length; i++) {
            a[i] = new float[lengths[i]];
            for (int j = 0; j < lengths[i]; j++) {
                a[i][j] = (rnd.nextFloat() * 2 - 1) * scale;
            }
        }
        return a;
    }

    private static float[][] copy(float[][] a) {
        float[][] c = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    private static void assertClose(double[] expected, float[] actual, double relTol) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            double tol = relTol * Math.max(1e-3, Math.abs(expected[i]));
            assertEquals(expected[i], actual[i], tol, "element " + i);
        }
    }

    /** A gradient sequence where the gradients shrink, so amsgrad's max(v̂, v) matters. */
    private static final float[][] SHRINKING = {{1.0f, -2.0f, 0.5f}, {0.1f, -0.2f, 0.3f}, {0.01f, 0.05f, -0.02f}};
    private static final float[] W0 = {0.5f, -0.3f, 0.8f};

    // ---------------------------------------------------------------- regression: old formulas, bit for bit

    /** The arithmetic of the optimizers before this change, copied verbatim, as the oracle. */
    private interface Legacy {
        void step(float[][] w, float[][] g);
    }

    private static Legacy legacySgd(float lr, float momentum, boolean nesterov) {
        java.util.Map<float[], float[]> vs = new java.util.IdentityHashMap<>();
        return (ws, gs) -> {
            for (int k = 0; k < ws.length; k++) {
                float[] w = ws[k];
                float[] g = gs[k];
                if (momentum == 0) {
                    for (int i = 0; i < w.length; i++) {
                        w[i] -= lr * g[i];
                    }
                    continue;
                }
                float[] v = vs.computeIfAbsent(w, x -> new float[x.length]);
                for (int i = 0; i < w.length; i++) {
                    v[i] = momentum * v[i] - lr * g[i];
                    w[i] += nesterov ? momentum * v[i] - lr * g[i] : v[i];
                }
            }
        };
    }

    private static Legacy legacyRmsProp(float lr, float rho, float epsilon) {
        java.util.Map<float[], float[]> mss = new java.util.IdentityHashMap<>();
        return (ws, gs) -> {
            for (int k = 0; k < ws.length; k++) {
                float[] w = ws[k];
                float[] g = gs[k];
                float[] ms = mss.computeIfAbsent(w, x -> new float[x.length]);
                for (int i = 0; i < w.length; i++) {
                    ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
                    w[i] -= (float) (lr * g[i] / Math.sqrt(ms[i] + epsilon));
                }
            }
        };
    }

    private static Legacy legacyAdam(float lr, float beta1, float beta2, float epsilon, Optimizer.AdamForm form) {
        java.util.Map<float[], float[][]> st = new java.util.IdentityHashMap<>();
        float[] powers = {1f, 1f};
        return (ws, gs) -> {
            powers[0] *= beta1;
            powers[1] *= beta2;
            for (int k = 0; k < ws.length; k++) {
                float[] w = ws[k];
                float[] g = gs[k];
                float[][] s = st.computeIfAbsent(w, x -> new float[][] {new float[x.length], new float[x.length]});
                float[] m = s[0];
                float[] v = s[1];
                double c1 = 1 - (double) powers[0];
                double c2 = 1 - (double) powers[1];
                for (int i = 0; i < w.length; i++) {
                    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                    double delta = form == Optimizer.AdamForm.TFJS
                            ? lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + epsilon)
                            : lr * Math.sqrt(c2) / c1 * m[i] / (Math.sqrt(v[i]) + epsilon);
                    w[i] -= (float) delta;
                }
            }
        };
    }

    private static void assertSameAsLegacy(Optimizer opt, Legacy legacy, long seed) {
        Random rnd = new Random(seed);
        float[][] w = randomArrays(rnd, 1f, 5, 3, 7);
        float[][] wl = copy(w);
        for (int step = 0; step < 6; step++) {
            float[][] g = randomArrays(rnd, 2f, 5, 3, 7);
            float[][] gBefore = copy(g);
            opt.step(w, g);
            legacy.step(wl, g);
            for (int i = 0; i < w.length; i++) {
                assertArrayEquals(wl[i], w[i], 0f, "step " + step + " weight " + i);
                assertArrayEquals(gBefore[i], g[i], 0f, "gradients must not change");
            }
        }
        assertEquals(6, opt.iterations());
    }

    @Test
    void existingConstructorsKeepTheirArithmeticBitForBit() {
        assertSameAsLegacy(new Optimizer.Sgd(0.1f, 0f, false), legacySgd(0.1f, 0f, false), 1);
        assertSameAsLegacy(new Optimizer.Sgd(0.05f, 0.9f, false), legacySgd(0.05f, 0.9f, false), 2);
        assertSameAsLegacy(new Optimizer.Sgd(0.05f, 0.9f, true), legacySgd(0.05f, 0.9f, true), 3);
        assertSameAsLegacy(new Optimizer.RmsProp(0.01f, 0.9f, 1e-7f), legacyRmsProp(0.01f, 0.9f, 1e-7f), 4);
        assertSameAsLegacy(new Optimizer.RmsProp(0.001f, 0.5f, 1e-3f), legacyRmsProp(0.001f, 0.5f, 1e-3f), 5);
        for (Optimizer.AdamForm form : Optimizer.AdamForm.values()) {
            assertSameAsLegacy(new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, form),
                    legacyAdam(0.01f, 0.9f, 0.999f, 1e-7f, form), 6);
            assertSameAsLegacy(new Optimizer.Adam(0.003f, 0.8f, 0.95f, 1e-3f, form),
                    legacyAdam(0.003f, 0.8f, 0.95f, 1e-3f, form), 7);
        }
    }

    @Test
    void newConstructorsWithDefaultsMatchTheOldOnesBitForBit() {
        assertSameAsLegacy(new Optimizer.RmsProp(0.01f, 0.9f, 0f, 1e-7f, false), legacyRmsProp(0.01f, 0.9f, 1e-7f), 8);
        for (Optimizer.AdamForm form : Optimizer.AdamForm.values()) {
            assertSameAsLegacy(new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, form, false),
                    legacyAdam(0.01f, 0.9f, 0.999f, 1e-7f, form), 9);
            assertSameAsLegacy(Optimizer.adamW(0.01f, 0.9f, 0.999f, 1e-7f, 0f, form, false),
                    legacyAdam(0.01f, 0.9f, 0.999f, 1e-7f, form), 10);
        }
        // A constant schedule equal to the learning rate changes nothing.
        assertSameAsLegacy(new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3)
                        .withSchedule(LearningRateSchedule.constant(0.01f)),
                legacyAdam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3), 11);
    }

    // ---------------------------------------------------------------- RMSprop momentum / centered

    /** Keras 3 RMSprop in double precision. */
    private static double[] rmsPropReference(double lr, double rho, double momentum, double eps, boolean centered,
            float[][] grads, double[] w0) {
        double[] w = w0.clone();
        double[] ms = new double[w.length];
        double[] mg = new double[w.length];
        double[] mom = new double[w.length];
        for (float[] g : grads) {
            for (int i = 0; i < w.length; i++) {
                ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
                double denominator;
                if (centered) {
                    mg[i] = rho * mg[i] + (1 - rho) * g[i];
                    denominator = ms[i] - mg[i] * mg[i] + eps;
                } else {
                    denominator = ms[i] + eps;
                }
                double increment = lr * g[i] / Math.sqrt(denominator);
                if (momentum > 0) {
                    mom[i] = momentum * mom[i] + increment;
                    w[i] -= mom[i];
                } else {
                    w[i] -= increment;
                }
            }
        }
        return w;
    }

    private static float[] run(Optimizer opt, float[][] grads) {
        float[] w = W0.clone();
        for (float[] g : grads) {
            opt.step(new float[][] {w}, new float[][] {g});
        }
        return w;
    }

    @Test
    void rmsPropCenteredFirstStepByHand() {
        // g = 1, ρ = 0.9: ms = 0.1, mg = 0.1, denominator = 0.1 − 0.01 + 1e-7; w = 1 − 0.1/sqrt(0.0900001)
        float[] w = {1f};
        new Optimizer.RmsProp(0.1f, 0.9f, 0f, 1e-7f, true).step(new float[][] {w}, new float[][] {{1f}});
        assertEquals(1 - 0.1 / Math.sqrt(0.09 + 1e-7), w[0], 1e-6);
        // Not centered, momentum 0.5, two steps of g = 1: inc1 = 0.1/sqrt(0.1+ε), inc2 = 0.1/sqrt(0.19+ε)
        float[] w2 = {1f};
        Optimizer opt = new Optimizer.RmsProp(0.1f, 0.9f, 0.5f, 1e-7f, false);
        opt.step(new float[][] {w2}, new float[][] {{1f}});
        opt.step(new float[][] {w2}, new float[][] {{1f}});
        double inc1 = 0.1 / Math.sqrt(0.1 + 1e-7);
        double inc2 = 0.1 / Math.sqrt(0.19 + 1e-7);
        assertEquals(1 - inc1 - (0.5 * inc1 + inc2), w2[0], 1e-6);
    }

    @Test
    void rmsPropMomentumAndCenteredMatchKeras3InDouble() {
        for (boolean centered : new boolean[] {false, true}) {
            for (float momentum : new float[] {0f, 0.9f}) {
                Optimizer opt = new Optimizer.RmsProp(0.01f, 0.9f, momentum, 1e-7f, centered);
                double[] expected = rmsPropReference(0.01, 0.9f, momentum, 1e-7f, centered, SHRINKING, toDouble(W0));
                assertClose(expected, run(opt, SHRINKING), 1e-5);
            }
        }
        // centered actually differs from plain
        assertFalse(run(new Optimizer.RmsProp(0.01f, 0.9f, 0f, 1e-7f, true), SHRINKING)[0]
                == run(new Optimizer.RmsProp(0.01f, 0.9f, 0f, 1e-7f, false), SHRINKING)[0]);
    }

    // ---------------------------------------------------------------- Adam amsgrad / AdamW

    /** Adam in double: Keras 3 or tfjs epsilon placement, amsgrad, decoupled weight decay, per-step rates. */
    private static double[] adamReference(double[] rates, double b1, double b2, double eps, Optimizer.AdamForm form,
            boolean amsgrad, double wd, float[][] grads, double[] w0) {
        double[] w = w0.clone();
        double[] m = new double[w.length];
        double[] v = new double[w.length];
        double[] vh = new double[w.length];
        // β powers as float32 products, as the optimizer (and tfjs) keeps them: with β₂ = 0.999 the
        // rounding of 0.999^t in float32 moves 1 − β₂^t by ~1e-5 relative, more than the tolerance.
        float p1 = 1f;
        float p2 = 1f;
        for (int t = 1; t <= grads.length; t++) {
            float[] g = grads[t - 1];
            double lr = rates[t - 1];
            p1 *= (float) b1;
            p2 *= (float) b2;
            double c1 = 1 - (double) p1;
            double c2 = 1 - (double) p2;
            for (int i = 0; i < w.length; i++) {
                w[i] -= lr * wd * w[i];
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                vh[i] = Math.max(vh[i], v[i]);
                double vv = amsgrad ? vh[i] : v[i];
                w[i] -= form == Optimizer.AdamForm.TFJS
                        ? lr * (m[i] / c1) / (Math.sqrt(vv / c2) + eps)
                        : lr * Math.sqrt(c2) / c1 * m[i] / (Math.sqrt(vv) + eps);
            }
        }
        return w;
    }

    private static double[] constantRates(double lr, int n) {
        double[] r = new double[n];
        java.util.Arrays.fill(r, lr);
        return r;
    }

    @Test
    void adamAmsgradMatchesReferenceInBothForms() {
        double[] rates = constantRates(0.1f, SHRINKING.length);
        for (Optimizer.AdamForm form : Optimizer.AdamForm.values()) {
            float[] ams = run(new Optimizer.Adam(0.1f, 0.9f, 0.5f, 1e-7f, form, true), SHRINKING);
            assertClose(adamReference(rates, 0.9f, 0.5f, 1e-7f, form, true, 0, SHRINKING, toDouble(W0)), ams, 1e-5);
            float[] plain = run(new Optimizer.Adam(0.1f, 0.9f, 0.5f, 1e-7f, form, false), SHRINKING);
            assertClose(adamReference(rates, 0.9f, 0.5f, 1e-7f, form, false, 0, SHRINKING, toDouble(W0)), plain, 1e-5);
            // with shrinking gradients v̂ > v from step 2 on, so amsgrad takes smaller steps
            assertTrue(Math.abs(ams[0] - plain[0]) > 1e-4, form + ": amsgrad made no difference");
        }
    }

    @Test
    void adamWFirstStepByHand() {
        // w = 2, g = 1, lr = 0.1, wd = 0.5: decay first, w = 2 − 0.1·0.5·2 = 1.9; then Keras-3 Adam's
        // first step is lr·sqrt(1−β₂)/(1−β₁)·m/(sqrt(v)+ε) with m = (1−β₁), v = (1−β₂): ≈ lr.
        float[] w = {2f};
        Optimizer.adamW(0.1f, 0.9f, 0.999f, 1e-7f, 0.5f).step(new float[][] {w}, new float[][] {{1f}});
        double adam = 0.1 * Math.sqrt(0.001) / 0.1 * 0.1 / (Math.sqrt(0.001) + 1e-7);
        assertEquals(1.9 - adam, w[0], 1e-6);
    }

    @Test
    void adamWMatchesReference() {
        double[] rates = constantRates(0.01f, SHRINKING.length);
        float[] got = run(Optimizer.adamW(0.01f, 0.9f, 0.999f, 1e-7f, 0.004f), SHRINKING);
        assertClose(adamReference(rates, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3, false, 0.004f, SHRINKING,
                toDouble(W0)), got, 1e-5);
        float[] gotAms = run(Optimizer.adamW(0.05f, 0.9f, 0.5f, 1e-7f, 0.1f, Optimizer.AdamForm.TFJS, true), SHRINKING);
        assertClose(adamReference(constantRates(0.05f, 3), 0.9f, 0.5f, 1e-7f, Optimizer.AdamForm.TFJS, true, 0.1f,
                SHRINKING, toDouble(W0)), gotAms, 1e-5);
        float[] noDecay = run(new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3), SHRINKING);
        assertTrue(Math.abs(got[2] - noDecay[2]) > 1e-5, "weight decay made no difference");
    }

    // ---------------------------------------------------------------- gradient clipping

    @Test
    void clipValueClipsElementWiseWithoutTouchingTheCallersGradients() {
        float[] w = {0f, 0f, 0f};
        float[] g = {3f, -0.5f, -4f};
        new Optimizer.Sgd(1f, 0f, false).withClipValue(1f).step(new float[][] {w}, new float[][] {g});
        assertArrayEquals(new float[] {-1f, 0.5f, 1f}, w, 0f);
        assertArrayEquals(new float[] {3f, -0.5f, -4f}, g, 0f);
    }

    @Test
    void clipNormRescalesEachTensorOnItsOwn() {
        float[] w1 = {0f, 0f};
        float[] w2 = {0f, 0f};
        float[] g1 = {3f, 4f}; // norm 5 → scaled to norm 1
        float[] g2 = {0.3f, 0.4f}; // norm 0.5 → unchanged
        Optimizer opt = new Optimizer.Sgd(1f, 0f, false).withClipNorm(1f);
        opt.step(new float[][] {w1, w2}, new float[][] {g1, g2});
        assertArrayEquals(new float[] {-0.6f, -0.8f}, w1, 1e-7f);
        assertArrayEquals(new float[] {-0.3f, -0.4f}, w2, 0f);
        assertArrayEquals(new float[] {3f, 4f}, g1, 0f);
        // second step with the same weights reuses the scratch arrays and still clips correctly
        opt.step(new float[][] {w1, w2}, new float[][] {{0f, -10f}, {0f, 0f}});
        assertArrayEquals(new float[] {-0.6f, 0.2f}, w1, 1e-7f);
        assertArrayEquals(new float[] {-0.3f, -0.4f}, w2, 0f);
    }

    @Test
    void globalClipNormRescalesAllTensorsTogether() {
        float[] w1 = {0f, 0f};
        float[] w2 = {0f, 0f};
        float[] g1 = {3f, 4f};
        float[] g2 = {0.3f, 0.4f};
        new Optimizer.Sgd(1f, 0f, false).withGlobalClipNorm(1f).step(new float[][] {w1, w2}, new float[][] {g1, g2});
        double norm = Math.sqrt(25 + 0.25);
        assertClose(new double[] {-3 / norm, -4 / norm}, w1, 1e-6);
        assertClose(new double[] {-0.3 / norm, -0.4 / norm}, w2, 1e-6);
        assertArrayEquals(new float[] {0.3f, 0.4f}, g2, 0f);
        // under the limit: unchanged
        float[] w3 = {0f};
        new Optimizer.Sgd(1f, 0f, false).withGlobalClipNorm(10f).step(new float[][] {w3}, new float[][] {{2.5f}});
        assertEquals(-2.5f, w3[0], 0f);
        // non-finite global norm: NaN, as TensorFlow's clip_by_global_norm
        float[] w4 = {0f, 0f};
        new Optimizer.Sgd(1f, 0f, false).withGlobalClipNorm(1f)
                .step(new float[][] {w4}, new float[][] {{Float.POSITIVE_INFINITY, 1f}});
        assertTrue(Float.isNaN(w4[0]) && Float.isNaN(w4[1]));
    }

    @Test
    void clippingFeedsAdamTheClippedGradients() {
        float[][] clipped = new float[SHRINKING.length][];
        for (int t = 0; t < SHRINKING.length; t++) {
            clipped[t] = SHRINKING[t].clone();
            double norm = 0;
            for (float x : SHRINKING[t]) {
                norm += (double) x * x;
            }
            norm = Math.sqrt(norm);
            for (int i = 0; i < 3; i++) {
                clipped[t][i] = (float) (SHRINKING[t][i] * 0.5 / Math.max(norm, 0.5));
            }
        }
        float[] got = run(new Optimizer.Adam(0.1f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3).withClipNorm(0.5f),
                SHRINKING);
        assertClose(adamReference(constantRates(0.1f, 3), 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3, false, 0,
                clipped, toDouble(W0)), got, 1e-5);
    }

    @Test
    void onlyOneClippingAndOnlyBeforeTheFirstStep() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new Optimizer.Sgd(0.1f, 0f, false).withClipValue(1f).withClipNorm(2f));
        assertTrue(e.getMessage().contains("clip value 1.0"), e.getMessage());
        assertThrows(IllegalStateException.class,
                () -> new Optimizer.Sgd(0.1f, 0f, false).withGlobalClipNorm(1f).withClipValue(2f));
        Optimizer opt = new Optimizer.Sgd(0.1f, 0f, false);
        opt.step(new float[][] {{1f}}, new float[][] {{1f}});
        assertThrows(IllegalStateException.class, () -> opt.withClipNorm(1f));
        assertThrows(IllegalStateException.class, () -> opt.withSchedule(LearningRateSchedule.constant(0.1f)));
    }

    // ---------------------------------------------------------------- schedules

    @Test
    void scheduleValues() {
        LearningRateSchedule c = LearningRateSchedule.constant(0.25f);
        assertEquals(0.25f, c.rate(0));
        assertEquals(0.25f, c.rate(1000));

        LearningRateSchedule s = LearningRateSchedule.stepDecay(1f, 0.5f, 2);
        float[] expected = {1f, 1f, 0.5f, 0.5f, 0.25f, 0.25f, 0.125f};
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], s.rate(i), 0f, "step decay at " + i);
        }

        LearningRateSchedule e = LearningRateSchedule.exponentialDecay(0.1f, 10, 0.5f, false);
        assertEquals(0.1f, e.rate(0), 0f);
        assertEquals((float) (0.1f * Math.pow(0.5f, 0.5)), e.rate(5), 0f);
        assertEquals((float) (0.1f * 0.5), e.rate(10), 0f);
        assertEquals((float) (0.1f * Math.pow(0.5f, 2.3)), e.rate(23), 0f);
        LearningRateSchedule es = LearningRateSchedule.exponentialDecay(0.1f, 10, 0.5f, true);
        assertEquals(0.1f, es.rate(9), 0f);
        assertEquals((float) (0.1f * 0.5), es.rate(10), 0f);
        assertEquals((float) (0.1f * 0.25), es.rate(23), 0f);

        LearningRateSchedule cos = LearningRateSchedule.cosineDecay(1f, 10, 0.1f);
        assertEquals(1f, cos.rate(0), 1e-7f);
        assertEquals(0.9f * 0.5 + 0.1f, cos.rate(5), 1e-6f);
        assertEquals(0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.3)) + 0.1, cos.rate(3), 1e-6);
        assertEquals(0.1f, cos.rate(10), 1e-7f);
        assertEquals(0.1f, cos.rate(50), 1e-7f);
        assertEquals(0f, LearningRateSchedule.cosineDecay(2f, 4, 0f).rate(4), 1e-7f);

        assertThrows(IllegalArgumentException.class, () -> s.rate(-1));
    }

    @Test
    void optimizerUsesTheScheduleFromIterationZero() {
        LearningRateSchedule s = LearningRateSchedule.stepDecay(1f, 0.5f, 1); // 1, 0.5, 0.25
        float[] w = {0f};
        Optimizer opt = new Optimizer.Sgd(123f, 0f, false).withSchedule(s);
        opt.step(new float[][] {w}, new float[][] {{1f}});
        assertEquals(-1f, w[0], 0f);
        opt.step(new float[][] {w}, new float[][] {{1f}});
        assertEquals(-1.5f, w[0], 0f);
        opt.step(new float[][] {w}, new float[][] {{1f}});
        assertEquals(-1.75f, w[0], 0f);

        LearningRateSchedule cos = LearningRateSchedule.cosineDecay(0.1f, 2, 0f);
        double[] rates = {cos.rate(0), cos.rate(1), cos.rate(2)};
        float[] got = run(Optimizer.adamW(0.5f, 0.9f, 0.999f, 1e-7f, 0.1f).withSchedule(cos), SHRINKING);
        assertClose(adamReference(rates, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3, false, 0.1f, SHRINKING,
                toDouble(W0)), got, 1e-5);

        Optimizer rms = new Optimizer.RmsProp(0.5f, 0.9f, 0.9f, 1e-7f, true)
                .withSchedule(LearningRateSchedule.exponentialDecay(0.01f, 1, 0.5f, false));
        // rates 0.01, 0.005, 0.0025: check step by step against the reference
        float[] w3 = W0.clone();
        for (int t = 0; t < SHRINKING.length; t++) {
            rms.step(new float[][] {w3}, new float[][] {SHRINKING[t]});
        }
        double[] ref = toDouble(W0);
        double[] ms = new double[3];
        double[] mg = new double[3];
        double[] mom = new double[3];
        for (int t = 0; t < 3; t++) {
            double lr = 0.01f * Math.pow(0.5f, t);
            for (int i = 0; i < 3; i++) {
                double g = SHRINKING[t][i];
                ms[i] = 0.9f * ms[i] + (1 - 0.9f) * g * g;
                mg[i] = 0.9f * mg[i] + (1 - 0.9f) * g;
                mom[i] = 0.9f * mom[i] + lr * g / Math.sqrt(ms[i] - mg[i] * mg[i] + 1e-7f);
                ref[i] -= mom[i];
            }
        }
        assertClose(ref, w3, 1e-5);
    }

    @Test
    void aBadScheduleValueStopsTheStep() {
        float[] w = {1f};
        Optimizer opt = new Optimizer.Sgd(0.1f, 0f, false).withSchedule(it -> Float.NaN);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> opt.step(new float[][] {w}, new float[][] {{1f}}));
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("iteration 0"), e.getMessage());
        assertEquals(1f, w[0]);
        assertEquals(0, opt.iterations());
    }

    // ---------------------------------------------------------------- validation

    private static void assertRejected(String name, String value, Executable ex) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ex, name);
        assertTrue(e.getMessage().contains(name) && e.getMessage().contains(value),
                "message should name " + name + " and " + value + ": " + e.getMessage());
    }

    @Test
    void everyHyperparameterIsValidated() {
        Optimizer.AdamForm k = Optimizer.AdamForm.KERAS3;
        assertRejected("learning rate", "-1.0", () -> new Optimizer.Sgd(-1f, 0f, false));
        assertRejected("learning rate", "NaN", () -> new Optimizer.RmsProp(Float.NaN, 0.9f, 1e-7f));
        assertRejected("learning rate", "Infinity", () -> new Optimizer.Adam(Float.POSITIVE_INFINITY, 0.9f, 0.999f, 1e-7f, k));
        assertRejected("momentum", "1.0", () -> new Optimizer.Sgd(0.1f, 1f, false));
        assertRejected("momentum", "NaN", () -> new Optimizer.Sgd(0.1f, Float.NaN, false));
        assertRejected("rho", "1.5", () -> new Optimizer.RmsProp(0.1f, 1.5f, 1e-7f));
        assertRejected("rho", "-0.1", () -> new Optimizer.RmsProp(0.1f, -0.1f, 0f, 1e-7f, true));
        assertRejected("momentum", "-0.5", () -> new Optimizer.RmsProp(0.1f, 0.9f, -0.5f, 1e-7f, false));
        assertRejected("epsilon", "-1.0E-7", () -> new Optimizer.RmsProp(0.1f, 0.9f, -1e-7f));
        assertRejected("epsilon", "NaN", () -> new Optimizer.RmsProp(0.1f, 0.9f, 0f, Float.NaN, false));
        assertRejected("beta_1", "1.0", () -> new Optimizer.Adam(0.1f, 1f, 0.999f, 1e-7f, k));
        assertRejected("beta_2", "-0.5", () -> new Optimizer.Adam(0.1f, 0.9f, -0.5f, 1e-7f, k, true));
        assertRejected("epsilon", "Infinity", () -> new Optimizer.Adam(0.1f, 0.9f, 0.999f, Float.POSITIVE_INFINITY, k));
        assertRejected("weight decay", "-0.01", () -> Optimizer.adamW(0.1f, 0.9f, 0.999f, 1e-7f, -0.01f));
        assertRejected("weight decay", "NaN", () -> Optimizer.adamW(0.1f, 0.9f, 0.999f, 1e-7f, Float.NaN, k, true));
        assertThrows(NullPointerException.class, () -> new Optimizer.Adam(0.1f, 0.9f, 0.999f, 1e-7f, null));

        Supplier<Optimizer> sgd = () -> new Optimizer.Sgd(0.1f, 0f, false);
        assertRejected("clip value", "0.0", () -> sgd.get().withClipValue(0f));
        assertRejected("clip norm", "-1.0", () -> sgd.get().withClipNorm(-1f));
        assertRejected("global clip norm", "NaN", () -> sgd.get().withGlobalClipNorm(Float.NaN));
        assertThrows(NullPointerException.class, () -> sgd.get().withSchedule(null));

        assertRejected("rate", "0.0", () -> LearningRateSchedule.constant(0f));
        assertRejected("initial learning rate", "-1.0", () -> LearningRateSchedule.stepDecay(-1f, 0.5f, 2));
        assertRejected("step decay factor", "1.5", () -> LearningRateSchedule.stepDecay(1f, 1.5f, 2));
        assertRejected("step decay steps", "0", () -> LearningRateSchedule.stepDecay(1f, 0.5f, 0));
        assertRejected("initial learning rate", "NaN", () -> LearningRateSchedule.exponentialDecay(Float.NaN, 10, 0.5f, false));
        assertRejected("exponential decay steps", "-3", () -> LearningRateSchedule.exponentialDecay(1f, -3, 0.5f, false));
        assertRejected("exponential decay rate", "0.0", () -> LearningRateSchedule.exponentialDecay(1f, 10, 0f, true));
        assertRejected("initial learning rate", "0.0", () -> LearningRateSchedule.cosineDecay(0f, 10, 0f));
        assertRejected("cosine decay steps", "0", () -> LearningRateSchedule.cosineDecay(1f, 0, 0f));
        assertRejected("cosine decay alpha", "1.1", () -> LearningRateSchedule.cosineDecay(1f, 10, 1.1f));
    }

    @Test
    void mismatchedShapesChangeNothing() {
        float[] w1 = {1f, 2f};
        float[] w2 = {3f};
        Optimizer opt = new Optimizer.Adam(0.1f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.TFJS);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> opt.step(new float[][] {w1, w2}, new float[][] {{1f, 1f}, {1f, 1f}}));
        assertTrue(e.getMessage().contains("weight 1"), e.getMessage());
        assertArrayEquals(new float[] {1f, 2f}, w1, 0f);
        assertEquals(0, opt.iterations());
        assertThrows(IllegalArgumentException.class, () -> opt.step(new float[][] {w1}, new float[][] {}));
        List<Optimizer> all = List.of(new Optimizer.Sgd(0.1f, 0.5f, true), new Optimizer.RmsProp(0.1f, 0.9f, 0.5f, 0f, true),
                Optimizer.adamW(0.1f, 0.9f, 0.99f, 1e-7f, 0.01f));
        for (Optimizer o : all) {
            o.step(new float[][] {}, new float[][] {}); // no weights: a no-op step
            assertEquals(1, o.iterations());
        }
    }
}
