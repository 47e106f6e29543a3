package io.jlstm.layers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SequencedMap;

/** Keras {@code Dense}: kernel [input, units], bias [units], {@code y = act(x·kernel + bias)} on the last axis. */
public record DenseSpec(String name, int units, DenseActivation activation, boolean useBias) implements LayerSpec {

    public DenseSpec {
        Specs.requireName(name);
        Specs.requireUnits("Dense", units);
        Objects.requireNonNull(activation, "activation");
    }

    public static DenseSpec of(int units, DenseActivation activation) {
        return new DenseSpec("dense", units, activation, true);
    }

    @Override
    public String type() {
        return "Dense";
    }

    @Override
    public DenseSpec withName(String n) {
        return new DenseSpec(n, units, activation, useBias);
    }

    @Override
    public int outputFeatures(int inputFeatures) {
        return units;
    }

    @Override
    public SequencedMap<String, long[]> weightShapes(int inputFeatures) {
        SequencedMap<String, long[]> m = new LinkedHashMap<>();
        m.put("kernel", new long[] {inputFeatures, units});
        if (useBias) {
            m.put("bias", new long[] {units});
        }
        return m;
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
