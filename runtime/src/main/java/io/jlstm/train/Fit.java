package io.jlstm.train;

import io.jlstm.PredictOptions;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * Keras' {@code model.fit} over a {@link Trainer}: epochs of shuffled mini-batches, a validation
 * set, metrics and callbacks, returning a {@link History}.
 *
 * <pre>{@code
 * History h = Fit.of(trainer).epochs(20).batchSize(32).shuffle(true, 42).validationSplit(0.1)
 *         .callbacks(new Callback.EarlyStopping("val_loss", 3, 0), new Callback.ProgressListener(System.out))
 *         .run(x, y);
 * }</pre>
 *
 * <p><b>Semantics</b> (those of Keras 3 unless said otherwise):
 * <ul>
 *   <li>{@link #validationSplit} keeps the <em>last</em> {@code floor(n·(1−split))..n} samples, in
 *       their original order and before any shuffling, for validation; the first ones train.</li>
 *   <li>With {@link #shuffle} on (the default, seed 0) the training samples are permuted at the
 *       start of every epoch by a Fisher–Yates shuffle drawing from one {@link Random} seeded at
 *       the start of {@link #run}: the same seed, data and starting weights give the same batches
 *       and bit-identical weights and history. Batches hold {@link #batchSize} samples, the last
 *       one fewer.</li>
 *   <li>The epoch's {@code loss} is the mean of the batch losses (each taken before its update,
 *       as {@link Trainer#trainStep} returns it) weighted by batch size: what Keras' progress bar
 *       shows at the end of the epoch.</li>
 *   <li>{@code val_loss} is {@link Trainer#evaluate} at the end of the epoch over the validation
 *       set in chunks of {@link #batchSize}, weighted by chunk size.</li>
 *   <li>Metrics are computed on {@link Sequential#predict} outputs of the model as it is at the end
 *       of the epoch, over the whole training set and (as {@code val_NAME}) the validation set.
 *       <b>This differs from Keras</b>, whose training metrics are running means over the epoch's
 *       batches at the weights each batch saw; the validation metrics agree. It costs one forward
 *       pass over the data per epoch, and nothing when no metric is asked for.</li>
 *   <li>Callbacks are called in the order given; every callback's {@code onEpochEnd} runs, and
 *       training stops after the epoch when any of them returned true.</li>
 *   <li><b>A non-finite loss</b> stops training with an {@link IllegalStateException} naming the
 *       epoch and the batch. The failing batch does not update the weights, and the epoch never
 *       reaches the callbacks' {@code onEpochEnd}, so a {@link Callback.ModelCheckpoint} file still
 *       holds the last good model it saved (the checkpoint also refuses to save weights that are
 *       not finite).</li>
 * </ul>
 *
 * <p>Logs passed to callbacks and kept in the history have the keys {@code loss}, then each
 * metric's name, then (with validation data) {@code val_loss} and {@code val_NAME}.
 *
 * <p>A {@code Fit} is a mutable builder; {@link #run} may be called more than once and trains the
 * trainer further each time. Not thread-safe.
 */
public final class Fit {

    /**
     * A metric: a value computed from the predictions of {@code rows} rows of {@code features}
     * outputs and their targets (the same layout as {@link Loss#compute}: {@code target} holds
     * {@code rows·features} values, or {@code rows} for class-index targets).
     */
    public interface Metric {
        /** The log key, e.g. {@code mae}; {@code val_} is prefixed for the validation value. */
        String name();

        double compute(float[] pred, float[] target, int rows, int features);

        /** The computation part of a metric, for lambdas and method references. */
        @FunctionalInterface
        interface Computation {
            double compute(float[] pred, float[] target, int rows, int features);
        }

        /** A metric named {@code name} computed by {@code computation}. */
        static Metric of(String name, Computation computation) {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(computation, "computation");
            return new Metric() {
                @Override
                public String name() {
                    return name;
                }

                @Override
                public double compute(float[] pred, float[] target, int rows, int features) {
                    return computation.compute(pred, target, rows, features);
                }

                @Override
                public String toString() {
                    return "Metric[" + name + "]";
                }
            };
        }
    }

    /**
     * What one {@link #run} does, handed to {@link Callback#onTrainBegin} and kept in the
     * {@link History}.
     *
     * @param logKeys the keys every epoch's logs have, in order
     */
    public record Params(int epochs, int batchSize, int trainingSamples, int validationSamples, int batchesPerEpoch,
                         boolean shuffle, long seed, List<String> logKeys) {
        public Params {
            logKeys = List.copyOf(logKeys);
        }

        public boolean hasValidation() {
            return validationSamples > 0;
        }
    }

    /** Samples per chunk when predicting for metrics. */
    private static final int PREDICT_CHUNK = 256;

    private final Trainer trainer;
    private int epochs = 1;
    private int batchSize = 32;
    private boolean shuffle = true;
    private long seed;
    private double validationSplit;
    private Tensor validationX;
    private Tensor validationY;
    private final List<Metric> metrics = new ArrayList<>();
    private final List<Callback> callbacks = new ArrayList<>();

    private Fit(Trainer trainer) {
        this.trainer = Objects.requireNonNull(trainer, "trainer");
    }

    /** A fit of {@code trainer}: 1 epoch, batch size 32 (Keras' defaults), shuffled with seed 0, no validation. */
    public static Fit of(Trainer trainer) {
        return new Fit(trainer);
    }

    public Fit epochs(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("epochs must be at least 1, got " + n);
        }
        this.epochs = n;
        return this;
    }

    public Fit batchSize(int b) {
        if (b <= 0) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + b);
        }
        this.batchSize = b;
        return this;
    }

    /** Whether to shuffle the training samples every epoch, and the seed of the shuffle. */
    public Fit shuffle(boolean on, long seed) {
        this.shuffle = on;
        this.seed = seed;
        return this;
    }

    /** The fraction of the samples, taken from the end, held out for validation; 0 for none. */
    public Fit validationSplit(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("validation split must be in [0, 1), got " + fraction);
        }
        this.validationSplit = fraction;
        return this;
    }

    /** Validation data of its own (instead of {@link #validationSplit}); null for none. */
    public Fit validationData(Tensor x, Tensor y) {
        if ((x == null) != (y == null)) {
            throw new IllegalArgumentException("validation data needs both x and y, or neither");
        }
        this.validationX = x;
        this.validationY = y;
        return this;
    }

    /** Replaces the metrics. Names must be unique and not {@code loss} or start with {@code val_}. */
    public Fit metrics(Metric... ms) {
        Objects.requireNonNull(ms, "metrics");
        Set<String> seen = new HashSet<>();
        for (Metric m : ms) {
            Objects.requireNonNull(m, "metric");
            String name = Objects.requireNonNull(m.name(), "metric name");
            if (name.isEmpty() || name.equals("loss") || name.startsWith("val_")) {
                throw new IllegalArgumentException("metric name '" + name
                        + "' is taken: it must be non-empty, not 'loss' and not start with 'val_'");
            }
            if (!seen.add(name)) {
                throw new IllegalArgumentException("metric '" + name + "' is given twice");
            }
        }
        metrics.clear();
        metrics.addAll(List.of(ms));
        return this;
    }

    /** Replaces the callbacks. */
    public Fit callbacks(Callback... cs) {
        Objects.requireNonNull(cs, "callbacks");
        for (Callback c : cs) {
            Objects.requireNonNull(c, "callback");
        }
        callbacks.clear();
        callbacks.addAll(List.of(cs));
        return this;
    }

    // ------------------------------------------------------------------ the loop

    /** A data set as rows of a tensor: samples {@code from..from+count} of {@code x} and {@code y}. */
    private record Rows(Tensor x, Tensor y, int from, int count) {

        long[] xShape(int n) {
            long[] s = x.shape();
            s[0] = n;
            return s;
        }

        long[] yShape(int n) {
            long[] s = y.shape();
            s[0] = n;
            return s;
        }

        long xStride() {
            return x.size() / x.dim(0);
        }

        long yStride() {
            return y.size() / y.dim(0);
        }

        /** A view (no copy) of the contiguous samples {@code from+start..from+start+n}. */
        Tensor xSlice(int start, int n) {
            return slice(x, xStride(), from + start, n, xShape(n));
        }

        Tensor ySlice(int start, int n) {
            return slice(y, yStride(), from + start, n, yShape(n));
        }

        private static Tensor slice(Tensor t, long stride, int first, int n, long[] shape) {
            long bytes = stride * Float.BYTES;
            return Tensor.wrap(t.segment().asSlice(first * bytes, n * bytes), shape);
        }
    }

    /**
     * Trains on {@code x} [samples, time, features] against {@code y} [samples, …] and returns the
     * history of the epochs run (fewer than {@link #epochs} when a callback stopped training).
     *
     * @throws IllegalArgumentException for data that cannot be trained on: sample counts of x and
     *         y that differ, no samples, a validation split that leaves no training or no
     *         validation samples, both a split and validation data, shapes the model refuses
     * @throws IllegalStateException when a batch's loss is not finite (see the class comment)
     */
    public History run(Tensor x, Tensor y) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(y, "y");
        int n = samples("x", x, "y", y);
        Rows train;
        Rows val = null;
        if (validationX != null) {
            if (validationSplit > 0) {
                throw new IllegalArgumentException("give a validation split or validation data, not both");
            }
            int nv = samples("validation x", validationX, "validation y", validationY);
            checkSameSample("validation x", validationX, "x", x);
            checkSameSample("validation y", validationY, "y", y);
            train = new Rows(x, y, 0, n);
            val = new Rows(validationX, validationY, 0, nv);
        } else if (validationSplit > 0) {
            int splitAt = (int) Math.floor(n * (1.0 - validationSplit));
            if (splitAt <= 0) {
                throw new IllegalArgumentException("validation split " + validationSplit + " of " + n
                        + " samples leaves no training data");
            }
            if (splitAt >= n) {
                throw new IllegalArgumentException("validation split " + validationSplit + " of " + n
                        + " samples leaves no validation data");
            }
            train = new Rows(x, y, 0, splitAt);
            val = new Rows(x, y, splitAt, n - splitAt);
        } else {
            train = new Rows(x, y, 0, n);
        }

        List<String> keys = new ArrayList<>();
        keys.add("loss");
        metrics.forEach(m -> keys.add(m.name()));
        if (val != null) {
            keys.add("val_loss");
            metrics.forEach(m -> keys.add("val_" + m.name()));
        }
        int batches = (train.count + batchSize - 1) / batchSize;
        Params params = new Params(epochs, batchSize, train.count, val == null ? 0 : val.count, batches, shuffle,
                seed, keys);
        History history = new History(params);
        List<Callback> cbs = List.copyOf(callbacks);
        for (Callback c : cbs) {
            c.onTrainBegin(params, trainer);
        }

        Random random = new Random(seed);
        int[] order = new int[train.count];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        long xStride = train.xStride();
        long yStride = train.yStride();
        int lastGood = -1;
        for (int epoch = 0; epoch < epochs; epoch++) {
            for (Callback c : cbs) {
                c.onEpochBegin(epoch, trainer);
            }
            if (shuffle) {
                for (int i = order.length - 1; i > 0; i--) {
                    int j = random.nextInt(i + 1);
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
            }
            double weighted = 0;
            for (int b = 0; b < batches; b++) {
                int start = b * batchSize;
                int size = Math.min(batchSize, train.count - start);
                float loss;
                try (Arena arena = Arena.ofConfined()) {
                    Tensor bx = gather(arena, x, xStride, train.xShape(size), order, start, size);
                    Tensor by = gather(arena, y, yStride, train.yShape(size), order, start, size);
                    try {
                        loss = trainer.trainStep(bx, by);
                    } catch (IllegalStateException e) {
                        throw nonFinite(epoch, b, batches, lastGood, e.getMessage(), e);
                    }
                }
                if (!Float.isFinite(loss)) {
                    throw nonFinite(epoch, b, batches, lastGood, "loss is " + loss, null);
                }
                weighted += (double) loss * size;
            }
            Map<String, Double> logs = new LinkedHashMap<>();
            logs.put("loss", weighted / train.count);
            Map<String, Double> valLogs = new LinkedHashMap<>();
            if (val != null) {
                valLogs.put("val_loss", evaluate(val));
            }
            if (!metrics.isEmpty()) {
                try (Sequential model = trainer.toModel(Backends.java())) {
                    computeMetrics(model, train, "", logs);
                    if (val != null) {
                        computeMetrics(model, val, "val_", valLogs);
                    }
                }
            }
            logs.putAll(valLogs);
            history.append(logs);
            Map<String, Double> view = java.util.Collections.unmodifiableMap(logs);
            boolean stop = false;
            for (Callback c : cbs) {
                stop |= c.onEpochEnd(epoch, view, trainer);
            }
            lastGood = epoch;
            if (stop) {
                break;
            }
        }
        for (Callback c : cbs) {
            c.onTrainEnd(history, trainer);
        }
        return history;
    }

    /** Training stopped because the loss or the weights stopped being finite (a learning rate too high, say). */
    public static final class TrainingDivergedException extends IllegalStateException {
        TrainingDivergedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private IllegalStateException nonFinite(int epoch, int batch, int batches, int lastGood, String what,
                                            Throwable cause) {
        boolean checkpoint = callbacks.stream().anyMatch(c -> c instanceof Callback.ModelCheckpoint);
        String kept = !checkpoint ? "" : lastGood < 0
                ? " and no epoch completed, so no checkpoint was written by this run"
                : " and a ModelCheckpoint keeps the model it last saved (epoch " + (lastGood + 1)
                + " was the last completed)";
        return new TrainingDivergedException("training stopped at epoch " + (epoch + 1) + "/" + epochs + ", batch "
                + (batch + 1) + "/" + batches + ": " + what + "; the weights are those before this batch" + kept, cause);
    }

    /** Copies samples {@code order[start..start+size)} of {@code t} into a new tensor. */
    private static Tensor gather(Arena arena, Tensor t, long stride, long[] shape, int[] order, int start, int size) {
        Tensor out = Tensor.allocate(arena, shape);
        MemorySegment src = t.segment();
        MemorySegment dst = out.segment();
        long bytes = stride * Float.BYTES;
        for (int i = 0; i < size; i++) {
            MemorySegment.copy(src, order[start + i] * bytes, dst, i * bytes, bytes);
        }
        return out;
    }

    private double evaluate(Rows rows) {
        double weighted = 0;
        for (int start = 0; start < rows.count; start += batchSize) {
            int size = Math.min(batchSize, rows.count - start);
            weighted += (double) trainer.evaluate(rows.xSlice(start, size), rows.ySlice(start, size)) * size;
        }
        return weighted / rows.count;
    }

    private void computeMetrics(Sequential model, Rows rows, String prefix, Map<String, Double> logs) {
        float[] pred = null;
        int filled = 0;
        for (int start = 0; start < rows.count; start += PREDICT_CHUNK) {
            int size = Math.min(PREDICT_CHUNK, rows.count - start);
            try (Arena arena = Arena.ofConfined()) {
                Tensor out = model.predict(rows.xSlice(start, size), PredictOptions.defaults(), arena).output();
                if (pred == null) {
                    pred = new float[Math.toIntExact(out.size() / size * rows.count)];
                }
                MemorySegment.copy(out.segment(), 0, MemorySegment.ofArray(pred), (long) filled * Float.BYTES,
                        out.size() * Float.BYTES);
                filled += (int) out.size();
            }
        }
        int features = model.outputFeatures();
        int outRows = pred.length / features;
        float[] target = rows.ySlice(0, rows.count).toFloatArray();
        for (Metric m : metrics) {
            logs.put(prefix + m.name(), m.compute(pred, target, outRows, features));
        }
    }

    // ------------------------------------------------------------------ checks

    private static int samples(String xName, Tensor x, String yName, Tensor y) {
        Objects.requireNonNull(x, xName);
        Objects.requireNonNull(y, yName);
        if (x.rank() == 0 || y.rank() == 0) {
            throw new IllegalArgumentException(xName + " and " + yName + " need a sample axis first, got shapes "
                    + Arrays.toString(x.shape()) + " and " + Arrays.toString(y.shape()));
        }
        long n = x.dim(0);
        if (y.dim(0) != n) {
            throw new IllegalArgumentException(xName + " has " + n + " samples but " + yName + " has " + y.dim(0)
                    + " (shapes " + Arrays.toString(x.shape()) + " and " + Arrays.toString(y.shape()) + ")");
        }
        if (n == 0 || x.size() == 0) {
            throw new IllegalArgumentException(xName + " is empty (shape " + Arrays.toString(x.shape())
                    + "): nothing to train on");
        }
        return (int) n;
    }

    private static void checkSameSample(String aName, Tensor a, String bName, Tensor b) {
        long[] as = a.shape();
        long[] bs = b.shape();
        if (!Arrays.equals(as, 1, as.length, bs, 1, bs.length)) {
            throw new IllegalArgumentException(aName + " has samples of shape "
                    + Arrays.toString(Arrays.copyOfRange(as, 1, as.length)) + " but " + bName + " of shape "
                    + Arrays.toString(Arrays.copyOfRange(bs, 1, bs.length)));
        }
    }
}
