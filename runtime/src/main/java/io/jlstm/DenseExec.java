package io.jlstm;

import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import java.lang.foreign.MemorySegment;

/** Keras Dense on the last axis: {@code y = act(x·kernel + bias)}. Immutable and thread-safe. */
final class DenseExec extends LayerExec {

    final DenseSpec dspec;
    final MemorySegment kernel; // [in, units]
    final MemorySegment bias;   // [units] or null

    DenseExec(DenseSpec spec, int inputFeatures, MemorySegment kernel, MemorySegment bias) {
        super(spec, inputFeatures);
        this.dspec = spec;
        this.kernel = kernel;
        this.bias = bias;
    }

    @Override
    int stateTensors() {
        return 0;
    }

    @Override
    MemorySegment[] forward(ExecContext ctx, MemorySegment in, int batch, int steps, boolean inputIsSequence,
                            MemorySegment[] initialState) {
        int rows = inputIsSequence ? Math.multiplyExact(batch, steps) : batch;
        MemorySegment out = ctx.resultFloats((long) rows * dspec.units());
        apply(ctx, in, rows, out);
        return new MemorySegment[] {out};
    }

    /** {@code out[rows, units] = act(in[rows, in]·kernel + bias)}. Allocates nothing. */
    void apply(ExecContext ctx, MemorySegment in, int rows, MemorySegment out) {
        int u = dspec.units();
        float beta = 0f;
        if (bias != null) {
            long rowBytes = (long) u * Float.BYTES;
            BiasRows.repeat(bias, out, rows, rowBytes);
            beta = 1f;
        }
        ctx.backend().sgemm(false, false, rows, u, inputFeatures, 1f, in, 0, inputFeatures, kernel, 0, u,
                beta, out, 0, u);
        if (dspec.activation() == DenseActivation.SOFTMAX) {
            for (int r = 0; r < rows; r++) {
                ctx.kernels().softmax(out, (long) r * u, u);
            }
        } else if (dspec.activation() != DenseActivation.LINEAR) {
            ctx.kernels().activate(dspec.activation().elementwise(), out, 0, Math.multiplyExact(rows, u));
        }
    }
}
