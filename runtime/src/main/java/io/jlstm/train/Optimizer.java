package io.jlstm.train;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Updates weights from their gradients, Keras style. Each optimizer keeps its per-weight state
 * (momentum, moving averages) keyed by the weight array, created on first use; {@link #step} is
 * called once per batch with every weight and its gradient. Not thread-safe: one optimizer
 * belongs to one training run.
 */
public abstract sealed class Optimizer permits Optimizer.Sgd, Optimizer.RmsProp, Optimizer.Adam {

    final float learningRate;
    private final Map<float[], float[][]> state = new IdentityHashMap<>();
    int iterations;

    Optimizer(float learningRate) {
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be positive and finite, got " + learningRate);
        }
        this.learningRate = learningRate;
    }

    /** Applies one update to every weight from its gradient (same order, same lengths). */
    public final void step(float[][] weights, float[][] gradients) {
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(gradients, "gradients");
        if (weights.length != gradients.length) {
            throw new IllegalArgumentException(weights.length + " weights but " + gradients.length + " gradients");
        }
        iterations++;
        beginStep();
        for (int i = 0; i < weights.length; i++) {
            if (weights[i].length != gradients[i].length) {
                throw new IllegalArgumentException("weight " + i + " has " + weights[i].length
                        + " values but its gradient " + gradients[i].length);
            }
            update(weights[i], gradients[i], state.computeIfAbsent(weights[i], w -> newState(w.length)));
        }
    }

    void beginStep() {
    }

    abstract float[][] newState(int n);

    abstract void update(float[] w, float[] g, float[][] s);

    /** Plain SGD (momentum 0): {@code w -= lr·g}; with momentum {@code v = m·v − lr·g; w += v} (Nesterov: {@code w += m·v − lr·g}). */
    public static final class Sgd extends Optimizer {
        private final float momentum;
        private final boolean nesterov;

        public Sgd(float learningRate, float momentum, boolean nesterov) {
            super(learningRate);
            if (momentum < 0 || momentum >= 1) {
                throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
            }
            this.momentum = momentum;
            this.nesterov = nesterov;
        }

        @Override
        float[][] newState(int n) {
            return new float[][] {new float[momentum == 0 ? 0 : n]};
        }

        @Override
        void update(float[] w, float[] g, float[][] s) {
            if (momentum == 0) {
                for (int i = 0; i < w.length; i++) {
                    w[i] -= learningRate * g[i];
                }
                return;
            }
            float[] v = s[0];
            for (int i = 0; i < w.length; i++) {
                v[i] = momentum * v[i] - learningRate * g[i];
                w[i] += nesterov ? momentum * v[i] - learningRate * g[i] : v[i];
            }
        }
    }

    /** RMSprop (tfjs and Keras 3 agree): {@code ms = ρ·ms + (1−ρ)·g²; w −= lr·g / sqrt(ms + ε)}; momentum 0, not centered. */
    public static final class RmsProp extends Optimizer {
        private final float rho;
        private final float epsilon;

        public RmsProp(float learningRate, float rho, float epsilon) {
            super(learningRate);
            if (rho < 0 || rho >= 1) {
                throw new IllegalArgumentException("rho must be in [0, 1), got " + rho);
            }
            this.rho = rho;
            this.epsilon = epsilon;
        }

        @Override
        float[][] newState(int n) {
            return new float[][] {new float[n]};
        }

        @Override
        void update(float[] w, float[] g, float[][] s) {
            float[] ms = s[0];
            for (int i = 0; i < w.length; i++) {
                ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
                w[i] -= (float) (learningRate * g[i] / Math.sqrt(ms[i] + epsilon));
            }
        }
    }

    /** Where Adam adds ε: tfjs/PyTorch add it to the bias-corrected sqrt(v̂), Keras 3 to the uncorrected sqrt(v). */
    public enum AdamForm { TFJS, KERAS3 }

    /** Adam in either {@link AdamForm}; β powers kept in float32 products as tfjs does. */
    public static final class Adam extends Optimizer {
        private final float beta1;
        private final float beta2;
        private final float epsilon;
        private final AdamForm form;
        private float beta1Power = 1f;
        private float beta2Power = 1f;

        public Adam(float learningRate, float beta1, float beta2, float epsilon, AdamForm form) {
            super(learningRate);
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) {
                throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
            }
            this.beta1 = beta1;
            this.beta2 = beta2;
            this.epsilon = epsilon;
            this.form = Objects.requireNonNull(form, "form");
        }

        @Override
        void beginStep() {
            beta1Power *= beta1;
            beta2Power *= beta2;
        }

        @Override
        float[][] newState(int n) {
            return new float[][] {new float[n], new float[n]};
        }

        @Override
        void update(float[] w, float[] g, float[][] s) {
            float[] m = s[0];
            float[] v = s[1];
            double c1 = 1 - (double) beta1Power;
            double c2 = 1 - (double) beta2Power;
            for (int i = 0; i < w.length; i++) {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                double delta = form == AdamForm.TFJS
                        ? learningRate * (m[i] / c1) / (Math.sqrt(v[i] / c2) + epsilon)
                        : learningRate * Math.sqrt(c2) / c1 * m[i] / (Math.sqrt(v[i]) + epsilon);
                w[i] -= (float) delta;
            }
        }
    }
}
