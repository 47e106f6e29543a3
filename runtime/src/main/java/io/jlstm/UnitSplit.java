package io.jlstm;

import io.jlstm.backend.StepPool;
import io.jlstm.simd.Activation;
import io.jlstm.simd.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A batch-1 LSTM sequence on two threads, split by hidden units: thread p owns units
 * [from[p], from[p] + count[p]) with all four of their gates, so it computes its own gate columns
 * of the input projection and of {@code h·U}, then updates its own cells, and the two threads meet
 * once a step (each needs the other's half of h for the next step's product). Against the split of
 * each step's product into column halves (one hand-off per step, the cells on one thread), this
 * takes one hand-off per sequence and one barrier per step, halves the cell updates too, and keeps
 * each thread's half of the weights in its own core's cache from step to step.
 *
 * <p>The weights of each part (its gate columns of the input and recurrent kernels, its bias) are
 * packed once at load into the model's arena, in the layer's precision for the recurrent product
 * and in float32 for the projection, which runs up to {@link #MAX_CHUNK} steps at a time into
 * the part's own gate rows. Memory: about as much again as the layer's packed weights, plus a
 * workspace allocated at load: {@link #MAX_CHUNK} gate rows per part, 128 × 4H floats in all
 * (about 2 KiB per unit), all in the model's arena (freed when the model closes), and for an
 * input the helper may not read a copy kept between calls (see {@link #staged}). One sequence at
 * a time uses the workspace; a second caller meanwhile, or a caller that finds the step helper
 * busy, runs the sequence on its own thread. Results are bit-identical to one thread's: each gate
 * column gets the same products in the same order whichever thread computes it, from the same
 * decoded weights (with 16-bit weights only layers whose halves pair columns as the whole layer
 * does are split, see {@link #worthIt}, and one-row projections use the 16-bit input kernel as
 * the unsplit path).
 */
final class UnitSplit {

    /**
     * Most steps whose input projection a part computes at once (one GEMM into its gate rows); a
     * sequence is cut into as few chunks as that allows, of nearly even length (the last up to one
     * row per chunk shorter). Each chunk reads the
     * part's packed input kernel again, from L3 once the steps between have streamed the recurrent
     * kernel through L2, and a short last chunk reads it all for a few rows: in chunks of 32 (100 =
     * 3 x 32 + 4), the second layer of W2x2 (512 inputs: 2 MiB per part) projected at 72-79 GFLOP/s
     * a thread, in one chunk at 94-96, and W2x2 on two threads took 6.48-6.59 ms a call against
     * 6.71-6.96 (medians, one JVM, alternating blocks); W2 and W4 did not move.
     */
    static final int MAX_CHUNK = 128;

    /**
     * Rows of each projection chunk of a sequence of {@code steps} (at least 1): the fewest chunks
     * of at most {@link #MAX_CHUNK} rows, as even as they can be (no int overflow for any steps).
     */
    static int chunkRows(int steps) {
        if (steps <= 0) {
            return 1;
        }
        int chunks = (steps - 1) / MAX_CHUNK + 1;
        return (steps - 1) / chunks + 1;
    }

    /** Spacing of the two progress counters in their array (longs): 128 bytes, two cache lines. */
    private static final int PAD = 16;

    private final RecurrentExec layer;
    private final Kernels kernels;
    private final int units;
    private final int[] from = new int[2];
    private final int[] count = new int[2];
    private final MemorySegment[] packedU = new MemorySegment[2];
    private final MemorySegment[] packedW = new MemorySegment[2];
    /** With bf16 weights: part p's input kernel columns in 16 bits, for one-row projections (as the unsplit path). */
    private final MemorySegment[] packedW16 = new MemorySegment[2];
    private final MemorySegment[] bias = new MemorySegment[2];
    private final MemorySegment[] gates = new MemorySegment[2];
    private final MemorySegment[] hBuf = new MemorySegment[2];
    private final MemorySegment c;
    private final AtomicLongArray progress = new AtomicLongArray(2 * PAD);
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile boolean failed;

    /**
     * Packs the parts' weights and allocates the workspace in {@code arena} (the model's, shared);
     * {@code kernel} [in, 4H], {@code recurrentKernel} [H, 4H] and {@code bias} [4H] (or null) are
     * the layer's float32 weights, row-major.
     */
    UnitSplit(RecurrentExec layer, Kernels kernels, Arena arena, MemorySegment kernel, MemorySegment recurrentKernel,
              MemorySegment bias, boolean bf16) {
        this.layer = layer;
        this.kernels = kernels;
        this.units = layer.units;
        from[0] = 0;
        count[0] = units / 2;
        from[1] = units / 2;
        count[1] = units - units / 2;
        int in = layer.inputFeatures;
        // the gathered columns are temporary: packed, then freed with this arena
        try (Arena temp = Arena.ofConfined()) {
            for (int p = 0; p < 2; p++) {
                int cols = 4 * count[p];
                MemorySegment u = gather(recurrentKernel, units, p, temp);
                MemorySegment w = gather(kernel, in, p, temp);
                packedU[p] = RecurrentExec.packed(kernels, arena, units, cols, u, 0, cols, bf16);
                packedW[p] = RecurrentExec.packed(kernels, arena, in, cols, w, 0, cols, false);
                packedW16[p] = bf16 ? RecurrentExec.packed(kernels, arena, in, cols, w, 0, cols, true) : null;
                this.bias[p] = bias == null ? null : gather(bias, 1, p, arena);
                gates[p] = arena.allocate((long) MAX_CHUNK * cols * Float.BYTES, 64);
                hBuf[p] = arena.allocate((long) units * Float.BYTES, 64);
            }
        }
        c = arena.allocate((long) units * Float.BYTES, 64);
    }

    /**
     * Whether {@code layer} is worth splitting by units at batch 1 with two threads configured, and
     * gives the same bits split as not. With 16-bit weights that needs each half of the units to be
     * a whole number of the vector kernels' column pairs (2 vectors: {@code panelWidth / 4}
     * columns): a paired column's value depends on its partner's bits (Kernels#packPanelsBf16), so
     * each part's packing must pair the same columns as the whole layer's.
     */
    static boolean worthIt(RecurrentExec layer, Kernels kernels) {
        if (StepPool.THREADS < 2 || !layer.lstm || layer.units < MIN_UNITS) {
            return false;
        }
        int pair = Math.max(1, kernels.panelWidth() / 4);
        return !layer.bf16 || (layer.units % 2 == 0 && (layer.units / 2) % pair == 0);
    }

    /** Fewest hidden units split across two threads. */
    static final int MIN_UNITS = 64;

    /** Part p's gate columns of a row-major [rows, 4H] matrix, as a [rows, 4·count[p]] float32 matrix in {@code arena}. */
    private MemorySegment gather(MemorySegment m, int rows, int p, Arena arena) {
        int n = count[p];
        long width = 4L * units;
        MemorySegment out = arena.allocate(Math.max(1, (long) rows * 4 * n) * Float.BYTES, 64);
        for (long r = 0; r < rows; r++) {
            for (int g = 0; g < 4; g++) {
                MemorySegment.copy(m, (r * width + (long) g * units + from[p]) * Float.BYTES,
                        out, (r * 4 * n + (long) g * n) * Float.BYTES, (long) n * Float.BYTES);
            }
        }
        return out;
    }

    /**
     * A copy of the first {@code floats} of {@code x} that the helper may read: the input of a
     * layer after the first lives in the pass's scratch arena, confined to the caller when the
     * model has no layer that needs it shared (closing a shared arena costs about 50 µs, half of a
     * small model's predict). The copy goes to a buffer kept for the next call, grown when too
     * small, in an automatic arena (freed by the garbage collector once replaced or once the model
     * is gone).
     */
    private MemorySegment staged(MemorySegment x, long floats) {
        long bytes = floats * Float.BYTES;
        if (stage == null || stage.byteSize() < bytes) {
            stage = Arena.ofAuto().allocate(Math.max(Float.BYTES, bytes), 64);
        }
        MemorySegment.copy(x, 0, stage, 0, bytes);
        return stage;
    }

    /** See {@link #staged}; used under {@link #busy}. */
    private MemorySegment stage;

    /** Sequences run split so far (written under {@link #busy}; for tests and diagnostics). */
    private volatile long completed;

    /** How many sequences this layer has run split across the two threads. */
    long completed() {
        return completed;
    }

    /**
     * Runs the layer over {@code x} ([steps, in], batch 1) on this thread and the step helper, from
     * {@code init} ({@code [h, c]}, or null for zeros). With {@code seq}, step i's h goes to row i
     * of {@code out} ([steps, H]). The final h and c are copied to {@code hOut} and {@code cOut}.
     * Returns false, having done nothing, when the workspace or the helper is in use.
     */
    boolean run(MemorySegment x, int steps, MemorySegment[] init, MemorySegment out, boolean seq,
                MemorySegment hOut, MemorySegment cOut) {
        StepPool pool = StepPool.get();
        if (pool == null || !busy.compareAndSet(false, true)) {
            return false;
        }
        try {
            if (!pool.canRead(x)) {
                x = staged(x, (long) steps * layer.inputFeatures);
            }
            if (init == null) {
                hBuf[0].fill((byte) 0);
                c.fill((byte) 0);
            } else {
                long bytes = (long) units * Float.BYTES;
                MemorySegment.copy(init[0], 0, hBuf[0], 0, bytes);
                MemorySegment.copy(init[1], 0, c, 0, bytes);
            }
            progress.set(0, 0);
            progress.set(PAD, 0);
            failed = false;
            boolean zeroStart = init == null;
            MemorySegment input = x;
            try {
                if (!pool.tryConcurrent(part -> part(part, input, steps, zeroStart, out, seq))) {
                    return false;
                }
            } catch (OtherHalfFailed e) {
                // this thread only stopped waiting: the helper's failure (suppressed here) is the cause
                Throwable[] theirs = e.getSuppressed();
                throw new IllegalStateException("the step helper thread failed", theirs.length > 0 ? theirs[0] : null);
            }
            long bytes = (long) units * Float.BYTES;
            completed++;
            MemorySegment.copy(hBuf[steps & 1], 0, hOut, 0, bytes);
            MemorySegment.copy(c, 0, cOut, 0, bytes);
            return true;
        } finally {
            busy.set(false);
        }
    }

    /**
     * One streaming step of batch 1 on this thread and the step helper: part p computes its gate
     * columns {@code bias + x·W + h·U} into its first gate row and updates its units of {@code c}
     * (in place) and of h, into a buffer of this workspace; this thread then copies the new h over
     * {@code h}. {@code descending} is the panel order of both products. Allocates nothing.
     * Returns false, having done nothing, when the workspace or the helper is in use, or when the
     * helper may not read the session's memory.
     */
    boolean step(MemorySegment x, MemorySegment h, MemorySegment c, boolean descending) {
        StepPool pool = StepPool.get();
        if (pool == null || !pool.canRead(x) || !pool.canRead(h) || !pool.canRead(c)
                || !busy.compareAndSet(false, true)) {
            return false;
        }
        try {
            streamStep.x = x;
            streamStep.h = h;
            streamStep.c = c;
            streamStep.descending = descending;
            if (!pool.tryConcurrent(streamStep)) {
                return false;
            }
            MemorySegment.copy(hBuf[0], 0, h, 0, (long) units * Float.BYTES);
            completed++;
            return true;
        } finally {
            streamStep.x = null;
            streamStep.h = null;
            streamStep.c = null;
            busy.set(false);
        }
    }

    /** Thrown by a part that stops waiting at the barrier because the other part failed. */
    private static final class OtherHalfFailed extends RuntimeException {
        OtherHalfFailed() {
            super("the other half of a split LSTM sequence failed", null, true, false);
        }
    }

    /** The task of {@link #step}: one object, reused, so that a streaming step allocates nothing. */
    private final StreamStep streamStep = new StreamStep();

    private final class StreamStep implements StepPool.Halves {
        MemorySegment x;
        MemorySegment h;
        MemorySegment c;
        boolean descending;

        @Override
        public void run(int p) {
            int n = count[p];
            int cols = 4 * n;
            MemorySegment g = gates[p];
            if (bias[p] != null) {
                MemorySegment.copy(bias[p], 0, g, 0, (long) cols * Float.BYTES);
            } else {
                for (int j = 0; j < cols; j++) {
                    g.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, j, 0f);
                }
            }
            if (layer.bf16) {
                kernels.gemvPackedBf16(layer.inputFeatures, cols, packedW16[p], 0, x, 0, g, 0, 0, cols, descending);
            } else {
                kernels.gemvPacked(layer.inputFeatures, cols, packedW[p], 0, x, 0, g, 0, 0, cols, descending);
            }
            if (layer.bf16) {
                kernels.gemvPackedBf16(units, cols, packedU[p], 0, h, 0, g, 0, 0, cols, descending);
            } else {
                kernels.gemvPacked(units, cols, packedU[p], 0, h, 0, g, 0, 0, cols, descending);
            }
            kernels.lstmCell(g, 0, c, from[p], hBuf[0], from[p], n, layer.rspec.activation(),
                    layer.rspec.recurrentActivation());
        }
    }

    /**
     * Part p of the sequence. Step i reads h<sub>i-1</sub> from {@code hBuf[i & 1]} and writes its
     * units of h<sub>i</sub> to {@code hBuf[(i + 1) & 1]}; the barrier after each step makes both
     * halves of h<sub>i</sub> visible before either thread reads them, and a thread writes a buffer
     * again only after the other has finished the step that read it. Part 0 (the caller's thread)
     * copies each whole h<sub>i</sub> to {@code out}, so the helper never touches the caller's memory
     * but {@code x}.
     */
    private void part(int p, MemorySegment x, int steps, boolean zeroStart, MemorySegment out, boolean seq) {
        try {
            int n = count[p];
            int f = from[p];
            int cols = 4 * n;
            int in = layer.inputFeatures;
            boolean back = layer.rspec.goBackwards();
            Activation act = layer.rspec.activation();
            Activation rec = layer.rspec.recurrentActivation();
            MemorySegment g = gates[p];
            long rowBytes = (long) cols * Float.BYTES;
            long hBytes = (long) units * Float.BYTES;
            boolean down = false;
            int chunk = chunkRows(steps);
            for (int i0 = 0; i0 < steps; i0 += chunk) {
                int rows = Math.min(chunk, steps - i0);
                int tLow = back ? steps - i0 - rows : i0;
                if (bias[p] != null) {
                    for (long r = 0; r < rows; r++) {
                        MemorySegment.copy(bias[p], 0, g, r * rowBytes, rowBytes);
                    }
                } else {
                    g.asSlice(0, rows * rowBytes).fill((byte) 0);
                }
                if (layer.bf16 && steps == 1) {
                    // one row, as the unsplit path projects it: a gemv over the 16-bit input kernel
                    kernels.gemvPackedBf16(in, cols, packedW16[p], 0, x, 0, g, 0, 0, cols, false);
                } else {
                    kernels.gemmPacked(rows, in, cols, x, (long) tLow * in, in, packedW[p], 0, g, 0, cols, 0, cols, false);
                }
                for (int j = 0; j < rows; j++) {
                    int i = i0 + j;
                    int t = back ? steps - 1 - i : i;
                    long row = (long) (t - tLow) * cols;
                    MemorySegment hPrev = hBuf[i & 1];
                    MemorySegment hNext = hBuf[(i + 1) & 1];
                    if (!(zeroStart && i == 0)) {
                        if (layer.bf16) {
                            kernels.gemvPackedBf16(units, cols, packedU[p], 0, hPrev, 0, g, row, 0, cols, down);
                        } else {
                            kernels.gemvPacked(units, cols, packedU[p], 0, hPrev, 0, g, row, 0, cols, down);
                        }
                        down = !down;
                    }
                    kernels.lstmCell(g, row, c, f, hNext, f, n, act, rec);
                    progress.set(p * PAD, i + 1);
                    int other = (1 - p) * PAD;
                    while (progress.get(other) <= i) {
                        if (failed) {
                            throw new OtherHalfFailed();
                        }
                        Thread.onSpinWait();
                    }
                    if (p == 0 && seq) {
                        MemorySegment.copy(hNext, 0, out, (long) i * hBytes, hBytes);
                    }
                }
            }
        } catch (Throwable e) {
            failed = true;
            throw e;
        }
    }
}
