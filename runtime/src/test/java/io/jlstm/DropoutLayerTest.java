package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.io.SafetensorsFile;
import io.jlstm.io.TensorInfo;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerConfigs;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Dropout layer outside training: the identity in predict, streaming and model files; its spec's checks. */
class DropoutLayerTest {

    @TempDir
    Path dir;

    /** LSTM(seq) → Dense(tanh) on the sequence → GRU → Dense, with Dropout before, between and after when asked. */
    private static Sequential stack(Backend backend, boolean dropout) {
        LayerSpec[] plain = {LstmSpec.of(6).returnSequences(true), DenseSpec.of(5, DenseActivation.TANH),
                GruSpec.of(4), DenseSpec.of(2, DenseActivation.LINEAR)};
        LayerSpec[] dropped = {DropoutSpec.of(0.5f), plain[0], DropoutSpec.of(0.3f), plain[1], DropoutSpec.of(0.2f),
                plain[2], DropoutSpec.of(0.1f), plain[3], DropoutSpec.of(0.9f)};
        // Dropout has no weights, so both stacks draw the same weights from the same seed
        return Models.build(31, 4, backend, dropout ? dropped : plain);
    }

    @Test
    void predictIsBitForBitTheModelWithoutTheLayer() {
        for (Backend backend : List.of(Backends.java(), Backends.openblas())) {
            try (Sequential with = stack(backend, true); Sequential without = stack(backend, false)) {
                assertEquals(without.parameterCount(), with.parameterCount());
                for (int batch : new int[] {1, 3}) {
                    Tensor x = Models.random(new Random(batch), 1f, batch, 7, 4);
                    String what = backend.name() + ", batch " + batch;
                    assertArrayEquals(without.predict(x).output().toFloatArray(), with.predict(x).output().toFloatArray(),
                            what);
                    // per-layer outputs: each Dropout's output is what the layer before it gave
                    Prediction p = with.predict(x, PredictOptions.defaults().keepLayerOutputs(true));
                    assertEquals(9, p.layerOutputs().size());
                    assertArrayEquals(x.toFloatArray(), p.layerOutput(0).toFloatArray(), what + ": first Dropout");
                    for (int i = 2; i < 9; i += 2) {
                        assertArrayEquals(p.layerOutput(i - 1).shape(), p.layerOutput(i).shape(), what + ": layer " + i);
                        assertArrayEquals(p.layerOutput(i - 1).toFloatArray(), p.layerOutput(i).toFloatArray(),
                                what + ": layer " + i);
                    }
                }
            }
        }
    }

    @Test
    void streamingStepsAreBitForBitTheModelWithoutTheLayer() {
        try (Sequential with = stack(Backends.java(), true); Sequential without = stack(Backends.java(), false);
             StreamingSession a = with.newSession(2); StreamingSession b = without.newSession(2)) {
            Random rnd = new Random(4);
            float[] outA = new float[2 * 2];
            float[] outB = new float[2 * 2];
            for (int t = 0; t < 6; t++) {
                float[] x = new float[2 * 4];
                for (int i = 0; i < x.length; i++) {
                    x[i] = rnd.nextFloat() * 2 - 1;
                }
                a.step(x, outA);
                b.step(x, outB);
                assertArrayEquals(outB, outA, "step " + t);
            }
        }
        // a model that is only a Dropout streams its input through
        try (Sequential only = Sequential.builder(3).add(DropoutSpec.of(0.4f), java.util.Map.of()).build();
             StreamingSession s = only.newSession(1)) {
            assertArrayEquals(new float[] {1f, -2f, 3f}, s.step(new float[] {1f, -2f, 3f}).toFloatArray());
            Tensor x = Models.random(new Random(2), 1f, 2, 5, 3);
            assertArrayEquals(x.toFloatArray(), only.predict(x).output().toFloatArray());
        }
    }

    @Test
    void saveAndLoadKeepTheLayerWithoutTensors() throws Exception {
        Path file = dir.resolve("dropout.safetensors");
        Tensor x = Models.random(new Random(9), 1f, 3, 7, 4);
        try (Sequential model = stack(Backends.java(), true)) {
            model.save(file);
            try (Sequential back = Sequential.load(file, Backends.java())) {
                assertEquals(model.layers(), back.layers());
                assertEquals(new DropoutSpec("dropout_4", 0.9f), back.layers().getLast());
                assertArrayEquals(model.predict(x).output().toFloatArray(), back.predict(x).output().toFloatArray());
            }
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                for (TensorInfo t : st.tensors()) {
                    int layer = Integer.parseInt(t.name().split("\\.")[1]);
                    assertTrue(layer % 2 == 1, "tensor " + t.name() + " belongs to a Dropout layer");
                }
                JsonNode layers = new ObjectMapper().readTree(st.metadata().get("model")).get("layers");
                assertEquals("{\"type\":\"Dropout\",\"name\":\"dropout_1\",\"rate\":0.3}", layers.get(2).toString());
            }
        }
    }

    @Test
    void dropoutNeedsNoSequenceButKeepsWhatItGets() {
        // LSTM without return_sequences gives [batch, units]: a Dropout keeps that, so an LSTM after it is refused
        var e = assertThrows(IllegalArgumentException.class, () -> Models.build(1, 2, Backends.java(), LstmSpec.of(3),
                DropoutSpec.of(0.2f), LstmSpec.of(2)));
        assertTrue(e.getMessage().contains("needs a sequence input"), e.getMessage());
        try (Sequential m = Models.build(1, 2, Backends.java(), LstmSpec.of(3), DropoutSpec.of(0.2f))) {
            assertArrayEquals(new long[] {4, 3}, m.predict(Models.random(new Random(1), 1f, 4, 5, 2)).output().shape());
            var noState = assertThrows(IllegalArgumentException.class, () -> m.predict(Tensor.allocate(1, 1, 2),
                    PredictOptions.defaults().initialState(1, Tensor.allocate(1, 3))));
            assertTrue(noState.getMessage().contains("takes no initial state"), noState.getMessage());
        }
    }

    @Test
    void rateOutsideZeroToOneIsRefusedWithTheValueAndTheRange() {
        for (float bad : new float[] {1f, -0.1f, 1.5f, Float.NaN}) {
            var e = assertThrows(IllegalArgumentException.class, () -> DropoutSpec.of(bad));
            assertTrue(e.getMessage().contains("[0, 1)") && e.getMessage().contains(String.valueOf(bad)), e.getMessage());
        }
        assertEquals(0f, DropoutSpec.of(0f).rate());
    }

    @Test
    void kerasConfigsParse() throws Exception {
        ObjectMapper json = new ObjectMapper();
        assertEquals(new DropoutSpec("dropout", 0.2f),
                LayerConfigs.fromJson(json.readTree("{\"type\":\"Dropout\",\"rate\":0.2}"), "dropout"));
        // what Keras' get_config writes: noise_shape null and a seed (training only) are accepted
        assertEquals(new DropoutSpec("drop", 0.5f), LayerConfigs.fromJson(json.readTree(
                "{\"type\":\"Dropout\",\"name\":\"drop\",\"rate\":0.5,\"noise_shape\":null,\"seed\":7,"
                        + "\"trainable\":true,\"dtype\":\"float32\"}"), "x"));
        DropoutSpec spec = DropoutSpec.of(0.25f);
        assertEquals(spec, LayerConfigs.fromJson(LayerConfigs.toJson(spec), "other"));

        var noise = assertThrows(IllegalArgumentException.class, () -> LayerConfigs.fromJson(json.readTree(
                "{\"type\":\"Dropout\",\"rate\":0.2,\"noise_shape\":[null,1,4]}"), "dropout"));
        assertTrue(noise.getMessage().contains("noise_shape [null,1,4] is not supported"), noise.getMessage());
        for (String rate : new String[] {"1", "1.0", "-0.5", "\"0.2\"", "null"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> LayerConfigs.fromJson(json.readTree(
                    "{\"type\":\"Dropout\",\"rate\":" + rate + "}"), "dropout"));
            assertTrue(e.getMessage().contains("Dropout layer 'dropout': 'rate' must be a number in [0, 1), got " + rate),
                    e.getMessage());
        }
        var missing = assertThrows(IllegalArgumentException.class, () -> LayerConfigs.fromJson(json.readTree(
                "{\"type\":\"Dropout\"}"), "dropout"));
        assertTrue(missing.getMessage().contains("got null"), missing.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> LayerConfigs.fromJson(json.readTree(
                "{\"type\":\"Dropout\",\"rate\":0.1,\"units\":3}"), "dropout"));
        assertTrue(unknown.getMessage().contains("unsupported option(s) [units]"), unknown.getMessage());
    }
}
