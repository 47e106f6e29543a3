package io.jlstm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Accuracy of the shared tanh/sigmoid approximation (scalar form; the vector form is checked
 * bit for bit against it in {@link KernelsAgreementTest}) against the double definitions.
 */
class RationalTanhAccuracyTest {
    static final double LIMIT = 1e-6;

    /** Largest errors seen by a sweep, and where. */
    record Errors(double tanh, float tanhAt, double sigmoid, float sigmoidAt, double hardSigmoid,
                  double tanhUlpsBelowOne, long checked) {
        Errors max(Errors o) {
            return new Errors(Math.max(tanh, o.tanh), tanh >= o.tanh ? tanhAt : o.tanhAt,
                    Math.max(sigmoid, o.sigmoid), sigmoid >= o.sigmoid ? sigmoidAt : o.sigmoidAt,
                    Math.max(hardSigmoid, o.hardSigmoid), Math.max(tanhUlpsBelowOne, o.tanhUlpsBelowOne),
                    checked + o.checked);
        }

        @Override
        public String toString() {
            return String.format("tanh max abs err %.3g at %s, sigmoid %.3g at %s, hard_sigmoid %.3g, "
                    + "tanh max ulps for |x|<1 %.2f, over %d floats", tanh, tanhAt, sigmoid, sigmoidAt,
                    hardSigmoid, tanhUlpsBelowOne, checked);
        }
    }

    /** Checks every float whose bit pattern is in [from, to) and a multiple of stride apart. */
    static Errors sweep(long from, long to, long stride) {
        double et = 0, es = 0, eh = 0, ulps = 0;
        float at = 0, as = 0;
        long n = 0;
        for (long bits = from; bits < to; bits += stride) {
            float x = Float.intBitsToFloat((int) bits);
            float t = RationalTanh.tanh(x);
            float s = RationalTanh.sigmoid(x);
            float h = RationalTanh.hardSigmoid(x);
            if (Float.isNaN(x)) {
                if (!Float.isNaN(t) || !Float.isNaN(s) || !Float.isNaN(h)) {
                    throw new AssertionError("NaN not propagated for bits " + Long.toHexString(bits));
                }
                continue;
            }
            // Structural properties: bounded, odd (the clamp, the tiny cut and p/q are all symmetric).
            if (!(Math.abs(t) <= 1f) || !(s >= 0f && s <= 1f) || RationalTanh.tanh(-x) != -t) {
                throw new AssertionError("bad value at " + x + ": tanh " + t + " sigmoid " + s);
            }
            double dt = Math.abs(t - Math.tanh(x));
            double ds = Math.abs(s - 1.0 / (1.0 + Math.exp(-(double) x)));
            double dh = Math.abs(h - Activation.HARD_SIGMOID.applyExact(x));
            if (dt > et) {
                et = dt;
                at = x;
            }
            if (ds > es) {
                es = ds;
                as = x;
            }
            eh = Math.max(eh, dh);
            if (Math.abs(x) < 1f && x != 0f) {
                ulps = Math.max(ulps, dt / Math.ulp((float) Math.tanh(x)));
            }
            n++;
        }
        return new Errors(et, at, es, as, eh, ulps, n);
    }

    /** Splits [0, 2^32) into chunks over the cores; stride 1 is the exhaustive run. */
    static Errors sweepAll(long stride) {
        long span = 1L << 32;
        int chunks = 256;
        long per = span / chunks;
        return IntStream.range(0, chunks).parallel()
                .mapToObj(c -> sweep(c * per, (c + 1) * per, stride))
                .reduce(Errors::max).orElseThrow();
    }

    /** Exhaustive run for the record (about a minute on 2 cores): java ... RationalTanhAccuracyTest */
    public static void main(String[] args) {
        long t0 = System.nanoTime();
        System.out.println(sweepAll(args.length > 0 ? Long.parseLong(args[0]) : 1));
        System.out.printf("%.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    @Test
    void everySixtyFourthBitPattern() {
        Errors e = sweepAll(64);
        System.out.println("every 64th float: " + e);
        assertTrue(e.tanh() < LIMIT, e::toString);
        assertTrue(e.sigmoid() < LIMIT, e::toString);
        assertTrue(e.hardSigmoid() < 1.5e-7, e::toString);
        assertTrue(e.tanhUlpsBelowOne() <= 5, e::toString); // Eigen's fit: a few ulp
    }

    @Test
    void denseInMinusTenToTen() {
        // Every float in [-16, 16] with stride 1e-4 in value, plus every float of three binades
        // around the clamp, where the approximation hands over to the constant 1.
        Errors e = IntStream.rangeClosed(-160_000, 160_000).parallel()
                .mapToObj(i -> {
                    float x = i * 1e-4f;
                    long b = Float.floatToRawIntBits(x) & 0xffffffffL;
                    return sweep(b, b + 1, 1);
                })
                .reduce(Errors::max).orElseThrow();
        long lo = Float.floatToRawIntBits(4f);
        long hi = Float.floatToRawIntBits(32f);
        e = e.max(sweep(lo, hi, 1)).max(sweep(lo | 0x80000000L, hi | 0x80000000L, 1));
        System.out.println("dense [-16,16] and every float with 4 <= |x| < 32: " + e);
        assertTrue(e.tanh() < LIMIT, e::toString);
        assertTrue(e.sigmoid() < LIMIT, e::toString);
    }

    @Test
    void specialValues() {
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(RationalTanh.tanh(-0f)));
        assertEquals(Float.floatToRawIntBits(0f), Float.floatToRawIntBits(RationalTanh.tanh(0f)));
        assertEquals(1f, RationalTanh.tanh(Float.POSITIVE_INFINITY));
        assertEquals(-1f, RationalTanh.tanh(Float.NEGATIVE_INFINITY));
        assertEquals(1f, RationalTanh.tanh(Float.MAX_VALUE));
        assertEquals(-1f, RationalTanh.tanh(-Float.MAX_VALUE));
        assertEquals(1f, RationalTanh.sigmoid(Float.POSITIVE_INFINITY));
        assertEquals(0f, RationalTanh.sigmoid(Float.NEGATIVE_INFINITY));
        assertEquals(0.5f, RationalTanh.sigmoid(0f));
        assertEquals(0.5f, RationalTanh.sigmoid(-0f));
        assertEquals(Float.MIN_VALUE, RationalTanh.tanh(Float.MIN_VALUE)); // subnormals pass through
        assertEquals(-Float.MIN_VALUE, RationalTanh.tanh(-Float.MIN_VALUE));
        assertEquals(1e-5f, RationalTanh.tanh(1e-5f));
        assertEquals(1f, RationalTanh.hardSigmoid(Float.POSITIVE_INFINITY));
        assertEquals(0f, RationalTanh.hardSigmoid(Float.NEGATIVE_INFINITY));
        assertEquals(0f, RationalTanh.hardSigmoid(-3f));
        assertEquals(1f, RationalTanh.hardSigmoid(3f));
        for (Activation a : Activation.values()) {
            assertTrue(Float.isNaN(RationalTanh.apply(a, Float.NaN)), a.kerasName());
        }
        assertEquals(0f, RationalTanh.apply(Activation.RELU, -5f));
        assertEquals(0f, RationalTanh.apply(Activation.RELU, Float.NEGATIVE_INFINITY));
    }
}
