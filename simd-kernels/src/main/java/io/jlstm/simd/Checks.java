package io.jlstm.simd;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * O(1) argument checks shared by both implementations, run before any element is touched so a
 * kernel either does all its work or none. Owns no memory, stateless, thread-safe.
 */
final class Checks {
    private Checks() {
    }

    static void nonNegative(String name, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + value);
        }
    }

    /** BLAS rule: a leading dimension covers a stored row and is at least 1. */
    static void leadingDimension(String name, int ld, int rowLength, String rowName) {
        if (ld < Math.max(1, rowLength)) {
            throw new IllegalArgumentException(name + " must be >= max(1, " + rowName + ") = "
                    + Math.max(1, rowLength) + ", got " + ld);
        }
    }

    /** Checks that {@code seg} holds {@code count} floats starting at float {@code off}. */
    static void fits(String name, MemorySegment seg, long off, long count) {
        Objects.requireNonNull(seg, name);
        if (off < 0) {
            throw new IndexOutOfBoundsException(name + ": offset must be >= 0, got " + off);
        }
        long available = seg.byteSize() / Float.BYTES;
        // Written as a subtraction so that a huge off cannot overflow.
        if (count > 0 && count > available - off) {
            throw new IndexOutOfBoundsException(name + ": needs " + count + " floats at offsets [" + off + ", "
                    + (off + count) + "), but the segment holds " + available + " floats ("
                    + seg.byteSize() + " bytes)");
        }
    }

    /** Checks that {@code seg} holds a row-major {@code rows x cols} matrix with leading dimension {@code ld}. */
    static void fitsMatrix(String name, MemorySegment seg, long off, int rows, int cols, int ld) {
        long count = rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
        Objects.requireNonNull(seg, name);
        // The descriptive name is built only on failure: this check runs on every kernel call and
        // must not allocate.
        if (off < 0 || (count > 0 && count > seg.byteSize() / Float.BYTES - off)) {
            fits(name + " (" + rows + " x " + cols + ", ld " + ld + ")", seg, off, count);
        }
    }

    static void activation(String name, Activation a) {
        Objects.requireNonNull(a, name);
    }

    // Per-kernel checks, one per Kernels method, so both implementations reject exactly the same calls.

    static void vector(String name, MemorySegment x, long off, int n) {
        nonNegative("n", n);
        fits(name, x, off, n);
    }

    static void activate(Activation a, MemorySegment x, long off, int n) {
        activation("activation", a);
        vector("x", x, off, n);
    }

    static void twoVectors(int n, MemorySegment x, long xOff, String xName, MemorySegment y, long yOff, String yName) {
        nonNegative("n", n);
        fits(xName, x, xOff, n);
        fits(yName, y, yOff, n);
    }

    static void gemv(boolean trans, int m, int n, MemorySegment a, long aOff, int lda,
                     MemorySegment x, long xOff, MemorySegment y, long yOff) {
        nonNegative("m", m);
        nonNegative("n", n);
        leadingDimension("lda", lda, n, "n");
        fitsMatrix("a", a, aOff, m, n, lda);
        fits("x", x, xOff, trans ? m : n);
        fits("y", y, yOff, trans ? n : m);
    }

    static void packPanels(int panel, int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff) {
        nonNegative("k", k);
        nonNegative("n", n);
        leadingDimension("ldb", ldb, n, "n");
        fitsMatrix("b", b, bOff, k, n, ldb);
        long panels = (n + (long) panel - 1) / panel;
        fits("dst", dst, dstOff, panels * panel * k);
    }

    static void packPanelsBf16(int panel, int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst,
                               long dstOffBytes) {
        nonNegative("k", k);
        nonNegative("n", n);
        leadingDimension("ldb", ldb, n, "n");
        fitsMatrix("b", b, bOff, k, n, ldb);
        long bytes = (n + (long) panel - 1) / panel * panel * k * 2;
        nonNegative("dstOff", dstOffBytes);
        if (bytes > dst.byteSize() - dstOffBytes) {
            throw new IndexOutOfBoundsException("dst: needs " + bytes + " bytes at byte offset " + dstOffBytes
                    + ", but the segment holds " + dst.byteSize());
        }
    }

    static void gemvPackedBf16(int panel, int k, int n, MemorySegment packed, long pOffBytes, MemorySegment x,
                               long xOff, MemorySegment y, long yOff, int j0, int j1) {
        nonNegative("k", k);
        nonNegative("n", n);
        if (j0 < 0 || j0 > j1 || j1 > n || j0 % panel != 0) {
            throw new IllegalArgumentException("column range [" + j0 + ", " + j1 + ") must lie in [0, " + n
                    + "] and start at a multiple of the panel width " + panel);
        }
        long bytes = (n + (long) panel - 1) / panel * panel * k * 2;
        if (pOffBytes < 0 || bytes > packed.byteSize() - pOffBytes) {
            throw new IndexOutOfBoundsException("packed: needs " + bytes + " bytes at byte offset " + pOffBytes
                    + ", but the segment holds " + packed.byteSize());
        }
        fits("x", x, xOff, k);
        fits("y", y, yOff, n);
    }

    static void gemvPacked(int panel, int k, int n, MemorySegment packed, long pOff, MemorySegment x, long xOff,
                           MemorySegment y, long yOff, int j0, int j1) {
        nonNegative("k", k);
        nonNegative("n", n);
        if (j0 < 0 || j0 > j1 || j1 > n || j0 % panel != 0) {
            throw new IllegalArgumentException("column range [" + j0 + ", " + j1 + ") must lie in [0, " + n
                    + "] and start at a multiple of the panel width " + panel);
        }
        long panels = (n + (long) panel - 1) / panel;
        fits("packed", packed, pOff, panels * panel * k);
        fits("x", x, xOff, k);
        fits("y", y, yOff, n);
    }

    static void gemmPacked(int panel, int m, int k, int n, MemorySegment a, long aOff, int lda,
                           MemorySegment packed, long pOff, MemorySegment c, long cOff, int ldc, int j0, int j1) {
        nonNegative("m", m);
        nonNegative("k", k);
        nonNegative("n", n);
        if (j0 < 0 || j0 > j1 || j1 > n || j0 % panel != 0) {
            throw new IllegalArgumentException("column range [" + j0 + ", " + j1 + ") must lie in [0, " + n
                    + "] and start at a multiple of the panel width " + panel);
        }
        leadingDimension("lda", lda, k, "k");
        leadingDimension("ldc", ldc, n, "n");
        long panels = (n + (long) panel - 1) / panel;
        fits("packed", packed, pOff, panels * panel * k);
        fitsMatrix("a", a, aOff, m, k, lda);
        fitsMatrix("c", c, cOff, m, n, ldc);
    }

    static void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      MemorySegment c, long cOff, int ldc) {
        nonNegative("m", m);
        nonNegative("n", n);
        nonNegative("k", k);
        if (transA) {
            leadingDimension("lda", lda, m, "m");
            fitsMatrix("a", a, aOff, k, m, lda);
        } else {
            leadingDimension("lda", lda, k, "k");
            fitsMatrix("a", a, aOff, m, k, lda);
        }
        if (transB) {
            leadingDimension("ldb", ldb, k, "k");
            fitsMatrix("b", b, bOff, n, k, ldb);
        } else {
            leadingDimension("ldb", ldb, n, "n");
            fitsMatrix("b", b, bOff, k, n, ldb);
        }
        leadingDimension("ldc", ldc, n, "n");
        fitsMatrix("c", c, cOff, m, n, ldc);
    }

    static void lstmCell(MemorySegment gates, long gOff, MemorySegment c, long cOff, MemorySegment h, long hOff,
                         int units, Activation activation, Activation recurrentActivation) {
        nonNegative("units", units);
        activation("activation", activation);
        activation("recurrentActivation", recurrentActivation);
        fits("gates", gates, gOff, 4L * units);
        fits("c", c, cOff, units);
        fits("h", h, hOff, units);
    }

    static void lstmCellBackward(MemorySegment gates, long gOff, MemorySegment cPrev, long cOff, MemorySegment actC,
                                 long aOff, MemorySegment dh, long dhOff, MemorySegment dc, long dcOff, MemorySegment dz,
                                 long dzOff, int units, Activation activation, Activation recurrentActivation) {
        nonNegative("units", units);
        activation("activation", activation);
        activation("recurrentActivation", recurrentActivation);
        fits("gates", gates, gOff, 4L * units);
        fits("cPrev", cPrev, cOff, units);
        fits("actC", actC, aOff, units);
        fits("dh", dh, dhOff, units);
        fits("dc", dc, dcOff, units);
        fits("dz", dz, dzOff, 4L * units);
    }

    static void gruCellResetAfter(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                  long hOff, int units, Activation activation, Activation recurrentActivation) {
        nonNegative("units", units);
        activation("activation", activation);
        activation("recurrentActivation", recurrentActivation);
        fits("xp", xp, xpOff, 3L * units);
        fits("hp", hp, hpOff, 3L * units);
        fits("h", h, hOff, units);
    }

    static void gruGatesResetBefore(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h,
                                    long hOff, MemorySegment rh, long rhOff, int units, Activation recurrentActivation) {
        nonNegative("units", units);
        activation("recurrentActivation", recurrentActivation);
        fits("xp", xp, xpOff, 3L * units);
        fits("hp", hp, hpOff, 2L * units);
        fits("h", h, hOff, units);
        fits("rh", rh, rhOff, units);
    }

    static void gruFinishResetBefore(MemorySegment xp, long xpOff, MemorySegment hpH, long hpHOff, MemorySegment h,
                                     long hOff, int units, Activation activation) {
        nonNegative("units", units);
        activation("activation", activation);
        fits("xp", xp, xpOff, 3L * units);
        fits("hpH", hpH, hpHOff, units);
        fits("h", h, hOff, units);
    }
}
