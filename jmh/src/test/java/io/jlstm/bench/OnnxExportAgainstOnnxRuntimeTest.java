package io.jlstm.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.cases.ReferenceCase;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.onnx.OnnxExport;
import io.jlstm.simd.Activation;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs exported models in ONNX Runtime and compares with jlstm's own {@code predict} on the same
 * input: every forward reference case, random models for what the cases leave out (GRU inside
 * Bidirectional, ave/mul merges, hard_sigmoid and linear activations, go_backwards inside
 * Bidirectional, Dense activations on sequences, Dropout layers), and the benchmark workloads W2
 * and W2x2.
 */
class OnnxExportAgainstOnnxRuntimeTest {
    /** max |ORT − jlstm| allowed: the oracle's atol; both are float32 implementations of one formula. */
    private static final double TOLERANCE = 1e-5;

    /**
     * Reference cases whose model cannot be exported, with the reason. Empty: every layer and
     * option the cases use has an ONNX form. A case listed here must make the exporter throw.
     */
    private static final Map<String, String> NOT_EXPORTABLE = Map.of();

    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
    private static final Map<String, String> REPORT = new java.util.TreeMap<>();

    @AfterAll
    static void printReport() {
        StringBuilder sb = new StringBuilder("ONNX Runtime vs jlstm (max |diff|; vs expected where there is a case):\n");
        REPORT.forEach((k, v) -> sb.append("  ").append(k).append(": ").append(v).append('\n'));
        System.out.print(sb);
    }

    @TestFactory
    Stream<DynamicTest> everyForwardReferenceCase() throws Exception {
        String dir = System.getProperty("jlstm.oracle.dir");
        assertTrue(dir != null && Files.isDirectory(Path.of(dir)), "system property jlstm.oracle.dir names no folder: " + dir);
        List<DynamicTest> tests = new ArrayList<>();
        for (Path caseDir : ReferenceCase.list(Path.of(dir))) {
            ReferenceCase c = ReferenceCase.read(caseDir);
            if (!"forward".equals(c.kind())) {
                continue; // training cases: there is no forward expectation to compare with
            }
            tests.add(DynamicTest.dynamicTest(c.name(), () -> checkCase(c)));
        }
        assertFalse(tests.isEmpty(), "no forward cases under " + dir);
        return tests.stream();
    }

    private static void checkCase(ReferenceCase c) throws Exception {
        try (Sequential model = c.toModel(Backends.java())) {
            String reason = NOT_EXPORTABLE.get(c.name());
            if (reason != null) {
                assertThrows(IllegalArgumentException.class, () -> OnnxExport.export(model), reason);
                REPORT.put(c.name(), "not exportable: " + reason);
                return;
            }
            Tensor input = c.input();
            Tensor jlstm = model.predict(input).output();
            float[] ort = runOrt(OnnxExport.export(model), input, jlstm.shape());
            double vsJlstm = maxAbsDiff(jlstm.toFloatArray(), ort);
            ReferenceCase.Expected expected = c.outputs().getFirst();
            float[] want = expected.read().toFloatArray();
            double vsExpected = maxAbsDiff(want, ort);
            REPORT.put(c.name(), String.format("%.2e (vs expected %.2e)", vsJlstm, vsExpected));
            assertTrue(vsJlstm <= TOLERANCE, c.name() + ": ORT differs from jlstm by " + vsJlstm);
            var tol = c.tolerance();
            for (int i = 0; i < want.length; i++) {
                int at = i;
                assertTrue(tol.accepts(ort[i], want[i]), () -> c.name() + ": ORT " + ort[at] + " vs expected " + want[at] + " at " + at);
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> randomModelsBeyondTheCases() {
        LstmSpec lstm = LstmSpec.of(9);
        GruSpec gru = GruSpec.of(7);
        Map<String, LayerSpec[]> models = new LinkedHashMap<>();
        models.put("lstm hard_sigmoid gates, seq", new LayerSpec[] {lstm.recurrentActivation(Activation.HARD_SIGMOID).returnSequences(true)});
        models.put("lstm hard_sigmoid activation, last", new LayerSpec[] {lstm.activation(Activation.HARD_SIGMOID)});
        models.put("lstm linear activation, tanh gates", new LayerSpec[] {lstm.activation(Activation.LINEAR).recurrentActivation(Activation.TANH).returnSequences(true)});
        models.put("lstm relu gates hard_sigmoid activation", new LayerSpec[] {lstm.activation(Activation.HARD_SIGMOID).recurrentActivation(Activation.RELU)});
        models.put("gru go_backwards seq", new LayerSpec[] {gru.goBackwards(true).returnSequences(true)});
        models.put("gru reset_before go_backwards last, no bias", new LayerSpec[] {gru.resetAfter(false).goBackwards(true).useBias(false)});
        models.put("gru hard_sigmoid gates linear activation", new LayerSpec[] {gru.recurrentActivation(Activation.HARD_SIGMOID).activation(Activation.LINEAR).returnSequences(true)});
        for (MergeMode m : MergeMode.values()) {
            models.put("bidi gru reset_after " + m.kerasName() + " seq", new LayerSpec[] {BidirectionalSpec.of(gru.returnSequences(true), m)});
            models.put("bidi gru reset_before " + m.kerasName() + " last", new LayerSpec[] {BidirectionalSpec.of(gru.resetAfter(false), m)});
            models.put("bidi lstm " + m.kerasName() + " seq", new LayerSpec[] {BidirectionalSpec.of(lstm.returnSequences(true), m)});
        }
        models.put("bidi of go_backwards lstm concat seq", new LayerSpec[] {BidirectionalSpec.of(lstm.goBackwards(true).returnSequences(true), MergeMode.CONCAT)});
        models.put("bidi of go_backwards gru concat last", new LayerSpec[] {BidirectionalSpec.of(gru.goBackwards(true), MergeMode.CONCAT)});
        models.put("bidi lstm hard_sigmoid gates ave last", new LayerSpec[] {BidirectionalSpec.of(lstm.recurrentActivation(Activation.HARD_SIGMOID), MergeMode.AVE)});
        models.put("dense per step -> lstm seq + return_state (main output only)", new LayerSpec[] {
            DenseSpec.of(5, DenseActivation.TANH), lstm.returnSequences(true).returnState(true)});
        models.put("bidi gru sum last + return_state (main output only)", new LayerSpec[] {
            BidirectionalSpec.of(gru.returnState(true), MergeMode.SUM)});
        for (DenseActivation a : DenseActivation.values()) {
            models.put("gru seq -> dense " + a.kerasName() + " on sequence", new LayerSpec[] {gru.returnSequences(true), DenseSpec.of(6, a)});
        }
        models.put("dense no bias -> lstm -> dense hard_sigmoid", new LayerSpec[] {
            new DenseSpec("dense_in", 8, DenseActivation.RELU, false), lstm.goBackwards(true), DenseSpec.of(3, DenseActivation.HARD_SIGMOID)});
        models.put("stack gru -> bidi lstm -> lstm -> dense", new LayerSpec[] {
            gru.returnSequences(true), BidirectionalSpec.of(lstm.returnSequences(true), MergeMode.MUL), lstm, DenseSpec.of(2, DenseActivation.SOFTMAX)});
        models.put("dropout -> gru seq -> dropout -> dense tanh -> dropout (identities)", new LayerSpec[] {
            DropoutSpec.of(0.3f), gru.returnSequences(true), DropoutSpec.of(0.5f), DenseSpec.of(4, DenseActivation.TANH),
            DropoutSpec.of(0.2f)});
        models.put("bidi lstm concat last -> dropout -> dense", new LayerSpec[] {
            BidirectionalSpec.of(lstm, MergeMode.CONCAT), DropoutSpec.of(0.4f), DenseSpec.of(2, DenseActivation.LINEAR)});
        List<DynamicTest> tests = new ArrayList<>();
        long seed = 1;
        for (var e : models.entrySet()) {
            long s = seed++;
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                try (Sequential model = randomModel(s, 5, 0.5f, e.getValue())) {
                    Tensor input = randomInput(s + 1000, 3, 11, 5);
                    checkAgainstJlstm("random: " + e.getKey(), model, input);
                }
            }));
        }
        return tests.stream();
    }

    /** The benchmark's own models and inputs: ONNX Runtime must compute what jlstm does. */
    @Test
    void benchmarkWorkloadsW2AndW2x2() throws Exception {
        for (Workloads.Workload w : List.of(Workloads.Workload.W2, Workloads.Workload.W2x2)) {
            try (Sequential model = w.model(Backends.java())) {
                Tensor input = Tensor.of(w.input(), w.batch, w.steps, w.inputs);
                checkAgainstJlstm("workload " + w + " (LSTM " + w.inputs + "->" + w.hidden + " x" + w.layers
                        + ", batch " + w.batch + ", " + w.steps + " steps)", model, input);
            }
        }
    }

    @Test
    void writeProducesTheSameBytesAtomically(@TempDir Path tmp) throws Exception {
        try (Sequential model = randomModel(7, 3, 0.5f, LstmSpec.of(4), DenseSpec.of(1, DenseActivation.LINEAR))) {
            Path file = tmp.resolve("model.onnx");
            Files.write(file, new byte[] {1, 2, 3});
            OnnxExport.write(model, file);
            assertArrayEquals(OnnxExport.export(model), Files.readAllBytes(file));
            try (Stream<Path> files = Files.list(tmp)) {
                assertEquals(List.of(file), files.toList(), "no temporary file left behind");
            }
            checkAgainstJlstm("write: lstm4 -> dense1", model, randomInput(8, 2, 6, 3));
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void checkAgainstJlstm(String label, Sequential model, Tensor input) throws OrtException {
        Tensor jlstm = model.predict(input).output();
        float[] ort = runOrt(OnnxExport.export(model), input, jlstm.shape());
        double diff = maxAbsDiff(jlstm.toFloatArray(), ort);
        REPORT.put(label, String.format("%.2e", diff));
        assertTrue(diff <= TOLERANCE, label + ": ORT differs from jlstm by " + diff);
    }

    /** Runs the model in ONNX Runtime and checks that the output has jlstm's shape. */
    private static float[] runOrt(byte[] onnx, Tensor input, long[] expectedShape) throws OrtException {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
             OrtSession session = ENV.createSession(onnx, options);
             OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(input.toFloatArray()), input.shape());
             OrtSession.Result result = session.run(Map.of("input", x))) {
            OnnxTensor y = (OnnxTensor) result.get("output").orElseThrow();
            assertArrayEquals(expectedShape, y.getInfo().getShape(), "output shape");
            FloatBuffer fb = y.getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }
    }

    private static Sequential randomModel(long seed, int inputFeatures, float scale, LayerSpec... layers) {
        Random rnd = new Random(seed);
        Sequential.Builder b = Sequential.builder(inputFeatures);
        int f = inputFeatures;
        for (LayerSpec spec : layers) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), Workloads.uniform(rnd, scale, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        return b.backend(Backends.java()).build();
    }

    private static Tensor randomInput(long seed, long... shape) {
        return Workloads.uniform(new Random(seed), 1f, shape);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length, "output sizes differ");
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }
}
