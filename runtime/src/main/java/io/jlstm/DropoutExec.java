package io.jlstm;

import io.jlstm.layers.DropoutSpec;
import java.lang.foreign.MemorySegment;

/**
 * Keras Dropout at inference: the identity. {@link #forward} copies its input into the results
 * arena (the caller may close the arena its input lives in); a {@link StreamingSession} skips the
 * layer. Holds no memory; immutable and thread-safe.
 */
final class DropoutExec extends LayerExec {

    DropoutExec(DropoutSpec spec, int inputFeatures) {
        super(spec, inputFeatures);
    }

    @Override
    int stateTensors() {
        return 0;
    }

    @Override
    MemorySegment[] forward(ExecContext ctx, MemorySegment in, int batch, int steps, boolean inputIsSequence,
                            MemorySegment[] initialState) {
        long rows = inputIsSequence ? Math.multiplyExact(batch, steps) : batch;
        long count = rows * inputFeatures;
        MemorySegment out = ctx.resultFloats(count);
        MemorySegment.copy(in, 0, out, 0, count * Float.BYTES);
        return new MemorySegment[] {out};
    }
}
