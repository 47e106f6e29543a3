package io.jlstm;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jlstm.backend.Backend;
import io.jlstm.io.ModelFormatException;
import io.jlstm.io.SafetensorsFile;
import io.jlstm.io.SafetensorsWriter;
import io.jlstm.io.TensorInfo;
import io.jlstm.layers.LayerConfigs;
import io.jlstm.layers.LayerSpec;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;

/**
 * The jlstm model file: safetensors with the layer stack in {@code __metadata__}.
 *
 * <pre>
 * __metadata__: {"format": "jlstm", "format_version": "1",
 *                "model": "{\"input_features\":13,\"layers\":[{\"type\":\"LSTM\",\"units\":16,...}]}"}
 * tensors:      layers.{i}.{weight}   e.g. layers.0.kernel, layers.0.forward_recurrent_kernel  (F32)
 * </pre>
 *
 * Weight names and shapes are Keras' ({@link LayerSpec#weightShapes(int)}). F16 and BF16 tensors
 * are accepted on read and widened to float32.
 */
final class ModelFile {

    static final String FORMAT = "jlstm";
    static final String VERSION = "1";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelFile() {
    }

    static String tensorName(int layer, String weight) {
        return "layers." + layer + "." + weight;
    }

    static void write(Sequential model, Path file) throws IOException {
        ObjectNode m = JSON.createObjectNode();
        m.put("input_features", model.inputFeatures());
        ArrayNode layers = m.putArray("layers");
        SequencedMap<String, Tensor> tensors = new LinkedHashMap<>();
        for (int i = 0; i < model.layers().size(); i++) {
            layers.add(LayerConfigs.toJson(model.layers().get(i)));
            for (var e : model.layerWeights(i).entrySet()) {
                tensors.put(tensorName(i, e.getKey()), e.getValue());
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", VERSION);
        meta.put("model", JSON.writeValueAsString(m));
        SafetensorsWriter.write(file, meta, tensors);
    }

    static Sequential read(Path file, Backend backend) throws IOException {
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Map<String, String> meta = st.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw new ModelFormatException(file + ": not a jlstm model (safetensors __metadata__.format is "
                        + (meta.containsKey("format") ? "'" + meta.get("format") + "'" : "missing")
                        + ", expected '" + FORMAT + "')");
            }
            if (!VERSION.equals(meta.get("format_version"))) {
                throw new ModelFormatException(file + ": jlstm model format_version " + meta.get("format_version")
                        + " is not supported (this build reads " + VERSION + ")");
            }
            String modelJson = meta.get("model");
            if (modelJson == null) {
                throw new ModelFormatException(file + ": __metadata__ has no 'model' entry with the layer stack");
            }
            JsonNode m;
            try {
                m = JSON.readTree(modelJson);
            } catch (JsonProcessingException e) {
                throw new ModelFormatException(file + ": __metadata__.model is not valid JSON: " + e.getOriginalMessage(), e);
            }
            JsonNode inf = m.get("input_features");
            JsonNode arr = m.get("layers");
            if (inf == null || !inf.isIntegralNumber() || !inf.canConvertToInt() || inf.asInt() <= 0) {
                throw new ModelFormatException(file + ": model.input_features must be a positive integer, got " + inf);
            }
            if (arr == null || !arr.isArray() || arr.isEmpty()) {
                throw new ModelFormatException(file + ": model.layers must be a non-empty array, got " + arr);
            }
            List<LayerSpec> specs = new ArrayList<>();
            List<Map<String, Tensor>> weights = new ArrayList<>();
            Set<String> used = new HashSet<>();
            int features = inf.asInt();
            for (int i = 0; i < arr.size(); i++) {
                LayerSpec spec;
                try {
                    spec = LayerConfigs.fromJson(arr.get(i), "layer_" + i);
                } catch (IllegalArgumentException e) {
                    throw new ModelFormatException(file + ": layer " + i + ": " + e.getMessage(), e);
                }
                specs.add(spec);
                Map<String, Tensor> w = new LinkedHashMap<>();
                for (var e : spec.weightShapes(features).entrySet()) {
                    String name = tensorName(i, e.getKey());
                    try {
                        // a view of the mapped file; the model copies it into its own arena
                        w.put(e.getKey(), st.viewF32(name, e.getValue()));
                    } catch (ModelFormatException ex) {
                        throw new ModelFormatException(spec.type() + " layer '" + spec.name() + "' (layer " + i
                                + "): " + ex.getMessage(), ex);
                    }
                    used.add(name);
                }
                weights.add(w);
                features = spec.outputFeatures(features);
            }
            List<String> extra = new ArrayList<>();
            for (TensorInfo t : st.tensors()) {
                if (!used.contains(t.name())) {
                    extra.add(t.name());
                }
            }
            if (!extra.isEmpty()) {
                throw new ModelFormatException(file + ": tensors " + extra + " belong to no layer of the model");
            }
            try {
                return Sequential.create(inf.asInt(), specs, weights, backend);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(file + ": " + e.getMessage(), e);
            }
        }
    }
}
