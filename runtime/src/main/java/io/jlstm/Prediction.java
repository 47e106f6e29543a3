package io.jlstm;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;

/**
 * What {@link Sequential#predict} returns: the model's outputs in Keras order ({@code output},
 * then the last layer's states when it returns them, e.g. {@code state_h}, {@code state_c}),
 * and, if asked, every layer's output. The tensors live in an automatic arena (freed by the
 * garbage collector) unless the caller gave an arena. Immutable.
 */
public final class Prediction {

    private final SequencedMap<String, Tensor> outputs;
    private final List<Tensor> layerOutputs;

    Prediction(SequencedMap<String, Tensor> outputs, List<Tensor> layerOutputs) {
        this.outputs = Collections.unmodifiableSequencedMap(outputs);
        this.layerOutputs = layerOutputs == null ? List.of() : List.copyOf(layerOutputs);
    }

    /** The main output (Keras' first output). */
    public Tensor output() {
        return outputs.get("output");
    }

    /** An output by name ({@code output}, {@code state_h}, {@code forward_state_c}, …). */
    public Tensor get(String name) {
        Tensor t = outputs.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no output named '" + name + "' (this model returns " + outputs.keySet() + ")");
        }
        return t;
    }

    /** All outputs in Keras order. */
    public SequencedMap<String, Tensor> outputs() {
        return outputs;
    }

    /** Output of layer {@code i}, when the call asked for layer outputs. */
    public Tensor layerOutput(int i) {
        if (layerOutputs.isEmpty()) {
            throw new IllegalStateException("layer outputs were not kept: use PredictOptions.keepLayerOutputs(true)");
        }
        return layerOutputs.get(i);
    }

    /** Outputs of every layer (empty unless asked for). */
    public List<Tensor> layerOutputs() {
        return layerOutputs;
    }

    @Override
    public String toString() {
        return "Prediction" + Map.copyOf(outputs);
    }
}
