package io.jlstm;

import io.jlstm.layers.LayerSpec;
import java.lang.foreign.MemorySegment;

/**
 * A layer bound to its weights (segments in the model's arena, read-only after load). Immutable
 * and thread-safe: every pass brings its own {@link ExecContext}.
 */
abstract sealed class LayerExec permits RecurrentExec, BidirectionalExec, DenseExec, DropoutExec {

    final LayerSpec spec;
    final int inputFeatures;
    final int outputFeatures;

    LayerExec(LayerSpec spec, int inputFeatures) {
        this.spec = spec;
        this.inputFeatures = inputFeatures;
        this.outputFeatures = spec.outputFeatures(inputFeatures);
    }

    /**
     * Runs the layer on a whole input. {@code in} holds [batch, steps, features] when
     * {@code inputIsSequence}, else [batch, features], contiguous from offset 0. Returns the
     * outputs in {@link LayerSpec#outputNames()} order, allocated in {@code ctx.results()}.
     *
     * @param initialState per state tensor [batch, units], or null for zeros
     */
    abstract MemorySegment[] forward(ExecContext ctx, MemorySegment in, int batch, int steps,
                                     boolean inputIsSequence, MemorySegment[] initialState);

    /** Number of state tensors an initial state for this layer has (0: it takes none). */
    abstract int stateTensors();

    /** Width of state tensor {@code i}. */
    int stateWidth(int i) {
        throw new IllegalArgumentException(describe() + " has no state");
    }

    String describe() {
        return spec.type() + " layer '" + spec.name() + "'";
    }
}
