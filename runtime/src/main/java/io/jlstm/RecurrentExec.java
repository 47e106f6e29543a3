package io.jlstm;

import io.jlstm.backend.Backend;
import io.jlstm.backend.StepPool;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.RecurrentSpec;
import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;

/**
 * LSTM and GRU execution, shaped as DESIGN.md says: a GEMM projects the inputs (all time steps at
 * once at batch 1; each step's rows just before the step for a float32 batch), the bias added as
 * the starting value, then each step adds {@code h·U} into that step's rows of the gate buffer and
 * one fused pointwise pass updates the state. The same step code serves whole sequences and
 * streaming sessions.
 *
 * <p>Weights: kernel [in, G·H], recurrent kernel [H, G·H] and bias, row-major, owned by the model's
 * arena. For GRU with reset_after the bias is two rows: input bias, then recurrent bias.
 */
final class RecurrentExec extends LayerExec {

    final RecurrentSpec rspec;
    final int units;
    final int width;          // G·H, the gate buffer width of one row
    final boolean lstm;
    final boolean resetAfter; // GRU only
    final MemorySegment kernel;
    final MemorySegment recurrentKernel;
    final MemorySegment inputBias;      // [G·H] or null
    final MemorySegment recurrentBias;  // GRU reset_after: [G·H] or null
    /** GRU reset_before: the candidate block U[:, 2H:3H] as its own segment (leading dimension 3H).
     *  Sliced once here, because a slice made per step is an allocation that escape analysis does
     *  not always remove before a native call. */
    final MemorySegment candidateKernel;

    /** Batch-1 recurrent weights packed in column panels for {@link Kernels#gemvPacked}: U for LSTM
     *  and GRU reset_after; for GRU reset_before U[:, :2H] here and U[:, 2H:] in {@link #packedCandidate}. */
    final MemorySegment packedRecurrent;
    final MemorySegment packedCandidate;
    /** The kernels the packed weights were packed for (the panel width is theirs). */
    final Kernels packedFor;
    /** Whether the packed copies are bfloat16 (else float32). */
    final boolean bf16;
    /** The input kernel packed for a single input row (a streaming batch-1 step), in the layer's precision. */
    final MemorySegment packedInput;
    /** The input kernel packed as float32 for projections of several rows ({@link Kernels#gemmPacked}):
     *  {@link #packedInput} itself, or with bf16 weights a float32 copy (the projection of all steps is
     *  arithmetic-bound, and the bf16 GEMM path would be the backend's sgemm, not split across threads). */
    final MemorySegment packedInputRows;
    /** Batch-1 LSTM sequences on two threads, split by units ({@link UnitSplit}); null when not configured or not worth it. */
    final UnitSplit unitSplit;

    /**
     * Binds the weights; {@code arena} (the model's) receives the packed copy of the recurrent
     * kernel that batch-1 steps stream.
     */
    RecurrentExec(RecurrentSpec spec, int inputFeatures, MemorySegment kernel, MemorySegment recurrentKernel,
                  MemorySegment bias, Kernels kernels, java.lang.foreign.Arena arena, WeightPrecision precision) {
        super((io.jlstm.layers.LayerSpec) spec, inputFeatures);
        this.rspec = spec;
        this.units = spec.units();
        this.width = spec.gates() * units;
        this.lstm = spec instanceof LstmSpec;
        this.resetAfter = spec instanceof GruSpec g && g.resetAfter();
        this.kernel = kernel;
        this.recurrentKernel = recurrentKernel;
        this.candidateKernel = lstm || resetAfter ? null
                : recurrentKernel.asSlice(2L * units * Float.BYTES);
        this.packedFor = kernels;
        this.bf16 = precision == WeightPrecision.BF16;
        int firstCols = lstm || resetAfter ? width : 2 * units;
        this.packedRecurrent = pack(kernels, arena, units, firstCols, recurrentKernel, 0);
        this.packedCandidate = candidateKernel == null ? null : pack(kernels, arena, units, units, recurrentKernel, 2L * units);
        this.packedInput = pack(kernels, arena, inputFeatures, width, kernel, 0);
        this.packedInputRows = bf16 ? packFloat32(kernels, arena, inputFeatures, width, kernel, 0) : packedInput;
        if (bias == null) {
            this.inputBias = null;
            this.recurrentBias = null;
        } else if (resetAfter) {
            this.inputBias = bias.asSlice(0, (long) width * Float.BYTES);
            this.recurrentBias = bias.asSlice((long) width * Float.BYTES, (long) width * Float.BYTES);
        } else {
            this.inputBias = bias;
            this.recurrentBias = null;
        }
        this.unitSplit = UnitSplit.worthIt(this, kernels)
                ? new UnitSplit(this, kernels, arena, kernel, recurrentKernel, bias, bf16) : null;
    }

    /** Packs columns [off, off + cols) of a row-major matrix with {@code width} columns, as this layer streams it. */
    private MemorySegment pack(Kernels kernels, java.lang.foreign.Arena arena, int rows, int cols, MemorySegment m,
                               long off) {
        return packed(kernels, arena, rows, cols, m, off, width, bf16);
    }

    private MemorySegment packFloat32(Kernels kernels, java.lang.foreign.Arena arena, int rows, int cols, MemorySegment m,
                                      long off) {
        return packed(kernels, arena, rows, cols, m, off, width, false);
    }

    /**
     * Columns [off, off + cols) of the row-major matrix {@code m} (rows {@code ldm} floats apart)
     * packed into {@code arena} for {@link Kernels#gemvPacked} and {@link Kernels#gemmPacked}, or with
     * {@code sixteenBits} for {@link Kernels#gemvPackedBf16}.
     */
    static MemorySegment packed(Kernels kernels, java.lang.foreign.Arena arena, int rows, int cols, MemorySegment m,
                                long off, int ldm, boolean sixteenBits) {
        if (sixteenBits) {
            MemorySegment p = arena.allocate(Math.max(2, kernels.packedSizeBf16Bytes(rows, cols)), 64);
            kernels.packPanelsBf16(rows, cols, m, off, ldm, p, 0);
            return p;
        }
        MemorySegment p = arena.allocate(Math.max(1, kernels.packedSize(rows, cols)) * Float.BYTES, 64);
        kernels.packPanels(rows, cols, m, off, ldm, p, 0);
        return p;
    }

    @Override
    int stateTensors() {
        return rspec.stateCount();
    }

    @Override
    int stateWidth(int i) {
        return units;
    }

    /** Per-step working memory: the state and, for GRU, the recurrent products. One per pass or session. */
    static final class StepState {
        final MemorySegment h;   // [B, H]
        final MemorySegment c;   // [B, H], LSTM only
        final MemorySegment hp;  // GRU: [B, 3H] (reset_after) or [B, 2H]
        final MemorySegment rh;  // GRU reset_before: [B, H]
        final MemorySegment hph; // GRU reset_before: [B, H]
        final LstmRows lstmRows; // LSTM: the cell updates split across two threads (reused every step)
        /** Streaming steps run by {@link #streamStep} (for tests). */
        long streamSteps;
        /** The panel order of this step's products: flipped after every step, so that each step
         *  starts on the weights the previous one read last (still in cache); see Kernels#gemvPacked. */
        boolean descending;
        /** Every product of this pass on the calling thread: the step helper stalled a moment ago ({@link StepPool#contended}). */
        boolean oneThread;

        StepState(RecurrentExec layer, int batch, java.util.function.LongFunction<MemorySegment> alloc) {
            long bh = (long) batch * layer.units;
            h = alloc.apply(bh);
            c = layer.lstm ? alloc.apply(bh) : null;
            lstmRows = layer.lstm ? new LstmRows(layer, this) : null;
            if (layer.lstm) {
                hp = null;
                rh = null;
                hph = null;
            } else if (layer.resetAfter) {
                hp = alloc.apply((long) batch * layer.width);
                rh = null;
                hph = null;
            } else {
                hp = alloc.apply(2L * bh);
                rh = alloc.apply(bh);
                hph = alloc.apply(bh);
            }
        }

        /**
         * Sets h (and c) from {@code bytes} of {@code init} ([B,H] each, may be null for zeros)
         * starting at byte {@code from}: the rows this state holds.
         */
        void load(MemorySegment[] init, long from, long bytes) {
            if (init == null) {
                h.fill((byte) 0);
                if (c != null) {
                    c.fill((byte) 0);
                }
                return;
            }
            MemorySegment.copy(init[0], from, h, 0, bytes);
            if (c != null) {
                MemorySegment.copy(init[1], from, c, 0, bytes);
            }
        }
    }

    /**
     * Writes the input projection of {@code rows} input rows into {@code xp} ([rows, G·H]):
     * {@code xp = x·W + b}. The bias is copied first and the GEMM accumulates onto it. Input rows
     * are {@code ldx} floats apart (the features of one row, or of one sequence for the rows of
     * one time step). {@code descending} is the panel order (the step state's, for one step's rows).
     */
    void projectInputs(MemorySegment x, long xOff, int ldx, int rows, MemorySegment xp, boolean descending) {
        projectInputs(x, xOff, ldx, rows, xp, descending, false);
    }

    /** {@link #projectInputs(MemorySegment, long, int, int, MemorySegment, boolean)}, on this thread alone with {@code alone}. */
    private void projectInputs(MemorySegment x, long xOff, int ldx, int rows, MemorySegment xp, boolean descending,
                               boolean alone) {
        biasRows(xp, rows);
        if (rows == 1) {
            // one row (a streaming batch-1 step): a packed gemv, like the recurrent product
            gemvPacked(inputFeatures, width, packedInput, x, xOff, xp, 0, 0, width, descending, alone);
            return;
        }
        // float32 panels packed at load: faster than the backend's sgemm on every workload
        // measured (W2 1t 14.1 ms against 15.7 ms with OpenBLAS's, W3 1t 142 against 172 ms)
        gemmPacked(rows, inputFeatures, width, packedInputRows, x, xOff, ldx, xp, 0, width, descending, alone);
    }

    /** Sets the first {@code rows} rows of {@code xp} ([rows, G·H]) to the input bias, or to zero without one. */
    private void biasRows(MemorySegment xp, int rows) {
        if (inputBias != null) {
            long rowBytes = (long) width * Float.BYTES;
            BiasRows.repeat(inputBias, xp, rows, rowBytes);
        } else {
            zero(xp, (long) rows * width);
        }
    }

    /** Zeros the first {@code count} floats of {@code seg} (no slice: this runs in allocation-free steps). */
    private static void zero(MemorySegment seg, long count) {
        if (count * Float.BYTES == seg.byteSize()) {
            seg.fill((byte) 0);
        } else {
            for (long i = 0; i < count; i++) {
                seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, 0f);
            }
        }
    }

    /**
     * One time step for the whole batch. Row b of this step's gate pre-activations starts at
     * {@code xpOff + b·xpStride} in {@code xp} and already holds x·W + b; it is clobbered.
     * {@code hIsZero} lets the first step of a zero-initialised pass skip the recurrent product.
     * The step's products visit the weight panels in the order {@code s.descending}, which the
     * step then flips.
     */
    void step(Backend backend, Kernels k, MemorySegment xp, long xpOff, int xpStride, int batch,
              StepState s, boolean hIsZero) {
        int h = units;
        boolean down = s.descending;
        s.descending = !down;
        if (lstm) {
            if (!hIsZero) {
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, width, xp, xpOff, xpStride, true,
                        down, s.oneThread);
            }
            StepPool pool = batch >= 2 && (long) batch * h >= MIN_SPLIT_CELLS ? StepPool.get() : null;
            if (pool != null && pool.canRead(xp) && pool.canRead(s.h) && pool.canRead(s.c)) {
                s.lstmRows.set(k, xp, xpOff, xpStride, batch);
                pool.halves(s.lstmRows);
            } else {
                lstmRows(k, xp, xpOff, xpStride, s, 0, batch);
            }
        } else if (resetAfter) {
            float beta = 0f;
            if (recurrentBias != null) {
                long rowBytes = (long) width * Float.BYTES;
                BiasRows.repeat(recurrentBias, s.hp, batch, rowBytes);
                beta = 1f;
            }
            if (!hIsZero) {
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, width, s.hp, 0, width,
                        beta == 1f, down, s.oneThread);
            } else if (recurrentBias == null) {
                s.hp.fill((byte) 0);
            }
            for (int b = 0; b < batch; b++) {
                k.gruCellResetAfter(xp, xpOff + (long) b * xpStride, s.hp, (long) b * width, s.h, (long) b * h,
                        h, rspec.activation(), rspec.recurrentActivation());
            }
        } else {
            // reset before the product: [z|r] from h·U[:, :2H], then (r⊙h)·U[:, 2H:3H]
            if (hIsZero) {
                s.hp.fill((byte) 0);
            } else {
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, 2 * h, s.hp, 0, 2 * h, false,
                        down, s.oneThread);
            }
            for (int b = 0; b < batch; b++) {
                k.gruGatesResetBefore(xp, xpOff + (long) b * xpStride, s.hp, 2L * b * h, s.h, (long) b * h,
                        s.rh, (long) b * h, h, rspec.recurrentActivation());
            }
            if (hIsZero) {
                s.hph.fill((byte) 0);
            } else {
                recurrentProduct(backend, batch, s.rh, candidateKernel, packedCandidate, h, s.hph, 0, h, false,
                        down, s.oneThread);
            }
            for (int b = 0; b < batch; b++) {
                k.gruFinishResetBefore(xp, xpOff + (long) b * xpStride, s.hph, (long) b * h, s.h, (long) b * h,
                        h, rspec.activation());
            }
        }
    }

    /**
     * One streaming step of batch 1 for an LSTM layer on this thread, its two products panel by
     * panel: for each panel of gate columns, in the state's panel order, {@code x·W} then
     * {@code h·U} onto the bias, then the cells. Each step reads the panel pairs in the opposite
     * order to the step before, so it starts on the pairs the previous step read last: with both
     * kernels together larger than L2 (W1: 1.3 MB), whole products read W's panels first each step,
     * the ones read longest ago, and lose them and part of U from L2; panel by panel a W1 step took
     * 14.6-15.1 µs against 15.0-15.4 (one core, ad hoc harness, alternating blocks). Each column gets
     * the same sums in the same order as from {@link #projectInputs} and {@link #step}, so the
     * same bits. Returns false, having done nothing, for a GRU or when a product would be split
     * across threads (two configured and the product at least {@link StepPool#MIN_SPLIT}).
     */
    boolean streamStep(Kernels k, MemorySegment x, MemorySegment xp, StepState s) {
        if (!lstm || splits()) { // splits(): some product would go to StepPool (not StepPool.get(), which starts it)
            return false;
        }
        s.streamSteps++;
        biasRows(xp, 1);
        boolean down = s.descending;
        s.descending = !down;
        int panel = packedFor.panelWidth();
        int panels = (width + panel - 1) / panel;
        for (int q = 0; q < panels; q++) {
            int j0 = (down ? panels - 1 - q : q) * panel;
            int j1 = Math.min(width, j0 + panel);
            // this layer's precision, on this thread (neither product reaches StepPool.MIN_SPLIT)
            gemvPacked(inputFeatures, width, packedInput, x, 0, xp, 0, j0, j1, false, true);
            gemvPacked(units, width, packedRecurrent, s.h, 0, xp, 0, j0, j1, false, true);
        }
        lstmRows(k, xp, 0, width, s, 0, 1);
        return true;
    }

    /** Below this many units (batch x H) one thread updates the LSTM cells faster than a hand-off. */
    static final long MIN_SPLIT_CELLS = 4096;

    /** LSTM cell updates of batch rows [from, to). */
    void lstmRows(Kernels k, MemorySegment xp, long xpOff, int xpStride, StepState s, int from, int to) {
        int h = units;
        for (int b = from; b < to; b++) {
            k.lstmCell(xp, xpOff + (long) b * xpStride, s.c, (long) b * h, s.h, (long) b * h, h,
                    rspec.activation(), rspec.recurrentActivation());
        }
    }

    /** The LSTM cell updates of one step, as two halves of the batch rows for {@link StepPool#halves}. */
    static final class LstmRows implements StepPool.Halves {
        private final RecurrentExec layer;
        private final StepState state;
        private Kernels kernels;
        private MemorySegment xp;
        private long xpOff;
        private int xpStride;
        private int batch;

        LstmRows(RecurrentExec layer, StepState state) {
            this.layer = layer;
            this.state = state;
        }

        void set(Kernels k, MemorySegment gates, long off, int stride, int rows) {
            kernels = k;
            xp = gates;
            xpOff = off;
            xpStride = stride;
            batch = rows;
        }

        @Override
        public void run(int part) {
            int mid = batch / 2;
            layer.lstmRows(kernels, xp, xpOff, xpStride, state, part == 0 ? 0 : mid, part == 0 ? mid : batch);
        }
    }

    /**
     * {@code out (+)= in[batch, H] · U[:, :cols]}, with U's rows {@code width} apart. Batch 1 streams
     * the packed panels (the product is a gemv, bound by reading U); larger batches run the packed
     * GEMM over the same panels, or with bf16 panels the backend's GEMM over the float32 U.
     * {@code accumulate} false overwrites {@code out}; {@code descending} is the panel order.
     */
    private void recurrentProduct(Backend backend, int batch, MemorySegment in, MemorySegment u, MemorySegment packed,
                                  int cols, MemorySegment out, long outOff, int ldOut, boolean accumulate,
                                  boolean descending, boolean alone) {
        if (batch == 1) {
            if (!accumulate) {
                out.fill((byte) 0); // out is exactly one row here: the step state's own buffer
            }
            gemvPacked(units, cols, packed, in, 0, out, outOff, 0, cols, descending, alone);
        } else if (!bf16) {
            // U packed once at load: no per-step packing of B (which a BLAS does on every call)
            if (!accumulate) {
                zero(out, (long) batch * ldOut); // out is then the step state's own [batch, cols] buffer
            }
            gemmPacked(batch, units, cols, packed, in, 0, units, out, outOff, ldOut, descending, alone);
        } else {
            backend.sgemm(false, false, batch, cols, units, 1f, in, 0, units, u, 0, width,
                    accumulate ? 1f : 0f, out, outOff, ldOut);
        }
    }

    /** Whether some batch-1 product of this layer is big enough to be split across two threads. */
    boolean splits() {
        return StepPool.THREADS > 1 && ((long) units * width >= StepPool.MIN_SPLIT
                || (long) inputFeatures * width >= StepPool.MIN_SPLIT);
    }

    /** {@code out[rows, 0:cols) += in[rows, depth] · packed} (float32 panels), on two threads when configured and worth it (never with {@code alone}). */
    private void gemmPacked(int rows, int depth, int cols, MemorySegment packed, MemorySegment in, long inOff, int ldIn,
                            MemorySegment out, long outOff, int ldOut, boolean descending, boolean alone) {
        StepPool pool = !alone && (long) rows * depth * cols >= StepPool.MIN_SPLIT ? StepPool.get() : null;
        if (pool != null) {
            pool.gemmPacked(packedFor, rows, depth, cols, in, inOff, ldIn, packed, out, outOff, ldOut, descending);
        } else {
            packedFor.gemmPacked(rows, depth, cols, in, inOff, ldIn, packed, 0, out, outOff, ldOut, 0, cols, descending);
        }
    }

    /** {@code out[j0:j1) += in · packed} in this layer's precision, on two threads when configured and worth it (never with {@code alone}). */
    private void gemvPacked(int rows, int cols, MemorySegment packed, MemorySegment in, long inOff, MemorySegment out,
                            long outOff, int j0, int j1, boolean descending, boolean alone) {
        StepPool pool = !alone && (long) rows * cols >= StepPool.MIN_SPLIT && inOff == 0 && j0 == 0 && j1 == cols
                ? StepPool.get() : null;
        if (pool != null) {
            pool.gemvPacked(packedFor, bf16, rows, cols, packed, in, out, outOff, descending);
        } else if (bf16) {
            packedFor.gemvPackedBf16(rows, cols, packed, 0, in, inOff, out, outOff, j0, j1, descending);
        } else {
            packedFor.gemvPacked(rows, cols, packed, 0, in, inOff, out, outOff, j0, j1, descending);
        }
    }

    @Override
    MemorySegment[] forward(ExecContext ctx, MemorySegment in, int batch, int steps, boolean inputIsSequence,
                            MemorySegment[] initialState) {
        if (!inputIsSequence) {
            throw new IllegalArgumentException(describe() + " needs a sequence input [batch, time, features], "
                    + "but the previous layer returns [batch, features] (set return_sequences on it)");
        }
        long stride = (long) steps * width;
        // A batch with float32 packed weights projects each step's inputs just before the step,
        // into one step's gate rows: the gate buffer stays in cache (all steps' projections of a
        // 64 x 100 batch of 2048 gates would be 52 MB written and read back from memory) and the
        // packed input kernel is read from L2. Batch 1 projects all steps at once (T rows).
        long seqStride = (long) steps * inputFeatures;
        boolean perStep = batch > 1 && !bf16 && seqStride <= Integer.MAX_VALUE;
        boolean seq = rspec.returnSequences();
        MemorySegment out = ctx.resultFloats(seq ? (long) batch * steps * units : (long) batch * units);
        long stateBytes = (long) batch * units * Float.BYTES;
        boolean alone = false;
        if (batch == 1 && unitSplit != null) {
            StepPool pool = StepPool.get();
            if (pool != null && !pool.contended()) {
                MemorySegment hEnd = ctx.scratchFloats(units);
                MemorySegment cEnd = ctx.scratchFloats(units);
                if (unitSplit.run(in, steps, initialState, out, seq, hEnd, cEnd)) {
                    return finish(ctx, out, seq, hEnd, cEnd, stateBytes);
                }
            }
            if (pool != null && pool.contended()) {
                // the helper stalled a moment ago (a busy host): the whole sequence on this thread,
                // its products included, even if the back-off ends before the sequence does
                alone = true;
                unitSplit.noteBackedOff();
            }
        }
        MemorySegment xp = null;
        if (!perStep) {
            if (stride > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(describe() + ": " + steps + " time steps of " + width
                        + " gate values exceed the 2^31 floats one batch row may span");
            }
            int rows = Math.multiplyExact(batch, steps);
            xp = ctx.scratchFloats((long) rows * width);
            projectInputs(in, 0, inputFeatures, rows, xp, false, alone);
        }

        boolean zeroStart = initialState == null;
        MemorySegment h;
        MemorySegment c;
        if (perStep) {
            // Rows of a batch are independent: with two threads and enough work, each thread runs
            // the whole sequence for its half of the rows (one hand-off per layer, not per step),
            // with every row computed exactly as alone.
            StepPool pool = batch >= MIN_SPLIT_ROWS
                    && (long) steps * batch * width * (units + inputFeatures) >= MIN_SPLIT_SEQUENCE_MACS
                    ? StepPool.get() : null;
            // parts of whole register tiles (64 rows at 512 bits: 32 and 32, each 4 six-row tiles and 2 four-row ones)
            int mid = ctx.kernels().gemmRowSplit(batch);
            Rows[] parts = pool == null ? new Rows[] {new Rows(0, batch)} : new Rows[] {new Rows(0, mid), new Rows(mid, batch)};
            for (Rows r : parts) {
                r.xp = ctx.scratchFloats((long) r.count * width); // one step's gate rows
                r.state = new StepState(this, r.count, ctx::scratchFloats);
                r.state.load(initialState, (long) r.from * units * Float.BYTES, (long) r.count * units * Float.BYTES);
            }
            Backend backend = ctx.backend();
            Kernels kern = ctx.kernels();
            if (parts.length == 2 && pool.canRead(in) && pool.canRead(out) && readable(pool, parts[0])
                    && readable(pool, parts[1]) && pool.canRead(packedInputRows) && pool.canRead(packedRecurrent)) {
                pool.halves(part -> runRows(backend, kern, in, steps, parts[part], zeroStart, out));
            } else {
                for (Rows r : parts) {
                    runRows(backend, kern, in, steps, r, zeroStart, out);
                }
            }
            if (parts.length == 1) {
                h = parts[0].state.h;
                c = parts[0].state.c;
            } else {
                h = ctx.scratchFloats((long) batch * units);
                c = lstm ? ctx.scratchFloats((long) batch * units) : null;
                for (Rows r : parts) {
                    long at = (long) r.from * units * Float.BYTES;
                    long bytes = (long) r.count * units * Float.BYTES;
                    MemorySegment.copy(r.state.h, 0, h, at, bytes);
                    if (c != null) {
                        MemorySegment.copy(r.state.c, 0, c, at, bytes);
                    }
                }
            }
        } else {
            StepState s = new StepState(this, batch, ctx::scratchFloats);
            s.load(initialState, 0, stateBytes);
            s.oneThread = alone;
            for (int i = 0; i < steps; i++) {
                int t = rspec.goBackwards() ? steps - 1 - i : i;
                step(ctx.backend(), ctx.kernels(), xp, (long) t * width, (int) stride, batch, s, zeroStart && i == 0);
                if (seq) {
                    copyStep(s.h, 0, batch, out, steps, i);
                }
            }
            h = s.h;
            c = s.c;
        }
        return finish(ctx, out, seq, h, c, stateBytes);
    }

    /** The layer's results from its output and final state: h as the output without return_sequences, the states with return_state. */
    private MemorySegment[] finish(ExecContext ctx, MemorySegment out, boolean seq, MemorySegment h, MemorySegment c,
                                   long stateBytes) {
        if (!seq) {
            MemorySegment.copy(h, 0, out, 0, stateBytes);
        }
        MemorySegment[] result = new MemorySegment[1 + (rspec.returnState() ? rspec.stateCount() : 0)];
        result[0] = out;
        if (rspec.returnState()) {
            result[1] = copyOf(ctx, h, stateBytes);
            if (lstm) {
                result[2] = copyOf(ctx, c, stateBytes);
            }
        }
        return result;
    }

    /** Whether the helper may read and write every buffer of {@code r}'s rows. */
    private static boolean readable(StepPool pool, Rows r) {
        StepState st = r.state;
        return pool.canRead(r.xp) && pool.canRead(st.h) && (st.c == null || pool.canRead(st.c))
                && (st.hp == null || pool.canRead(st.hp)) && (st.rh == null || pool.canRead(st.rh))
                && (st.hph == null || pool.canRead(st.hph));
    }

    /** Batches of at least this many rows may run as two halves of rows on two threads... */
    static final int MIN_SPLIT_ROWS = 8;
    /** ...when the whole sequence is at least this many multiply-adds (a hand-off costs a few µs). */
    static final long MIN_SPLIT_SEQUENCE_MACS = 1L << 22;

    /** Batch rows [from, from + count) of a per-step pass, with their own gate rows and state. */
    private static final class Rows {
        final int from;
        final int count;
        MemorySegment xp;
        StepState state;

        Rows(int from, int to) {
            this.from = from;
            this.count = to - from;
        }
    }

    /**
     * The whole sequence for the rows of {@code r}: each step projects their inputs into their
     * gate rows, then steps their state; with return_sequences their outputs go to their rows of
     * {@code out}.
     */
    private void runRows(Backend backend, Kernels k, MemorySegment in, int steps, Rows r, boolean zeroStart,
                         MemorySegment out) {
        int seqStride = steps * inputFeatures;
        long inRow0 = (long) r.from * seqStride;
        for (int i = 0; i < steps; i++) {
            int t = rspec.goBackwards() ? steps - 1 - i : i;
            projectInputs(in, inRow0 + (long) t * inputFeatures, seqStride, r.count, r.xp, r.state.descending);
            step(backend, k, r.xp, 0, width, r.count, r.state, zeroStart && i == 0);
            if (rspec.returnSequences()) {
                copyStep(r.state.h, r.from, r.count, out, steps, i);
            }
        }
    }

    /**
     * Copies the state {@code h} of {@code count} rows, batch rows {@code from..}, to step {@code i}
     * of their output sequences: Keras returns the sequence in processing order, so output[:, i]
     * belongs to step i.
     */
    private void copyStep(MemorySegment h, int from, int count, MemorySegment out, int steps, int i) {
        long unitBytes = (long) units * Float.BYTES;
        for (int b = 0; b < count; b++) {
            MemorySegment.copy(h, b * unitBytes, out, ((long) (from + b) * steps + i) * unitBytes, unitBytes);
        }
    }

    /** Final states of the last pass are needed by Bidirectional even when the layer does not return them. */
    static MemorySegment copyOf(ExecContext ctx, MemorySegment src, long bytes) {
        MemorySegment dst = ctx.resultFloats(bytes / Float.BYTES);
        MemorySegment.copy(src, 0, dst, 0, bytes);
        return dst;
    }
}
