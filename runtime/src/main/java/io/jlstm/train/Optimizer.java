package io.jlstm.train;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Updates weights from their gradients, Keras style. Each optimizer keeps its per-weight state
 * (momentum, moving averages) keyed by the weight array (by identity), created on first use;
 * {@link #step} is called once per batch with every weight and its gradient. Not thread-safe: one
 * optimizer belongs to one training run.
 *
 * <p>Besides the hyperparameters of each algorithm, an optimizer can be configured, before its
 * first step, with
 * <ul>
 *   <li>gradient clipping, Keras' {@code clipvalue}, {@code clipnorm} or {@code global_clipnorm}
 *       (at most one of them, as in Keras): {@link #withClipValue}, {@link #withClipNorm},
 *       {@link #withGlobalClipNorm};</li>
 *   <li>a {@link LearningRateSchedule}, {@link #withSchedule}, which replaces the fixed learning
 *       rate.</li>
 * </ul>
 * Each step then does, in Keras 3's order: clip the gradients, apply AdamW's decoupled weight
 * decay (if any), apply the algorithm's update.
 *
 * <p>{@code step} never writes to the caller's gradient arrays: when clipping is configured the
 * clipped gradients go to scratch arrays the optimizer owns (one per weight, reused).
 */
public abstract sealed class Optimizer permits Optimizer.Sgd, Optimizer.RmsProp, Optimizer.Adam {

    final float learningRate;
    private final Map<float[], float[][]> state = new IdentityHashMap<>();
    private final Map<float[], float[]> clipScratch = new IdentityHashMap<>();
    int iterations;
    /** The learning rate of the step in progress: {@link #learningRate} or the schedule's. */
    float lr;
    private LearningRateSchedule schedule;
    private float clipValue = Float.NaN;
    private float clipNorm = Float.NaN;
    private float globalClipNorm = Float.NaN;

    Optimizer(float learningRate) {
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be positive and finite, got " + learningRate);
        }
        this.learningRate = learningRate;
        this.lr = learningRate;
    }

    /**
     * Applies one update to every weight from its gradient (same order, same lengths). The
     * weights are updated in place; the gradient arrays are only read. All lengths are checked
     * before anything changes.
     */
    public final void step(float[][] weights, float[][] gradients) {
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(gradients, "gradients");
        if (weights.length != gradients.length) {
            throw new IllegalArgumentException(weights.length + " weights but " + gradients.length + " gradients");
        }
        for (int i = 0; i < weights.length; i++) {
            Objects.requireNonNull(weights[i], "weight " + i);
            Objects.requireNonNull(gradients[i], "gradient " + i);
            if (weights[i].length != gradients[i].length) {
                throw new IllegalArgumentException("weight " + i + " has " + weights[i].length
                        + " values but its gradient " + gradients[i].length);
            }
        }
        float rate = learningRate;
        if (schedule != null) {
            rate = schedule.rate(iterations);
            if (!(rate >= 0) || !Float.isFinite(rate)) {
                throw new IllegalStateException("learning rate schedule gave " + rate + " for iteration " + iterations);
            }
        }
        float[][] g = clip(weights, gradients);
        iterations++;
        lr = rate;
        beginStep();
        for (int i = 0; i < weights.length; i++) {
            update(weights[i], g[i], state.computeIfAbsent(weights[i], w -> newState(w.length)));
        }
    }

    /** How many steps this optimizer has applied. */
    public final int iterations() {
        return iterations;
    }

    /**
     * Clips every gradient element to {@code [−value, value]} before the update (Keras
     * {@code clipvalue}).
     *
     * @param value positive and finite
     * @return this optimizer
     * @throws IllegalStateException after the first step, or when another clipping is configured
     */
    public final Optimizer withClipValue(float value) {
        requireClipping("clip value", value);
        clipValue = value;
        return this;
    }

    /**
     * Rescales each weight's gradient on its own so that its L2 norm is at most {@code norm}:
     * {@code g ← g · norm / max(‖g‖, norm)} (Keras {@code clipnorm}).
     *
     * @param norm positive and finite
     * @return this optimizer
     * @throws IllegalStateException after the first step, or when another clipping is configured
     */
    public final Optimizer withClipNorm(float norm) {
        requireClipping("clip norm", norm);
        clipNorm = norm;
        return this;
    }

    /**
     * Rescales all gradients together so that the L2 norm of their concatenation is at most
     * {@code norm}: {@code g ← g · norm / max(‖all‖, norm)} (Keras {@code global_clipnorm}). As in
     * TensorFlow, a non-finite global norm turns every gradient into NaN.
     *
     * @param norm positive and finite
     * @return this optimizer
     * @throws IllegalStateException after the first step, or when another clipping is configured
     */
    public final Optimizer withGlobalClipNorm(float norm) {
        requireClipping("global clip norm", norm);
        globalClipNorm = norm;
        return this;
    }

    /**
     * Uses {@code schedule.rate(i)} as the learning rate of step {@code i} (0 for the first) in
     * place of the learning rate given to the constructor, for the update and for AdamW's weight
     * decay alike.
     *
     * @return this optimizer
     * @throws IllegalStateException after the first step
     */
    public final Optimizer withSchedule(LearningRateSchedule schedule) {
        Objects.requireNonNull(schedule, "schedule");
        requireNotStarted();
        this.schedule = schedule;
        return this;
    }

    private void requireNotStarted() {
        if (iterations > 0) {
            throw new IllegalStateException("configure the optimizer before its first step (it has taken "
                    + iterations + ")");
        }
    }

    private void requireClipping(String name, float value) {
        if (!(value > 0) || !Float.isFinite(value)) {
            throw new IllegalArgumentException(name + " must be positive and finite, got " + value);
        }
        requireNotStarted();
        if (!Float.isNaN(clipValue) || !Float.isNaN(clipNorm) || !Float.isNaN(globalClipNorm)) {
            throw new IllegalStateException("only one of clip value, clip norm and global clip norm can be set; "
                    + "already set: " + (!Float.isNaN(clipValue) ? "clip value " + clipValue
                    : !Float.isNaN(clipNorm) ? "clip norm " + clipNorm : "global clip norm " + globalClipNorm));
        }
    }

    /** The gradients to use: the caller's when no clipping is set, else clipped copies. */
    private float[][] clip(float[][] weights, float[][] gradients) {
        boolean byValue = !Float.isNaN(clipValue);
        boolean byNorm = !Float.isNaN(clipNorm);
        boolean byGlobalNorm = !Float.isNaN(globalClipNorm);
        if (!byValue && !byNorm && !byGlobalNorm) {
            return gradients;
        }
        float[][] out = new float[gradients.length][];
        for (int i = 0; i < gradients.length; i++) {
            out[i] = clipScratch.computeIfAbsent(weights[i], w -> new float[w.length]);
        }
        if (byValue) {
            for (int i = 0; i < gradients.length; i++) {
                float[] g = gradients[i];
                float[] o = out[i];
                for (int j = 0; j < g.length; j++) {
                    o[j] = Math.max(-clipValue, Math.min(clipValue, g[j]));
                }
            }
        } else if (byNorm) {
            for (int i = 0; i < gradients.length; i++) {
                scale(gradients[i], out[i], clipNorm / Math.max(Math.sqrt(sumOfSquares(gradients[i])), clipNorm));
            }
        } else {
            double sum = 0;
            for (float[] g : gradients) {
                sum += sumOfSquares(g);
            }
            double norm = Math.sqrt(sum);
            double factor = Double.isFinite(norm) ? globalClipNorm / Math.max(norm, globalClipNorm) : Double.NaN;
            for (int i = 0; i < gradients.length; i++) {
                scale(gradients[i], out[i], factor);
            }
        }
        return out;
    }

    private static double sumOfSquares(float[] g) {
        double s = 0;
        for (float x : g) {
            s += (double) x * x;
        }
        return s;
    }

    private static void scale(float[] g, float[] out, double factor) {
        for (int j = 0; j < g.length; j++) {
            out[j] = (float) (g[j] * factor);
        }
    }

    void beginStep() {
    }

    abstract float[][] newState(int n);

    abstract void update(float[] w, float[] g, float[][] s);

    private static float requireUnitInterval(String name, float value) {
        if (!(value >= 0 && value < 1)) {
            throw new IllegalArgumentException(name + " must be in [0, 1), got " + value);
        }
        return value;
    }

    private static float requireNonNegative(String name, float value) {
        if (!(value >= 0) || !Float.isFinite(value)) {
            throw new IllegalArgumentException(name + " must be non-negative and finite, got " + value);
        }
        return value;
    }

    /** Plain SGD (momentum 0): {@code w -= lr·g}; with momentum {@code v = m·v − lr·g; w += v} (Nesterov: {@code w += m·v − lr·g}). */
    public static final class Sgd extends Optimizer {
        private final float momentum;
        private final boolean nesterov;

        /**
         * @param learningRate positive and finite
         * @param momentum in [0, 1)
         * @param nesterov Nesterov momentum (no effect when momentum is 0)
         */
        public Sgd(float learningRate, float momentum, boolean nesterov) {
            super(learningRate);
            this.momentum = requireUnitInterval("momentum", momentum);
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
                    w[i] -= lr * g[i];
                }
                return;
            }
            float[] v = s[0];
            for (int i = 0; i < w.length; i++) {
                v[i] = momentum * v[i] - lr * g[i];
                w[i] += nesterov ? momentum * v[i] - lr * g[i] : v[i];
            }
        }
    }

    /**
     * RMSprop, Keras 3: {@code ms = ρ·ms + (1−ρ)·g²}; when centered also
     * {@code mg = ρ·mg + (1−ρ)·g} and the denominator is {@code sqrt(ms − mg² + ε)}, else
     * {@code sqrt(ms + ε)}; {@code increment = lr·g / denominator}; with momentum
     * {@code mom = momentum·mom + increment; w −= mom}, else {@code w −= increment}. With momentum 0
     * and not centered tfjs and Keras 3 agree.
     */
    public static final class RmsProp extends Optimizer {
        private final float rho;
        private final float momentum;
        private final float epsilon;
        private final boolean centered;

        /** RMSprop with momentum 0, not centered (the tfjs-compatible form). */
        public RmsProp(float learningRate, float rho, float epsilon) {
            this(learningRate, rho, 0f, epsilon, false);
        }

        /**
         * @param learningRate positive and finite
         * @param rho in [0, 1)
         * @param momentum in [0, 1)
         * @param epsilon non-negative and finite
         * @param centered divide by the estimated variance rather than the second moment
         */
        public RmsProp(float learningRate, float rho, float momentum, float epsilon, boolean centered) {
            super(learningRate);
            this.rho = requireUnitInterval("rho", rho);
            this.momentum = requireUnitInterval("momentum", momentum);
            this.epsilon = requireNonNegative("epsilon", epsilon);
            this.centered = centered;
        }

        @Override
        float[][] newState(int n) {
            return new float[][] {new float[n], new float[momentum > 0 ? n : 0], new float[centered ? n : 0]};
        }

        @Override
        void update(float[] w, float[] g, float[][] s) {
            float[] ms = s[0];
            if (momentum == 0 && !centered) {
                for (int i = 0; i < w.length; i++) {
                    ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
                    w[i] -= (float) (lr * g[i] / Math.sqrt(ms[i] + epsilon));
                }
                return;
            }
            float[] mom = s[1];
            float[] mg = s[2];
            for (int i = 0; i < w.length; i++) {
                ms[i] = rho * ms[i] + (1 - rho) * g[i] * g[i];
                float denominator;
                if (centered) {
                    mg[i] = rho * mg[i] + (1 - rho) * g[i];
                    denominator = ms[i] - mg[i] * mg[i] + epsilon;
                } else {
                    denominator = ms[i] + epsilon;
                }
                float increment = (float) (lr * g[i] / Math.sqrt(denominator));
                if (momentum > 0) {
                    mom[i] = momentum * mom[i] + increment;
                    w[i] -= mom[i];
                } else {
                    w[i] -= increment;
                }
            }
        }
    }

    /** Where Adam adds ε: tfjs/PyTorch add it to the bias-corrected sqrt(v̂), Keras 3 to the uncorrected sqrt(v). */
    public enum AdamForm { TFJS, KERAS3 }

    /**
     * AdamW as Keras 3 has it: {@link AdamForm#KERAS3} Adam, no amsgrad, with decoupled weight
     * decay {@code w −= lr·weightDecay·w} applied (after clipping) before each Adam update.
     *
     * @param weightDecay non-negative and finite (Keras' default is 0.004)
     */
    public static Adam adamW(float learningRate, float beta1, float beta2, float epsilon, float weightDecay) {
        return adamW(learningRate, beta1, beta2, epsilon, weightDecay, AdamForm.KERAS3, false);
    }

    /** AdamW in either {@link AdamForm}, optionally with amsgrad; see {@link #adamW(float, float, float, float, float)}. */
    public static Adam adamW(float learningRate, float beta1, float beta2, float epsilon, float weightDecay,
            AdamForm form, boolean amsgrad) {
        return new Adam(learningRate, beta1, beta2, epsilon, form, amsgrad,
                requireNonNegative("weight decay", weightDecay));
    }

    /**
     * Adam in either {@link AdamForm}; β powers kept in float32 products as tfjs does.
     * {@code m = β₁·m + (1−β₁)·g; v = β₂·v + (1−β₂)·g²}; with amsgrad {@code v̂ = max(v̂, v)} takes
     * the place of {@code v} in the update (Keras 3 and PyTorch). Optionally AdamW's decoupled
     * weight decay (see {@link Optimizer#adamW}).
     */
    public static final class Adam extends Optimizer {
        private final float beta1;
        private final float beta2;
        private final float epsilon;
        private final AdamForm form;
        private final boolean amsgrad;
        private final float weightDecay;
        private float beta1Power = 1f;
        private float beta2Power = 1f;

        /** Adam without amsgrad. */
        public Adam(float learningRate, float beta1, float beta2, float epsilon, AdamForm form) {
            this(learningRate, beta1, beta2, epsilon, form, false, 0f);
        }

        /**
         * @param learningRate positive and finite
         * @param beta1 in [0, 1)
         * @param beta2 in [0, 1)
         * @param epsilon non-negative and finite
         * @param form where ε goes
         * @param amsgrad use the running maximum of {@code v}
         */
        public Adam(float learningRate, float beta1, float beta2, float epsilon, AdamForm form, boolean amsgrad) {
            this(learningRate, beta1, beta2, epsilon, form, amsgrad, 0f);
        }

        private Adam(float learningRate, float beta1, float beta2, float epsilon, AdamForm form, boolean amsgrad,
                float weightDecay) {
            super(learningRate);
            this.beta1 = requireUnitInterval("beta_1", beta1);
            this.beta2 = requireUnitInterval("beta_2", beta2);
            this.epsilon = requireNonNegative("epsilon", epsilon);
            this.form = Objects.requireNonNull(form, "form");
            this.amsgrad = amsgrad;
            this.weightDecay = weightDecay;
        }

        @Override
        void beginStep() {
            beta1Power *= beta1;
            beta2Power *= beta2;
        }

        @Override
        float[][] newState(int n) {
            return amsgrad ? new float[][] {new float[n], new float[n], new float[n]} : new float[][] {new float[n], new float[n]};
        }

        @Override
        void update(float[] w, float[] g, float[][] s) {
            if (weightDecay != 0) {
                for (int i = 0; i < w.length; i++) {
                    w[i] -= w[i] * weightDecay * lr; // Keras: variable - variable * wd * lr
                }
            }
            float[] m = s[0];
            float[] v = s[1];
            float[] vHat = amsgrad ? s[2] : v;
            double c1 = 1 - (double) beta1Power;
            double c2 = 1 - (double) beta2Power;
            for (int i = 0; i < w.length; i++) {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                if (amsgrad) {
                    vHat[i] = Math.max(vHat[i], v[i]);
                }
                double delta = form == AdamForm.TFJS
                        ? lr * (m[i] / c1) / (Math.sqrt(vHat[i] / c2) + epsilon)
                        : lr * Math.sqrt(c2) / c1 * m[i] / (Math.sqrt(vHat[i]) + epsilon);
                w[i] -= (float) delta;
            }
        }
    }
}
