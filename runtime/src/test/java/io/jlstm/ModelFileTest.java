package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.backend.Backends;
import io.jlstm.io.ModelFormatException;
import io.jlstm.io.SafetensorsWriter;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.simd.Activation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.SequencedMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFileTest {

    @TempDir
    Path dir;

    private static Sequential sample() {
        return Models.build(21, 5, Backends.java(),
                BidirectionalSpec.of(GruSpec.of(6).returnSequences(true).resetAfter(false), MergeMode.CONCAT),
                LstmSpec.of(7).activation(Activation.RELU).returnSequences(true).goBackwards(true),
                GruSpec.of(4).useBias(false).returnSequences(true),
                LstmSpec.of(5).returnState(true));
    }

    @Test
    void saveThenLoadGivesTheSameModelAndNumbers() throws Exception {
        Path file = dir.resolve("m.safetensors");
        Tensor x = Models.random(new Random(5), 1f, 3, 8, 5);
        try (Sequential model = sample()) {
            model.save(file);
            try (Sequential back = Sequential.load(file, Backends.java())) {
                assertEquals(model.layers(), back.layers());
                assertEquals(model.parameterCount(), back.parameterCount());
                Prediction a = model.predict(x);
                Prediction b = back.predict(x);
                assertEquals(a.outputs().keySet(), b.outputs().keySet());
                for (String name : a.outputs().keySet()) {
                    assertArrayEquals(a.get(name).toFloatArray(), b.get(name).toFloatArray(), name);
                }
            }
        }
        // a model with a Dense head, through the default backend
        try (Sequential model = Models.build(2, 3, null, LstmSpec.of(4), DenseSpec.of(2, DenseActivation.SOFTMAX))) {
            model.save(file); // replaces the file in place
            try (Sequential back = Sequential.load(file)) {
                Tensor in = Models.random(new Random(1), 1f, 2, 4, 3);
                assertArrayEquals(model.predict(in).output().toFloatArray(), back.predict(in).output().toFloatArray());
            }
        }
    }

    /** Writes a model file with the given metadata JSON and tensors. */
    private Path write(String name, String modelJson, SequencedMap<String, Tensor> tensors) throws Exception {
        Path file = dir.resolve(name);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "jlstm");
        meta.put("format_version", "1");
        if (modelJson != null) {
            meta.put("model", modelJson);
        }
        SafetensorsWriter.write(file, meta, tensors);
        return file;
    }

    private static SequencedMap<String, Tensor> denseWeights(long in, long units) {
        SequencedMap<String, Tensor> t = new LinkedHashMap<>();
        t.put("layers.0.kernel", Tensor.allocate(in, units));
        t.put("layers.0.bias", Tensor.allocate(units));
        return t;
    }

    private String loadError(Path file) {
        return assertThrows(ModelFormatException.class, () -> Sequential.load(file, Backends.java())).getMessage();
    }

    @Test
    void layerStackProblemsAreNamed() throws Exception {
        String dense = "{\"input_features\":3,\"layers\":[{\"type\":\"Dense\",\"units\":2,\"activation\":\"linear\"}]}";
        assertTrue(Sequential.load(write("ok.safetensors", dense, denseWeights(3, 2)), Backends.java())
                .parameterCount() == 8);

        String m = loadError(write("unknown.safetensors",
                "{\"input_features\":3,\"layers\":[{\"type\":\"ConvLSTM2D\",\"units\":2}]}", denseWeights(3, 2)));
        assertTrue(m.contains("unknown layer type 'ConvLSTM2D'"), m);

        m = loadError(write("missing.safetensors", dense, new LinkedHashMap<>(Map.of("layers.0.kernel",
                Tensor.allocate(3, 2)))));
        assertTrue(m.contains("'layers.0.bias' is missing"), m);

        m = loadError(write("shape.safetensors", dense, denseWeights(4, 2)));
        assertTrue(m.contains("layers.0.kernel") && m.contains("[4, 2]") && m.contains("[3, 2]"), m);

        SequencedMap<String, Tensor> extra = denseWeights(3, 2);
        extra.put("layers.1.kernel", Tensor.allocate(1));
        m = loadError(write("extra.safetensors", dense, extra));
        assertTrue(m.contains("[layers.1.kernel] belong to no layer"), m);

        m = loadError(write("nomodel.safetensors", null, denseWeights(3, 2)));
        assertTrue(m.contains("no 'model' entry"), m);

        m = loadError(write("badjson.safetensors", "{\"input_features\":3,", denseWeights(3, 2)));
        assertTrue(m.contains("not valid JSON"), m);

        m = loadError(write("badopt.safetensors",
                "{\"input_features\":3,\"layers\":[{\"type\":\"LSTM\",\"units\":2,\"stateful\":true}]}", denseWeights(3, 2)));
        assertTrue(m.contains("stateful=true is not supported"), m);

        m = loadError(write("peephole.safetensors",
                "{\"input_features\":3,\"layers\":[{\"type\":\"LSTM\",\"units\":2,\"peephole\":true}]}", denseWeights(3, 2)));
        assertTrue(m.contains("unsupported option(s) [peephole]"), m);

        m = loadError(write("act.safetensors",
                "{\"input_features\":3,\"layers\":[{\"type\":\"Dense\",\"units\":2,\"activation\":\"gelu\"}]}", denseWeights(3, 2)));
        assertTrue(m.contains("unknown Dense activation 'gelu'"), m);

        Path other = dir.resolve("other.safetensors");
        SafetensorsWriter.write(other, Map.of(), denseWeights(3, 2));
        m = loadError(other);
        assertTrue(m.contains("not a jlstm model"), m);

        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, new byte[] {1, 2, 3});
        m = loadError(truncated);
        assertTrue(m.contains("truncated.safetensors"), m);
    }

    @Test
    void f16AndBf16WeightsAreWidened() throws Exception {
        // a Dense layer whose kernel is stored as bf16 in a hand-built file: 1.0 = 0x3F80, 2.0 = 0x4000
        String header = "{\"__metadata__\":{\"format\":\"jlstm\",\"format_version\":\"1\",\"model\":"
                + "\"{\\\"input_features\\\":2,\\\"layers\\\":[{\\\"type\\\":\\\"Dense\\\",\\\"units\\\":1,"
                + "\\\"activation\\\":\\\"linear\\\",\\\"use_bias\\\":false}]}\"},"
                + "\"layers.0.kernel\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[0,4]}}";
        while ((header.length() % 8) != 0) {
            header += " ";
        }
        byte[] h = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(8 + h.length + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bb.putLong(h.length).put(h).putShort((short) 0x3F80).putShort((short) 0x4000);
        Path file = dir.resolve("bf16.safetensors");
        Files.write(file, bb.array());
        try (Sequential model = Sequential.load(file, Backends.java())) {
            Tensor x = Tensor.of(new float[] {3, 4}, 1, 1, 2);
            assertArrayEquals(new float[] {3 * 1 + 4 * 2}, model.predict(x).output().toFloatArray());
        }
    }
}
