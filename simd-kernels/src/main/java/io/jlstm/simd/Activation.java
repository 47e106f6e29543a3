package io.jlstm.simd;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Element-wise activation functions, named as Keras names them.
 *
 * <p>An enum constant owns no memory and is immutable, hence thread-safe. The float kernels that
 * apply these functions live in {@link Kernels}; {@link #applyExact(double)} is the
 * double-precision definition the tests measure those kernels against.
 */
public enum Activation {
    /** {@code x}. */
    LINEAR("linear"),
    /** {@code max(0, x)}; NaN stays NaN. */
    RELU("relu"),
    /** {@code 1 / (1 + exp(-x))}. */
    SIGMOID("sigmoid"),
    /** Keras 3 definition: {@code clip(x / 6 + 0.5, 0, 1)} (Keras 2 used {@code 0.2 x + 0.5}). */
    HARD_SIGMOID("hard_sigmoid"),
    /** Hyperbolic tangent. */
    TANH("tanh");

    private final String kerasName;

    Activation(String kerasName) {
        this.kerasName = kerasName;
    }

    /**
     * Maps a Keras activation name to its constant. Only the exact lower-case Keras names are
     * accepted: a model file that says something else is a model this runtime cannot run, and
     * guessing would silently change its output.
     *
     * @param name one of {@code "linear", "relu", "sigmoid", "hard_sigmoid", "tanh"}
     * @return the matching constant
     * @throws IllegalArgumentException if {@code name} is null or not one of the accepted names;
     *     the message names the bad value and lists the accepted ones
     */
    public static Activation fromKerasName(String name) {
        for (Activation a : values()) {
            if (a.kerasName.equals(name)) {
                return a;
            }
        }
        String accepted = Arrays.stream(values()).map(a -> '"' + a.kerasName + '"')
                .collect(Collectors.joining(", "));
        throw new IllegalArgumentException("unknown Keras activation "
                + (name == null ? "null" : '"' + name + '"') + "; accepted: " + accepted);
    }

    /**
     * Returns the Keras name of this activation.
     *
     * @return {@code "linear"}, {@code "relu"}, {@code "sigmoid"}, {@code "hard_sigmoid"} or
     *     {@code "tanh"}
     */
    public String kerasName() {
        return kerasName;
    }

    /**
     * Evaluates this activation in float exactly as the kernels do, element by element (the
     * rational tanh, within 3e-7 of {@link #applyExact}): for code outside the kernels that must
     * compute the same function as inference, such as the trainer's forward pass.
     *
     * @param x the argument
     * @return the activation of {@code x}, bit-identical to the kernels' result for that element
     */
    public float apply(float x) {
        return RationalTanh.apply(this, x);
    }

    /**
     * The derivative of this activation where it outputs {@code y}, written in terms of that output
     * as backpropagation uses it: linear 1, relu {@code y > 0 ? 1 : 0}, sigmoid {@code y·(1 − y)},
     * hard_sigmoid {@code 0 < y < 1 ? 1/6 : 0} (Keras 3's slope), tanh {@code 1 − y·y}. Evaluated
     * in float, left to right, without fused multiply-adds, exactly as {@link
     * Kernels#lstmCellBackward} evaluates it.
     *
     * @param y the activation's output
     * @return the derivative there; 0 for a NaN output of relu and hard_sigmoid
     */
    public float derivativeFromOutput(float y) {
        return switch (this) {
            case LINEAR -> 1f;
            case RELU -> y > 0 ? 1f : 0f;
            case SIGMOID -> y * (1 - y);
            case HARD_SIGMOID -> y > 0 && y < 1 ? 1f / 6f : 0f;
            case TANH -> 1 - y * y;
        };
    }

    /**
     * Evaluates this activation in double precision, straight from its definition. It is the
     * reference the float kernels are tested against, not a fast path.
     *
     * @param x the argument
     * @return the activation of {@code x}; NaN for a NaN argument
     */
    public double applyExact(double x) {
        return switch (this) {
            case LINEAR -> x;
            case RELU -> Math.max(0.0, x);
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case HARD_SIGMOID -> Math.max(0.0, Math.min(1.0, x / 6.0 + 0.5));
            case TANH -> Math.tanh(x);
        };
    }
}
