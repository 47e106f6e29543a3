package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.simd.Activation;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class StreamingSessionTest {

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("lstm+dense", new LayerSpec[] {LstmSpec.of(16), DenseSpec.of(3, DenseActivation.LINEAR)}),
                Arguments.of("stacked lstm (37 units) + softmax", new LayerSpec[] {
                        LstmSpec.of(37).returnSequences(true), LstmSpec.of(8),
                        DenseSpec.of(5, DenseActivation.SOFTMAX)}),
                Arguments.of("relu lstm, hard_sigmoid gates", new LayerSpec[] {
                        LstmSpec.of(13).activation(Activation.RELU).recurrentActivation(Activation.HARD_SIGMOID)}),
                Arguments.of("gru reset_after", new LayerSpec[] {GruSpec.of(19), DenseSpec.of(1, DenseActivation.SIGMOID)}),
                Arguments.of("gru reset_before, no bias", new LayerSpec[] {
                        GruSpec.of(7).resetAfter(false).useBias(false).returnSequences(true), GruSpec.of(11).resetAfter(false)}));
    }

    static List<Backend> backends() {
        return List.of(Backends.java(), Backends.openblas());
    }

    /** Stepping a session through a sequence gives, at each step, what predict gives for that prefix. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void stepsMatchPredictOfEveryPrefix(String what, LayerSpec[] layers) {
        for (Backend backend : backends()) {
            for (int batch : new int[] {1, 3}) {
                int features = 5;
                int steps = 9;
                try (Sequential model = Models.build(42, features, backend, layers);
                     StreamingSession session = model.newSession(batch)) {
                    Tensor x = Models.random(new Random(7), 1f, batch, steps, features);
                    for (int t = 0; t < steps; t++) {
                        float[] xt = new float[batch * features];
                        for (int b = 0; b < batch; b++) {
                            for (int f = 0; f < features; f++) {
                                xt[b * features + f] = x.get(b, t, f);
                            }
                        }
                        Tensor stepOut = session.step(xt);
                        Tensor prefix = Tensor.allocate(batch, t + 1, features);
                        for (int b = 0; b < batch; b++) {
                            for (int u = 0; u <= t; u++) {
                                for (int f = 0; f < features; f++) {
                                    prefix.set(x.get(b, u, f), b, u, f);
                                }
                            }
                        }
                        Tensor expected = model.predict(prefix).output();
                        assertArrayEquals(new long[] {batch, model.outputFeatures()}, stepOut.shape());
                        float diff = Models.maxAbsDiff(stepOut, expected);
                        assertTrue(diff <= 1e-5f, what + " on " + backend.name() + ", batch " + batch + ", step " + t
                                + ": |session - predict| = " + diff);
                    }
                    // reset starts a new sequence: the first step again equals predict of one step
                    session.reset();
                    float[] x0 = new float[batch * features];
                    for (int b = 0; b < batch; b++) {
                        for (int f = 0; f < features; f++) {
                            x0[b * features + f] = x.get(b, 0, f);
                        }
                    }
                    float[] out = new float[batch * model.outputFeatures()];
                    session.step(x0, out);
                    Tensor one = Tensor.allocate(batch, 1, features);
                    MemorySegmentCopy.copy(x0, one);
                    assertArrayEquals(model.predict(one).output().toFloatArray(), out, 1e-5f);
                }
            }
        }
    }

    /**
     * On one thread a streaming LSTM step runs its two products panel by panel
     * (RecurrentExec#streamStep), in alternating panel order: each column still gets the sums of
     * predict's projection and recurrent product in the same order, so the very same bits. Widths
     * of one partial panel (8 units: 32 columns), of exactly one 512-bit panel (32 units), of several
     * with a partial last one, a stacked layer fed by the first.
     */
    @Test
    void oneThreadStepsGivePredictsBits() {
        for (int units : new int[] {8, 32, 37, 64, 200}) {
            LayerSpec[] layers = {LstmSpec.of(units).returnSequences(true), LstmSpec.of(units)};
            int features = 20;
            int steps = 6;
            try (Sequential model = Models.build(11, features, Backends.java(), layers);
                 StreamingSession session = model.newSession(1)) {
                Tensor x = Models.random(new Random(3), 1f, 1, steps, features);
                for (int t = 0; t < steps; t++) {
                    float[] xt = new float[features];
                    for (int f = 0; f < features; f++) {
                        xt[f] = x.get(0, t, f);
                    }
                    float[] out = new float[units];
                    session.step(xt, out);
                    Tensor prefix = Tensor.allocate(1, t + 1, features);
                    for (int u = 0; u <= t; u++) {
                        for (int f = 0; f < features; f++) {
                            prefix.set(x.get(0, u, f), 0, u, f);
                        }
                    }
                    assertArrayEquals(model.predict(prefix).output().toFloatArray(), out,
                            units + " units, step " + t + ": session and predict differ in some bit");
                }
                if (io.jlstm.backend.StepPool.THREADS == 1) { // else the larger layers split their products
                    assertEquals(steps, session.streamSteps(0), units + " units: steps through streamStep, layer 0");
                    assertEquals(steps, session.streamSteps(1), units + " units: steps through streamStep, layer 1");
                }
            }
        }
    }

    /**
     * The same for bfloat16 weights and for an LSTM without bias, against a one-step predict from
     * the session's previous state (a one-row predict projects with the 16-bit input kernel, as a
     * streamed step does; a longer one projects in float32).
     */
    @Test
    void oneThreadBf16AndBiaslessStepsGiveOneStepPredictsBits() {
        int features = 20;
        for (WeightPrecision precision : new WeightPrecision[] {WeightPrecision.BF16, WeightPrecision.FP32}) {
            for (int units : new int[] {37, 64}) {
                LstmSpec spec = precision == WeightPrecision.BF16 ? LstmSpec.of(units) : LstmSpec.of(units).useBias(false);
                String what = precision + (spec.useBias() ? "" : ", no bias") + ", " + units + " units";
                try (Sequential model = Models.build(13, features, Backends.java(), precision, spec);
                     StreamingSession session = model.newSession(1)) {
                    Random r = new Random(4);
                    for (int t = 0; t < 5; t++) {
                        Tensor h = Tensor.of(session.state(0, 0).toFloatArray(), 1, units);
                        Tensor c = Tensor.of(session.state(0, 1).toFloatArray(), 1, units);
                        Tensor x = Models.random(r, 1f, 1, 1, features);
                        float[] out = new float[units];
                        session.step(x.toFloatArray(), out);
                        float[] expected = model.predict(x, PredictOptions.defaults().initialState(0, h, c)).output()
                                .toFloatArray();
                        assertArrayEquals(expected, out, what + ", step " + t + ": session and predict differ in some bit");
                    }
                    if (io.jlstm.backend.StepPool.THREADS == 1) {
                        assertEquals(5, session.streamSteps(0), what + ": steps through streamStep");
                    }
                }
            }
        }
    }

    @Test
    void eightThreadsStreamingTheirOwnSessionsMatchOneThread() throws Exception {
        try (Sequential model = Models.build(8, 6, Backends.java(), LstmSpec.of(48).returnSequences(true),
                GruSpec.of(24), DenseSpec.of(2, DenseActivation.TANH))) {
            float[][] inputs = new float[8][];
            float[][] single = new float[8][];
            for (int i = 0; i < 8; i++) {
                inputs[i] = Models.random(new Random(50 + i), 1f, 40 * 6).toFloatArray();
                single[i] = stream(model, inputs[i]);
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<float[]>> futures = new java.util.ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    float[] in = inputs[i];
                    futures.add(pool.submit(() -> stream(model, in)));
                }
                for (int i = 0; i < 8; i++) {
                    assertArrayEquals(single[i], futures.get(i).get(), "thread " + i);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    /** Streams 40 steps of 6 features in a fresh session and returns every step's output. */
    private static float[] stream(Sequential model, float[] in) {
        float[] all = new float[40 * 2];
        try (StreamingSession session = model.newSession(1)) {
            float[] x = new float[6];
            float[] out = new float[2];
            for (int t = 0; t < 40; t++) {
                System.arraycopy(in, t * 6, x, 0, 6);
                session.step(x, out);
                System.arraycopy(out, 0, all, t * 2, 2);
            }
        }
        return all;
    }

    @Test
    void returnedViewsAreReadOnly() {
        try (Sequential model = Models.build(3, 4, Backends.java(), LstmSpec.of(6));
             StreamingSession session = model.newSession(1)) {
            Tensor out = session.step(new float[4]);
            assertThrows(IllegalArgumentException.class, () -> out.setFlat(0, 1f));
            assertThrows(IllegalArgumentException.class, () -> session.state(0, 1).setFlat(0, 1f));
        }
    }

    @Test
    void givenStateEqualsPredictWithInitialState() {
        int features = 4;
        int units = 6;
        try (Sequential model = Models.build(3, features, Backends.java(), LstmSpec.of(units).returnState(true));
             StreamingSession session = model.newSession(2)) {
            Tensor h0 = Models.random(new Random(1), 1f, 2, units);
            Tensor c0 = Models.random(new Random(2), 1f, 2, units);
            Tensor x = Models.random(new Random(3), 1f, 2, 1, features);
            session.setState(0, h0, c0);
            Tensor out = session.step(x);
            Prediction p = model.predict(x, PredictOptions.defaults().initialState(0, h0, c0));
            assertTrue(Models.maxAbsDiff(out, p.output()) <= 1e-6f);
            assertTrue(Models.maxAbsDiff(session.state(0, 1), p.get("state_c")) <= 1e-6f);
            assertThrows(IllegalArgumentException.class, () -> session.setState(0, h0));
            assertThrows(IllegalArgumentException.class, () -> session.setState(0, h0, Tensor.allocate(3, units)));
        }
    }

    @Test
    void sessionRejectsWrongInputsAndOtherThreads() throws Exception {
        try (Sequential model = Models.build(5, 4, Backends.java(), LstmSpec.of(8));
             StreamingSession session = model.newSession(2)) {
            var e = assertThrows(IllegalArgumentException.class, () -> session.step(new float[7]));
            assertTrue(e.getMessage().contains("expected batch 2 × 4 features = 8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> session.step(Tensor.allocate(2, 5)));
            assertTrue(e.getMessage().contains("[2, 5]"), e.getMessage());
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                Future<?> f = other.submit(() -> session.step(new float[8]));
                var ex = assertThrows(java.util.concurrent.ExecutionException.class, f::get);
                assertTrue(ex.getCause() instanceof IllegalStateException, String.valueOf(ex.getCause()));
                assertTrue(ex.getCause().getMessage().contains("belongs to thread"), ex.getCause().getMessage());
            } finally {
                other.shutdown();
            }
            try (StreamingSession rejecting = model.newSession(1, NonFinitePolicy.REJECT)) {
                var nan = assertThrows(IllegalArgumentException.class,
                        () -> rejecting.step(new float[] {0, Float.NaN, 0, 0}));
                assertTrue(nan.getMessage().contains("NaN at flat index 1"), nan.getMessage());
            }
        }
        Sequential model = Models.build(5, 4, Backends.java(), LstmSpec.of(8));
        StreamingSession s = model.newSession(1);
        s.close();
        assertThrows(IllegalStateException.class, () -> s.step(new float[4]));
        StreamingSession s2 = model.newSession(1);
        model.close();
        var closed = assertThrows(IllegalStateException.class, () -> s2.step(new float[4]));
        assertEquals("model is closed", closed.getMessage());
        s2.close();
    }

    @Test
    void wholeSequenceLayersCannotStream() {
        try (Sequential bidi = Models.build(1, 3, Backends.java(),
                BidirectionalSpec.of(LstmSpec.of(4), MergeMode.CONCAT));
             Sequential back = Models.build(1, 3, Backends.java(), LstmSpec.of(4).goBackwards(true))) {
            var e = assertThrows(IllegalArgumentException.class, () -> bidi.newSession(1));
            assertTrue(e.getMessage().contains("needs the whole sequence"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> back.newSession(1));
            assertTrue(e.getMessage().contains("go_backwards"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> bidi.newSession(0));
        }
    }

    /** Copies a float array into a tensor of the same size. */
    static final class MemorySegmentCopy {
        static void copy(float[] src, Tensor dst) {
            for (int i = 0; i < src.length; i++) {
                dst.setFlat(i, src[i]);
            }
        }
    }
}
