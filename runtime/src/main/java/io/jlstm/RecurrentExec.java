package io.jlstm;

import io.jlstm.backend.Backend;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.RecurrentSpec;
import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;

/**
 * LSTM and GRU execution, shaped as DESIGN.md says: one GEMM projects the inputs of all time steps
 * (bias added once), then each step adds {@code h·U} into that step's rows of the gate buffer and
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
    /** The input kernel packed for a single input row (a streaming batch-1 step). */
    final MemorySegment packedInput;

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
    }

    /** Packs columns [off, off + cols) of a row-major matrix with {@code width} columns, as this layer streams it. */
    private MemorySegment pack(Kernels kernels, java.lang.foreign.Arena arena, int rows, int cols, MemorySegment m,
                               long off) {
        if (bf16) {
            MemorySegment p = arena.allocate(Math.max(2, kernels.packedSizeBf16Bytes(rows, cols)), 64);
            kernels.packPanelsBf16(rows, cols, m, off, width, p, 0);
            return p;
        }
        MemorySegment p = arena.allocate(Math.max(1, kernels.packedSize(rows, cols)) * Float.BYTES, 64);
        kernels.packPanels(rows, cols, m, off, width, p, 0);
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

        StepState(RecurrentExec layer, int batch, java.util.function.LongFunction<MemorySegment> alloc) {
            long bh = (long) batch * layer.units;
            h = alloc.apply(bh);
            c = layer.lstm ? alloc.apply(bh) : null;
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

        /** Sets h (and c) from {@code init} ([B,H] each, may be null for zeros). */
        void load(MemorySegment[] init, long bytes) {
            if (init == null) {
                h.fill((byte) 0);
                if (c != null) {
                    c.fill((byte) 0);
                }
                return;
            }
            MemorySegment.copy(init[0], 0, h, 0, bytes);
            if (c != null) {
                MemorySegment.copy(init[1], 0, c, 0, bytes);
            }
        }
    }

    /**
     * Writes the input projection of {@code rows} input rows into {@code xp} ([rows, G·H]):
     * {@code xp = x·W + b}. The bias is copied first and the GEMM accumulates onto it.
     */
    void projectInputs(Backend backend, MemorySegment x, long xOff, int rows, MemorySegment xp) {
        float beta = 0f;
        if (inputBias != null) {
            long rowBytes = (long) width * Float.BYTES;
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(inputBias, 0, xp, r * rowBytes, rowBytes);
            }
            beta = 1f;
        }
        if (rows == 1) {
            // one row (a streaming batch-1 step): a packed gemv, like the recurrent product
            if (beta == 0f) {
                xp.fill((byte) 0); // xp is exactly one row here (a batch-1 gate buffer)
            }
            gemvPacked(inputFeatures, width, packedInput, x, xOff, xp, 0, 0, width);
            return;
        }
        backend.sgemm(false, false, rows, width, inputFeatures, 1f, x, xOff, inputFeatures,
                kernel, 0, width, beta, xp, 0, width);
    }

    /**
     * One time step for the whole batch. Row b of this step's gate pre-activations starts at
     * {@code xpOff + b·xpStride} in {@code xp} and already holds x·W + b; it is clobbered.
     * {@code hIsZero} lets the first step of a zero-initialised pass skip the recurrent product.
     */
    void step(Backend backend, Kernels k, MemorySegment xp, long xpOff, int xpStride, int batch,
              StepState s, boolean hIsZero) {
        int h = units;
        if (lstm) {
            if (!hIsZero) {
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, width, xp, xpOff, xpStride, true);
            }
            for (int b = 0; b < batch; b++) {
                k.lstmCell(xp, xpOff + (long) b * xpStride, s.c, (long) b * h, s.h, (long) b * h, h,
                        rspec.activation(), rspec.recurrentActivation());
            }
        } else if (resetAfter) {
            float beta = 0f;
            if (recurrentBias != null) {
                long rowBytes = (long) width * Float.BYTES;
                for (int b = 0; b < batch; b++) {
                    MemorySegment.copy(recurrentBias, 0, s.hp, b * rowBytes, rowBytes);
                }
                beta = 1f;
            }
            if (!hIsZero) {
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, width, s.hp, 0, width,
                        beta == 1f);
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
                recurrentProduct(backend, batch, s.h, recurrentKernel, packedRecurrent, 2 * h, s.hp, 0, 2 * h, false);
            }
            for (int b = 0; b < batch; b++) {
                k.gruGatesResetBefore(xp, xpOff + (long) b * xpStride, s.hp, 2L * b * h, s.h, (long) b * h,
                        s.rh, (long) b * h, h, rspec.recurrentActivation());
            }
            if (hIsZero) {
                s.hph.fill((byte) 0);
            } else {
                recurrentProduct(backend, batch, s.rh, candidateKernel, packedCandidate, h, s.hph, 0, h, false);
            }
            for (int b = 0; b < batch; b++) {
                k.gruFinishResetBefore(xp, xpOff + (long) b * xpStride, s.hph, (long) b * h, s.h, (long) b * h,
                        h, rspec.activation());
            }
        }
    }

    /**
     * {@code out (+)= in[batch, H] · U[:, :cols]}, with U's rows {@code width} apart. Batch 1 streams
     * the packed panels (the product is a gemv, bound by reading U); larger batches go to the
     * backend's GEMM. {@code accumulate} false overwrites {@code out}.
     */
    private void recurrentProduct(Backend backend, int batch, MemorySegment in, MemorySegment u, MemorySegment packed,
                                  int cols, MemorySegment out, long outOff, int ldOut, boolean accumulate) {
        if (batch == 1) {
            if (!accumulate) {
                out.fill((byte) 0); // out is exactly one row here: the step state's own buffer
            }
            gemvPacked(units, cols, packed, in, 0, out, outOff, 0, cols);
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

    /** {@code out[j0:j1) += in · packed} in this layer's precision, on two threads when configured and worth it. */
    private void gemvPacked(int rows, int cols, MemorySegment packed, MemorySegment in, long inOff, MemorySegment out,
                            long outOff, int j0, int j1) {
        StepPool pool = (long) rows * cols >= StepPool.MIN_SPLIT && inOff == 0 && j0 == 0 && j1 == cols
                ? StepPool.get() : null;
        if (pool != null) {
            pool.gemvPacked(packedFor, bf16, rows, cols, packed, in, out, outOff);
        } else if (bf16) {
            packedFor.gemvPackedBf16(rows, cols, packed, 0, in, inOff, out, outOff, j0, j1);
        } else {
            packedFor.gemvPacked(rows, cols, packed, 0, in, inOff, out, outOff, j0, j1);
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
        if (stride > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(describe() + ": " + steps + " time steps of " + width
                    + " gate values exceed the 2^31 floats one batch row may span");
        }
        int rows = Math.multiplyExact(batch, steps);
        MemorySegment xp = ctx.scratchFloats((long) rows * width);
        projectInputs(ctx.backend(), in, 0, rows, xp);

        StepState s = new StepState(this, batch, ctx::scratchFloats);
        long stateBytes = (long) batch * units * Float.BYTES;
        s.load(initialState, stateBytes);
        boolean zeroStart = initialState == null;

        boolean seq = rspec.returnSequences();
        MemorySegment out = ctx.resultFloats(seq ? (long) batch * steps * units : (long) batch * units);
        long unitBytes = (long) units * Float.BYTES;
        for (int i = 0; i < steps; i++) {
            int t = rspec.goBackwards() ? steps - 1 - i : i;
            step(ctx.backend(), ctx.kernels(), xp, (long) t * width, (int) stride, batch, s, zeroStart && i == 0);
            if (seq) {
                // Keras returns the sequence in processing order: output[:, i] belongs to step i
                for (int b = 0; b < batch; b++) {
                    MemorySegment.copy(s.h, b * unitBytes, out, ((long) b * steps + i) * unitBytes, unitBytes);
                }
            }
        }
        if (!seq) {
            MemorySegment.copy(s.h, 0, out, 0, stateBytes);
        }
        MemorySegment[] result = new MemorySegment[1 + (rspec.returnState() ? rspec.stateCount() : 0)];
        result[0] = out;
        if (rspec.returnState()) {
            result[1] = copyOf(ctx, s.h, stateBytes);
            if (lstm) {
                result[2] = copyOf(ctx, s.c, stateBytes);
            }
        }
        return result;
    }

    /** Final states of the last pass are needed by Bidirectional even when the layer does not return them. */
    static MemorySegment copyOf(ExecContext ctx, MemorySegment src, long bytes) {
        MemorySegment dst = ctx.resultFloats(bytes / Float.BYTES);
        MemorySegment.copy(src, 0, dst, 0, bytes);
        return dst;
    }
}
