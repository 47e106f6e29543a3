package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TrainerTest {

    /** Trainers made by {@link #newTrainer}, closed after each test. */
    private static final List<Trainer> OPEN = new ArrayList<>();

    private static Trainer newTrainer(Sequential m, Optimizer optimizer) {
        Trainer t = new Trainer(m, optimizer);
        OPEN.add(t);
        return t;
    }

    @AfterEach
    void closeTrainers() {
        OPEN.forEach(Trainer::close);
        OPEN.clear();
    }

    private static Tensor random(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }

    private static Sequential model(long seed, int features, LayerSpec... layers) {
        return model(Backends.java(), seed, features, layers);
    }

    private static Sequential model(io.jlstm.backend.Backend backend, long seed, int features, LayerSpec... layers) {
        Random rnd = new Random(seed);
        Sequential.Builder b = Sequential.builder(features).backend(backend);
        int f = features;
        for (LayerSpec spec : layers) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), random(rnd, 0.4f, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        return b.build();
    }

    /**
     * Every {@code stride}-th weight's gradient against a central finite difference of
     * {@code loss} (evaluated at the trainer's current, perturbed weights).
     */
    private static void assertGradientsMatch(Trainer t, Trainer.Gradients g, int stride,
                                             java.util.function.DoubleSupplier loss, String what) {
        assertGradientsMatch(t, g, stride, 2e-4, 2e-2, loss, what);
    }

    /**
     * The same with tolerance {@code atol + rtol·|numeric|}. The central difference itself is good
     * to about 5e-7 absolute on these small models (measured), so 1e-5 and 1e-3 catch a mask
     * left out of one gate's backward pass, whose errors are 1e-5 to 1e-4 where the gradients of
     * the lower layers are only 1e-3.
     */
    private static void assertGradientsMatch(Trainer t, Trainer.Gradients g, int stride, double atol, double rtol,
                                             java.util.function.DoubleSupplier loss, String what) {
        for (int layer = 0; layer < g.perLayer().size(); layer++) {
            for (var e : g.perLayer().get(layer).entrySet()) {
                float[] w = t.weights(layer, e.getKey());
                for (int i = 0; i < w.length; i += stride) {
                    float keep = w[i];
                    w[i] = keep + 1e-2f;
                    double up = loss.getAsDouble();
                    w[i] = keep - 1e-2f;
                    double down = loss.getAsDouble();
                    w[i] = keep;
                    double numeric = (up - down) / 2e-2;
                    assertEquals(numeric, e.getValue()[i], atol + rtol * Math.abs(numeric),
                            what + ": layer " + layer + " " + e.getKey() + "[" + i + "]");
                }
            }
        }
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> stacks() {
        return java.util.stream.Stream.of(
                org.junit.jupiter.params.provider.Arguments.of("lstm, lstm backwards, tanh dense", new LayerSpec[] {
                        LstmSpec.of(5).returnSequences(true), LstmSpec.of(4).goBackwards(true),
                        DenseSpec.of(2, DenseActivation.TANH)}),
                org.junit.jupiter.params.provider.Arguments.of("gru both forms, softmax dense", new LayerSpec[] {
                        GruSpec.of(5).returnSequences(true), GruSpec.of(4).resetAfter(false).goBackwards(true),
                        DenseSpec.of(3, DenseActivation.SOFTMAX)}),
                org.junit.jupiter.params.provider.Arguments.of("relu lstm, hard_sigmoid gru, no bias", new LayerSpec[] {
                        LstmSpec.of(4).activation(io.jlstm.simd.Activation.RELU).returnSequences(true),
                        GruSpec.of(3).recurrentActivation(io.jlstm.simd.Activation.HARD_SIGMOID).useBias(false),
                        DenseSpec.of(2, DenseActivation.SIGMOID)}),
                org.junit.jupiter.params.provider.Arguments.of("bidirectional concat then mul", new LayerSpec[] {
                        io.jlstm.layers.BidirectionalSpec.of(LstmSpec.of(3).returnSequences(true),
                                io.jlstm.layers.MergeMode.CONCAT),
                        io.jlstm.layers.BidirectionalSpec.of(GruSpec.of(3), io.jlstm.layers.MergeMode.MUL),
                        DenseSpec.of(2, DenseActivation.LINEAR)}),
                org.junit.jupiter.params.provider.Arguments.of("bidirectional sum and ave", new LayerSpec[] {
                        io.jlstm.layers.BidirectionalSpec.of(GruSpec.of(3).resetAfter(false).returnSequences(true),
                                io.jlstm.layers.MergeMode.SUM),
                        io.jlstm.layers.BidirectionalSpec.of(LstmSpec.of(3).returnSequences(true),
                                io.jlstm.layers.MergeMode.AVE),
                        DenseSpec.of(2, DenseActivation.LINEAR)}));
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> stacksOnBackends() {
        return stacks().flatMap(a -> java.util.stream.Stream.of("java", "openblas").map(backend ->
                org.junit.jupiter.params.provider.Arguments.of(a.get()[0] + " [" + backend + "]", a.get()[1], backend)));
    }

    /** The gradient of every weight against a central finite difference of the loss, on both backends. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.MethodSource("stacksOnBackends")
    void gradientsMatchFiniteDifferences(String what, LayerSpec[] layers, String backend) {
        try (Sequential m = model(Backends.byName(backend).backend(), 3, 3, layers)) {
            Random rnd = new Random(4);
            Tensor x = random(rnd, 1f, 2, 4, 3);
            boolean seq = m.layers().getLast() instanceof DenseSpec && m.layers().get(m.layers().size() - 2)
                    .outputIsSequence(true);
            Tensor y = seq ? random(rnd, 0.5f, 2, 4, m.outputFeatures()) : random(rnd, 0.5f, 2, m.outputFeatures());
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false));
            assertEquals(backend, t.backend().name());
            Trainer.Gradients g = t.gradients(x, y);
            assertGradientsMatch(t, g, 3, () -> t.evaluate(x, y), what);
        }
    }

    /**
     * The java and OpenBLAS backends give the same gradients up to float rounding (their GEMMs sum
     * in different orders), on a model large enough for every product to take the blocked paths,
     * with dropout masks drawn from the same seed.
     */
    @Test
    void backendsGiveTheSameGradients() {
        LayerSpec[] layers = {LstmSpec.of(40).returnSequences(true),
            io.jlstm.layers.BidirectionalSpec.of(GruSpec.of(24).returnSequences(true), io.jlstm.layers.MergeMode.CONCAT),
            GruSpec.of(20).resetAfter(false), DenseSpec.of(5, DenseActivation.SOFTMAX)};
        Random rnd = new Random(21);
        Tensor x = random(rnd, 1f, 9, 7, 6);
        Tensor y = random(rnd, 0.5f, 9, 5);
        Trainer.Gradients[] gs = new Trainer.Gradients[2];
        String[] backends = {"java", "openblas"};
        for (int i = 0; i < 2; i++) {
            try (Sequential m = model(Backends.byName(backends[i]).backend(), 8, 6, layers)) {
                Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0.2f, 0.3f).dropout(1, 0.1f, 0f)
                        .dropout(2, 0f, 0.25f).dropoutSeed(77);
                gs[i] = t.gradients(x, y);
            }
        }
        assertEquals(gs[0].loss(), gs[1].loss(), 1e-5 * Math.abs(gs[0].loss()), "loss");
        for (int layer = 0; layer < layers.length; layer++) {
            for (var e : gs[0].perLayer().get(layer).entrySet()) {
                float[] a = e.getValue();
                float[] b = gs[1].perLayer().get(layer).get(e.getKey());
                double scale = 0;
                for (float v : a) {
                    scale = Math.max(scale, Math.abs(v));
                }
                assertTrue(scale > 0, "layer " + layer + " " + e.getKey() + " has a gradient");
                for (int j = 0; j < a.length; j++) {
                    assertEquals(a[j], b[j], 1e-5 * scale, "layer " + layer + " " + e.getKey() + "[" + j + "]");
                }
            }
        }
    }

    /**
     * The workspace: a pass of the same shape as the last one takes no new memory, and a closed
     * trainer refuses passes with a clear message but still gives its weights and a model.
     */
    @Test
    void theWorkspaceIsReusedAndFreedAtClose() {
        try (Sequential m = model(5, 3, LstmSpec.of(6), DenseSpec.of(2, DenseActivation.LINEAR))) {
            Random rnd = new Random(6);
            Tensor x = random(rnd, 1f, 4, 5, 3);
            Tensor y = random(rnd, 0.5f, 4, 2);
            Trainer t = new Trainer(m, new Optimizer.Sgd(0.1f, 0, false));
            t.trainStep(x, y);
            t.trainStep(x, y);
            long held = t.workspaceBytes();
            assertTrue(held > 0, "a pass uses the workspace");
            float before = t.evaluate(x, y);
            t.trainStep(x, y);
            assertEquals(held, t.workspaceBytes(), "the same shape again takes no new memory");
            assertTrue(t.evaluate(x, y) < before, "and the steps still train");
            t.close();
            t.close(); // idempotent
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.evaluate(x, y));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            assertEquals(6 * 4 * 6, t.weight(0, "recurrent_kernel").length);
            try (Sequential trained = t.toModel(Backends.java())) {
                assertEquals(2, trained.outputFeatures());
            }
        }
    }

    @Test
    void l2IsPartOfTheLossAndItsGradient() {
        try (Sequential m = model(8, 3, GruSpec.of(4).returnSequences(true), LstmSpec.of(3),
                DenseSpec.of(2, DenseActivation.LINEAR))) {
            Random rnd = new Random(2);
            Tensor x = random(rnd, 1f, 2, 4, 3);
            Tensor y = random(rnd, 0.5f, 2, 2);
            Trainer plain = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false));
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).l2(0.01f);
            double sum = 0;
            for (int layer = 0; layer < 3; layer++) {
                for (String name : t.weightNames(layer)) {
                    if (name.endsWith("kernel")) {
                        for (float v : t.weight(layer, name)) {
                            sum += (double) v * v;
                        }
                    }
                }
            }
            assertEquals(plain.evaluate(x, y) + 0.01 * sum, t.evaluate(x, y), 1e-5);
            Trainer.Gradients g = t.gradients(x, y);
            assertGradientsMatch(t, g, 5, () -> t.evaluate(x, y), "l2");
            assertThrows(IllegalArgumentException.class, () -> t.l2(-1f));
        }
    }

    @Test
    void truncatedBpttCutsOnlyTheRecurrentPath() {
        try (Sequential m = model(9, 2, LstmSpec.of(4).returnSequences(true), GruSpec.of(3),
                DenseSpec.of(1, DenseActivation.LINEAR))) {
            Random rnd = new Random(5);
            Tensor x = random(rnd, 1f, 3, 8, 2);
            Tensor y = random(rnd, 0.5f, 3, 1);
            Trainer full = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false));
            Trainer whole = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).truncateBptt(8);
            Trainer cut = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).truncateBptt(2);
            var gFull = full.gradients(x, y);
            var gWhole = whole.gradients(x, y);
            var gCut = cut.gradients(x, y);
            // a window as long as the sequence is full BPTT; the loss never changes
            for (int layer = 0; layer < 3; layer++) {
                for (var e : gFull.perLayer().get(layer).entrySet()) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(e.getValue(),
                            gWhole.perLayer().get(layer).get(e.getKey()), "layer " + layer + " " + e.getKey());
                }
            }
            assertEquals(gFull.loss(), gCut.loss());
            // the Dense head sees the same forward values; the recurrent kernels get a shorter history
            org.junit.jupiter.api.Assertions.assertArrayEquals(gFull.perLayer().get(2).get("kernel"),
                    gCut.perLayer().get(2).get("kernel"));
            assertTrue(!java.util.Arrays.equals(gFull.perLayer().get(1).get("recurrent_kernel"),
                    gCut.perLayer().get(1).get("recurrent_kernel")));
            assertThrows(IllegalArgumentException.class, () -> cut.truncateBptt(-1));
        }
    }

    /**
     * On a model whose first three layers are recurrent (input [3, 4, 3], output [3, 2]): dropout
     * 0.3/0.4, 0.2/0.5 and 0.4/0 on them, evaluation unaffected, training affected, and gradients
     * equal to finite differences under the masks of {@code maskSeed}. Returns the trainer.
     */
    private static Trainer assertThreeLayerDropoutGradients(Sequential m, long dataSeed, long maskSeed, String what) {
        Random rnd = new Random(dataSeed);
        Tensor x = random(rnd, 1f, 3, 4, 3);
        Tensor y = random(rnd, 0.5f, 3, 2);
        Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0.3f, 0.4f).dropout(1, 0.2f, 0.5f)
                .dropout(2, 0.4f, 0f);
        Trainer plain = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false));
        assertEquals(plain.evaluate(x, y), t.evaluate(x, y), what + ": evaluation never drops");
        t.dropoutSeed(maskSeed);
        Trainer.Gradients g = t.gradients(x, y);
        assertTrue(Math.abs(g.loss() - plain.evaluate(x, y)) > 1e-6, what + ": training drops");
        assertGradientsMatch(t, g, 1, 1e-5, 1e-3, () -> {
            t.dropoutSeed(maskSeed);
            return t.gradients(x, y).loss();
        }, what);
        return t;
    }

    @Test
    void dropoutGradientsMatchFiniteDifferencesUnderTheSameMasks() {
        // per-gate masks (recurrent dropout on) in the first two layers, one shared input mask in the third
        try (Sequential m = model(12, 3, LstmSpec.of(5).returnSequences(true),
                io.jlstm.layers.BidirectionalSpec.of(LstmSpec.of(3).returnSequences(true), io.jlstm.layers.MergeMode.CONCAT),
                LstmSpec.of(3), DenseSpec.of(2, DenseActivation.LINEAR))) {
            Trainer t = assertThreeLayerDropoutGradients(m, 6, 7, "dropout");
            var bad = assertThrows(IllegalArgumentException.class, () -> t.dropout(3, 0.1f, 0f));
            assertTrue(bad.getMessage().contains("Dense") && bad.getMessage().contains("LSTM and GRU"), bad.getMessage());
            assertThrows(IllegalArgumentException.class, () -> t.dropout(0, 1f, 0f));
        }
    }

    @Test
    void gruDropoutGradientsMatchFiniteDifferencesUnderTheSameMasks() {
        // both reset_after forms, alone and inside Bidirectional; per-gate masks where recurrent
        // dropout is on, one shared input mask in the third layer
        try (Sequential m = model(14, 3, GruSpec.of(4).returnSequences(true),
                io.jlstm.layers.BidirectionalSpec.of(GruSpec.of(3).resetAfter(false).returnSequences(true),
                        io.jlstm.layers.MergeMode.SUM),
                GruSpec.of(3).resetAfter(false).goBackwards(true), DenseSpec.of(2, DenseActivation.LINEAR))) {
            assertThreeLayerDropoutGradients(m, 8, 9, "gru dropout");
            Random rnd = new Random(8);
            Tensor x = random(rnd, 1f, 3, 4, 3);
            Tensor y = random(rnd, 0.5f, 3, 2);
            // only the recurrent dropout of one reset_after layer: the state masks alone
            Trainer rec = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0f, 0.5f).dropoutSeed(10);
            Trainer.Gradients gr = rec.gradients(x, y);
            assertGradientsMatch(rec, gr, 1, 1e-5, 1e-3, () -> {
                rec.dropoutSeed(10);
                return rec.gradients(x, y).loss();
            }, "gru recurrent dropout only");
        }
    }

    /** Keras 3: recurrent_dropout gives every gate its own input and state mask; dropout alone shares one input mask. */
    @Test
    void recurrentDropoutDrawsAMaskPerGate() {
        try (Sequential m = model(13, 3, LstmSpec.of(4).returnSequences(true), LstmSpec.of(5),
                DenseSpec.of(1, DenseActivation.LINEAR))) {
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0.5f, 0f).dropout(1, 0.5f, 0.5f)
                    .dropoutSeed(3);
            // batch 16: masks of 48 or more values, which two independent draws repeat with probability 2^-48
            Trainer.Masks inputOnly = t.nextMasks(0, 16, 3);
            assertEquals(4, inputOnly.x().length);
            for (float[] gate : inputOnly.x()) {
                assertTrue(gate == inputOnly.x()[0], "dropout alone: one input mask for every gate");
            }
            assertEquals(16 * 3, inputOnly.x()[0].length);
            assertTrue(inputOnly.h() == null, "no state mask without recurrent_dropout");
            assertPerGate(t.nextMasks(1, 16, 4), 4, 16 * 4, 16 * 5);
            assertPerGate(newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0f, 0.5f).nextMasks(0, 16, 3),
                    4, -1, 16 * 4);
        }
        try (Sequential m = model(13, 3, io.jlstm.layers.BidirectionalSpec.of(GruSpec.of(4).returnSequences(true),
                io.jlstm.layers.MergeMode.CONCAT), GruSpec.of(5).resetAfter(false))) {
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropout(0, 0.3f, 0.2f).dropout(1, 0.5f, 0f);
            assertPerGate(t.nextMasks(0, 16, 3), 3, 16 * 3, 16 * 4);
            Trainer.Masks inputOnly = t.nextMasks(1, 16, 8);
            assertEquals(3, inputOnly.x().length);
            assertTrue(inputOnly.x()[1] == inputOnly.x()[0] && inputOnly.x()[2] == inputOnly.x()[0],
                    "GRU dropout alone: one input mask for every gate");
            assertTrue(inputOnly.h() == null);
        }
    }

    /** {@code gates} masks each for the inputs ({@code xLength}, or none when -1) and the state, pairwise different. */
    private static void assertPerGate(Trainer.Masks masks, int gates, int xLength, int hLength) {
        if (xLength < 0) {
            assertTrue(masks.x() == null, "no input mask without dropout");
        } else {
            assertDistinct(masks.x(), gates, xLength, "input");
        }
        assertDistinct(masks.h(), gates, hLength, "state");
    }

    private static void assertDistinct(float[][] perGate, int gates, int length, String what) {
        assertEquals(gates, perGate.length, what + " masks");
        for (int g = 0; g < gates; g++) {
            assertEquals(length, perGate[g].length, what + " mask " + g);
            for (int o = 0; o < g; o++) {
                assertTrue(!java.util.Arrays.equals(perGate[g], perGate[o]), what + " masks " + o + " and " + g + " equal");
            }
        }
    }

    @Test
    void dropoutLayerDropsAboutRateAndScalesTheRest() {
        float rate = 0.3f;
        try (Sequential m = model(15, 20, DropoutSpec.of(rate))) {
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropoutSeed(5);
            Random rnd = new Random(16);
            Tensor x = Tensor.allocate(64, 50, 20);
            for (long i = 0; i < x.size(); i++) {
                x.setFlat(i, 0.5f + rnd.nextFloat()); // never 0, so a 0 out is a drop
            }
            float[] in = x.toFloatArray();
            assertArrayEquals(in, t.output(x, false), "no dropout outside training");
            float[] out = t.output(x, true);
            float keep = 1f / (1f - rate);
            int zeros = 0;
            for (int i = 0; i < in.length; i++) {
                if (out[i] == 0f) {
                    zeros++;
                } else {
                    assertEquals(in[i] * keep, out[i], "kept value " + i + " scaled by 1/(1 - rate)");
                }
            }
            // 64,000 draws: the standard deviation of the fraction is 0.0018
            assertEquals(rate, zeros / (double) in.length, 0.01, "fraction dropped");
            // masks are per element and time step: the zeros at one step of a sample are not the next step's
            int sameAsNextStep = 0;
            for (int b = 0; b < 64; b++) {
                for (int s = 0; s + 1 < 50; s++) {
                    boolean same = true;
                    for (int f = 0; f < 20 && same; f++) {
                        same = (out[(b * 50 + s) * 20 + f] == 0f) == (out[(b * 50 + s + 1) * 20 + f] == 0f);
                    }
                    sameAsNextStep += same ? 1 : 0;
                }
            }
            assertTrue(sameAsNextStep < 64 * 49 / 100, sameAsNextStep + " steps repeat the mask of the step before");
            assertTrue(!Arrays.equals(out, t.output(x, true)), "every pass draws a new mask");
        }
    }

    @Test
    void dropoutLayerGradientsMatchFiniteDifferencesUnderTheSameMasks() {
        // after an LSTM sequence, after a Dense on the sequence, after a GRU's last output, and first
        try (Sequential m = model(17, 3, DropoutSpec.of(0.2f), LstmSpec.of(4).returnSequences(true), DropoutSpec.of(0.5f),
                DenseSpec.of(4, DenseActivation.TANH), DropoutSpec.of(0.3f), GruSpec.of(3), DropoutSpec.of(0.4f),
                DenseSpec.of(2, DenseActivation.LINEAR))) {
            Random rnd = new Random(18);
            Tensor x = random(rnd, 1f, 3, 4, 3);
            Tensor y = random(rnd, 0.5f, 3, 2);
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false)).dropoutSeed(19);
            Trainer.Gradients g = t.gradients(x, y);
            for (int layer : new int[] {0, 2, 4, 6}) {
                assertTrue(g.perLayer().get(layer).isEmpty(), "a Dropout layer has no weights");
            }
            try (Sequential plain = model(17, 3, LstmSpec.of(4).returnSequences(true), DenseSpec.of(4, DenseActivation.TANH),
                    GruSpec.of(3), DenseSpec.of(2, DenseActivation.LINEAR))) {
                float plainLoss = newTrainer(plain, new Optimizer.Sgd(0.1f, 0, false)).evaluate(x, y);
                assertEquals(plainLoss, t.evaluate(x, y), "evaluation never drops");
                assertTrue(Math.abs(g.loss() - plainLoss) > 1e-6, "training drops");
            }
            assertGradientsMatch(t, g, 1, 1e-5, 1e-3, () -> {
                t.dropoutSeed(19);
                return t.gradients(x, y).loss();
            }, "Dropout layers");
            var e = assertThrows(IllegalArgumentException.class, () -> t.dropout(0, 0.1f, 0f));
            assertTrue(e.getMessage().contains("is a Dropout"), e.getMessage());
        }
    }

    @Test
    void theSameDropoutSeedGivesBitIdenticalWeights() {
        LayerSpec[] layers = {LstmSpec.of(5).returnSequences(true), DropoutSpec.of(0.3f), GruSpec.of(4),
                DropoutSpec.of(0.5f), DenseSpec.of(1, DenseActivation.LINEAR)};
        try (Sequential m = model(20, 2, layers)) {
            Random rnd = new Random(21);
            Tensor x = random(rnd, 1f, 8, 6, 2);
            Tensor y = random(rnd, 0.5f, 8, 1);
            Trainer[] runs = new Trainer[3];
            for (int r = 0; r < 3; r++) {
                runs[r] = newTrainer(m, new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3))
                        .dropout(0, 0.2f, 0.2f).dropout(2, 0.1f, 0.3f).dropoutSeed(r < 2 ? 22 : 23);
                for (int step = 0; step < 4; step++) {
                    runs[r].trainStep(x, y);
                }
            }
            boolean differs = false;
            for (int layer = 0; layer < layers.length; layer++) {
                for (String name : runs[0].weightNames(layer)) {
                    assertArrayEquals(runs[0].weight(layer, name), runs[1].weight(layer, name), "layer " + layer + " " + name);
                    differs |= !Arrays.equals(runs[0].weight(layer, name), runs[2].weight(layer, name));
                }
            }
            assertTrue(differs, "another seed, other masks, other weights");
        }
    }

    @Test
    void trainingLowersTheLoss() {
        try (Sequential m = model(5, 2, LstmSpec.of(8), DenseSpec.of(1, DenseActivation.LINEAR))) {
            Random rnd = new Random(6);
            Tensor x = random(rnd, 1f, 16, 5, 2);
            Tensor y = Tensor.allocate(16, 1);
            for (int b = 0; b < 16; b++) {
                float sum = 0;
                for (int t = 0; t < 5; t++) {
                    sum += x.get(b, t, 0);
                }
                y.set(sum / 5, b, 0);
            }
            Trainer t = newTrainer(m, new Optimizer.Adam(0.01f, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3));
            float first = t.evaluate(x, y);
            for (int i = 0; i < 100; i++) {
                t.trainStep(x, y);
            }
            float last = t.evaluate(x, y);
            assertTrue(last < first / 4, "loss went from " + first + " to " + last);
            try (Sequential trained = t.toModel(Backends.java())) {
                float[] p = trained.predict(x).output().toFloatArray();
                double mse = 0;
                for (int b = 0; b < 16; b++) {
                    mse += Math.pow(p[b] - y.getFlat(b), 2);
                }
                assertEquals(last, mse / 16, 1e-5, "the exported model computes the trainer's loss");
            }
        }
    }

    @Test
    void badInputsAreNamed() {
        try (Sequential m = model(1, 2, LstmSpec.of(3), DenseSpec.of(1, DenseActivation.LINEAR));
             Sequential gru = model(1, 2, GruSpec.of(3).returnState(true))) {
            Trainer t = newTrainer(m, new Optimizer.Sgd(0.1f, 0, false));
            var e = assertThrows(IllegalArgumentException.class, () -> t.trainStep(Tensor.allocate(4, 3, 2),
                    Tensor.allocate(5, 1)));
            assertTrue(e.getMessage().contains("[4, 1]") && e.getMessage().contains("[5, 1]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> t.trainStep(Tensor.allocate(4, 3, 7),
                    Tensor.allocate(4, 1)));
            assertTrue(e.getMessage().contains("[4, 3, 7]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> newTrainer(gru, new Optimizer.Sgd(0.1f, 0, false)));
            assertTrue(e.getMessage().contains("GRU layer") && e.getMessage().contains("returns its state"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new Optimizer.Sgd(-1f, 0, false));
            Tensor nan = Tensor.allocate(4, 3, 2);
            nan.setFlat(0, Float.NaN);
            var s = assertThrows(IllegalStateException.class, () -> t.trainStep(nan, Tensor.allocate(4, 1)));
            assertTrue(s.getMessage().contains("NaN"), s.getMessage());
        }
    }
}
