package io.jlstm.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The scalar twin: every kernel as plain Java loops. It always works (no incubator module
 * needed), it is what {@link VectorKernels} is tested against, and it evaluates tanh and
 * sigmoid with the same {@link RationalTanh} approximation so activations agree bit for bit.
 *
 * <p>Owns no memory (callers own every segment), stateless, thread-safe.
 */
final class ScalarKernels implements Kernels {
    /** Unaligned so that any segment works, e.g. a slice of a byte[]; same code on x86. */
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int vectorBitSize() {
        return 0;
    }

    @Override
    public String toString() {
        return name();
    }

    @Override
    public void activate(Activation a, MemorySegment x, long off, int n) {
        Checks.activate(a, x, off, n);
        for (long i = off, end = off + n; i < end; i++) {
            x.setAtIndex(F, i, RationalTanh.apply(a, x.getAtIndex(F, i)));
        }
    }

    @Override
    public void softmax(MemorySegment x, long off, int n) {
        Checks.vector("x", x, off, n);
        if (n == 0) {
            return;
        }
        long end = off + n;
        float max = Float.NEGATIVE_INFINITY;
        for (long i = off; i < end; i++) {
            max = Math.max(max, x.getAtIndex(F, i)); // Math.max keeps NaN, so NaN in -> NaN out
        }
        // The reference twin sums in double: its job is to be right, the vector one to be fast.
        double sum = 0;
        for (long i = off; i < end; i++) {
            float e = (float) Math.exp((double) x.getAtIndex(F, i) - max);
            x.setAtIndex(F, i, e);
            sum += e;
        }
        for (long i = off; i < end; i++) {
            x.setAtIndex(F, i, (float) (x.getAtIndex(F, i) / sum));
        }
    }

    @Override
    public float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        Checks.twoVectors(n, a, aOff, "a", b, bOff, "b");
        float s = 0;
        for (int i = 0; i < n; i++) {
            s = Math.fma(a.getAtIndex(F, aOff + i), b.getAtIndex(F, bOff + i), s);
        }
        return s;
    }

    @Override
    public void axpy(int n, float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff) {
        Checks.twoVectors(n, x, xOff, "x", y, yOff, "y");
        axpyUnchecked(n, alpha, x, xOff, y, yOff);
    }

    private static void axpyUnchecked(int n, float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff) {
        for (int i = 0; i < n; i++) {
            y.setAtIndex(F, yOff + i, Math.fma(alpha, x.getAtIndex(F, xOff + i), y.getAtIndex(F, yOff + i)));
        }
    }

    /** {@code y = beta * y}, where beta == 0 writes zeros so that NaN in the old y is ignored (BLAS). */
    private static void scale(int n, float beta, MemorySegment y, long yOff) {
        if (beta == 0f) {
            for (int i = 0; i < n; i++) { // no slice object on the hot path
                y.setAtIndex(F, yOff + i, 0f);
            }
        } else if (beta != 1f) {
            for (int i = 0; i < n; i++) {
                y.setAtIndex(F, yOff + i, beta * y.getAtIndex(F, yOff + i));
            }
        }
    }

    @Override
    public void gemv(boolean trans, int m, int n, float alpha, MemorySegment a, long aOff, int lda,
                     MemorySegment x, long xOff, float beta, MemorySegment y, long yOff) {
        Checks.gemv(trans, m, n, a, aOff, lda, x, xOff, y, yOff);
        if (trans) {
            // y (n) accumulates alpha * x[i] * A[i, :], streaming A row by row.
            scale(n, beta, y, yOff);
            if (alpha == 0f) {
                return;
            }
            for (int i = 0; i < m; i++) {
                axpyUnchecked(n, alpha * x.getAtIndex(F, xOff + i), a, aOff + (long) i * lda, y, yOff);
            }
        } else {
            for (int i = 0; i < m; i++) {
                long row = aOff + (long) i * lda;
                float s = 0;
                for (int j = 0; j < n; j++) {
                    s = Math.fma(a.getAtIndex(F, row + j), x.getAtIndex(F, xOff + j), s);
                }
                long yi = yOff + i;
                y.setAtIndex(F, yi, beta == 0f ? alpha * s : Math.fma(alpha, s, beta * y.getAtIndex(F, yi)));
            }
        }
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc) {
        Checks.sgemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        // op(A)[i, p] = a[aOff + i * aRow + p * aCol]; likewise op(B)[p, j].
        long aRow = transA ? 1 : lda, aCol = transA ? lda : 1;
        long bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1;
        boolean product = alpha != 0f && k > 0;
        for (int i = 0; i < m; i++) {
            long cRow = cOff + (long) i * ldc;
            scale(n, beta, c, cRow);
            if (!product) {
                continue;
            }
            // i-p-j order: the inner loop runs along a row of C (and of B when not transposed).
            for (int p = 0; p < k; p++) {
                float aip = alpha * a.getAtIndex(F, aOff + i * aRow + p * aCol);
                long bp = bOff + p * bRow;
                for (int j = 0; j < n; j++) {
                    long cj = cRow + j;
                    c.setAtIndex(F, cj, Math.fma(aip, b.getAtIndex(F, bp + j * bCol), c.getAtIndex(F, cj)));
                }
            }
        }
    }

    @Override
    public void lstmCell(MemorySegment gates, long gOff, MemorySegment c, long cOff, MemorySegment h, long hOff,
                         int units, Activation activation, Activation recurrentActivation) {
        Checks.lstmCell(gates, gOff, c, cOff, h, hOff, units, activation, recurrentActivation);
        lstmCellRange(gates, gOff, c, cOff, h, hOff, units, 0, activation, recurrentActivation);
    }

    @Override
    public void lstmCellBackward(MemorySegment gates, long gOff, MemorySegment cPrev, long cOff, MemorySegment actC,
                                 long aOff, MemorySegment dh, long dhOff, MemorySegment dc, long dcOff, MemorySegment dz,
                                 long dzOff, int units, Activation activation, Activation recurrentActivation) {
        Checks.lstmCellBackward(gates, gOff, cPrev, cOff, actC, aOff, dh, dhOff, dc, dcOff, dz, dzOff, units, activation,
                recurrentActivation);
        lstmCellBackwardRange(gates, gOff, cPrev, cOff, actC, aOff, dh, dhOff, dc, dcOff, dz, dzOff, units, 0, activation,
                recurrentActivation);
    }

    @Override
    public void gruCellResetAfter(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                  long hOff, int units, Activation activation, Activation recurrentActivation) {
        Checks.gruCellResetAfter(xp, xpOff, hp, hpOff, h, hOff, units, activation, recurrentActivation);
        gruCellResetAfterRange(xp, xpOff, hp, hpOff, h, hOff, units, 0, activation, recurrentActivation);
    }

    @Override
    public void gruGatesResetBefore(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                    long hOff, MemorySegment rh, long rhOff, int units, Activation recurrentActivation) {
        Checks.gruGatesResetBefore(xp, xpOff, hp, hpOff, h, hOff, rh, rhOff, units, recurrentActivation);
        gruGatesResetBeforeRange(xp, xpOff, hp, hpOff, h, hOff, rh, rhOff, units, 0, recurrentActivation);
    }

    @Override
    public void gruFinishResetBefore(MemorySegment xp, long xpOff, MemorySegment hpH, long hpHOff, MemorySegment h,
                                     long hOff, int units, Activation activation) {
        Checks.gruFinishResetBefore(xp, xpOff, hpH, hpHOff, h, hOff, units, activation);
        gruFinishResetBeforeRange(xp, xpOff, hpH, hpHOff, h, hOff, units, 0, activation);
    }

    // The per-unit cell math, for units [from, units). The scalar kernels run it over all units; the
    // vector kernels run it over their tail, so a unit's result does not depend on where it falls.

    static void lstmCellRange(MemorySegment gates, long gOff, MemorySegment c, long cOff, MemorySegment h, long hOff,
                              int units, int from, Activation activation, Activation recurrentActivation) {
        for (int j = from; j < units; j++) {
            float i = RationalTanh.apply(recurrentActivation, gates.getAtIndex(F, gOff + j));
            float f = RationalTanh.apply(recurrentActivation, gates.getAtIndex(F, gOff + units + j));
            float g = RationalTanh.apply(activation, gates.getAtIndex(F, gOff + 2L * units + j));
            float o = RationalTanh.apply(recurrentActivation, gates.getAtIndex(F, gOff + 3L * units + j));
            float cNew = Math.fma(f, c.getAtIndex(F, cOff + j), i * g);
            c.setAtIndex(F, cOff + j, cNew);
            h.setAtIndex(F, hOff + j, o * RationalTanh.apply(activation, cNew));
        }
    }

    static void lstmCellBackwardRange(MemorySegment gates, long gOff, MemorySegment cPrev, long cOff,
                                      MemorySegment actC, long aOff, MemorySegment dh, long dhOff, MemorySegment dc,
                                      long dcOff, MemorySegment dz, long dzOff, int units, int from, Activation act,
                                      Activation rec) {
        for (int j = from; j < units; j++) {
            float ig = gates.getAtIndex(F, gOff + j);
            float fg = gates.getAtIndex(F, gOff + units + j);
            float gg = gates.getAtIndex(F, gOff + 2L * units + j);
            float og = gates.getAtIndex(F, gOff + 3L * units + j);
            float ac = actC.getAtIndex(F, aOff + j);
            float dhj = dh.getAtIndex(F, dhOff + j);
            float dcj = dc.getAtIndex(F, dcOff + j) + dhj * og * act.derivativeFromOutput(ac);
            dz.setAtIndex(F, dzOff + j, dcj * gg * rec.derivativeFromOutput(ig));
            dz.setAtIndex(F, dzOff + units + j, dcj * cPrev.getAtIndex(F, cOff + j) * rec.derivativeFromOutput(fg));
            dz.setAtIndex(F, dzOff + 2L * units + j, dcj * ig * act.derivativeFromOutput(gg));
            dz.setAtIndex(F, dzOff + 3L * units + j, dhj * ac * rec.derivativeFromOutput(og));
            dc.setAtIndex(F, dcOff + j, dcj * fg);
        }
    }

    static void gruCellResetAfterRange(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                       long hOff, int units, int from, Activation activation,
                                       Activation recurrentActivation) {
        for (int j = from; j < units; j++) {
            float z = RationalTanh.apply(recurrentActivation,
                    xp.getAtIndex(F, xpOff + j) + hp.getAtIndex(F, hpOff + j));
            float r = RationalTanh.apply(recurrentActivation,
                    xp.getAtIndex(F, xpOff + units + j) + hp.getAtIndex(F, hpOff + units + j));
            float hh = RationalTanh.apply(activation,
                    Math.fma(r, hp.getAtIndex(F, hpOff + 2L * units + j), xp.getAtIndex(F, xpOff + 2L * units + j)));
            h.setAtIndex(F, hOff + j, Math.fma(z, h.getAtIndex(F, hOff + j), (1f - z) * hh));
        }
    }

    static void gruGatesResetBeforeRange(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                         long hOff, MemorySegment rh, long rhOff, int units, int from,
                                         Activation recurrentActivation) {
        for (int j = from; j < units; j++) {
            float z = RationalTanh.apply(recurrentActivation,
                    xp.getAtIndex(F, xpOff + j) + hp.getAtIndex(F, hpOff + j));
            float r = RationalTanh.apply(recurrentActivation,
                    xp.getAtIndex(F, xpOff + units + j) + hp.getAtIndex(F, hpOff + units + j));
            xp.setAtIndex(F, xpOff + j, z);
            rh.setAtIndex(F, rhOff + j, r * h.getAtIndex(F, hOff + j));
        }
    }

    static void gruFinishResetBeforeRange(MemorySegment xp, long xpOff, MemorySegment hpH, long hpHOff,
                                          MemorySegment h, long hOff, int units, int from, Activation activation) {
        for (int j = from; j < units; j++) {
            float z = xp.getAtIndex(F, xpOff + j);
            float hh = RationalTanh.apply(activation,
                    xp.getAtIndex(F, xpOff + 2L * units + j) + hpH.getAtIndex(F, hpHOff + j));
            h.setAtIndex(F, hOff + j, Math.fma(z, h.getAtIndex(F, hOff + j), (1f - z) * hh));
        }
    }

    /** Panel width of the scalar twin: any width works; 64 keeps the packed layout comparable. */
    static final int PANEL = 64;

    @Override
    public int panelWidth() {
        return PANEL;
    }

    @Override
    public void packPanels(int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff) {
        Checks.packPanels(PANEL, k, n, b, bOff, ldb, dst, dstOff);
        pack(PANEL, k, n, b, bOff, ldb, dst, dstOff);
    }

    /** The packing both implementations share; only the panel width differs. */
    static void pack(int panel, int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff) {
        long panels = (n + (long) panel - 1) / panel;
        long out = dstOff;
        for (long p = 0; p < panels; p++) {
            for (int r = 0; r < k; r++) {
                long row = bOff + (long) r * ldb;
                for (int j = 0; j < panel; j++) {
                    long col = p * panel + j;
                    dst.setAtIndex(F, out++, col < n ? b.getAtIndex(F, row + col) : 0f);
                }
            }
        }
    }

    @Override
    public void gemvPacked(int k, int n, MemorySegment packed, long pOff, MemorySegment x, long xOff,
                           MemorySegment y, long yOff, int j0, int j1, boolean descending) {
        Checks.gemvPacked(PANEL, k, n, packed, pOff, x, xOff, y, yOff, j0, j1);
        for (int q = 0; q < j1 - j0; q++) {
            int j = descending ? j1 - 1 - q : j0 + q;
            int p = j / PANEL;
            long col = pOff + (long) p * PANEL * k + (j - (long) p * PANEL);
            float sum = 0f;
            for (int r = 0; r < k; r++) {
                sum = Math.fma(x.getAtIndex(F, xOff + r), packed.getAtIndex(F, col + (long) r * PANEL), sum);
            }
            y.setAtIndex(F, yOff + j, y.getAtIndex(F, yOff + j) + sum);
        }
    }

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** float32 to bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /**
     * The high half of a 32-bit word whose low half is the bfloat16 {@code low} (bits, 0..0xFFFF),
     * chosen so that the word read as a float32 lies nearest {@code w}: of the 16-bit values, the
     * float32s they give are one bfloat16 spacing apart (offset by {@code low}'s bits at the bottom
     * of the mantissa), so the nearest is within half a spacing of {@code w}, at most 2<sup>-8</sup>
     * of |w| plus 2<sup>-133</sup> (the denormal spacing), as with rounding {@code w} to bfloat16.
     * Non-finite weights get their bfloat16 bits (infinity then reads as NaN when {@code low} is
     * not 0). Used by the vector kernels' paired bfloat16 layout.
     */
    static int pairedHigh(float w, int low) {
        if (!Float.isFinite(w)) {
            return toBf16(w) & 0xFFFF;
        }
        int h0 = Float.floatToRawIntBits(w) >>> 16;
        int best = h0;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int d = -1; d <= 1; d++) {
            int h = (h0 + d) & 0xFFFF;
            float f = Float.intBitsToFloat((h << 16) | low);
            double err = Math.abs((double) f - w);
            if (Float.isFinite(f) && err < bestErr) {
                best = h;
                bestErr = err;
            }
        }
        return best;
    }

    /** The float32 that the paired layout's word with halves {@code high} and {@code low} reads as. */
    static float pairedValue(int high, int low) {
        return Float.intBitsToFloat((high << 16) | low);
    }

    /** bfloat16 bits to float32, exact. */
    static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    @Override
    public void packPanelsBf16(int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff) {
        Checks.packPanelsBf16(PANEL, k, n, b, bOff, ldb, dst, dstOff);
        packBf16(PANEL, k, n, b, bOff, ldb, dst, dstOff);
    }

    /** The bfloat16 packing both implementations share. */
    static void packBf16(int panel, int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff) {
        long panels = (n + (long) panel - 1) / panel;
        long out = dstOff;
        for (long p = 0; p < panels; p++) {
            for (int r = 0; r < k; r++) {
                long row = bOff + (long) r * ldb;
                for (int j = 0; j < panel; j++, out += 2) {
                    long col = p * panel + j;
                    dst.set(BF16, out, col < n ? toBf16(b.getAtIndex(F, row + col)) : 0);
                }
            }
        }
    }

    @Override
    public void gemvPackedBf16(int k, int n, MemorySegment packed, long pOff, MemorySegment x, long xOff,
                               MemorySegment y, long yOff, int j0, int j1, boolean descending) {
        Checks.gemvPackedBf16(PANEL, k, n, packed, pOff, x, xOff, y, yOff, j0, j1);
        for (int q = 0; q < j1 - j0; q++) {
            int j = descending ? j1 - 1 - q : j0 + q;
            int p = j / PANEL;
            long col = pOff + 2 * ((long) p * PANEL * k + (j - (long) p * PANEL));
            float sum = 0f;
            for (int r = 0; r < k; r++) {
                sum = Math.fma(x.getAtIndex(F, xOff + r), fromBf16(packed.get(BF16, col + 2L * r * PANEL)), sum);
            }
            y.setAtIndex(F, yOff + j, y.getAtIndex(F, yOff + j) + sum);
        }
    }
}
