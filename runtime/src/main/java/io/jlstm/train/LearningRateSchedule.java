package io.jlstm.train;

/**
 * A learning rate that depends on the optimizer step, Keras style
 * ({@code keras.optimizers.schedules}). Set on an optimizer with
 * {@link Optimizer#withSchedule(LearningRateSchedule)}; the optimizer then asks for
 * {@code rate(iteration)} at every {@link Optimizer#step step}, where {@code iteration} counts the
 * steps already applied: 0 for the first step, 1 for the second, and so on (as Keras passes its
 * {@code optimizer.iterations} before incrementing it).
 *
 * <p>The factories below compute in double precision and round the result to float once. Any
 * lambda is a schedule too; the optimizer rejects a rate that is negative, NaN or infinite with an
 * {@link IllegalStateException}.
 */
@FunctionalInterface
public interface LearningRateSchedule {

    /** The learning rate for the step with this zero-based index. */
    float rate(int iteration);

    /** The same rate at every step. */
    static LearningRateSchedule constant(float rate) {
        requirePositive("rate", rate);
        return new Constant(rate);
    }

    /**
     * Step decay: {@code initial · factor^floor(iteration / steps)}, so the rate is multiplied by
     * {@code factor} every {@code steps} steps.
     *
     * @param initial the rate of the first {@code steps} steps; positive and finite
     * @param factor the multiplier, in (0, 1]
     * @param steps how many steps each rate lasts; at least 1
     */
    static LearningRateSchedule stepDecay(float initial, float factor, int steps) {
        requirePositive("initial learning rate", initial);
        if (!(factor > 0 && factor <= 1)) {
            throw new IllegalArgumentException("step decay factor must be in (0, 1], got " + factor);
        }
        if (steps < 1) {
            throw new IllegalArgumentException("step decay steps must be at least 1, got " + steps);
        }
        return new StepDecay(initial, factor, steps);
    }

    /**
     * Keras {@code ExponentialDecay}: {@code initial · decayRate^(iteration / decaySteps)}, the
     * exponent a real number, or with {@code staircase} its floor (the rate then changes every
     * {@code decaySteps} steps).
     *
     * @param initial positive and finite
     * @param decaySteps at least 1
     * @param decayRate positive and finite (above 1 grows the rate, as Keras allows)
     */
    static LearningRateSchedule exponentialDecay(float initial, int decaySteps, float decayRate, boolean staircase) {
        requirePositive("initial learning rate", initial);
        if (decaySteps < 1) {
            throw new IllegalArgumentException("exponential decay steps must be at least 1, got " + decaySteps);
        }
        requirePositive("exponential decay rate", decayRate);
        return new ExponentialDecay(initial, decaySteps, decayRate, staircase);
    }

    /**
     * Keras {@code CosineDecay} without warm-up:
     * {@code initial · ((1 − alpha) · 0.5 · (1 + cos(π · min(iteration, decaySteps) / decaySteps)) + alpha)},
     * from {@code initial} at step 0 down to {@code alpha · initial} at {@code decaySteps} and
     * after.
     *
     * @param initial positive and finite
     * @param decaySteps at least 1
     * @param alpha the final fraction of {@code initial}, in [0, 1]
     */
    static LearningRateSchedule cosineDecay(float initial, int decaySteps, float alpha) {
        requirePositive("initial learning rate", initial);
        if (decaySteps < 1) {
            throw new IllegalArgumentException("cosine decay steps must be at least 1, got " + decaySteps);
        }
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("cosine decay alpha must be in [0, 1], got " + alpha);
        }
        return new CosineDecay(initial, decaySteps, alpha);
    }

    private static void requirePositive(String name, float value) {
        if (!(value > 0) || !Float.isFinite(value)) {
            throw new IllegalArgumentException(name + " must be positive and finite, got " + value);
        }
    }

    private static void requireIteration(int iteration) {
        if (iteration < 0) {
            throw new IllegalArgumentException("iteration must be at least 0, got " + iteration);
        }
    }

    /** See {@link #constant}. */
    record Constant(float rate) implements LearningRateSchedule {
        @Override
        public float rate(int iteration) {
            requireIteration(iteration);
            return rate;
        }
    }

    /** See {@link #stepDecay}. */
    record StepDecay(float initial, float factor, int steps) implements LearningRateSchedule {
        @Override
        public float rate(int iteration) {
            requireIteration(iteration);
            return (float) (initial * Math.pow(factor, iteration / steps));
        }
    }

    /** See {@link #exponentialDecay}. */
    record ExponentialDecay(float initial, int decaySteps, float decayRate, boolean staircase)
            implements LearningRateSchedule {
        @Override
        public float rate(int iteration) {
            requireIteration(iteration);
            double p = (double) iteration / decaySteps;
            if (staircase) {
                p = Math.floor(p);
            }
            return (float) (initial * Math.pow(decayRate, p));
        }
    }

    /** See {@link #cosineDecay}. */
    record CosineDecay(float initial, int decaySteps, float alpha) implements LearningRateSchedule {
        @Override
        public float rate(int iteration) {
            requireIteration(iteration);
            double fraction = (double) Math.min(iteration, decaySteps) / decaySteps;
            double cosine = 0.5 * (1 + Math.cos(Math.PI * fraction));
            return (float) (initial * ((1 - (double) alpha) * cosine + alpha));
        }
    }
}
