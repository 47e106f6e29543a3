package io.jlstm.simd;

import java.lang.foreign.MemorySegment;

/**
 * The float32 kernel set of the runtime: activations, softmax, level-1/2/3 BLAS-like routines
 * and fused recurrent-cell updates, all over {@link MemorySegment}s in native byte order.
 *
 * <p>Two implementations exist: a scalar one (plain Java loops, the reference twin that always
 * works) and a Vector API one ({@code jdk.incubator.vector}). {@link KernelProvider} picks one.
 *
 * <p><b>Conventions.</b> Every offset, count and leading dimension is in floats (elements), never
 * in bytes. Matrices are row-major. Segments may be heap or native, need no alignment beyond
 * that of their floats, and must not overlap unless a method says it works in place.
 *
 * <p><b>Checks.</b> Every method checks its sizes and leading dimensions and that each segment
 * holds every element it will touch before touching any; a bad size or leading dimension throws
 * {@link IllegalArgumentException}, a segment too small {@link IndexOutOfBoundsException}, each
 * naming the argument, what was needed and what came.
 *
 * <p><b>Memory and threads.</b> An implementation owns no memory (the caller owns every segment)
 * and is stateless, hence thread-safe; calls on different threads may share read-only inputs.
 */
public interface Kernels {

    /**
     * Names this implementation for logs and benchmarks.
     *
     * @return e.g. {@code "scalar"} or {@code "vector-256"}
     */
    String name();

    /**
     * Returns the vector width the kernels compute with.
     *
     * @return the width in bits (128, 256 or 512), or 0 for the scalar implementation
     */
    int vectorBitSize();

    /**
     * Applies {@code a} to {@code n} floats in place. tanh and sigmoid use a clamped rational
     * approximation (absolute error below 1e-6 everywhere, NaN propagates, tanh(-0) = -0);
     * the other activations are exact up to one float rounding.
     *
     * @param a the activation
     * @param x the data, overwritten
     * @param off first element
     * @param n number of elements, {@code >= 0}
     */
    void activate(Activation a, MemorySegment x, long off, int n);

    /**
     * Replaces {@code n} floats by their softmax, in place: the maximum is subtracted before
     * exponentiation, so large inputs do not overflow. A NaN anywhere, or {@code +Infinity}, or
     * all elements {@code -Infinity}, makes every output NaN. {@code n == 0} does nothing.
     *
     * @param x the data, overwritten
     * @param off first element
     * @param n number of elements, {@code >= 0}
     */
    void softmax(MemorySegment x, long off, int n);

    /**
     * Returns the dot product of two vectors, accumulated in float.
     *
     * @param a first vector
     * @param aOff its first element
     * @param b second vector
     * @param bOff its first element
     * @param n number of elements, {@code >= 0}
     * @return {@code sum(a[i] * b[i])}; 0 for {@code n == 0}
     */
    float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n);

    /**
     * Computes {@code y += alpha * x} over {@code n} elements.
     *
     * @param n number of elements, {@code >= 0}
     * @param alpha the scale of {@code x}
     * @param x input vector
     * @param xOff its first element
     * @param y input/output vector
     * @param yOff its first element
     */
    void axpy(int n, float alpha, MemorySegment x, long xOff, MemorySegment y, long yOff);

    /**
     * Computes {@code y = alpha * op(A) * x + beta * y}. A is row-major {@code m x n} with
     * leading dimension {@code lda >= max(1, n)}. With {@code trans == false}, op(A) = A,
     * {@code x} has {@code n} and {@code y} has {@code m} elements; with {@code trans == true},
     * op(A) = A<sup>T</sup>, {@code x} has {@code m} and {@code y} has {@code n} elements (the
     * {@code h @ U} product of a recurrent step). {@code beta == 0} overwrites {@code y}, so NaN
     * in the old {@code y} is ignored, as in BLAS.
     *
     * @param trans whether to use A transposed
     * @param m rows of A, {@code >= 0}
     * @param n columns of A, {@code >= 0}
     * @param alpha scale of the product
     * @param a the matrix
     * @param aOff its element (0, 0)
     * @param lda distance in floats between rows of A
     * @param x input vector
     * @param xOff its first element
     * @param beta scale of the old {@code y}
     * @param y input/output vector
     * @param yOff its first element
     */
    void gemv(boolean trans, int m, int n, float alpha, MemorySegment a, long aOff, int lda,
              MemorySegment x, long xOff, float beta, MemorySegment y, long yOff);

    /**
     * Width, in floats, of one column panel of a matrix packed by {@link #packPanels}. Fixed for
     * an implementation; a matrix must be packed and used by the same implementation.
     */
    int panelWidth();

    /**
     * Where to cut {@code m >= 2} rows of {@link #gemmPacked} into two parts for two threads, so
     * that the slower part is as fast as the register tiles allow (a part of whole tiles beats an
     * exact half that leaves single rows). The default, for kernels that compute row by row, is
     * {@code m / 2}.
     */
    default int gemmRowSplit(int m) {
        return m / 2;
    }

    /** Floats a {@code k x n} matrix takes once packed: {@code k * ceil(n / panelWidth) * panelWidth}. */
    default long packedSize(int k, int n) {
        Checks.nonNegative("k", k);
        Checks.nonNegative("n", n);
        long panels = (n + (long) panelWidth() - 1) / panelWidth();
        return panels * panelWidth() * k;
    }

    /**
     * Packs the row-major {@code k x n} matrix B (leading dimension {@code ldb}) into column
     * panels for {@link #gemvPacked}: panel p holds columns {@code [p*P, p*P + P)} of every row,
     * row after row ({@code P = panelWidth()}), zero-padded past column n. Done once, at load:
     * the batch-1 step then streams the weights contiguously, with its accumulators in registers.
     */
    void packPanels(int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff);

    /**
     * Accumulates {@code y[j] += sum_p x[p] * B[p][j]} for the columns {@code j0 <= j < j1} of a
     * matrix packed by {@link #packPanels} (k rows, n columns): the product {@code x * B} of a
     * row vector, restricted to a column range so that threads can split it. {@code j0} must be a
     * multiple of {@link #panelWidth()} and {@code 0 <= j0 <= j1 <= n}. {@code y} holds n floats
     * from {@code yOff}; only the columns in range are touched.
     *
     * <p>{@code descending} visits the panels from the last one in range to the first. The result
     * is the same bit for bit (each column is summed alone, p ascending); only what stays in cache
     * differs. A recurrent layer alternates it from step to step, so that each step starts on the
     * panels the previous one read last, still in L2: for a matrix larger than L2 (W2's 4 MB
     * recurrent kernel against 2 MiB of L2 per core here) part of every step then comes from L2
     * instead of all from L3 (measured 145 against 93 µs per 512 x 2048 step on one core).
     */
    void gemvPacked(int k, int n, MemorySegment packed, long pOff, MemorySegment x, long xOff,
                    MemorySegment y, long yOff, int j0, int j1, boolean descending);

    /**
     * Accumulates {@code C[i][j] += sum_p A[i][p] * B[p][j]} for the rows {@code 0 <= i < m} and the
     * columns {@code j0 <= j < j1} of a matrix B packed by {@link #packPanels} (k rows, n columns):
     * the product of an {@code m x k} row-major A ({@code lda >= k}) with the packed weights, for
     * the batched recurrent step and the input projection, where B is packed once at load instead
     * of on every call. Each element is summed exactly as {@link #gemvPacked} sums it (from zero,
     * p ascending, then added to C), so row i of the result is bit-identical to a {@code gemvPacked}
     * of row i of A. {@code j0} must be a multiple of {@link #panelWidth()}, {@code 0 <= j0 <= j1
     * <= n}; C is {@code m x n} with {@code ldc >= n} and only the columns in range are touched.
     *
     * <p>{@code descending} visits the panels last to first, as in {@link #gemvPacked}: same result.
     *
     * <p>The default computes row by row with {@link #gemvPacked}; implementations override it
     * with a register-blocked kernel.
     */
    default void gemmPacked(int m, int k, int n, MemorySegment a, long aOff, int lda, MemorySegment packed,
                            long pOff, MemorySegment c, long cOff, int ldc, int j0, int j1, boolean descending) {
        Checks.gemmPacked(panelWidth(), m, k, n, a, aOff, lda, packed, pOff, c, cOff, ldc, j0, j1);
        for (int i = 0; i < m; i++) {
            gemvPacked(k, n, packed, pOff, a, aOff + (long) i * lda, c, cOff + (long) i * ldc, j0, j1, descending);
        }
    }

    /** Bytes a {@code k x n} matrix takes once packed as bfloat16: half of {@link #packedSize} floats. */
    default long packedSizeBf16Bytes(int k, int n) {
        return packedSize(k, n) * 2;
    }

    /**
     * {@link #packPanels} with every weight stored in 16 bits: half the bytes for the
     * bandwidth-bound batch-1 product, about three significant digits per weight. Each weight
     * decodes to within half a bfloat16 spacing of its float32 value (at most 2<sup>-8</sup> of
     * its magnitude), as rounding to bfloat16 gives: the scalar kernels store it rounded to
     * bfloat16 (nearest even); the vector kernels pair two columns in 32 bits and store the
     * second so that the 32 bits, read as a float32, lie nearest it (see the layout comment in
     * VectorKernels), which saves the decoding one operation. {@code dstOff} is in bytes.
     */
    void packPanelsBf16(int k, int n, MemorySegment b, long bOff, int ldb, MemorySegment dst, long dstOff);

    /**
     * {@link #gemvPacked} over a matrix packed by {@link #packPanelsBf16}: the weights are widened
     * to float32 (exactly) and the arithmetic is float32. {@code pOff} is in bytes.
     */
    void gemvPackedBf16(int k, int n, MemorySegment packed, long pOff, MemorySegment x, long xOff,
                        MemorySegment y, long yOff, int j0, int j1, boolean descending);

    /**
     * Computes {@code C = alpha * op(A) * op(B) + beta * C}, all row-major. op(A) is
     * {@code m x k}, op(B) is {@code k x n}, C is {@code m x n}. A is stored {@code m x k}
     * ({@code lda >= k}) or, if {@code transA}, {@code k x m} ({@code lda >= m}); B is stored
     * {@code k x n} ({@code ldb >= n}) or, if {@code transB}, {@code n x k} ({@code ldb >= k});
     * {@code ldc >= n}; every leading dimension is also at least 1. {@code beta == 0} overwrites
     * C; {@code k == 0} or {@code alpha == 0} gives {@code C = beta * C}.
     *
     * @param transA whether A is stored transposed
     * @param transB whether B is stored transposed
     * @param m rows of op(A) and C, {@code >= 0}
     * @param n columns of op(B) and C, {@code >= 0}
     * @param k columns of op(A), rows of op(B), {@code >= 0}
     * @param alpha scale of the product
     * @param a matrix A
     * @param aOff its first element
     * @param lda distance in floats between stored rows of A
     * @param b matrix B
     * @param bOff its first element
     * @param ldb distance in floats between stored rows of B
     * @param beta scale of the old C
     * @param c matrix C, input/output
     * @param cOff its first element
     * @param ldc distance in floats between rows of C
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
               float beta, MemorySegment c, long cOff, int ldc);

    /**
     * Fused LSTM cell update for one row (batch element). {@code gates} holds {@code 4 * units}
     * pre-activations in Keras block order {@code [i | f | c | o]}, each block {@code units}
     * wide. With {@code rec = recurrentActivation} and {@code act = activation}:
     * <pre>
     *   i = rec(z_i)   f = rec(z_f)   g = act(z_c)   o = rec(z_o)
     *   c = f * c + i * g             h = o * act(c)
     * </pre>
     * ({@code act} is used in both places, as in Keras.) The gates buffer may be clobbered.
     *
     * @param gates the pre-activations, may be clobbered
     * @param gOff first element of the i block
     * @param c the cell state, read as c<sub>t-1</sub> and overwritten with c<sub>t</sub>
     * @param cOff its first element
     * @param h written with h<sub>t</sub>
     * @param hOff its first element
     * @param units cell width, {@code >= 0}
     * @param activation the cell activation ({@code act})
     * @param recurrentActivation the gate activation ({@code rec})
     */
    void lstmCell(MemorySegment gates, long gOff, MemorySegment c, long cOff, MemorySegment h, long hOff,
                  int units, Activation activation, Activation recurrentActivation);

    /**
     * The backward pass of one LSTM row over {@code units} cells, from what the forward pass kept:
     * the activated gates {@code [i | f | g | o]}, the previous cell state and {@code actC =
     * act(c_t)}. With {@code d(a, y)} = {@link Activation#derivativeFromOutput}:
     * <pre>
     *   dc   = dc + dh * o * d(act, actC)
     *   dz_i = dc * g * d(rec, i)        dz_f = dc * cPrev * d(rec, f)
     *   dz_g = dc * i * d(act, g)        dz_o = dh * actC * d(rec, o)
     *   dc  <- dc * f                    (what reaches c_{t-1})
     * </pre>
     * Products are evaluated left to right without fused multiply-adds, so every implementation
     * gives the same bits.
     *
     * @param gates the activated gates, {@code 4 * units} floats from {@code gOff}
     * @param cPrev c<sub>t-1</sub>
     * @param actC act(c<sub>t</sub>)
     * @param dh the gradient reaching h<sub>t</sub> (read only)
     * @param dc read as the gradient reaching c<sub>t</sub> from step t + 1, overwritten with the
     *     gradient reaching c<sub>t-1</sub>
     * @param dz receives the gradients of the gate pre-activations, {@code 4 * units} floats
     * @param units cell width, {@code >= 0}
     * @param activation the cell activation ({@code act})
     * @param recurrentActivation the gate activation ({@code rec})
     */
    void lstmCellBackward(MemorySegment gates, long gOff, MemorySegment cPrev, long cOff, MemorySegment actC, long aOff,
                          MemorySegment dh, long dhOff, MemorySegment dc, long dcOff, MemorySegment dz, long dzOff,
                          int units, Activation activation, Activation recurrentActivation);

    /**
     * GRU cell update with {@code reset_after = true}, one row. {@code xp} holds
     * {@code x @ K + b_input} and {@code hp} holds {@code h_{t-1} @ R + b_recurrent}, each
     * {@code 3 * units} in blocks {@code [z | r | h]}:
     * <pre>
     *   z = rec(xp_z + hp_z)   r = rec(xp_r + hp_r)   hh = act(xp_h + r * hp_h)
     *   h = z * h + (1 - z) * hh
     * </pre>
     *
     * @param xp input projection, may be clobbered
     * @param xpOff its first element
     * @param hp recurrent projection, may be clobbered
     * @param hpOff its first element
     * @param h the hidden state, read as h<sub>t-1</sub> and overwritten with h<sub>t</sub>
     * @param hOff its first element
     * @param units cell width, {@code >= 0}
     * @param activation the candidate activation ({@code act})
     * @param recurrentActivation the gate activation ({@code rec})
     */
    void gruCellResetAfter(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h, long hOff,
                           int units, Activation activation, Activation recurrentActivation);

    /**
     * First half of a GRU update with {@code reset_after = false}, one row. {@code xp} holds
     * {@code 3 * units} ({@code x @ K + bias}, blocks {@code [z | r | h]}), {@code hp} holds
     * {@code 2 * units} ({@code h_{t-1} @ R[:, 0:2u]}, blocks {@code [z | r]}). Computes
     * {@code z = rec(xp_z + hp_z)} and {@code r = rec(xp_r + hp_r)}, stores the activated z
     * back into xp's z block and writes {@code rh = r * h_{t-1}}; the caller then multiplies
     * {@code rh} by {@code R[:, 2u:3u]} and calls {@link #gruFinishResetBefore}.
     *
     * @param xp input projection; its z block is overwritten with the activated z
     * @param xpOff its first element
     * @param hp recurrent projection of the z and r blocks
     * @param hpOff its first element
     * @param h the hidden state h<sub>t-1</sub>, only read
     * @param hOff its first element
     * @param rh written with {@code r * h_{t-1}}
     * @param rhOff its first element
     * @param units cell width, {@code >= 0}
     * @param recurrentActivation the gate activation ({@code rec})
     */
    void gruGatesResetBefore(MemorySegment xp, long xpOff, MemorySegment hp, long hpOff, MemorySegment h, long hOff,
                             MemorySegment rh, long rhOff, int units, Activation recurrentActivation);

    /**
     * Second half of a GRU update with {@code reset_after = false}, one row. {@code hpH} holds
     * {@code (r * h_{t-1}) @ R[:, 2u:3u]}; z is read, already activated, from xp's z block:
     * <pre>
     *   hh = act(xp_h + hpH)   h = z * h + (1 - z) * hh
     * </pre>
     *
     * @param xp input projection as left by {@link #gruGatesResetBefore}
     * @param xpOff its first element
     * @param hpH recurrent projection of the candidate block, {@code units} floats
     * @param hpHOff its first element
     * @param h the hidden state, read as h<sub>t-1</sub> and overwritten with h<sub>t</sub>
     * @param hOff its first element
     * @param units cell width, {@code >= 0}
     * @param activation the candidate activation ({@code act})
     */
    void gruFinishResetBefore(MemorySegment xp, long xpOff, MemorySegment hpH, long hpHOff, MemorySegment h, long hOff,
                              int units, Activation activation);
}
