package io.jlstm.train;

import java.util.List;
import java.util.Objects;

/**
 * The Keras training losses: mean squared error, mean absolute error, and binary, categorical and
 * sparse categorical crossentropy from probabilities or from logits. Every loss uses Keras 3's
 * reduction (a per-row value over the last axis, then the mean over the rows), computes in double
 * and writes its gradient with respect to the predictions as float. Probabilities are clipped to
 * [{@link #EPSILON}, 1 − {@link #EPSILON}] like Keras' {@code backend.epsilon()}, and the gradient
 * is that of the clipped form (zero where a value was clipped). All losses are stateless and
 * thread-safe.
 */
public final class Losses {

    /** Keras' {@code backend.epsilon()}: the clipping margin for probabilities. */
    public static final double EPSILON = 1e-7;

    /** The names {@link #byName} accepts. */
    private static final List<String> NAMES = List.of("mean_squared_error", "mse", "mean_absolute_error", "mae",
            "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy");

    private Losses() {
    }

    /** Mean squared error: {@link Loss#MSE}. */
    public static Loss meanSquaredError() {
        return Loss.MSE;
    }

    /**
     * Mean absolute error: mean over the last axis of |pred − target|, then over the rows. The
     * gradient is sign(pred − target) / (features · rows), zero where pred equals target.
     */
    public static Loss meanAbsoluteError() {
        return MeanAbsoluteError.INSTANCE;
    }

    /**
     * Binary crossentropy, the mean over the last axis of −(t·log p + (1 − t)·log(1 − p)), then over
     * the rows.
     *
     * @param fromLogits true when the predictions are logits (the loss applies the sigmoid itself, in
     *                   the numerically stable form max(x, 0) − x·t + log(1 + e^−|x|)); false when they
     *                   are probabilities, clipped to [ε, 1 − ε]
     */
    public static Loss binaryCrossentropy(boolean fromLogits) {
        return new BinaryCrossentropy(fromLogits);
    }

    /**
     * Categorical crossentropy, −Σ t·log p over the last axis (a sum, not a mean), then the mean over
     * the rows. The target is one row of class probabilities (usually one-hot) per prediction row.
     *
     * @param fromLogits true when the predictions are logits (the loss applies a log-softmax); false
     *                   when they are probabilities, which are first divided by their row sum and
     *                   then clipped to [ε, 1 − ε], as Keras does
     */
    public static Loss categoricalCrossentropy(boolean fromLogits) {
        return new CategoricalCrossentropy(fromLogits, false);
    }

    /**
     * Sparse categorical crossentropy: categorical crossentropy against a one-hot target given as
     * one class index per row (stored as a float, which must be an integer in [0, features)).
     *
     * @param fromLogits as for {@link #categoricalCrossentropy}
     */
    public static Loss sparseCategoricalCrossentropy(boolean fromLogits) {
        return new CategoricalCrossentropy(fromLogits, true);
    }

    /**
     * The loss with this Keras name: {@code mean_squared_error} or {@code mse}, {@code
     * mean_absolute_error} or {@code mae}, {@code binary_crossentropy}, {@code
     * categorical_crossentropy}, {@code sparse_categorical_crossentropy}.
     *
     * @param fromLogits used by the crossentropies, ignored by the others
     * @throws IllegalArgumentException for any other name
     */
    public static Loss byName(String kerasName, boolean fromLogits) {
        Objects.requireNonNull(kerasName, "kerasName");
        return switch (kerasName) {
            case "mean_squared_error", "mse" -> meanSquaredError();
            case "mean_absolute_error", "mae" -> meanAbsoluteError();
            case "binary_crossentropy" -> binaryCrossentropy(fromLogits);
            case "categorical_crossentropy" -> categoricalCrossentropy(fromLogits);
            case "sparse_categorical_crossentropy" -> sparseCategoricalCrossentropy(fromLogits);
            default -> throw new IllegalArgumentException("unknown loss '" + kerasName + "'; known losses: "
                    + String.join(", ", NAMES));
        };
    }

    // ------------------------------------------------------------------ shared checks

    static void checkShapes(Loss loss, float[] pred, float[] target, int rows, int features, float[] grad) {
        Objects.requireNonNull(pred, "pred");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(grad, "grad");
        if (rows <= 0 || features <= 0) {
            throw new IllegalArgumentException(loss.name() + ": rows and features must be at least 1, got rows "
                    + rows + ", features " + features);
        }
        long n = (long) rows * features;
        long perRow = loss.targetValuesPerRow(features);
        if (pred.length != n || grad.length != n || target.length != rows * perRow) {
            throw new IllegalArgumentException(loss.name() + ": expected " + n + " predictions and gradients and "
                    + rows * perRow + " targets for " + rows + " rows of " + features + " features, got "
                    + pred.length + ", " + grad.length + " and " + target.length);
        }
    }

    private static double sigmoid(double x) {
        if (x >= 0) {
            return 1 / (1 + Math.exp(-x));
        }
        double e = Math.exp(x);
        return e / (1 + e);
    }

    // ------------------------------------------------------------------ implementations

    /** Mean absolute error. */
    private record MeanAbsoluteError() implements Loss {

        static final MeanAbsoluteError INSTANCE = new MeanAbsoluteError();

        @Override
        public String name() {
            return "mean_absolute_error";
        }

        @Override
        public double compute(float[] pred, float[] target, int rows, int features, float[] grad) {
            checkShapes(this, pred, target, rows, features, grad);
            double scale = (double) features * rows;
            double loss = 0;
            for (int i = 0; i < pred.length; i++) {
                double d = (double) pred[i] - target[i];
                loss += Math.abs(d);
                grad[i] = (float) (Math.signum(d) / scale);
            }
            return loss / scale;
        }
    }

    /** Binary crossentropy from probabilities or logits. */
    private record BinaryCrossentropy(boolean fromLogits) implements Loss {

        @Override
        public String name() {
            return "binary_crossentropy";
        }

        @Override
        public double compute(float[] pred, float[] target, int rows, int features, float[] grad) {
            checkShapes(this, pred, target, rows, features, grad);
            double scale = (double) features * rows;
            double loss = 0;
            for (int i = 0; i < pred.length; i++) {
                double x = pred[i];
                double t = target[i];
                if (fromLogits) {
                    loss += Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
                    grad[i] = (float) ((sigmoid(x) - t) / scale);
                } else {
                    double p = Math.min(Math.max(x, EPSILON), 1 - EPSILON);
                    loss -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
                    boolean clipped = x < EPSILON || x > 1 - EPSILON;
                    grad[i] = clipped ? 0f : (float) ((-t / p + (1 - t) / (1 - p)) / scale);
                }
            }
            return loss / scale;
        }
    }

    /** Categorical crossentropy, dense (one target row per prediction row) or sparse (a class index). */
    private record CategoricalCrossentropy(boolean fromLogits, boolean sparse) implements Loss {

        @Override
        public String name() {
            return sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
        }

        @Override
        public int targetValuesPerRow(int features) {
            return sparse ? 1 : features;
        }

        /** The class index of row {@code r}, checked. */
        private int label(float[] target, int r, int features) {
            float v = target[r];
            if (!(v >= 0 && v < features && v == Math.rint(v))) {
                throw new IllegalArgumentException(name() + ": the label of row " + r + " is " + v
                        + "; labels must be integers in [0, " + features + ") for " + features + " classes");
            }
            return (int) v;
        }

        /** The target of class {@code j} in row {@code r}. */
        private double target(float[] target, int r, int j, int features, int label) {
            return sparse ? (j == label ? 1 : 0) : target[r * features + j];
        }

        @Override
        public double compute(float[] pred, float[] target, int rows, int features, float[] grad) {
            checkShapes(this, pred, target, rows, features, grad);
            double loss = 0;
            double[] work = new double[features];
            for (int r = 0; r < rows; r++) {
                int label = sparse ? label(target, r, features) : -1;
                int o = r * features;
                if (fromLogits) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < features; j++) {
                        max = Math.max(max, pred[o + j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < features; j++) {
                        work[j] = Math.exp(pred[o + j] - max);
                        sum += work[j];
                    }
                    double lse = max + Math.log(sum);
                    double tSum = 0;
                    for (int j = 0; j < features; j++) {
                        double t = target(target, r, j, features, label);
                        tSum += t;
                        loss -= t * (pred[o + j] - lse);
                    }
                    // d/dx_j of Σ t_k·(lse − x_k) = softmax_j·Σt − t_j (softmax − t for a target summing to 1)
                    for (int j = 0; j < features; j++) {
                        double t = target(target, r, j, features, label);
                        grad[o + j] = (float) ((work[j] / sum * tSum - t) / rows);
                    }
                } else {
                    double sum = 0;
                    for (int j = 0; j < features; j++) {
                        sum += pred[o + j];
                    }
                    // q = p / Σp, c = clip(q); g_j = dL/dq_j = −t_j / c_j where q_j was not clipped;
                    // dL/dp_k = (g_k − Σ_j g_j·q_j) / Σp
                    double gq = 0;
                    for (int j = 0; j < features; j++) {
                        double q = pred[o + j] / sum;
                        double c = Math.min(Math.max(q, EPSILON), 1 - EPSILON);
                        double t = target(target, r, j, features, label);
                        if (t != 0) {
                            loss -= t * Math.log(c);
                        }
                        boolean clipped = !(q >= EPSILON && q <= 1 - EPSILON);
                        double g = clipped ? 0 : -t / c;
                        work[j] = g;
                        gq += g * q;
                    }
                    for (int j = 0; j < features; j++) {
                        grad[o + j] = (float) ((work[j] - gq) / sum / rows);
                    }
                }
            }
            return loss / rows;
        }
    }
}
