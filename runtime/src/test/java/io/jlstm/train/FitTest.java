package io.jlstm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.layers.DenseActivation;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FitTest {

    /** Trainers made here, closed after each test. */
    private static final List<Trainer> OPEN = new ArrayList<>();

    @AfterEach
    void closeTrainers() {
        OPEN.forEach(Trainer::close);
        OPEN.clear();
    }

    private static final String[][] WEIGHTS = {{"kernel", "recurrent_kernel", "bias"}, {"kernel", "bias"}};

    private static Tensor random(Random rnd, float scale, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (rnd.nextFloat() * 2 - 1) * scale);
        }
        return t;
    }

    /** LSTM(4) -> Dense(1) with random weights, on the java backend. */
    private static Sequential model(long seed) {
        return model(seed, "java");
    }

    /** LSTM(4) -> Dense(1) with random weights, on backend {@code backend}. */
    private static Sequential model(long seed, String backend) {
        Random rnd = new Random(seed);
        Sequential.Builder b = Sequential.builder(1).backend(Backends.byName(backend).backend());
        int f = 1;
        for (LayerSpec spec : new LayerSpec[] {LstmSpec.of(4), DenseSpec.of(1, DenseActivation.LINEAR)}) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : spec.weightShapes(f).entrySet()) {
                w.put(e.getKey(), random(rnd, 0.4f, e.getValue()));
            }
            b.add(spec, w);
            f = spec.outputFeatures(f);
        }
        return b.build();
    }

    private static Trainer trainer(long seed, Optimizer optimizer) {
        return trainer(seed, optimizer, "java");
    }

    private static Trainer trainer(long seed, Optimizer optimizer, String backend) {
        try (Sequential m = model(seed, backend)) {
            Trainer t = new Trainer(m, optimizer);
            OPEN.add(t);
            return t;
        }
    }

    private static Optimizer adam(float lr) {
        return new Optimizer.Adam(lr, 0.9f, 0.999f, 1e-7f, Optimizer.AdamForm.KERAS3);
    }

    /** x [n, 6, 1] uniform in [-1, 1], y [n, 1] the mean of each sequence. */
    private static Tensor[] meanData(long seed, int n) {
        Random rnd = new Random(seed);
        Tensor x = random(rnd, 1f, n, 6, 1);
        Tensor y = Tensor.allocate(n, 1);
        for (int b = 0; b < n; b++) {
            float sum = 0;
            for (int t = 0; t < 6; t++) {
                sum += x.get(b, t, 0);
            }
            y.set(sum / 6, b, 0);
        }
        return new Tensor[] {x, y};
    }

    private static final Fit.Metric MAE = Fit.Metric.of("mae", (pred, target, rows, features) -> {
        double s = 0;
        for (int i = 0; i < pred.length; i++) {
            s += Math.abs(pred[i] - target[i]);
        }
        return s / pred.length;
    });

    private static List<float[]> weightsOf(Trainer t) {
        List<float[]> out = new ArrayList<>();
        for (int layer = 0; layer < WEIGHTS.length; layer++) {
            for (String name : WEIGHTS[layer]) {
                out.add(t.weight(layer, name));
            }
        }
        return out;
    }

    private static float[] slice(Tensor t, int from, int to) {
        float[] all = t.toFloatArray();
        int stride = (int) (t.size() / t.dim(0));
        return java.util.Arrays.copyOfRange(all, from * stride, to * stride);
    }

    @Test
    void lossDecreasesOnALearnableToy() {
        Tensor[] d = meanData(1, 96);
        Trainer t = trainer(2, adam(0.02f));
        History h = Fit.of(t).epochs(12).batchSize(8).shuffle(true, 7).validationSplit(0.25).metrics(MAE).run(d[0], d[1]);
        assertEquals(12, h.epochs());
        List<Double> loss = h.loss();
        assertTrue(loss.getLast() < loss.getFirst() / 4, "loss " + loss);
        assertTrue(h.valLoss().getLast() < h.valLoss().getFirst() / 4, "val_loss " + h.valLoss());
        assertEquals(List.of("loss", "mae", "val_loss", "val_mae"), List.copyOf(h.series().keySet()));
        assertTrue(h.get("val_mae").getLast() < h.get("val_mae").getFirst(), "val_mae " + h.get("val_mae"));
        // the epoch-end validation loss is the trainer's loss on the last 24 samples
        Tensor vx = Tensor.of(slice(d[0], 72, 96), 24, 6, 1);
        Tensor vy = Tensor.of(slice(d[1], 72, 96), 24, 1);
        double direct = t.evaluate(vx, vy);
        assertEquals(direct, h.valLoss().getLast(), 1e-6 * direct);
    }

    /** On either backend: the products of a backend are deterministic at a fixed thread count. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"java", "openblas"})
    void sameSeedGivesBitIdenticalWeightsAndHistory(String backend) {
        Tensor[] d = meanData(3, 40);
        List<List<float[]>> weights = new ArrayList<>();
        List<History> histories = new ArrayList<>();
        for (long shuffleSeed : new long[] {11, 11, 12}) {
            Trainer t = trainer(4, adam(0.01f), backend);
            histories.add(Fit.of(t).epochs(3).batchSize(6).shuffle(true, shuffleSeed).validationSplit(0.2)
                    .metrics(MAE).run(d[0], d[1]));
            weights.add(weightsOf(t));
        }
        for (int i = 0; i < weights.get(0).size(); i++) {
            assertArrayEquals(weights.get(0).get(i), weights.get(1).get(i), "weight " + i);
        }
        assertEquals(histories.get(0), histories.get(1));
        assertEquals(histories.get(0).toJson(), histories.get(1).toJson());
        boolean differs = false;
        for (int i = 0; i < weights.get(0).size(); i++) {
            differs |= !java.util.Arrays.equals(weights.get(0).get(i), weights.get(2).get(i));
        }
        assertTrue(differs, "another shuffle seed gives other batches and other weights");
        assertNotEquals(histories.get(0).loss(), histories.get(2).loss());
    }

    @Test
    void withoutShuffleBatchesAreInOrder() {
        Tensor[] d = meanData(5, 10);
        Trainer fit = trainer(6, new Optimizer.Sgd(0.1f, 0, false));
        History h = Fit.of(fit).epochs(1).batchSize(4).shuffle(false, 0).run(d[0], d[1]);
        Trainer manual = trainer(6, new Optimizer.Sgd(0.1f, 0, false));
        double weighted = 0;
        for (int[] r : new int[][] {{0, 4}, {4, 8}, {8, 10}}) {
            int n = r[1] - r[0];
            weighted += (double) manual.trainStep(Tensor.of(slice(d[0], r[0], r[1]), n, 6, 1),
                    Tensor.of(slice(d[1], r[0], r[1]), n, 1)) * n;
        }
        assertEquals(weighted / 10, h.loss().getFirst(), 0.0, "batch losses weighted by batch size (4, 4, 2)");
        List<float[]> a = weightsOf(fit);
        List<float[]> b = weightsOf(manual);
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(b.get(i), a.get(i));
        }
        assertEquals(3, h.params().batchesPerEpoch());
    }

    @Test
    void validationSplitTakesTheLastSamples() {
        Tensor[] d = meanData(7, 10);
        List<Fit.Params> seen = new ArrayList<>();
        List<double[]> check = new ArrayList<>();
        Tensor vx = Tensor.of(slice(d[0], 7, 10), 3, 6, 1);
        Tensor vy = Tensor.of(slice(d[1], 7, 10), 3, 1);
        Callback spy = new Callback() {
            @Override
            public void onTrainBegin(Fit.Params params, Trainer trainer) {
                seen.add(params);
            }

            @Override
            public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
                check.add(new double[] {logs.get("val_loss"), trainer.evaluate(vx, vy)});
                return false;
            }
        };
        History h = Fit.of(trainer(8, adam(0.01f))).epochs(2).batchSize(4).validationSplit(0.25).callbacks(spy)
                .run(d[0], d[1]);
        Fit.Params p = seen.getFirst();
        assertEquals(7, p.trainingSamples());
        assertEquals(3, p.validationSamples());
        assertEquals(2, p.batchesPerEpoch());
        assertEquals(p, h.params());
        for (double[] c : check) {
            assertEquals(c[1], c[0], 0.0, "val_loss is the loss of samples 7..9");
        }
        // explicit validation data
        History h2 = Fit.of(trainer(8, adam(0.01f))).epochs(1).batchSize(4).validationData(vx, vy).run(d[0], d[1]);
        assertEquals(10, h2.params().trainingSamples());
        assertEquals(3, h2.params().validationSamples());
        assertEquals(1, h2.valLoss().size());
    }

    @Test
    void earlyStoppingStopsAfterPatienceOnAPlateau() {
        Tensor[] d = meanData(9, 16);
        var stop = new Callback.EarlyStopping("loss", 2, 1e-3);
        History h = Fit.of(trainer(10, new Optimizer.Sgd(1e-9f, 0, false))).epochs(20).batchSize(8)
                .callbacks(stop).run(d[0], d[1]);
        assertEquals(3, h.epochs(), "best at epoch 1, then 2 epochs without improvement");
        assertEquals(2, stop.stoppedEpoch());
        assertEquals(0, stop.bestEpoch());
        // a learning model does not stop
        var patient = new Callback.EarlyStopping("loss", 2, 0);
        History h2 = Fit.of(trainer(10, adam(0.02f))).epochs(4).batchSize(8).callbacks(patient).run(d[0], d[1]);
        assertEquals(4, h2.epochs(), h2.toString());
        assertEquals(-1, patient.stoppedEpoch());
        // accuracy-like names are maximised
        assertEquals(Callback.Mode.MAX, Callback.Mode.AUTO.resolve("val_accuracy"));
        assertEquals(Callback.Mode.MIN, Callback.Mode.AUTO.resolve("val_mae"));
    }

    @Test
    void earlyStoppingRestoresTheBestWeights() {
        Tensor[] d = meanData(9, 16);
        List<float[]> kernels = new ArrayList<>();
        Callback recorder = new Callback() {
            @Override
            public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
                kernels.add(trainer.weight(0, "kernel"));
                return false;
            }
        };
        // a learning rate far too high: the loss gets worse after the first epoch
        var stop = new Callback.EarlyStopping("loss", 1, 0).restoreBestWeights(true);
        Trainer t = trainer(10, new Optimizer.Sgd(100f, 0, false));
        History h = Fit.of(t).epochs(10).batchSize(16).shuffle(false, 0).callbacks(recorder, stop).run(d[0], d[1]);
        assertEquals(2, h.epochs(), h.toString());
        assertEquals(0, stop.bestEpoch());
        assertArrayEquals(kernels.get(0), t.weight(0, "kernel"), "the weights of the best epoch are back");
        assertFalse(java.util.Arrays.equals(kernels.get(1), t.weight(0, "kernel")));
    }

    @Test
    void checkpointKeepsTheBestEpoch(@TempDir Path dir) throws Exception {
        Tensor[] d = meanData(11, 48);
        Path file = dir.resolve("best.safetensors");
        List<float[]> kernels = new ArrayList<>();
        Callback recorder = new Callback() {
            @Override
            public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
                kernels.add(trainer.weight(0, "kernel"));
                return false;
            }
        };
        var checkpoint = new Callback.ModelCheckpoint(file, "val_loss", true);
        // a large learning rate so that val_loss need not fall every epoch
        History h = Fit.of(trainer(12, adam(0.15f))).epochs(5).batchSize(8).shuffle(true, 3).validationSplit(0.25)
                .callbacks(checkpoint, recorder).run(d[0], d[1]);
        List<Double> val = h.valLoss();
        int best = 0;
        for (int i = 1; i < val.size(); i++) {
            if (val.get(i) < val.get(best)) {
                best = i;
            }
        }
        assertTrue(best < val.size() - 1, "the last epoch is not the best one here: " + val);
        assertEquals(best, checkpoint.bestEpoch());
        assertEquals(val.get(best), checkpoint.best());
        try (Sequential loaded = Sequential.load(file, Backends.java())) {
            assertArrayEquals(kernels.get(best), loaded.layerWeights(0).get("kernel").toFloatArray());
            // the saved model's loss on the validation samples is the best val_loss
            Tensor vx = Tensor.of(slice(d[0], 36, 48), 12, 6, 1);
            float[] p = loaded.predict(vx).output().toFloatArray();
            float[] y = slice(d[1], 36, 48);
            double mse = 0;
            for (int i = 0; i < p.length; i++) {
                mse += Math.pow(p[i] - y[i], 2);
            }
            assertEquals(val.get(best), mse / p.length, 1e-5);
        }
        // every epoch, with the epoch in the name
        Path each = dir.resolve("e{epoch}.safetensors");
        Fit.of(trainer(12, adam(0.01f))).epochs(2).batchSize(16).callbacks(new Callback.ModelCheckpoint(each, "loss",
                false)).run(d[0], d[1]);
        assertTrue(Files.exists(dir.resolve("e1.safetensors")) && Files.exists(dir.resolve("e2.safetensors")));
    }

    /** A loss that is MSE until its {@code failAt}-th call, then NaN. */
    private static Loss nanAt(int failAt) {
        int[] calls = {0};
        return new Loss() {
            @Override
            public String name() {
                return "nan_at_" + failAt;
            }

            @Override
            public double compute(float[] pred, float[] target, int rows, int features, float[] grad) {
                double v = Loss.MSE.compute(pred, target, rows, features, grad);
                return ++calls[0] >= failAt ? Double.NaN : v;
            }
        };
    }

    @Test
    void nanLossStopsNamingEpochAndBatchAndKeepsTheLastCheckpoint(@TempDir Path dir) throws Exception {
        Tensor[] d = meanData(13, 16);
        Path file = dir.resolve("last.safetensors");
        List<float[]> kernels = new ArrayList<>();
        Callback recorder = new Callback() {
            @Override
            public boolean onEpochEnd(int epoch, Map<String, Double> logs, Trainer trainer) {
                kernels.add(trainer.weight(0, "kernel"));
                return false;
            }
        };
        try (Sequential m = model(14)) {
            // 4 batches per epoch, no validation: the 7th loss computed is epoch 2, batch 3
            Trainer t = new Trainer(m, adam(0.01f), nanAt(7));
            OPEN.add(t);
            Fit fit = Fit.of(t).epochs(5).batchSize(4).callbacks(new Callback.ModelCheckpoint(file, "loss", false),
                    recorder);
            var e = assertThrows(IllegalStateException.class, () -> fit.run(d[0], d[1]));
            assertTrue(e.getMessage().contains("epoch 2/5, batch 3/4"), e.getMessage());
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
            assertEquals(1, kernels.size());
            try (Sequential loaded = Sequential.load(file, Backends.java())) {
                assertArrayEquals(kernels.getFirst(), loaded.layerWeights(0).get("kernel").toFloatArray());
            }
        }
    }

    @Test
    void progressListenerPrintsOneLinePerEpoch() {
        Tensor[] d = meanData(15, 12);
        var bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            Fit.of(trainer(16, adam(0.01f))).epochs(3).batchSize(4).validationSplit(0.25).metrics(MAE)
                    .callbacks(new Callback.ProgressListener(out)).run(d[0], d[1]);
        }
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(3, lines.length);
        for (int i = 0; i < 3; i++) {
            assertTrue(lines[i].matches("Epoch " + (i + 1) + "/3 - \\d+\\.\\d{3}s - loss: \\S+ - mae: \\S+ - "
                    + "val_loss: \\S+ - val_mae: \\S+"), lines[i]);
        }
        assertEquals("0.0123", Callback.ProgressListener.format(0.012345));
        assertEquals("1.2345e-05", Callback.ProgressListener.format(1.2345e-5));
    }

    @Test
    void historyWritesJson(@TempDir Path dir) throws Exception {
        Tensor[] d = meanData(17, 12);
        History h = Fit.of(trainer(18, adam(0.01f))).epochs(2).batchSize(4).validationSplit(0.25).metrics(MAE)
                .run(d[0], d[1]);
        Path file = dir.resolve("history.json");
        h.writeJson(file);
        JsonNode root = new ObjectMapper().readTree(Files.readString(file));
        assertEquals(2, root.get("params").get("epochs").asInt());
        assertEquals(9, root.get("params").get("samples").asInt());
        assertEquals(3, root.get("params").get("validation_samples").asInt());
        assertEquals(2, root.get("epoch").size());
        for (String key : List.of("loss", "mae", "val_loss", "val_mae")) {
            JsonNode a = root.get("history").get(key);
            assertEquals(2, a.size(), key);
            for (int i = 0; i < 2; i++) {
                assertEquals(h.get(key).get(i), a.get(i).asDouble(), 0.0, key);
            }
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file left behind");
        }
        assertEquals(List.of(), Fit.of(trainer(18, adam(0.01f))).epochs(1).batchSize(4).run(d[0], d[1]).valLoss());
    }

    @Test
    void badInputsAreRefusedWithClearMessages() {
        Tensor[] d = meanData(19, 10);
        Tensor x = d[0];
        Tensor y = d[1];
        Fit fit = Fit.of(trainer(20, adam(0.01f)));
        var e = assertThrows(IllegalArgumentException.class, () -> fit.run(x, Tensor.allocate(9, 1)));
        assertTrue(e.getMessage().contains("10 samples") && e.getMessage().contains("has 9"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> fit.run(Tensor.allocate(0, 6, 1), Tensor.allocate(0, 1)));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(trainer(20, adam(0.01f)))
                .validationSplit(0.95).run(x, y));
        assertTrue(e.getMessage().contains("no training data"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(trainer(20, adam(0.01f)))
                .validationSplit(1e-18).run(x, y));
        assertTrue(e.getMessage().contains("no validation data"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> fit.validationSplit(1.0));
        assertTrue(e.getMessage().contains("[0, 1)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> fit.validationSplit(Double.NaN));
        e = assertThrows(IllegalArgumentException.class, () -> fit.batchSize(0));
        assertTrue(e.getMessage().contains("batch size"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> fit.batchSize(-3));
        e = assertThrows(IllegalArgumentException.class, () -> fit.epochs(0));
        assertTrue(e.getMessage().contains("epochs"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(trainer(20, adam(0.01f)))
                .validationSplit(0.2).validationData(x, y).run(x, y));
        assertTrue(e.getMessage().contains("not both"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(trainer(20, adam(0.01f)))
                .validationData(x, Tensor.allocate(3, 1)).run(x, y));
        assertTrue(e.getMessage().contains("validation x has 10 samples"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(trainer(20, adam(0.01f)))
                .callbacks(new Callback.EarlyStopping("val_loss", 1, 0)).run(x, y));
        assertTrue(e.getMessage().contains("'val_loss'") && e.getMessage().contains("[loss]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> fit.metrics(MAE, MAE));
        assertTrue(e.getMessage().contains("twice"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> fit.metrics(Fit.Metric.of("val_x", MAE::compute)));
        // a y of the wrong width is the trainer's message, before any weight changes
        Trainer t = trainer(20, adam(0.01f));
        float[] before = t.weight(1, "kernel");
        e = assertThrows(IllegalArgumentException.class, () -> Fit.of(t).run(x, Tensor.allocate(10, 2)));
        assertTrue(e.getMessage().contains("y must hold"), e.getMessage());
        assertArrayEquals(before, t.weight(1, "kernel"));
        assertFalse(Float.isNaN(before[0]));
    }
}
