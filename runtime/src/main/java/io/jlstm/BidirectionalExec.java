package io.jlstm;

import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.MergeMode;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Keras Bidirectional: runs the forward and backward layers on the same input, flips the backward
 * sequence back to input time order, merges. Immutable and thread-safe.
 */
final class BidirectionalExec extends LayerExec {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    final BidirectionalSpec bspec;
    final RecurrentExec forwardLayer;
    final RecurrentExec backwardLayer;

    BidirectionalExec(BidirectionalSpec spec, int inputFeatures, RecurrentExec forwardLayer, RecurrentExec backwardLayer) {
        super(spec, inputFeatures);
        this.bspec = spec;
        this.forwardLayer = forwardLayer;
        this.backwardLayer = backwardLayer;
    }

    @Override
    int stateTensors() {
        return 2 * forwardLayer.stateTensors();
    }

    @Override
    int stateWidth(int i) {
        return forwardLayer.units;
    }

    @Override
    MemorySegment[] forward(ExecContext ctx, MemorySegment in, int batch, int steps, boolean inputIsSequence,
                            MemorySegment[] initialState) {
        int n = forwardLayer.stateTensors();
        MemorySegment[] fInit = null;
        MemorySegment[] bInit = null;
        if (initialState != null) {
            fInit = java.util.Arrays.copyOfRange(initialState, 0, n);
            bInit = java.util.Arrays.copyOfRange(initialState, n, 2 * n);
        }
        // The two halves are scratch; only the merged output and the states are results.
        ExecContext halves = new ExecContext(ctx.backend(), ctx.kernels(), ctx.scratch(), ctx.scratch());
        MemorySegment[] f = forwardLayer.forward(halves, in, batch, steps, inputIsSequence, fInit);
        MemorySegment[] b = backwardLayer.forward(halves, in, batch, steps, inputIsSequence, bInit);
        int h = forwardLayer.units;
        boolean seq = bspec.layer().returnSequences();
        int rowsPerBatch = seq ? steps : 1;
        MemorySegment out = ctx.resultFloats((long) batch * rowsPerBatch * outputFeatures);
        for (int bi = 0; bi < batch; bi++) {
            for (int t = 0; t < rowsPerBatch; t++) {
                long fRow = ((long) bi * rowsPerBatch + t) * h;
                // the backward layer's sequence is in its processing order; flip it back to input time
                long bRow = ((long) bi * rowsPerBatch + (rowsPerBatch - 1 - t)) * h;
                long oRow = ((long) bi * rowsPerBatch + t) * outputFeatures;
                merge(f[0], fRow, b[0], bRow, out, oRow, h);
            }
        }
        MemorySegment[] result = new MemorySegment[1 + (bspec.layer().returnState() ? 2 * n : 0)];
        result[0] = out;
        if (bspec.layer().returnState()) {
            long bytes = (long) batch * h * Float.BYTES;
            for (int i = 0; i < n; i++) {
                result[1 + i] = RecurrentExec.copyOf(ctx, f[1 + i], bytes);
                result[1 + n + i] = RecurrentExec.copyOf(ctx, b[1 + i], bytes);
            }
        }
        return result;
    }

    private void merge(MemorySegment f, long fOff, MemorySegment b, long bOff, MemorySegment out, long oOff, int h) {
        MergeMode mode = bspec.mergeMode();
        if (mode == MergeMode.CONCAT) {
            MemorySegment.copy(f, fOff * Float.BYTES, out, oOff * Float.BYTES, (long) h * Float.BYTES);
            MemorySegment.copy(b, bOff * Float.BYTES, out, (oOff + h) * Float.BYTES, (long) h * Float.BYTES);
            return;
        }
        for (int j = 0; j < h; j++) {
            float x = f.getAtIndex(F, fOff + j);
            float y = b.getAtIndex(F, bOff + j);
            float v = switch (mode) {
                case SUM -> x + y;
                case AVE -> (x + y) * 0.5f;
                case MUL -> x * y;
                case CONCAT -> throw new AssertionError();
            };
            out.setAtIndex(F, oOff + j, v);
        }
    }
}
