package io.jlstm.simd;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Shared test data: implementations, segments from arrays and back, seeded random data. */
final class Fixtures {
    private Fixtures() {
    }

    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Prime lengths so every main-loop/tail split runs, plus 0. */
    static final int[] LENGTHS = {0, 1, 7, 13, 37, 1021};

    /** Inputs every activation must handle: zeros, subnormals, extremes, the clamp, the tiny cut-off. */
    static final float[] SPECIALS = {
        0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_NORMAL, 1e-30f, -1e-30f,
        3.9e-4f, -3.9e-4f, 4e-4f, -4e-4f, 4.1e-4f, 1e-3f, 0.5f, -0.5f, 1f, -1f, 3f, -3f, 7.99881172180175781f,
        -7.99881172180175781f, Math.nextUp(7.99881172180175781f), Math.nextDown(7.99881172180175781f),
        Math.nextUp(-7.99881172180175781f), Math.nextDown(-7.99881172180175781f),
        // twice the clamp and its neighbours: a sigmoid clamps half its input
        2 * 7.99881172180175781f, -2 * 7.99881172180175781f, Math.nextUp(2 * 7.99881172180175781f),
        Math.nextDown(2 * 7.99881172180175781f), Math.nextUp(-2 * 7.99881172180175781f),
        Math.nextDown(-2 * 7.99881172180175781f), 8f, -8f, 9f, -9f, 16f, -16f, 17f, -17f, 20f, -20f, 88f, -88f, 1e10f, -1e10f,
        Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
        Float.intBitsToFloat(0xffc00001), // a negative NaN with payload
    };

    /** The scalar kernels and every vector width this CPU supports. */
    static List<Kernels> implementations() {
        List<Kernels> all = new ArrayList<>();
        all.add(KernelProvider.scalar());
        for (int bits : new int[] {128, 256, 512}) {
            try {
                all.add(KernelProvider.vector(bits));
            } catch (IllegalArgumentException unsupported) {
                // skipped: this CPU lacks the width
            }
        }
        return all;
    }

    /** The vector kernels at {@code bits}, or a skipped test saying the CPU lacks them. */
    static Kernels vectorOrSkip(int bits) {
        Kernels k = null;
        String why = "";
        try {
            k = KernelProvider.vector(bits);
        } catch (IllegalArgumentException e) {
            why = e.getMessage();
        }
        assumeTrue(k != null, "skipping " + bits + "-bit vector kernels: " + why);
        return k;
    }

    /** A fresh native segment holding {@code pad} garbage floats, then {@code data}, then {@code pad} more. */
    static MemorySegment segment(float[] data, int pad) {
        MemorySegment s = Arena.ofAuto().allocate((long) (data.length + 2 * pad) * Float.BYTES, 4);
        for (int i = 0; i < pad; i++) {
            s.setAtIndex(F, i, 1234.5f);
            s.setAtIndex(F, pad + data.length + i, -987.25f);
        }
        MemorySegment.copy(data, 0, s, F, (long) pad * Float.BYTES, data.length);
        return s;
    }

    static float[] read(MemorySegment s, long off, int n) {
        float[] out = new float[n];
        MemorySegment.copy(s, F, off * Float.BYTES, out, 0, n);
        return out;
    }

    static float[] random(Random rnd, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = lo + (hi - lo) * rnd.nextFloat();
        }
        return a;
    }
}
