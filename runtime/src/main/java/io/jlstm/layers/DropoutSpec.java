package io.jlstm.layers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;

/**
 * Keras {@code Dropout(rate)}: no weights. At inference (predict, streaming, ONNX export) it is the
 * identity. In training ({@code io.jlstm.train.Trainer}) every element of its input, at every time
 * step of a sequence, is set to 0 with probability {@code rate} and otherwise scaled by
 * 1/(1 − rate), with a new mask for every batch (inverted dropout).
 */
public record DropoutSpec(String name, float rate) implements LayerSpec {

    public DropoutSpec {
        Specs.requireName(name);
        if (!(rate >= 0f && rate < 1f)) {
            throw new IllegalArgumentException("Dropout layer '" + name + "': rate must be in [0, 1), got " + rate);
        }
    }

    public static DropoutSpec of(float rate) {
        return new DropoutSpec("dropout", rate);
    }

    @Override
    public String type() {
        return "Dropout";
    }

    @Override
    public DropoutSpec withName(String n) {
        return new DropoutSpec(n, rate);
    }

    @Override
    public int outputFeatures(int inputFeatures) {
        return inputFeatures;
    }

    @Override
    public SequencedMap<String, long[]> weightShapes(int inputFeatures) {
        return new LinkedHashMap<>();
    }

    @Override
    public List<String> outputNames() {
        return List.of("output");
    }

    @Override
    public boolean outputIsSequence(boolean inputIsSequence) {
        return inputIsSequence;
    }
}
