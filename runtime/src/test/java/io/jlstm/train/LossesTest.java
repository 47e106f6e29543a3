package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class LossesTest {

    private static final double TOL = 1e-6;

    private static double value(Loss loss, float[] pred, float[] target, int rows, int features) {
        return loss.compute(pred, target, rows, features, new float[pred.length]);
    }

    private static float[] grad(Loss loss, float[] pred, float[] target, int rows, int features) {
        float[] g = new float[pred.length];
        loss.compute(pred, target, rows, features, g);
        return g;
    }

    /** A central difference of compute() at {@code pred[i]} with step about h, on the float inputs actually used. */
    private static double central(Loss loss, float[] pred, float[] target, int rows, int features, int i, double h) {
        float orig = pred[i];
        float plus = (float) (orig + h);
        float minus = (float) (orig - h);
        pred[i] = plus;
        double lp = value(loss, pred, target, rows, features);
        pred[i] = minus;
        double lm = value(loss, pred, target, rows, features);
        pred[i] = orig;
        return (lp - lm) / ((double) plus - minus);
    }

    /**
     * Central finite differences of compute() (step 1e-3, in double) against its gradient. The
     * differences at steps h and h/2 are combined by Richardson extrapolation, which cancels the
     * O(h²) truncation error that would otherwise dominate near steep parts of the logarithms.
     */
    private static void checkGradient(Loss loss, float[] pred, float[] target, int rows, int features) {
        float[] g = grad(loss, pred, target, rows, features);
        for (int i = 0; i < pred.length; i++) {
            double d1 = central(loss, pred, target, rows, features, i, 1e-3);
            double d2 = central(loss, pred, target, rows, features, i, 5e-4);
            double numeric = (4 * d2 - d1) / 3;
            double tol = 1e-4 * Math.max(Math.abs(numeric), Math.abs(g[i])) + 1e-8;
            assertEquals(numeric, g[i], tol, loss.name() + " (" + loss + ") gradient " + i);
        }
    }

    private static float[] uniform(Random rnd, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = lo + rnd.nextFloat() * (hi - lo);
        }
        return a;
    }

    /** Rows of random probabilities summing to 1 (targets for categorical crossentropy). */
    private static float[] distributions(Random rnd, int rows, int features) {
        float[] a = uniform(rnd, rows * features, 0.05f, 1f);
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < features; j++) {
                s += a[r * features + j];
            }
            for (int j = 0; j < features; j++) {
                a[r * features + j] /= (float) s;
            }
        }
        return a;
    }

    private static float[] labels(Random rnd, int rows, int features) {
        float[] a = new float[rows];
        for (int r = 0; r < rows; r++) {
            a[r] = rnd.nextInt(features);
        }
        return a;
    }

    private static void assertFinite(float[] a) {
        for (float v : a) {
            assertTrue(Float.isFinite(v), "not finite: " + v);
        }
    }

    // ------------------------------------------------------------------ values

    @Test
    void meanSquaredErrorIsLossMse() {
        assertSame(Loss.MSE, Losses.meanSquaredError());
        float[] pred = {1, 2, 3, 4};
        float[] target = {0, 2, 5, 4};
        // rows: mean(1, 0) = 0.5, mean(4, 0) = 2 → 1.25
        assertEquals(1.25, value(Losses.meanSquaredError(), pred, target, 2, 2), TOL);
    }

    @Test
    void meanAbsoluteErrorValueAndGradient() {
        Loss mae = Losses.meanAbsoluteError();
        assertEquals("mean_absolute_error", mae.name());
        float[] pred = {1, 2, 3, 4};
        float[] target = {0, 2, 5, 4};
        // rows: mean(1, 0) = 0.5, mean(2, 0) = 1 → 0.75
        assertEquals(0.75, value(mae, pred, target, 2, 2), TOL);
        float[] g = grad(mae, pred, target, 2, 2);
        assertEquals(0.25f, g[0], 1e-7);
        assertEquals(0f, g[1]);
        assertEquals(-0.25f, g[2], 1e-7);
        assertEquals(0f, g[3]);
    }

    @Test
    void binaryCrossentropyFromProbabilities() {
        Loss bce = Losses.binaryCrossentropy(false);
        assertEquals("binary_crossentropy", bce.name());
        float[] pred = {0.9f, 0.2f, 0.6f, 0.5f};
        float[] target = {1, 0, 0, 1};
        double row0 = -(Math.log(0.9f) + Math.log(1 - 0.2f)) / 2;
        double row1 = -(Math.log(1 - 0.6f) + Math.log(0.5f)) / 2;
        assertEquals((row0 + row1) / 2, value(bce, pred, target, 2, 2), TOL);
    }

    @Test
    void binaryCrossentropyClipsAndHasZeroGradientWhereClipped() {
        Loss bce = Losses.binaryCrossentropy(false);
        float[] pred = {0f, 1f, 0f, 1f};
        float[] target = {1, 0, 0, 1};
        float[] g = new float[4];
        double loss = bce.compute(pred, target, 1, 4, g);
        // the two wrong predictions each cost −log(ε), the two right ones −log(1 − ε)
        double expected = (2 * -Math.log(Losses.EPSILON) + 2 * -Math.log(1 - Losses.EPSILON)) / 4;
        assertEquals(expected, loss, 1e-8);
        for (float v : g) {
            assertEquals(0f, v);
        }
    }

    @Test
    void binaryCrossentropyFromLogits() {
        Loss bce = Losses.binaryCrossentropy(true);
        float[] x = {0, 2, -1};
        float[] t = {1, 0, 0.25f};
        double e0 = Math.log(2);
        double e1 = Math.log(1 + Math.exp(2));
        // −(t·log σ(x) + (1 − t)·log(1 − σ(x)))
        double s = 1 / (1 + Math.exp(1));
        double e2 = -(0.25 * Math.log(s) + 0.75 * Math.log(1 - s));
        assertEquals((e0 + e1 + e2) / 3, value(bce, x, t, 1, 3), 1e-9);
        // gradient (σ(x) − t) / (F·rows)
        float[] g = grad(bce, x, t, 1, 3);
        assertEquals((0.5 - 1) / 3, g[0], 1e-7);
        assertEquals((1 / (1 + Math.exp(-2)) - 0) / 3, g[1], 1e-7);
        assertEquals((s - 0.25) / 3, g[2], 1e-7);
    }

    @Test
    void binaryCrossentropyFromLogitsIsStableForLargeLogits() {
        Loss bce = Losses.binaryCrossentropy(true);
        float[] x = {100, -100, 100, -100};
        float[] t = {0, 1, 1, 0};
        float[] g = new float[4];
        double loss = bce.compute(x, t, 2, 2, g);
        // two rows each of mean(100, 0) = 50
        assertEquals(50, loss, 1e-9);
        assertFinite(g);
        assertEquals(0.25f, g[0], 1e-7);
        assertEquals(-0.25f, g[1], 1e-7);
        assertEquals(0f, g[2], 1e-7);
        assertEquals(0f, g[3], 1e-7);
    }

    @Test
    void categoricalCrossentropyFromProbabilitiesSumsOverClasses() {
        Loss cce = Losses.categoricalCrossentropy(false);
        assertEquals("categorical_crossentropy", cce.name());
        float[] pred = {0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f};
        float[] target = {0, 0, 1, 0, 1, 0};
        double expected = (-Math.log(0.5f) - Math.log(0.8f)) / 2;
        assertEquals(expected, value(cce, pred, target, 2, 3), TOL);
        // soft targets: a sum over the classes, not a mean
        float[] soft = {0.5f, 0.5f, 0, 0.25f, 0.5f, 0.25f};
        double soft0 = -(0.5 * Math.log(0.2f) + 0.5 * Math.log(0.3f));
        double soft1 = -(0.25 * Math.log(0.1f) + 0.5 * Math.log(0.8f) + 0.25 * Math.log(0.1f));
        assertEquals((soft0 + soft1) / 2, value(cce, pred, soft, 2, 3), TOL);
    }

    @Test
    void categoricalCrossentropyNormalisesByTheRowSum() {
        Loss cce = Losses.categoricalCrossentropy(false);
        // sums to 2: normalised to {0.2, 0.3, 0.5}
        float[] pred = {0.4f, 0.6f, 1.0f};
        float[] target = {0, 0, 1};
        assertEquals(-Math.log(0.5), value(cce, pred, target, 1, 3), TOL);
        // scaling all predictions leaves the loss unchanged, so the gradient is orthogonal to pred
        float[] g = grad(cce, pred, target, 1, 3);
        double dot = 0;
        for (int j = 0; j < 3; j++) {
            dot += (double) g[j] * pred[j];
        }
        assertEquals(0, dot, 1e-6);
        // analytic: dL/dp_k = (−t_k/q_k + 1) / Σp → {0.5, 0.5, −0.5}
        assertEquals(0.5f, g[0], 1e-6);
        assertEquals(0.5f, g[1], 1e-6);
        assertEquals(-0.5f, g[2], 1e-6);
    }

    @Test
    void categoricalCrossentropyClipsZeroProbabilities() {
        Loss cce = Losses.categoricalCrossentropy(false);
        float[] pred = {0f, 1f};
        float[] target = {1, 0};
        float[] g = new float[2];
        double loss = cce.compute(pred, target, 1, 2, g);
        assertEquals(-Math.log(Losses.EPSILON), loss, 1e-9);
        assertFinite(g);
    }

    @Test
    void categoricalCrossentropyFromLogits() {
        Loss cce = Losses.categoricalCrossentropy(true);
        float[] x = {0, 0, 0, 1, 2, 3};
        float[] t = {0, 1, 0, 1, 0, 0};
        double lse = Math.log(Math.E + Math.exp(2) + Math.exp(3));
        double expected = (Math.log(3) + (lse - 1)) / 2;
        assertEquals(expected, value(cce, x, t, 2, 3), 1e-9);
        float[] g = grad(cce, x, t, 2, 3);
        // (softmax − t) / rows
        assertEquals((1.0 / 3) / 2, g[0], 1e-7);
        assertEquals((1.0 / 3 - 1) / 2, g[1], 1e-7);
        assertEquals((Math.exp(1 - lse) - 1) / 2, g[3], 1e-7);
        assertEquals(Math.exp(3 - lse) / 2, g[5], 1e-7);
    }

    @Test
    void categoricalCrossentropyFromLogitsIsStableForLargeLogits() {
        Loss cce = Losses.categoricalCrossentropy(true);
        float[] x = {100, -100, 0};
        float[] t = {0, 1, 0};
        float[] g = new float[3];
        double loss = cce.compute(x, t, 1, 3, g);
        assertEquals(200, loss, 1e-9);
        assertFinite(g);
        assertEquals(1f, g[0], 1e-7);
        assertEquals(-1f, g[1], 1e-7);
        Loss sparse = Losses.sparseCategoricalCrossentropy(true);
        assertEquals(200, sparse.compute(x, new float[] {1}, 1, 3, g), 1e-9);
        assertFinite(g);
    }

    @Test
    void sparseMatchesCategoricalWithOneHotTargets() {
        Random rnd = new Random(7);
        int rows = 5;
        int features = 4;
        float[] labels = labels(rnd, rows, features);
        float[] oneHot = new float[rows * features];
        for (int r = 0; r < rows; r++) {
            oneHot[r * features + (int) labels[r]] = 1;
        }
        for (boolean logits : new boolean[] {false, true}) {
            float[] pred = logits ? uniform(rnd, rows * features, -3, 3) : uniform(rnd, rows * features, 0.05f, 1);
            Loss sparse = Losses.sparseCategoricalCrossentropy(logits);
            Loss dense = Losses.categoricalCrossentropy(logits);
            assertEquals("sparse_categorical_crossentropy", sparse.name());
            assertEquals(1, sparse.targetValuesPerRow(features));
            assertEquals(features, dense.targetValuesPerRow(features));
            float[] gs = new float[pred.length];
            float[] gd = new float[pred.length];
            assertEquals(dense.compute(pred, oneHot, rows, features, gd),
                    sparse.compute(pred, labels, rows, features, gs), 1e-12);
            for (int i = 0; i < pred.length; i++) {
                assertEquals(gd[i], gs[i], 0f, "gradient " + i);
            }
        }
        // the hand example of the categorical test, as labels
        float[] pred = {0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f};
        assertEquals((-Math.log(0.5f) - Math.log(0.8f)) / 2,
                value(Losses.sparseCategoricalCrossentropy(false), pred, new float[] {2, 1}, 2, 3), TOL);
    }

    @Test
    void sparseRejectsBadLabels() {
        float[] pred = {0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f};
        for (boolean logits : new boolean[] {false, true}) {
            Loss sparse = Losses.sparseCategoricalCrossentropy(logits);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> sparse.compute(pred, new float[] {1, 3}, 2, 3, new float[6]));
            assertTrue(e.getMessage().contains("row 1"), e.getMessage());
            assertTrue(e.getMessage().contains("3.0"), e.getMessage());
            assertTrue(e.getMessage().contains("3 classes"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> sparse.compute(pred, new float[] {-1, 0}, 2, 3, new float[6]));
            var frac = assertThrows(IllegalArgumentException.class,
                    () -> sparse.compute(pred, new float[] {0, 1.5f}, 2, 3, new float[6]));
            assertTrue(frac.getMessage().contains("1.5"), frac.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> sparse.compute(pred, new float[] {Float.NaN, 0}, 2, 3, new float[6]));
        }
    }

    @Test
    void rejectsMismatchedLengths() {
        Loss[] all = {Losses.meanAbsoluteError(), Losses.binaryCrossentropy(false), Losses.categoricalCrossentropy(true),
            Losses.sparseCategoricalCrossentropy(false)};
        for (Loss loss : all) {
            assertThrows(IllegalArgumentException.class,
                    () -> loss.compute(new float[6], new float[5], 2, 3, new float[6]), loss.name());
            assertThrows(IllegalArgumentException.class,
                    () -> loss.compute(new float[6], new float[6], 2, 3, new float[5]), loss.name());
        }
    }

    // ------------------------------------------------------------------ gradients

    @Test
    void gradientsMatchFiniteDifferences() {
        Random rnd = new Random(42);
        int rows = 3;
        int features = 4;
        int n = rows * features;
        for (int trial = 0; trial < 5; trial++) {
            // regression losses: keep |pred − target| well above the step for MAE's kink
            float[] target = uniform(rnd, n, -1, 1);
            float[] pred = new float[n];
            for (int i = 0; i < n; i++) {
                float d = 0.05f + rnd.nextFloat();
                pred[i] = target[i] + (rnd.nextBoolean() ? d : -d);
            }
            checkGradient(Losses.meanSquaredError(), pred, target, rows, features);
            checkGradient(Losses.meanAbsoluteError(), pred, target, rows, features);

            // binary crossentropy: probabilities away from the clip bounds, soft targets
            float[] probs = uniform(rnd, n, 0.1f, 0.9f);
            float[] soft = uniform(rnd, n, 0, 1);
            checkGradient(Losses.binaryCrossentropy(false), probs, soft, rows, features);
            float[] logits = uniform(rnd, n, -4, 4);
            checkGradient(Losses.binaryCrossentropy(true), logits, soft, rows, features);

            // categorical: unnormalised probabilities (the normalisation is part of the gradient)
            float[] unnormalised = uniform(rnd, n, 0.1f, 1f);
            float[] dist = distributions(rnd, rows, features);
            float[] lab = labels(rnd, rows, features);
            checkGradient(Losses.categoricalCrossentropy(false), unnormalised, dist, rows, features);
            checkGradient(Losses.sparseCategoricalCrossentropy(false), unnormalised, lab, rows, features);
            checkGradient(Losses.categoricalCrossentropy(true), logits, dist, rows, features);
            checkGradient(Losses.sparseCategoricalCrossentropy(true), logits, lab, rows, features);
            // targets not summing to 1: the exact gradient softmax·Σt − t
            checkGradient(Losses.categoricalCrossentropy(true), logits, soft, rows, features);
        }
    }

    // ------------------------------------------------------------------ names

    @Test
    void byNameResolvesKerasNames() {
        assertSame(Loss.MSE, Losses.byName("mse", false));
        assertSame(Loss.MSE, Losses.byName("mean_squared_error", true));
        assertEquals("mean_absolute_error", Losses.byName("mae", false).name());
        assertEquals("mean_absolute_error", Losses.byName("mean_absolute_error", false).name());
        assertEquals("binary_crossentropy", Losses.byName("binary_crossentropy", true).name());
        assertEquals("categorical_crossentropy", Losses.byName("categorical_crossentropy", false).name());
        assertEquals("sparse_categorical_crossentropy",
                Losses.byName("sparse_categorical_crossentropy", true).name());
        // from_logits reaches the loss: logit 0 against target 1 costs log 2, probability 0 costs −log ε
        float[] g = new float[1];
        assertEquals(Math.log(2), Losses.byName("binary_crossentropy", true)
                .compute(new float[] {0}, new float[] {1}, 1, 1, g), 1e-9);
        assertEquals(-Math.log(Losses.EPSILON), Losses.byName("binary_crossentropy", false)
                .compute(new float[] {0}, new float[] {1}, 1, 1, g), 1e-9);
        var e = assertThrows(IllegalArgumentException.class, () -> Losses.byName("hinge", false));
        assertTrue(e.getMessage().contains("hinge"), e.getMessage());
        for (String name : new String[] {"mean_squared_error", "mse", "mean_absolute_error", "mae",
            "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}) {
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
    }
}
