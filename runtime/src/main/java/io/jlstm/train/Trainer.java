package io.jlstm.train;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.backend.StepPool;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.GruSpec;
import io.jlstm.layers.MergeMode;
import io.jlstm.layers.RecurrentSpec;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.LstmSpec;
import io.jlstm.simd.Activation;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Backpropagation through time for stacks of LSTM, GRU (both reset_after forms), Bidirectional,
 * Dense and Dropout layers (every option inference has, go_backwards and softmax included), with a
 * {@link Loss} (Keras' reduction) and one optimizer step per call. This is the reference implementation the training work starts from: exact float32
 * arithmetic on heap arrays, checked against TensorFlow.js on the reference training cases.
 *
 * <p>The trainer copies the model's weights when it is created and owns those copies; {@link
 * #toModel} builds a new model from them. Not thread-safe.
 */
public final class Trainer {

    private final int inputFeatures;
    private final List<LayerSpec> specs;
    private final List<SequencedMap<String, float[]>> weights = new ArrayList<>();
    private final List<SequencedMap<String, long[]>> shapes = new ArrayList<>();
    private final Optimizer optimizer;
    private final Loss loss;
    private float l2;
    private int truncate;
    private final float[] dropout;          // per layer: input dropout rate of recurrent layers (training only)
    private final float[] recurrentDropout; // per layer: recurrent dropout rate
    private java.util.Random dropoutRandom = new java.util.Random(0);

    /** Result of one forward and backward pass at the current weights. */
    public record Gradients(float loss, List<SequencedMap<String, float[]>> perLayer) {
    }

    /** A trainer with the mean squared error loss. */
    public Trainer(Sequential model, Optimizer optimizer) {
        this(model, optimizer, Loss.MSE);
    }

    public Trainer(Sequential model, Optimizer optimizer, Loss loss) {
        Objects.requireNonNull(model, "model");
        this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
        this.loss = Objects.requireNonNull(loss, "loss");
        this.inputFeatures = model.inputFeatures();
        this.specs = model.layers();
        this.dropout = new float[specs.size()];
        this.recurrentDropout = new float[specs.size()];
        boolean sequence = true;
        for (int i = 0; i < specs.size(); i++) {
            LayerSpec spec = specs.get(i);
            switch (spec) {
                case RecurrentSpec r -> {
                    if (r.returnState()) {
                        throw new IllegalArgumentException("training: " + r.type() + " layer '" + r.name()
                                + "' returns its state; training uses the main output only");
                    }
                }
                case BidirectionalSpec b -> {
                    if (b.layer().returnState()) {
                        throw new IllegalArgumentException("training: Bidirectional layer '" + b.name()
                                + "' returns its states; training uses the main output only");
                    }
                }
                case DenseSpec d -> {
                    // every Dense activation, softmax included, has a backward pass
                }
                case DropoutSpec d -> {
                    // no weights; drops only in training passes
                }
            }
            SequencedMap<String, float[]> w = new LinkedHashMap<>();
            SequencedMap<String, long[]> s = new LinkedHashMap<>();
            for (var e : model.layerWeights(i).entrySet()) {
                w.put(e.getKey(), e.getValue().toFloatArray());
                s.put(e.getKey(), e.getValue().shape());
            }
            weights.add(w);
            shapes.add(s);
            sequence = spec.outputIsSequence(sequence);
        }
    }

    /** A copy of weight {@code name} of layer {@code layer}. */
    public float[] weight(int layer, String name) {
        float[] w = weights.get(layer).get(name);
        if (w == null) {
            throw new IllegalArgumentException("layer " + layer + " has no weight '" + name + "' (it has "
                    + weights.get(layer).keySet() + ")");
        }
        return w.clone();
    }

    /**
     * Adds {@code lambda · Σ w²} over every kernel and recurrent kernel (not the biases) to the
     * loss, as Keras' {@code kernel_regularizer=l2(lambda)} and {@code recurrent_regularizer} do.
     * 0 (the default) turns it off.
     */
    public Trainer l2(float lambda) {
        if (!(lambda >= 0) || !Float.isFinite(lambda)) {
            throw new IllegalArgumentException("l2 factor must be finite and at least 0, got " + lambda);
        }
        this.l2 = lambda;
        return this;
    }

    /**
     * Truncated backpropagation through time: the gradient flows back through at most
     * {@code steps} time steps (the sequence is cut into chunks of that many steps, processed in
     * order; the state still flows forward across chunks). 0 (the default) is full BPTT.
     */
    public Trainer truncateBptt(int steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("truncation must be at least 0 steps (0 = full BPTT), got " + steps);
        }
        this.truncate = steps;
        return this;
    }

    /**
     * Dropout on the inputs and on the recurrent state of LSTM or GRU layer {@code layer} (or of
     * both directions of a Bidirectional one), in training only, as Keras 3's {@code dropout} and
     * {@code recurrent_dropout}: masks drawn once per sequence and used at every time step, kept
     * values scaled by 1/(1 − rate). With a recurrent rate above 0 each gate block has its own
     * input mask and its own state mask (Keras' implementation 1); with input dropout alone the
     * gates share one input mask. {@link #evaluate} and inference never drop.
     */
    public Trainer dropout(int layer, float rate, float recurrentRate) {
        java.util.Objects.checkIndex(layer, specs.size());
        LayerSpec spec = specs.get(layer);
        if (!(spec instanceof RecurrentSpec || spec instanceof BidirectionalSpec)) {
            throw new IllegalArgumentException("dropout: layer " + layer + " is a " + spec.type()
                    + "; dropout and recurrent_dropout are supported on LSTM and GRU layers (and Bidirectional ones)"
                    + (spec instanceof DropoutSpec ? " (a Dropout layer drops at the rate of its spec)" : ""));
        }
        for (float r : new float[] {rate, recurrentRate}) {
            if (!(r >= 0 && r < 1)) {
                throw new IllegalArgumentException("dropout rates must be in [0, 1), got " + rate + " and " + recurrentRate);
            }
        }
        dropout[layer] = rate;
        recurrentDropout[layer] = recurrentRate;
        return this;
    }

    /**
     * Seeds the masks of every dropout, recurrent dropout and Dropout layer (default 0): the same
     * seed gives the same masks, batch after batch.
     */
    public Trainer dropoutSeed(long seed) {
        this.dropoutRandom = new java.util.Random(seed);
        return this;
    }

    /** A dropout mask of {@code n} values: 0 with probability {@code rate}, else 1/(1 − rate). */
    private float[] mask(int n, float rate) {
        if (rate == 0f) {
            return null;
        }
        float keep = 1f / (1f - rate);
        float[] m = new float[n];
        for (int i = 0; i < n; i++) {
            m[i] = dropoutRandom.nextFloat() < rate ? 0f : keep;
        }
        return m;
    }

    /**
     * Per-sequence masks of one recurrent direction, one per gate block: {@code x[g]} [B, I] for the
     * inputs gate block g's kernel sees, {@code h[g]} [B, H] for the state its recurrent kernel sees.
     * Either is null when that dropout is off. Input masks of different gates may be one array.
     */
    record Masks(float[][] x, float[][] h) {
    }

    /**
     * The masks of recurrent layer {@code layer} for one pass, as Keras 3 draws them: with
     * recurrent_dropout the cell runs its implementation 1, which has a mask per gate for the
     * inputs and a mask per gate for the state; input dropout alone (implementation 2) has one
     * input mask that every gate shares. Null when not training or both rates are 0.
     */
    private Masks masks(int layer, boolean training, int gates, int batch, int inputs, int units) {
        if (!training || (dropout[layer] == 0f && recurrentDropout[layer] == 0f)) {
            return null;
        }
        boolean perGate = recurrentDropout[layer] > 0f;
        float[][] x = null;
        if (dropout[layer] > 0f) {
            x = new float[gates][];
            for (int g = 0; g < gates; g++) {
                x[g] = perGate || g == 0 ? mask(batch * inputs, dropout[layer]) : x[0];
            }
        }
        float[][] h = null;
        if (perGate) {
            h = new float[gates][];
            for (int g = 0; g < gates; g++) {
                h[g] = mask(batch * units, recurrentDropout[layer]);
            }
        }
        return new Masks(x, h);
    }

    /** The masks the next training pass draws for recurrent layer {@code layer} (tests look at their form). */
    Masks nextMasks(int layer, int batch, int inputs) {
        LayerSpec spec = specs.get(layer);
        RecurrentSpec r = spec instanceof BidirectionalSpec b ? b.layer() : (RecurrentSpec) spec;
        return masks(layer, true, r.gates(), batch, inputs, r.units());
    }

    /** Number of layers. */
    public int layerCount() {
        return weights.size();
    }

    /** Names of the weights of layer {@code layer}, in Keras order. */
    public java.util.List<String> weightNames(int layer) {
        return java.util.List.copyOf(weights.get(layer).keySet());
    }

    /** Sets weight {@code name} of layer {@code layer} (a copy of {@code values}, same length). */
    public void setWeight(int layer, String name, float[] values) {
        Objects.requireNonNull(values, "values");
        float[] w = weights.get(layer).get(name);
        if (w == null) {
            throw new IllegalArgumentException("layer " + layer + " has no weight '" + name + "' (it has "
                    + weights.get(layer).keySet() + ")");
        }
        if (values.length != w.length) {
            throw new IllegalArgumentException("weight '" + name + "' of layer " + layer + " has " + w.length
                    + " values, got " + values.length);
        }
        System.arraycopy(values, 0, w, 0, w.length); // in place: the optimizer's state stays attached
    }

    /** The live weight array (tests perturb it for finite differences). */
    float[] weights(int layer, String name) {
        return weights.get(layer).get(name);
    }

    /** The loss at the current weights. */
    public float evaluate(Tensor x, Tensor y) {
        return pass(x, y, false).loss();
    }

    /** Loss and gradients of every weight at the current weights. */
    public Gradients gradients(Tensor x, Tensor y) {
        return pass(x, y, true);
    }

    /** One optimizer step on the batch; returns the loss before the update (what Keras' fit reports). */
    public float trainStep(Tensor x, Tensor y) {
        Gradients g = gradients(x, y);
        if (!Float.isFinite(g.loss())) {
            throw new IllegalStateException("loss is " + g.loss() + "; the weights were not updated");
        }
        List<float[]> ws = new ArrayList<>();
        List<float[]> gs = new ArrayList<>();
        for (int i = 0; i < weights.size(); i++) {
            for (var e : weights.get(i).entrySet()) {
                ws.add(e.getValue());
                gs.add(g.perLayer().get(i).get(e.getKey()));
            }
        }
        optimizer.step(ws.toArray(new float[0][]), gs.toArray(new float[0][]));
        return g.loss();
    }

    /** A model with the current weights. */
    public Sequential toModel(Backend backend) {
        Sequential.Builder b = Sequential.builder(inputFeatures);
        for (int i = 0; i < specs.size(); i++) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (var e : weights.get(i).entrySet()) {
                w.put(e.getKey(), Tensor.of(e.getValue(), shapes.get(i).get(e.getKey())));
            }
            b.add(specs.get(i), w);
        }
        if (backend != null) {
            b.backend(backend);
        }
        return b.build();
    }

    // ------------------------------------------------------------------ the pass

    /**
     * What a forward pass leaves: the last layer's output (rows of {@code features} values, [B, T,
     * F] when {@code sequence}, else [B, F]) and each layer's cache for the backward pass.
     */
    private record Forward(float[] output, boolean sequence, int features, int batch, int steps, Object[] caches) {
    }

    /**
     * The model's output for {@code x} [batch, time, features] as the trainer computes it: with
     * {@code training}, every dropout draws its masks (from the dropout seed's stream) as in a
     * training step; without, nothing drops. Tests look at the masks through it.
     */
    float[] output(Tensor x, boolean training) {
        return forward(x, training).output();
    }

    private Forward forward(Tensor x, boolean training) {
        Objects.requireNonNull(x, "x");
        long[] xs = x.shape();
        if (xs.length != 3 || xs[2] != inputFeatures || xs[0] <= 0 || xs[1] <= 0) {
            throw new IllegalArgumentException("x must have shape [batch, time, " + inputFeatures + "] with batch "
                    + "and time at least 1, got " + Arrays.toString(xs));
        }
        int batch = (int) xs[0];
        int steps = (int) xs[1];
        Object[] caches = new Object[specs.size()];
        float[] cur = x.toFloatArray();
        boolean sequence = true;
        int features = inputFeatures;
        for (int i = 0; i < specs.size(); i++) {
            LayerSpec spec = specs.get(i);
            if (spec instanceof RecurrentSpec r) {
                RecurrentCache c = recurrentForward(r, weights.get(i), "", cur, batch, steps, features,
                        masks(i, training, r.gates(), batch, features, r.units()));
                caches[i] = c;
                cur = c.output();
            } else if (spec instanceof BidirectionalSpec b) {
                BidiCache c = bidiForward(b, weights.get(i), cur, batch, steps, features,
                        masks(i, training, b.layer().gates(), batch, features, b.layer().units()),
                        masks(i, training, b.layer().gates(), batch, features, b.layer().units()));
                caches[i] = c;
                cur = c.output;
            } else if (spec instanceof DropoutSpec d) {
                // a new mask per sample, time step and element, as Keras' Dropout without noise_shape
                float[] m = training ? mask(cur.length, d.rate()) : null;
                caches[i] = new DropoutCache(m);
                cur = masked(cur, m);
            } else {
                DenseSpec d = (DenseSpec) spec;
                int rows = sequence ? batch * steps : batch;
                DenseCache c = denseForward(d, weights.get(i), cur, rows, features);
                caches[i] = c;
                cur = c.output;
            }
            sequence = spec.outputIsSequence(sequence);
            features = spec.outputFeatures(features);
        }
        return new Forward(cur, sequence, features, batch, steps, caches);
    }

    private Gradients pass(Tensor x, Tensor y, boolean backward) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(y, "y");
        Forward f = forward(x, backward);
        float[] cur = f.output();
        boolean sequence = f.sequence();
        int features = f.features();
        int batch = f.batch();
        int steps = f.steps();
        Object[] caches = f.caches();
        long[] ys = y.shape();
        int rows = cur.length / features;
        int perRow = loss.targetValuesPerRow(features);
        long expected = (long) rows * perRow;
        if (ys.length == 0 || ys[0] != batch || y.size() != expected) {
            throw new IllegalArgumentException("y must hold " + perRow + " value(s) per output row, shape ["
                    + (sequence ? batch + ", " + steps : batch) + ", " + perRow + "] for " + loss.name() + ", got "
                    + Arrays.toString(ys));
        }
        float[] dOut = new float[cur.length];
        double value = loss.compute(cur, y.toFloatArray(), rows, features, dOut);
        if (l2 > 0) {
            for (var layer : weights) {
                for (var e : layer.entrySet()) {
                    if (e.getKey().endsWith("kernel")) {
                        double sum = 0;
                        for (float v : e.getValue()) {
                            sum += (double) v * v;
                        }
                        value += l2 * sum;
                    }
                }
            }
        }
        if (!backward) {
            return new Gradients((float) value, List.of());
        }
        List<SequencedMap<String, float[]>> grads = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            grads.add(null);
        }
        float[] d = dOut;
        for (int i = specs.size() - 1; i >= 0; i--) {
            SequencedMap<String, float[]> g = new LinkedHashMap<>();
            if (caches[i] instanceof RecurrentCache c) {
                d = recurrentBackward((RecurrentSpec) specs.get(i), weights.get(i), "", c, d, g, truncate);
            } else if (caches[i] instanceof BidiCache c) {
                d = bidiBackward((BidirectionalSpec) specs.get(i), weights.get(i), c, d, g, truncate);
            } else if (caches[i] instanceof DropoutCache c) {
                d = masked(d, c.mask()); // the same mask on the way back
            } else {
                d = denseBackward((DenseSpec) specs.get(i), weights.get(i), (DenseCache) caches[i], d, g);
            }
            if (l2 > 0) {
                for (var e : g.entrySet()) {
                    if (e.getKey().endsWith("kernel")) {
                        float[] w = weights.get(i).get(e.getKey());
                        float[] gw = e.getValue();
                        for (int j = 0; j < gw.length; j++) {
                            gw[j] += 2 * l2 * w[j];
                        }
                    }
                }
            }
            grads.set(i, g);
        }
        return new Gradients((float) value, grads);
    }

    // ------------------------------------------------------------------ products

    private static final io.jlstm.simd.Kernels KERNELS = io.jlstm.simd.KernelProvider.get();

    /** Products smaller than this many multiply-adds run on one thread (a hand-off costs a few µs). */
    private static final long MIN_SPLIT_MACS = 1L << 20;
    /** Columns of one side of a column split are a multiple of this (the GEMM's 3-vector panels at 512 bits). */
    private static final int SPLIT_COLUMNS = 48;

    /**
     * Row-major {@code C = op(A)·op(B) + beta·C} over heap arrays, through the Vector API kernels.
     * With {@code jlstm.threads=2} a large product is split across the step helper thread, by
     * columns of C (or by rows when C is narrow): the kernels compute every element of C the same
     * way (one fused multiply-add chain over k, then alpha and beta) whatever tile it falls in, so
     * the result is bit-identical to one thread's.
     */
    private static void gemm(boolean transA, boolean transB, int m, int n, int k, float[] a, long aOff, int lda,
                             float[] b, long bOff, int ldb, float beta, float[] c, long cOff, int ldc) {
        StepPool pool = (long) m * n * k >= MIN_SPLIT_MACS ? StepPool.get() : null;
        int nMid = n / 2 / SPLIT_COLUMNS * SPLIT_COLUMNS;
        int mMid = m / 2;
        if (pool == null || (nMid == 0 && mMid < 4)) {
            gemmPart(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (nMid > 0) {
            pool.halves(part -> {
                int from = part == 0 ? 0 : nMid;
                int cols = part == 0 ? nMid : n - nMid;
                gemmPart(transA, transB, m, cols, k, a, aOff, lda, b, bOff + (transB ? (long) from * ldb : from), ldb,
                        beta, c, cOff + from, ldc);
            });
        } else {
            pool.halves(part -> {
                int from = part == 0 ? 0 : mMid;
                int rows = part == 0 ? mMid : m - mMid;
                gemmPart(transA, transB, rows, n, k, a, aOff + (transA ? from : (long) from * lda), lda, b, bOff, ldb,
                        beta, c, cOff + (long) from * ldc, ldc);
            });
        }
    }

    /**
     * One thread's product. The operands are copied into this thread's native staging buffers
     * first: the Vector API kernels run 2.5-3x faster on native segments than on heap arrays
     * (measured 106 against 39 GFLOP/s at 128x512x128), and a kernel that has seen both kinds
     * in one JVM slows down on both (29 and 13). The copies are O(mk + kn + mn) against O(mnk).
     */
    private static void gemmPart(boolean transA, boolean transB, int m, int n, int k, float[] a, long aOff, int lda,
                                 float[] b, long bOff, int ldb, float beta, float[] c, long cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        long aCount = extent(transA ? k : m, transA ? m : k, lda);
        long bCount = extent(transB ? n : k, transB ? k : n, ldb);
        long cCount = extent(m, n, ldc);
        Staging st = STAGING.get();
        java.lang.foreign.MemorySegment sa = st.a(aCount);
        java.lang.foreign.MemorySegment sb = st.b(bCount);
        java.lang.foreign.MemorySegment sc = st.c(cCount);
        java.lang.foreign.MemorySegment.copy(a, Math.toIntExact(aOff), sa, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0,
                Math.toIntExact(aCount));
        java.lang.foreign.MemorySegment.copy(b, Math.toIntExact(bOff), sb, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0,
                Math.toIntExact(bCount));
        // C row by row, its n columns only: between them (ldc > n) lie columns another thread may
        // be writing at the same time (the other half of a column split)
        int base = Math.toIntExact(cOff);
        for (int i = 0; i < m; i++) {
            java.lang.foreign.MemorySegment.copy(c, base + i * ldc, sc, java.lang.foreign.ValueLayout.JAVA_FLOAT,
                    (long) i * ldc * Float.BYTES, n);
        }
        KERNELS.sgemm(transA, transB, m, n, k, 1f, sa, 0, lda, sb, 0, ldb, beta, sc, 0, ldc);
        for (int i = 0; i < m; i++) {
            java.lang.foreign.MemorySegment.copy(sc, java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) i * ldc * Float.BYTES,
                    c, base + i * ldc, n);
        }
    }

    /** Floats a row-major {@code rows x cols} matrix with leading dimension {@code ld} spans. */
    private static long extent(int rows, int cols, int ld) {
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    private static final ThreadLocal<Staging> STAGING = ThreadLocal.withInitial(Staging::new);

    /**
     * One thread's native copies of a product's operands: three buffers that grow to the largest
     * operand seen and are reused. Their automatic arena frees them once the thread (and so the
     * ThreadLocal) is gone.
     */
    private static final class Staging {
        private java.lang.foreign.MemorySegment a = java.lang.foreign.MemorySegment.NULL;
        private java.lang.foreign.MemorySegment b = java.lang.foreign.MemorySegment.NULL;
        private java.lang.foreign.MemorySegment c = java.lang.foreign.MemorySegment.NULL;

        java.lang.foreign.MemorySegment a(long floats) {
            a = grow(a, floats);
            return a;
        }

        java.lang.foreign.MemorySegment b(long floats) {
            b = grow(b, floats);
            return b;
        }

        java.lang.foreign.MemorySegment c(long floats) {
            c = grow(c, floats);
            return c;
        }

        private static java.lang.foreign.MemorySegment grow(java.lang.foreign.MemorySegment seg, long floats) {
            long bytes = Math.max(1, floats) * Float.BYTES;
            if (seg.byteSize() >= bytes) {
                return seg;
            }
            return java.lang.foreign.Arena.ofAuto().allocate(Math.max(bytes, 2 * seg.byteSize()), 64);
        }
    }

    // ------------------------------------------------------------------ activations

    /** The derivative, written in terms of the activation's output {@code y}. */
    private static float derivative(Activation a, float y) {
        return switch (a) {
            case LINEAR -> 1f;
            case RELU -> y > 0 ? 1f : 0f;
            case SIGMOID -> y * (1 - y);
            case HARD_SIGMOID -> y > 0 && y < 1 ? 1f / 6f : 0f;
            case TANH -> 1 - y * y;
        };
    }

    // ------------------------------------------------------------------ LSTM

    /** What a recurrent layer's forward pass keeps for its backward pass; output in processing order. */
    private sealed interface RecurrentCache permits LstmCache, GruCache {
        float[] output();
    }

    private static RecurrentCache recurrentForward(RecurrentSpec spec, Map<String, float[]> w, String prefix, float[] x,
                                                   int batch, int steps, int inputs, Masks masks) {
        return spec instanceof LstmSpec l ? lstmForward(l, w, prefix, x, batch, steps, inputs, masks)
                : gruForward((GruSpec) spec, w, prefix, x, batch, steps, inputs, masks);
    }

    private static float[] recurrentBackward(RecurrentSpec spec, Map<String, float[]> w, String prefix,
                                             RecurrentCache c, float[] dOut, SequencedMap<String, float[]> g,
                                             int truncate) {
        return c instanceof LstmCache lc ? lstmBackward((LstmSpec) spec, w, prefix, lc, dOut, g, truncate)
                : gruBackward((GruSpec) spec, w, prefix, (GruCache) c, dOut, g, truncate);
    }

    /** Whether truncated BPTT cuts the gradient between processing steps {@code s} and {@code s + 1}. */
    private static boolean cut(int truncate, int s, int steps) {
        return truncate > 0 && s < steps - 1 && (s + 1) % truncate == 0;
    }

    /**
     * {@code xs[g]}: the layer input [B, T, I] that gate block g's kernel sees (after its input
     * dropout mask; one array for every gate when they share it); {@code masks} null without dropout.
     */
    private record LstmCache(int batch, int steps, int inputs, int units, float[][] xs, float[][] gates, float[][] c,
                             float[][] h, float[][] actC, float[] output, Masks masks) implements RecurrentCache {
    }

    /**
     * A recurrent layer's output from its states {@code h[1..steps]} (each [B, H]): the whole
     * sequence [B, T, H] in processing order, or the last state [B, H].
     */
    private static float[] layerOutput(boolean sequence, float[][] h, int batch, int steps, int hN) {
        if (!sequence) {
            return h[steps].clone();
        }
        float[] out = new float[batch * steps * hN];
        for (int s = 0; s < steps; s++) {
            for (int b = 0; b < batch; b++) {
                System.arraycopy(h[s + 1], b * hN, out, (b * steps + s) * hN, hN);
            }
        }
        return out;
    }

    /** {@code h ⊙ mask} element by element (a new array), or {@code h} itself without a mask. */
    private static float[] masked(float[] h, float[] mask) {
        if (mask == null) {
            return h;
        }
        float[] m = new float[h.length];
        for (int i = 0; i < h.length; i++) {
            m[i] = h[i] * mask[i];
        }
        return m;
    }

    /**
     * Per gate, the input [B, T, I] its kernel block sees: {@code x} times that gate's mask, the
     * same mask at every time step. Gates that share a mask share the array; without masks every
     * entry is {@code x}.
     */
    private static float[][] gateInputs(float[] x, float[][] mx, int gates, int batch, int steps, int inputs) {
        float[][] xs = new float[gates][];
        for (int g = 0; g < gates; g++) {
            if (mx == null) {
                xs[g] = x;
            } else if (g > 0 && mx[g] == mx[g - 1]) {
                xs[g] = xs[g - 1];
            } else {
                float[] xm = new float[x.length];
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < steps; t++) {
                        int o = (b * steps + t) * inputs;
                        for (int p = 0; p < inputs; p++) {
                            xm[o + p] = x[o + p] * mx[g][b * inputs + p];
                        }
                    }
                }
                xs[g] = xm;
            }
        }
        return xs;
    }

    /** Whether every gate sees the same array. */
    private static boolean shared(float[][] perGate) {
        for (float[] a : perGate) {
            if (a != perGate[0]) {
                return false;
            }
        }
        return true;
    }

    private static LstmCache lstmForward(LstmSpec spec, Map<String, float[]> w, String prefix, float[] x, int batch,
                                         int steps, int inputs, Masks masks) {
        float[][] mh = masks == null ? null : masks.h();
        float[][] xs = gateInputs(x, masks == null ? null : masks.x(), 4, batch, steps, inputs);
        int hN = spec.units();
        int g4 = 4 * hN;
        float[] k = w.get(prefix + "kernel");
        float[] u = w.get(prefix + "recurrent_kernel");
        float[] bias = w.get(prefix + "bias");
        float[][] gates = new float[steps][batch * g4];
        float[][] c = new float[steps + 1][batch * hN];
        float[][] h = new float[steps + 1][batch * hN];
        float[][] actC = new float[steps][batch * hN];
        // x·K + b for every (b, t) at once: rows b·T + t, as the inference path does
        float[] xp = new float[batch * steps * g4];
        if (bias != null) {
            for (int r = 0; r < batch * steps; r++) {
                System.arraycopy(bias, 0, xp, r * g4, g4);
            }
        }
        float beta = bias != null ? 1f : 0f;
        if (shared(xs)) {
            gemm(false, false, batch * steps, g4, inputs, xs[0], 0, inputs, k, 0, g4, beta, xp, 0, g4);
        } else {
            for (int g = 0; g < 4; g++) {
                gemm(false, false, batch * steps, hN, inputs, xs[g], 0, inputs, k, g * hN, g4, beta, xp, g * hN, g4);
            }
        }
        for (int s = 0; s < steps; s++) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            float[] z = gates[s]; // pre-activations first, activated in place below
            for (int b = 0; b < batch; b++) {
                System.arraycopy(xp, (b * steps + t) * g4, z, b * g4, g4);
            }
            if (s > 0 && mh == null) {
                gemm(false, false, batch, g4, hN, h[s], 0, hN, u, 0, g4, 1f, z, 0, g4);
            } else if (s > 0) {
                for (int g = 0; g < 4; g++) {
                    gemm(false, false, batch, hN, hN, masked(h[s], mh[g]), 0, hN, u, g * hN, g4, 1f, z, g * hN, g4);
                }
            }
            lstmCells(spec, z, c[s], c[s + 1], h[s + 1], actC[s], batch, hN);
        }
        float[] out = layerOutput(spec.returnSequences(), h, batch, steps, hN);
        return new LstmCache(batch, steps, inputs, hN, xs, gates, c, h, actC, out, masks);
    }

    /**
     * One step's LSTM cells for the whole batch: {@code z} holds the pre-activations [i|f|g|o] and
     * receives the activated gates, computed by the vector kernels' {@code activate} on a native
     * copy (the function inference computes, element for element); then {@code cNew}, {@code actC
     * = act(cNew)} and {@code hNew} per unit.
     */
    private static void lstmCells(LstmSpec spec, float[] z, float[] cPrev, float[] cNew, float[] hNew, float[] actC,
                                  int batch, int hN) {
        int g4 = 4 * hN;
        Activation act = spec.activation();
        Activation rec = spec.recurrentActivation();
        java.lang.foreign.MemorySegment gates = STAGING.get().a((long) batch * g4);
        java.lang.foreign.ValueLayout.OfFloat f = java.lang.foreign.ValueLayout.JAVA_FLOAT;
        java.lang.foreign.MemorySegment.copy(z, 0, gates, f, 0, batch * g4);
        for (int b = 0; b < batch; b++) {
            long gi = (long) b * g4;
            if (act == rec) {
                KERNELS.activate(rec, gates, gi, g4);
            } else {
                KERNELS.activate(rec, gates, gi, 2 * hN);
                KERNELS.activate(act, gates, gi + 2L * hN, hN);
                KERNELS.activate(rec, gates, gi + 3L * hN, hN);
            }
        }
        java.lang.foreign.MemorySegment.copy(gates, f, 0, z, 0, batch * g4);
        for (int b = 0; b < batch; b++) {
            int gi = b * g4;
            for (int j = 0; j < hN; j++) {
                int bj = b * hN + j;
                float cn = z[gi + hN + j] * cPrev[bj] + z[gi + j] * z[gi + 2 * hN + j];
                cNew[bj] = cn;
                float ac = act.apply(cn);
                actC[bj] = ac;
                hNew[bj] = z[gi + 3 * hN + j] * ac;
            }
        }
    }

    /** Fills {@code g} with the weight gradients and returns the gradient of the layer input. */
    private static float[] lstmBackward(LstmSpec spec, Map<String, float[]> w, String prefix, LstmCache c,
                                        float[] dOut, SequencedMap<String, float[]> g, int truncate) {
        int hN = c.units;
        int g4 = 4 * hN;
        int batch = c.batch;
        int steps = c.steps;
        int inputs = c.inputs;
        float[] k = w.get(prefix + "kernel");
        float[] u = w.get(prefix + "recurrent_kernel");
        float[] dK = new float[k.length];
        float[] dU = new float[u.length];
        float[] dB = new float[4 * hN];
        float[] dX = new float[batch * steps * inputs];
        float[] dhNext = new float[batch * hN];
        float[] dcNext = new float[batch * hN];
        float[] dz = new float[batch * g4];
        float[] dxGate = new float[batch * inputs];
        float[] dhGate = new float[batch * hN];
        for (int s = steps - 1; s >= 0; s--) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            if (cut(truncate, s, steps)) {
                java.util.Arrays.fill(dhNext, 0f);
                java.util.Arrays.fill(dcNext, 0f);
            }
            for (int b = 0; b < batch; b++) {
                int gi = b * g4;
                for (int j = 0; j < hN; j++) {
                    int bj = b * hN + j;
                    float dh = dhNext[bj];
                    if (spec.returnSequences()) {
                        dh += dOut[(b * steps + s) * hN + j];
                    } else if (s == steps - 1) {
                        dh += dOut[bj];
                    }
                    float ig = c.gates[s][gi + j];
                    float fg = c.gates[s][gi + hN + j];
                    float gg = c.gates[s][gi + 2 * hN + j];
                    float og = c.gates[s][gi + 3 * hN + j];
                    float ac = c.actC[s][bj];
                    float dc = dcNext[bj] + dh * og * derivative(spec.activation(), ac);
                    dz[gi + j] = dc * gg * derivative(spec.recurrentActivation(), ig);
                    dz[gi + hN + j] = dc * c.c[s][bj] * derivative(spec.recurrentActivation(), fg);
                    dz[gi + 2 * hN + j] = dc * ig * derivative(spec.activation(), gg);
                    dz[gi + 3 * hN + j] = dh * ac * derivative(spec.recurrentActivation(), og);
                    dcNext[bj] = dc * fg;
                }
                for (int j = 0; j < g4; j++) {
                    dB[j] += dz[gi + j];
                }
            }
            // dK += x_tᵀ·dz, dU += h_{s-1}ᵀ·dz, dx_t = dz·Kᵀ, dh_{s-1} = dz·Uᵀ; with dropout each
            // gate block g sees x_t⊙mx[gate] and h⊙mh[gate], so its products take the mask on the way back
            float[][] mx = c.masks == null ? null : c.masks.x();
            float[][] mh = c.masks == null ? null : c.masks.h();
            if (shared(c.xs)) {
                gemm(true, false, inputs, g4, batch, c.xs[0], (long) t * inputs, steps * inputs, dz, 0, g4, 1f, dK, 0, g4);
                gemm(false, true, batch, inputs, g4, dz, 0, g4, k, 0, g4, 0f, dX, (long) t * inputs, steps * inputs);
                if (mx != null) {
                    for (int b = 0; b < batch; b++) {
                        int o = (b * steps + t) * inputs;
                        for (int p = 0; p < inputs; p++) {
                            dX[o + p] *= mx[0][b * inputs + p];
                        }
                    }
                }
            } else {
                for (int gate = 0; gate < 4; gate++) {
                    gemm(true, false, inputs, hN, batch, c.xs[gate], (long) t * inputs, steps * inputs, dz, gate * hN, g4, 1f,
                            dK, gate * hN, g4);
                    gemm(false, true, batch, inputs, hN, dz, gate * hN, g4, k, gate * hN, g4, 0f, dxGate, 0, inputs);
                    for (int b = 0; b < batch; b++) {
                        int o = (b * steps + t) * inputs;
                        for (int p = 0; p < inputs; p++) {
                            dX[o + p] += dxGate[b * inputs + p] * mx[gate][b * inputs + p];
                        }
                    }
                }
            }
            if (mh == null) {
                gemm(true, false, hN, g4, batch, c.h[s], 0, hN, dz, 0, g4, 1f, dU, 0, g4);
                gemm(false, true, batch, hN, g4, dz, 0, g4, u, 0, g4, 0f, dhNext, 0, hN);
            } else {
                java.util.Arrays.fill(dhNext, 0f);
                for (int gate = 0; gate < 4; gate++) {
                    gemm(true, false, hN, hN, batch, masked(c.h[s], mh[gate]), 0, hN, dz, gate * hN, g4, 1f, dU, gate * hN, g4);
                    gemm(false, true, batch, hN, hN, dz, gate * hN, g4, u, gate * hN, g4, 0f, dhGate, 0, hN);
                    for (int i = 0; i < dhNext.length; i++) {
                        dhNext[i] += dhGate[i] * mh[gate][i];
                    }
                }
            }
        }
        g.put(prefix + "kernel", dK);
        g.put(prefix + "recurrent_kernel", dU);
        if (w.containsKey(prefix + "bias")) {
            g.put(prefix + "bias", dB);
        }
        return dX;
    }

    // ------------------------------------------------------------------ GRU

    /**
     * Per step: z, r, candidate hh, the recurrent projection of the candidate block (reset_after) or
     * r⊙h (reset_before, h after its dropout mask). {@code x} is the layer input before dropout;
     * {@code masks} null without dropout.
     */
    private record GruCache(int batch, int steps, int inputs, int units, float[] x, float[][] z, float[][] r,
                            float[][] hh, float[][] aux, float[][] h, float[] output, Masks masks)
            implements RecurrentCache {
    }

    /**
     * With dropout, gate block g (z, r, h) projects {@code x⊙mx[g]} and {@code h⊙mh[g]}, as Keras'
     * GRUCell; the update {@code z·h + (1−z)·hh} uses h itself.
     */
    private static GruCache gruForward(GruSpec spec, Map<String, float[]> w, String prefix, float[] x, int batch,
                                       int steps, int inputs, Masks masks) {
        float[][] mx = masks == null ? null : masks.x();
        float[][] mh = masks == null ? null : masks.h();
        int hN = spec.units();
        int g3 = 3 * hN;
        float[] k = w.get(prefix + "kernel");
        float[] u = w.get(prefix + "recurrent_kernel");
        float[] bias = w.get(prefix + "bias"); // [3H], or [2, 3H] with reset_after: input row, recurrent row
        boolean after = spec.resetAfter();
        float[][] z = new float[steps][batch * hN];
        float[][] r = new float[steps][batch * hN];
        float[][] hh = new float[steps][batch * hN];
        float[][] aux = new float[steps][batch * hN];
        float[][] h = new float[steps + 1][batch * hN];
        float[] xz = new float[g3];
        float[] hp = new float[g3];
        for (int s = 0; s < steps; s++) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            for (int b = 0; b < batch; b++) {
                int xo = (b * steps + t) * inputs;
                for (int j = 0; j < g3; j++) {
                    xz[j] = bias == null ? 0f : bias[j];
                    hp[j] = bias != null && after ? bias[g3 + j] : 0f;
                }
                for (int p = 0; p < inputs; p++) {
                    float xv = x[xo + p];
                    for (int gate = 0; gate < 3; gate++) {
                        float xm = mx == null ? xv : xv * mx[gate][b * inputs + p];
                        for (int j = gate * hN; j < (gate + 1) * hN; j++) {
                            xz[j] += xm * k[p * g3 + j];
                        }
                    }
                }
                float[] hPrev = h[s];
                // [z | r] always from h; the candidate block from h (reset_after) or r⊙h (reset_before)
                int blocks = after ? 3 : 2;
                for (int p = 0; p < hN; p++) {
                    float hv = hPrev[b * hN + p];
                    for (int gate = 0; gate < blocks; gate++) {
                        float hm = mh == null ? hv : hv * mh[gate][b * hN + p];
                        for (int j = gate * hN; j < (gate + 1) * hN; j++) {
                            hp[j] += hm * u[p * g3 + j];
                        }
                    }
                }
                for (int j = 0; j < hN; j++) {
                    z[s][b * hN + j] = spec.recurrentActivation().apply(xz[j] + hp[j]);
                    r[s][b * hN + j] = spec.recurrentActivation().apply(xz[hN + j] + hp[hN + j]);
                }
                if (!after) {
                    for (int j = 0; j < hN; j++) {
                        int bj = b * hN + j;
                        aux[s][bj] = r[s][bj] * (mh == null ? hPrev[bj] : hPrev[bj] * mh[2][bj]); // r⊙h
                    }
                    for (int p = 0; p < hN; p++) {
                        float rh = aux[s][b * hN + p];
                        for (int j = 0; j < hN; j++) {
                            hp[2 * hN + j] += rh * u[p * g3 + 2 * hN + j];
                        }
                    }
                }
                for (int j = 0; j < hN; j++) {
                    int bj = b * hN + j;
                    float pre = after ? xz[2 * hN + j] + r[s][bj] * hp[2 * hN + j] : xz[2 * hN + j] + hp[2 * hN + j];
                    if (after) {
                        aux[s][bj] = hp[2 * hN + j]; // the recurrent projection the reset multiplies
                    }
                    hh[s][bj] = spec.activation().apply(pre);
                    h[s + 1][bj] = z[s][bj] * hPrev[bj] + (1 - z[s][bj]) * hh[s][bj];
                }
            }
        }
        float[] out = layerOutput(spec.returnSequences(), h, batch, steps, hN);
        return new GruCache(batch, steps, inputs, hN, x, z, r, hh, aux, h, out, masks);
    }

    private static float[] gruBackward(GruSpec spec, Map<String, float[]> w, String prefix, GruCache c, float[] dOut,
                                       SequencedMap<String, float[]> g, int truncate) {
        int hN = c.units;
        int g3 = 3 * hN;
        int batch = c.batch;
        int steps = c.steps;
        int inputs = c.inputs;
        boolean after = spec.resetAfter();
        float[][] mx = c.masks == null ? null : c.masks.x();
        float[][] mh = c.masks == null ? null : c.masks.h();
        float[] k = w.get(prefix + "kernel");
        float[] u = w.get(prefix + "recurrent_kernel");
        float[] bias = w.get(prefix + "bias");
        float[] dK = new float[k.length];
        float[] dU = new float[u.length];
        float[] dB = bias == null ? null : new float[bias.length];
        float[] dX = new float[batch * steps * inputs];
        float[] dhNext = new float[batch * hN];
        float[] dxz = new float[g3];  // gradient of the input projection (plus input bias)
        float[] dhp = new float[g3];  // gradient of the recurrent projection (plus recurrent bias)
        for (int s = steps - 1; s >= 0; s--) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            if (cut(truncate, s, steps)) {
                java.util.Arrays.fill(dhNext, 0f);
            }
            float[] hPrev = c.h[s];
            for (int b = 0; b < batch; b++) {
                float[] dhPrev = new float[hN];
                for (int j = 0; j < hN; j++) {
                    int bj = b * hN + j;
                    float dh = dhNext[bj];
                    if (spec.returnSequences()) {
                        dh += dOut[(b * steps + s) * hN + j];
                    } else if (s == steps - 1) {
                        dh += dOut[bj];
                    }
                    float zj = c.z[s][bj];
                    float hhj = c.hh[s][bj];
                    float dzPre = dh * (hPrev[bj] - hhj) * derivative(spec.recurrentActivation(), zj);
                    float dhhPre = dh * (1 - zj) * derivative(spec.activation(), hhj);
                    dhPrev[j] += dh * zj;
                    dxz[j] = dzPre;
                    dhp[j] = dzPre;
                    dxz[2 * hN + j] = dhhPre;
                    if (after) {
                        float rj = c.r[s][bj];
                        dhp[2 * hN + j] = dhhPre * rj;
                        float drPre = dhhPre * c.aux[s][bj] * derivative(spec.recurrentActivation(), rj);
                        dxz[hN + j] = drPre;
                        dhp[hN + j] = drPre;
                    }
                }
                if (!after) {
                    // candidate: pre = xz_h + (r⊙h)·U_h; gradient to r⊙h, then to r and h
                    for (int p = 0; p < hN; p++) {
                        float acc = 0f;
                        float rh = c.aux[s][b * hN + p];
                        for (int j = 0; j < hN; j++) {
                            acc += dxz[2 * hN + j] * u[p * g3 + 2 * hN + j];
                            dU[p * g3 + 2 * hN + j] += rh * dxz[2 * hN + j];
                        }
                        int bp = b * hN + p;
                        float rp = c.r[s][bp];
                        float hm = mh == null ? hPrev[bp] : hPrev[bp] * mh[2][bp]; // what r multiplied
                        dhPrev[p] += mh == null ? acc * rp : acc * rp * mh[2][bp];
                        float drPre = acc * hm * derivative(spec.recurrentActivation(), rp);
                        dxz[hN + p] = drPre;
                        dhp[hN + p] = drPre;
                    }
                }
                int xo = (b * steps + t) * inputs;
                for (int p = 0; p < inputs; p++) {
                    float xv = c.x[xo + p];
                    float acc = 0f;
                    if (mx == null) {
                        for (int j = 0; j < g3; j++) {
                            dK[p * g3 + j] += xv * dxz[j];
                            acc += dxz[j] * k[p * g3 + j];
                        }
                    } else { // gate block g saw x⊙mx[g]
                        for (int gate = 0; gate < 3; gate++) {
                            float m = mx[gate][b * inputs + p];
                            float xm = xv * m;
                            float accGate = 0f;
                            for (int j = gate * hN; j < (gate + 1) * hN; j++) {
                                dK[p * g3 + j] += xm * dxz[j];
                                accGate += dxz[j] * k[p * g3 + j];
                            }
                            acc += accGate * m;
                        }
                    }
                    dX[xo + p] += acc;
                }
                int blocks = after ? 3 : 2; // the gate blocks of U that multiply h itself
                for (int p = 0; p < hN; p++) {
                    float hv = hPrev[b * hN + p];
                    float acc = 0f;
                    if (mh == null) {
                        for (int j = 0; j < blocks * hN; j++) {
                            dU[p * g3 + j] += hv * dhp[j];
                            acc += dhp[j] * u[p * g3 + j];
                        }
                    } else { // gate block g saw h⊙mh[g]
                        for (int gate = 0; gate < blocks; gate++) {
                            float m = mh[gate][b * hN + p];
                            float hm = hv * m;
                            float accGate = 0f;
                            for (int j = gate * hN; j < (gate + 1) * hN; j++) {
                                dU[p * g3 + j] += hm * dhp[j];
                                accGate += dhp[j] * u[p * g3 + j];
                            }
                            acc += accGate * m;
                        }
                    }
                    dhNext[b * hN + p] = dhPrev[p] + acc;
                }
                if (dB != null) {
                    for (int j = 0; j < g3; j++) {
                        dB[j] += dxz[j];
                        if (after) {
                            dB[g3 + j] += dhp[j];
                        }
                    }
                }
            }
        }
        g.put(prefix + "kernel", dK);
        g.put(prefix + "recurrent_kernel", dU);
        if (dB != null) {
            g.put(prefix + "bias", dB);
        }
        return dX;
    }

    // ------------------------------------------------------------------ Bidirectional

    private record BidiCache(int batch, int steps, int units, boolean sequence, RecurrentCache forward,
                             RecurrentCache backward, float[] output) {
    }

    private static BidiCache bidiForward(BidirectionalSpec spec, Map<String, float[]> w, float[] x, int batch,
                                         int steps, int inputs, Masks forwardMasks, Masks backwardMasks) {
        RecurrentCache f = recurrentForward(spec.forward(), w, "forward_", x, batch, steps, inputs, forwardMasks);
        RecurrentCache bw = recurrentForward(spec.backward(), w, "backward_", x, batch, steps, inputs, backwardMasks);
        int h = spec.layer().units();
        boolean seq = spec.layer().returnSequences();
        int rows = seq ? steps : 1;
        int width = spec.outputFeatures(inputs);
        float[] out = new float[batch * rows * width];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < rows; t++) {
                int fo = (b * rows + t) * h;
                int bo = (b * rows + (rows - 1 - t)) * h; // the backward sequence flipped back to input time
                int oo = (b * rows + t) * width;
                for (int j = 0; j < h; j++) {
                    float fv = f.output()[fo + j];
                    float bv = bw.output()[bo + j];
                    switch (spec.mergeMode()) {
                        case CONCAT -> {
                            out[oo + j] = fv;
                            out[oo + h + j] = bv;
                        }
                        case SUM -> out[oo + j] = fv + bv;
                        case AVE -> out[oo + j] = (fv + bv) * 0.5f;
                        case MUL -> out[oo + j] = fv * bv;
                    }
                }
            }
        }
        return new BidiCache(batch, steps, h, seq, f, bw, out);
    }

    private static float[] bidiBackward(BidirectionalSpec spec, Map<String, float[]> w, BidiCache c, float[] dOut,
                                        SequencedMap<String, float[]> g, int truncate) {
        int h = c.units;
        int rows = c.sequence ? c.steps : 1;
        int width = spec.mergeMode() == MergeMode.CONCAT ? 2 * h : h;
        float[] dF = new float[c.forward.output().length];
        float[] dBw = new float[c.backward.output().length];
        for (int b = 0; b < c.batch; b++) {
            for (int t = 0; t < rows; t++) {
                int fo = (b * rows + t) * h;
                int bo = (b * rows + (rows - 1 - t)) * h;
                int oo = (b * rows + t) * width;
                for (int j = 0; j < h; j++) {
                    switch (spec.mergeMode()) {
                        case CONCAT -> {
                            dF[fo + j] = dOut[oo + j];
                            dBw[bo + j] = dOut[oo + h + j];
                        }
                        case SUM -> {
                            dF[fo + j] = dOut[oo + j];
                            dBw[bo + j] = dOut[oo + j];
                        }
                        case AVE -> {
                            dF[fo + j] = dOut[oo + j] * 0.5f;
                            dBw[bo + j] = dOut[oo + j] * 0.5f;
                        }
                        case MUL -> {
                            dF[fo + j] = dOut[oo + j] * c.backward.output()[bo + j];
                            dBw[bo + j] = dOut[oo + j] * c.forward.output()[fo + j];
                        }
                    }
                }
            }
        }
        float[] dxF = recurrentBackward(spec.forward(), w, "forward_", c.forward, dF, g, truncate);
        float[] dxB = recurrentBackward(spec.backward(), w, "backward_", c.backward, dBw, g, truncate);
        for (int i = 0; i < dxF.length; i++) {
            dxF[i] += dxB[i];
        }
        return dxF;
    }

    // ------------------------------------------------------------------ Dropout

    /** The mask a Dropout layer applied in this pass (as its input, flat), or null outside training. */
    private record DropoutCache(float[] mask) {
    }

    // ------------------------------------------------------------------ Dense

    private record DenseCache(int rows, int inputs, float[] x, float[] output) {
    }

    private static DenseCache denseForward(DenseSpec spec, Map<String, float[]> w, float[] x, int rows, int inputs) {
        int n = spec.units();
        float[] k = w.get("kernel");
        float[] bias = w.get("bias");
        float[] out = new float[rows * n];
        Activation a = spec.activation().elementwise();
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(bias, 0, out, r * n, n);
            }
        }
        gemm(false, false, rows, n, inputs, x, 0, inputs, k, 0, n, bias != null ? 1f : 0f, out, 0, n);
        for (int r = 0; r < rows; r++) {
            if (a != null) {
                for (int j = 0; j < n; j++) {
                    out[r * n + j] = a.apply(out[r * n + j]);
                }
            }
            if (a == null) { // softmax over the row, max-subtracted
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    max = Math.max(max, out[r * n + j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    sum += Math.exp(out[r * n + j] - max);
                }
                for (int j = 0; j < n; j++) {
                    out[r * n + j] = (float) (Math.exp(out[r * n + j] - max) / sum);
                }
            }
        }
        return new DenseCache(rows, inputs, x, out);
    }

    private static float[] denseBackward(DenseSpec spec, Map<String, float[]> w, DenseCache c, float[] dOut,
                                         SequencedMap<String, float[]> g) {
        int n = spec.units();
        float[] k = w.get("kernel");
        float[] dK = new float[k.length];
        float[] dB = new float[n];
        float[] dX = new float[c.rows * c.inputs];
        float[] dZ = new float[c.rows * n];
        Activation a = spec.activation().elementwise();
        for (int r = 0; r < c.rows; r++) {
            float dot = 0f; // softmax: dz_j = y_j (dy_j − Σ dy·y)
            if (a == null) {
                for (int j = 0; j < n; j++) {
                    dot += dOut[r * n + j] * c.output[r * n + j];
                }
            }
            for (int j = 0; j < n; j++) {
                float y = c.output[r * n + j];
                float dz = a == null ? y * (dOut[r * n + j] - dot) : dOut[r * n + j] * derivative(a, y);
                dB[j] += dz;
                dZ[r * n + j] = dz;
            }
        }
        gemm(true, false, c.inputs, n, c.rows, c.x, 0, c.inputs, dZ, 0, n, 0f, dK, 0, n);
        gemm(false, true, c.rows, c.inputs, n, dZ, 0, n, k, 0, n, 0f, dX, 0, c.inputs);
        g.put("kernel", dK);
        if (w.containsKey("bias")) {
            g.put("bias", dB);
        }
        return dX;
    }
}
