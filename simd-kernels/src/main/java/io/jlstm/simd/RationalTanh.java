package io.jlstm.simd;

/**
 * The tanh approximation both implementations share, in its scalar form; {@link VectorKernels}
 * evaluates the same operations lane-wise, so the two agree bit for bit.
 *
 * <p>It is Eigen's {@code ptanh_float} (also MLAS's): a 13/6 rational function, odd numerator
 * over even denominator, evaluated by Horner with FMA, on the argument clamped to
 * {@code ±CLAMP}. {@code CLAMP} is the smallest float at which the rational function rounds to
 * exactly 1, so saturated inputs give exactly ±1 and no output ever exceeds 1 in magnitude.
 * Below {@code TINY}, tanh(x) rounds to x in float while the rational form is off by about an
 * ulp (alpha1/beta0 is not exactly 1), so x is returned unchanged; that also keeps subnormals
 * and the sign of zero. NaN propagates through the clamp ({@link Math#min} keeps NaN).
 *
 * <p>Measured against {@link Math#tanh}: absolute error at most 2.92e-7 over all 2^32 floats (exhaustive run).
 * Sigmoid is {@code 0.5 + 0.5 * tanh(0.5 x)}, at most about 1.7e-7 absolute error; it is
 * accurate in absolute, not relative, terms for large negative x (it returns 0 below about
 * -16).
 *
 * <p>Owns no memory, stateless, thread-safe.
 */
final class RationalTanh {
    private RationalTanh() {
    }

    /** Inputs are clamped to ±CLAMP, where the rational function reaches exactly 1. */
    static final float CLAMP = 7.99881172180175781f;
    /** Below this magnitude tanh(x) rounds to x; the rational form would be off by an ulp. */
    static final float TINY = 0.0004f;

    // Numerator: x * (A1 + A3 x^2 + ... + A13 x^12).
    static final float A1 = 4.89352455891786e-03f;
    static final float A3 = 6.37261928875436e-04f;
    static final float A5 = 1.48572235717979e-05f;
    static final float A7 = 5.12229709037114e-08f;
    static final float A9 = -8.60467152213735e-11f;
    static final float A11 = 2.00018790482477e-13f;
    static final float A13 = -2.76076847742355e-16f;
    // Denominator: B0 + B2 x^2 + B4 x^4 + B6 x^6.
    static final float B0 = 4.89352518554385e-03f;
    static final float B2 = 2.26843463243900e-03f;
    static final float B4 = 1.18534705686654e-04f;
    static final float B6 = 1.19825839466702e-06f;

    static final float ONE_SIXTH = 1f / 6f;

    /** tanh by the clamped rational approximation. */
    static float tanh(float x) {
        if (Math.abs(x) < TINY) {
            return x;
        }
        float xc = Math.min(Math.max(x, -CLAMP), CLAMP);
        float x2 = xc * xc;
        float p = Math.fma(x2, A13, A11);
        p = Math.fma(x2, p, A9);
        p = Math.fma(x2, p, A7);
        p = Math.fma(x2, p, A5);
        p = Math.fma(x2, p, A3);
        p = Math.fma(x2, p, A1);
        p = xc * p;
        float q = Math.fma(x2, B6, B4);
        q = Math.fma(x2, q, B2);
        q = Math.fma(x2, q, B0);
        return p / q;
    }

    /** sigmoid(x) = 0.5 + 0.5 tanh(x / 2): one approximation to test and to keep in step. */
    static float sigmoid(float x) {
        return Math.fma(tanh(0.5f * x), 0.5f, 0.5f);
    }

    /** Keras 3 hard sigmoid, clip(x / 6 + 0.5, 0, 1); the multiply-add is fused, as in the vector code. */
    static float hardSigmoid(float x) {
        return Math.max(Math.min(Math.fma(x, ONE_SIXTH, 0.5f), 1f), 0f);
    }

    /** Applies {@code a} to one float exactly as the vector kernels do lane-wise. */
    static float apply(Activation a, float x) {
        return switch (a) {
            case LINEAR -> x;
            case RELU -> Math.max(x, 0f);
            case SIGMOID -> sigmoid(x);
            case HARD_SIGMOID -> hardSigmoid(x);
            case TANH -> tanh(x);
        };
    }
}
