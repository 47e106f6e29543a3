package io.jlstm.layers;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Keras {@code Bidirectional}: a forward copy of {@code layer} and a backward one (go_backwards
 * flipped). With return_sequences the backward sequence is flipped back to input time order before
 * the merge. Weights are the forward layer's, then the backward layer's, prefixed
 * {@code forward_} and {@code backward_}. States come forward (h[, c]) then backward (h[, c]).
 */
public record BidirectionalSpec(String name, RecurrentSpec layer, MergeMode mergeMode) implements LayerSpec {

    public BidirectionalSpec {
        Specs.requireName(name);
        Objects.requireNonNull(layer, "layer");
        Objects.requireNonNull(mergeMode, "mergeMode");
    }

    public static BidirectionalSpec of(RecurrentSpec layer, MergeMode mergeMode) {
        return new BidirectionalSpec("bidirectional", layer, mergeMode);
    }

    @Override
    public String type() {
        return "Bidirectional";
    }

    @Override
    public BidirectionalSpec withName(String n) {
        return new BidirectionalSpec(n, layer, mergeMode);
    }

    /** The forward layer. */
    public RecurrentSpec forward() {
        return layer.withName(name + "/forward");
    }

    /** The backward layer: a copy with go_backwards flipped. */
    public RecurrentSpec backward() {
        return layer.reversed().withName(name + "/backward");
    }

    @Override
    public int outputFeatures(int inputFeatures) {
        return mergeMode == MergeMode.CONCAT ? 2 * layer.units() : layer.units();
    }

    @Override
    public SequencedMap<String, long[]> weightShapes(int inputFeatures) {
        SequencedMap<String, long[]> inner = layer.weightShapes(inputFeatures);
        SequencedMap<String, long[]> m = new LinkedHashMap<>();
        for (var e : inner.entrySet()) {
            m.put("forward_" + e.getKey(), e.getValue());
        }
        for (var e : inner.entrySet()) {
            m.put("backward_" + e.getKey(), e.getValue().clone());
        }
        return m;
    }

    @Override
    public List<String> outputNames() {
        List<String> names = new ArrayList<>();
        names.add("output");
        if (layer.returnState()) {
            names.add("forward_state_h");
            if (layer.stateCount() == 2) {
                names.add("forward_state_c");
            }
            names.add("backward_state_h");
            if (layer.stateCount() == 2) {
                names.add("backward_state_c");
            }
        }
        return names;
    }

    @Override
    public boolean outputIsSequence(boolean inputIsSequence) {
        return layer.returnSequences();
    }
}
