package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.backend.Backends;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class SequentialTest {

    /**
     * With bf16 weights a batch runs its products through the backend's sgemm over the float32
     * weights: the output must be the float32 model's up to the GEMM's summation order, on both
     * backends.
     */
    @Test
    void bf16ModelsRunBatchesOnFloat32Weights() {
        for (String backend : new String[] {"java", "openblas"}) {
            io.jlstm.layers.LayerSpec[] layers = {LstmSpec.of(37).returnSequences(true), LstmSpec.of(20).goBackwards(true)};
            try (Sequential fp32 = Models.build(6, 9, Backends.byName(backend).backend(), layers);
                 Sequential bf16 = Models.build(6, 9, Backends.byName(backend).backend(), WeightPrecision.BF16, layers)) {
                Tensor x = Models.random(new Random(7), 1f, 5, 11, 9);
                float diff = Models.maxAbsDiff(fp32.predict(x).output(), bf16.predict(x).output());
                assertTrue(diff < 1e-5f, backend + ": bf16 model's batch output differs from float32 by " + diff);
            }
        }
    }

    @Test
    void eightThreadsGetExactlyWhatOneThreadGets() throws Exception {
        for (var backend : List.of(Backends.java(), Backends.openblas())) {
            try (Sequential model = Models.build(11, 6, backend, LstmSpec.of(32).returnSequences(true),
                    GruSpec.of(16), DenseSpec.of(4, DenseActivation.SOFTMAX))) {
                List<Tensor> inputs = new ArrayList<>();
                List<float[]> single = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    Tensor x = Models.random(new Random(100 + i), 1f, 1 + i % 3, 20, 6);
                    inputs.add(x);
                    single.add(model.predict(x).output().toFloatArray());
                }
                ExecutorService pool = Executors.newFixedThreadPool(8);
                try {
                    List<Future<List<float[]>>> futures = new ArrayList<>();
                    for (int thread = 0; thread < 8; thread++) {
                        final int offset = thread;
                        Callable<List<float[]>> job = () -> {
                            List<float[]> outs = new ArrayList<>();
                            for (int rep = 0; rep < 25; rep++) {
                                outs.add(model.predict(inputs.get((offset + rep) % 8)).output().toFloatArray());
                            }
                            return outs;
                        };
                        futures.add(pool.submit(job));
                    }
                    for (int thread = 0; thread < 8; thread++) {
                        List<float[]> outs = futures.get(thread).get();
                        for (int rep = 0; rep < outs.size(); rep++) {
                            assertArrayEquals(single.get((thread + rep) % 8), outs.get(rep),
                                    backend.name() + ": thread " + thread + " call " + rep + " differs from one thread");
                        }
                    }
                } finally {
                    pool.shutdown();
                }
            }
        }
    }

    @Test
    void aBatchRowIsBitIdenticalToThatRowAloneOnTheJavaBackend() {
        // batch > 1 runs packed GEMMs (per-step input projection, recurrent product), batch 1 packed
        // gemvs and a T-row projection: every element is summed in the same order either way.
        // (Dense layers are left out: at one row the java backend's Dense product is a gemv, whose
        // summation order differs from its GEMM's in the last bits.)
        var stacks = List.of(
                new io.jlstm.layers.LayerSpec[] {LstmSpec.of(70).returnSequences(true), LstmSpec.of(33)},
                new io.jlstm.layers.LayerSpec[] {GruSpec.of(41).returnSequences(true), GruSpec.of(19).resetAfter(false)},
                new io.jlstm.layers.LayerSpec[] {BidirectionalSpec.of(LstmSpec.of(24).returnSequences(true),
                    MergeMode.CONCAT), BidirectionalSpec.of(GruSpec.of(5), MergeMode.SUM)});
        for (var layers : stacks) {
            try (Sequential model = Models.build(21, 13, Backends.java(), layers)) {
                int batch = 6;
                int steps = 9;
                Tensor x = Models.random(new Random(5), 1f, batch, steps, 13);
                float[] all = model.predict(x).output().toFloatArray();
                int width = all.length / batch;
                for (int b = 0; b < batch; b++) {
                    float[] row = new float[steps * 13];
                    for (int t = 0; t < steps; t++) {
                        for (int f = 0; f < 13; f++) {
                            row[t * 13 + f] = x.get(b, t, f);
                        }
                    }
                    float[] alone = model.predict(Tensor.of(row, 1, steps, 13)).output().toFloatArray();
                    assertArrayEquals(alone, java.util.Arrays.copyOfRange(all, b * width, (b + 1) * width),
                            layers[0] + ": batch row " + b);
                }
            }
        }
    }

    @Test
    void javaAndOpenblasAgree() {
        var layers = new io.jlstm.layers.LayerSpec[] {BidirectionalSpec.of(LstmSpec.of(24).returnSequences(true),
                MergeMode.AVE), GruSpec.of(9).resetAfter(false), DenseSpec.of(2, DenseActivation.TANH)};
        try (Sequential j = Models.build(9, 13, Backends.java(), layers);
             Sequential o = Models.build(9, 13, Backends.openblas(), layers)) {
            Tensor x = Models.random(new Random(1), 1f, 5, 17, 13);
            assertTrue(Models.maxAbsDiff(j.predict(x).output(), o.predict(x).output()) < 1e-5f);
        }
    }

    @Test
    void mergeModesFollowKeras() {
        // sum, ave and mul are element-wise combinations of the two halves that concat returns
        Tensor x = Models.random(new Random(2), 1f, 2, 5, 3);
        float[][] byMode = new float[4][];
        for (MergeMode m : MergeMode.values()) {
            try (Sequential model = Models.build(4, 3, Backends.java(),
                    BidirectionalSpec.of(LstmSpec.of(6).returnSequences(true), m))) {
                byMode[m.ordinal()] = model.predict(x).output().toFloatArray();
            }
        }
        float[] concat = byMode[MergeMode.CONCAT.ordinal()];
        for (int r = 0; r < 10; r++) {
            for (int j = 0; j < 6; j++) {
                float f = concat[r * 12 + j];
                float b = concat[r * 12 + 6 + j];
                assertEquals(f + b, byMode[MergeMode.SUM.ordinal()][r * 6 + j], 1e-6f);
                assertEquals((f + b) / 2, byMode[MergeMode.AVE.ordinal()][r * 6 + j], 1e-6f);
                assertEquals(f * b, byMode[MergeMode.MUL.ordinal()][r * 6 + j], 1e-6f);
            }
        }
    }

    @Test
    void badInputsAreRejectedWithTheNumbers() {
        try (Sequential model = Models.build(1, 12, Backends.java(), LstmSpec.of(8))) {
            var e = assertThrows(IllegalArgumentException.class, () -> model.predict(Tensor.allocate(2, 5, 13)));
            assertEquals("LSTM layer 'lstm': input has 13 features, kernel expects 12", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.predict(Tensor.allocate(5, 12)));
            assertTrue(e.getMessage().contains("rank 3") && e.getMessage().contains("[5, 12]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.predict(Tensor.allocate(0, 5, 12)));
            assertTrue(e.getMessage().contains("at least one batch row"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> model.predict(Tensor.allocate(1, 0, 12)));
            assertTrue(e.getMessage().contains("one time step"), e.getMessage());

            Tensor nan = Tensor.allocate(1, 2, 12);
            nan.set(Float.NaN, 0, 1, 3);
            // default: propagate
            float[] out = model.predict(nan).output().toFloatArray();
            assertTrue(Float.isNaN(out[0]), "NaN propagates by default");
            e = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(nan, PredictOptions.defaults().nonFinite(NonFinitePolicy.REJECT)));
            assertTrue(e.getMessage().contains("NaN at flat index 15"), e.getMessage());
            Tensor inf = Tensor.allocate(1, 1, 12);
            inf.setFlat(0, Float.POSITIVE_INFINITY);
            assertThrows(IllegalArgumentException.class,
                    () -> model.predict(inf, PredictOptions.defaults().nonFinite(NonFinitePolicy.REJECT)));

            e = assertThrows(IllegalArgumentException.class, () -> model.predict(Tensor.allocate(1, 1, 12),
                    PredictOptions.defaults().initialState(0, Tensor.allocate(1, 8))));
            assertTrue(e.getMessage().contains("takes 2 initial state tensors, got 1"), e.getMessage());
        }
        Sequential closed = Models.build(1, 12, Backends.java(), LstmSpec.of(8));
        closed.close();
        closed.close();
        var e = assertThrows(IllegalStateException.class, () -> closed.predict(Tensor.allocate(1, 1, 12)));
        assertEquals("model is closed", e.getMessage());
        assertThrows(IllegalStateException.class, () -> closed.newSession(1));
    }

    @Test
    void heapBackedInputsWorkOnEveryBackend() {
        for (var backend : List.of(Backends.java(), Backends.openblas())) {
            try (Sequential model = Models.build(2, 3, backend, LstmSpec.of(5), DenseSpec.of(1, DenseActivation.LINEAR))) {
                Tensor nativeInput = Models.random(new Random(4), 1f, 2, 6, 3);
                Tensor heapInput = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(nativeInput.toFloatArray()), 2, 6, 3);
                assertArrayEquals(model.predict(nativeInput).output().toFloatArray(),
                        model.predict(heapInput).output().toFloatArray(), backend.name());
            }
        }
    }

    @Test
    void closingWhileAnotherThreadPredictsKeepsTheModelUsable() throws Exception {
        Sequential model = Models.build(2, 32, Backends.java(), LstmSpec.of(256));
        Tensor x = Models.random(new Random(4), 1f, 8, 400, 32);
        var running = java.util.concurrent.Executors.newSingleThreadExecutor().submit(() -> model.predict(x));
        Thread.sleep(30);
        try {
            model.close();
        } catch (IllegalStateException busy) {
            assertTrue(busy.getMessage().contains("in use by another thread"), busy.getMessage());
            running.get();
            model.close(); // now it can
        }
        assertThrows(IllegalStateException.class, () -> model.predict(x));
    }

    @Test
    void badWeightsAndStacksAreRejected() {
        Random rnd = new Random(1);
        Map<String, Tensor> w = Map.of("kernel", Models.random(rnd, 1, 12, 32),
                "recurrent_kernel", Models.random(rnd, 1, 8, 32), "bias", Models.random(rnd, 1, 32));
        var e = assertThrows(IllegalArgumentException.class,
                () -> Sequential.builder(13).add(LstmSpec.of(8), w).backend(Backends.java()).build());
        assertEquals("LSTM layer 'lstm': weight 'kernel' has shape [12, 32], expected [13, 32] (input has 13 features)",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Sequential.builder(12)
                .add(LstmSpec.of(8), Map.of("kernel", w.get("kernel"), "recurrent_kernel", w.get("recurrent_kernel")))
                .backend(Backends.java()).build());
        assertTrue(e.getMessage().contains("weight 'bias' is missing"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Models.build(1, 3, Backends.java(),
                LstmSpec.of(4), LstmSpec.of(4)));
        assertTrue(e.getMessage().contains("needs a sequence input"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Models.build(1, 3, Backends.java(),
                LstmSpec.of(4).returnSequences(true).returnState(true), LstmSpec.of(4)));
        assertTrue(e.getMessage().contains("only the last layer"), e.getMessage());
    }

    @Test
    void layerNamesAreMadeUniqueAsKerasDoes() {
        try (Sequential model = Models.build(1, 3, Backends.java(), LstmSpec.of(4).returnSequences(true),
                LstmSpec.of(4), DenseSpec.of(1, DenseActivation.LINEAR))) {
            assertEquals(List.of("lstm", "lstm_1", "dense"), model.layers().stream().map(l -> l.name()).toList());
            assertEquals(3 * 16 + 4 * 16 + 16 + 4 * 16 + 4 * 16 + 16 + 4 + 1, model.parameterCount());
        }
    }
}
