package io.jlstm.train;

import java.util.List;
import java.util.Objects;

/**
 * The Keras metrics a training loop reports: accuracy, sparse categorical accuracy and mean
 * absolute error, as static functions over rows of predictions and as {@link Metric} objects
 * looked up by their Keras name. Each result is the mean over the rows. Stateless and thread-safe.
 */
public final class Metrics {

    /** The names {@link #byName} accepts. */
    private static final List<String> NAMES = List.of("accuracy", "acc", "sparse_categorical_accuracy", "mae",
            "mean_absolute_error");

    private Metrics() {
    }

    /** A metric over {@code rows} rows of {@code features} predictions and their targets. */
    public interface Metric {

        /** The name the metric was asked for by, e.g. {@code accuracy} or {@code mae}: its log key. */
        String name();

        /**
         * How many target values one row of {@code features} predictions has: {@code features}, or 1
         * for metrics whose target is a class index (sparse categorical accuracy).
         */
        default int targetValuesPerRow(int features) {
            return features;
        }

        /** The metric's value, the mean over the rows. */
        double compute(float[] pred, float[] target, int rows, int features);
    }

    /**
     * Keras' {@code accuracy} as {@code compile} resolves it: for one feature, binary accuracy (the
     * prediction thresholded at 0.5, {@code pred > 0.5}, against the target rounded to 0 or 1); for
     * more, categorical accuracy (the arg-max of the prediction against the arg-max of the target,
     * the first maximum on ties). Returns the fraction of rows (of values, for one feature) that
     * match.
     */
    public static double accuracy(float[] pred, float[] target, int rows, int features) {
        check("accuracy", pred, target, rows, features, features);
        int correct = 0;
        if (features == 1) {
            for (int r = 0; r < rows; r++) {
                int p = pred[r] > 0.5f ? 1 : 0;
                if (p == Math.round(target[r])) {
                    correct++;
                }
            }
        } else {
            for (int r = 0; r < rows; r++) {
                if (argmax(pred, r * features, features) == argmax(target, r * features, features)) {
                    correct++;
                }
            }
        }
        return (double) correct / rows;
    }

    /**
     * Keras' {@code sparse_categorical_accuracy}: the fraction of rows whose arg-max prediction (the
     * first maximum on ties) equals the row's label, a class index stored as a float ({@code labels}
     * holds one value per row).
     */
    public static double sparseCategoricalAccuracy(float[] pred, float[] labels, int rows, int features) {
        check("sparse_categorical_accuracy", pred, labels, rows, features, 1);
        int correct = 0;
        for (int r = 0; r < rows; r++) {
            if (argmax(pred, r * features, features) == labels[r]) {
                correct++;
            }
        }
        return (double) correct / rows;
    }

    /**
     * Keras' {@code mean_absolute_error} metric: the mean of |pred − target| over all values (the
     * mean over rows of the per-row mean, since all rows have the same width).
     *
     * @throws IllegalArgumentException when the arrays differ in length or are empty
     */
    public static double meanAbsoluteError(float[] pred, float[] target) {
        Objects.requireNonNull(pred, "pred");
        Objects.requireNonNull(target, "target");
        if (pred.length != target.length || pred.length == 0) {
            throw new IllegalArgumentException("mean_absolute_error: pred and target must have the same, non-zero "
                    + "length, got " + pred.length + " and " + target.length);
        }
        double sum = 0;
        for (int i = 0; i < pred.length; i++) {
            sum += Math.abs((double) pred[i] - target[i]);
        }
        return sum / pred.length;
    }

    /**
     * The metric with this Keras name: {@code accuracy} (or {@code acc}), {@code
     * sparse_categorical_accuracy}, {@code mae} or {@code mean_absolute_error}. The metric's {@link
     * Metric#name} is the name as given, as Keras keys its history by the name passed to compile.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static Metric byName(String name) {
        Objects.requireNonNull(name, "name");
        return switch (name) {
            case "accuracy", "acc" -> new Named(name, false, Metrics::accuracy);
            case "sparse_categorical_accuracy" -> new Named(name, true, Metrics::sparseCategoricalAccuracy);
            case "mae", "mean_absolute_error" -> new Named(name, false, (p, t, rows, features) -> {
                check("mean_absolute_error", p, t, rows, features, features);
                return meanAbsoluteError(p, t);
            });
            default -> throw new IllegalArgumentException("unknown metric '" + name + "'; known metrics: "
                    + String.join(", ", NAMES));
        };
    }

    // ------------------------------------------------------------------ helpers

    /** The function behind a {@link Named} metric. */
    @FunctionalInterface
    private interface Fn {
        double compute(float[] pred, float[] target, int rows, int features);
    }

    /** A metric from its name and function. */
    private record Named(String name, boolean sparse, Fn fn) implements Metric {

        @Override
        public int targetValuesPerRow(int features) {
            return sparse ? 1 : features;
        }

        @Override
        public double compute(float[] pred, float[] target, int rows, int features) {
            return fn.compute(pred, target, rows, features);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static void check(String name, float[] pred, float[] target, int rows, int features, int perRow) {
        Objects.requireNonNull(pred, "pred");
        Objects.requireNonNull(target, "target");
        if (rows <= 0 || features <= 0) {
            throw new IllegalArgumentException(name + ": rows and features must be at least 1, got rows " + rows
                    + ", features " + features);
        }
        if (pred.length != (long) rows * features || target.length != (long) rows * perRow) {
            throw new IllegalArgumentException(name + ": expected " + (long) rows * features + " predictions and "
                    + (long) rows * perRow + " targets for " + rows + " rows of " + features + " features, got "
                    + pred.length + " and " + target.length);
        }
    }

    /** Index of the first maximum of {@code n} values from {@code offset}. */
    private static int argmax(float[] a, int offset, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) {
            if (a[offset + j] > a[offset + best]) {
                best = j;
            }
        }
        return best;
    }
}
