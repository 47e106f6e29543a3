package io.jlstm.train;

/**
 * A training loss with Keras' reduction: the per-row loss is a mean (or sum, as the loss defines)
 * over the last axis, and the result the mean over the rows. Implementations are stateless and
 * thread-safe.
 */
public interface Loss {

    /** Keras name, e.g. {@code mean_squared_error}. */
    String name();

    /**
     * How many target values one row of {@code features} predictions has: {@code features}, or 1
     * for losses whose target is a class index (sparse categorical crossentropy).
     */
    default int targetValuesPerRow(int features) {
        return features;
    }

    /**
     * The loss of {@code rows} rows of {@code features} predictions against their targets, and its
     * gradient with respect to each prediction written into {@code grad} (same length as pred).
     *
     * @throws IllegalArgumentException for a target the loss cannot take (a class index out of range)
     */
    double compute(float[] pred, float[] target, int rows, int features, float[] grad);

    /** Mean squared error: mean over the last axis of (pred − target)², then over the rows. */
    Loss MSE = new Loss() {
        @Override
        public String name() {
            return "mean_squared_error";
        }

        @Override
        public double compute(float[] pred, float[] target, int rows, int features, float[] grad) {
            Losses.checkShapes(this, pred, target, rows, features, grad);
            double loss = 0;
            double scale = (double) features * rows;
            for (int i = 0; i < pred.length; i++) {
                double d = (double) pred[i] - target[i];
                loss += d * d;
                grad[i] = (float) (2 * d / scale);
            }
            return loss / scale;
        }
    };
}
