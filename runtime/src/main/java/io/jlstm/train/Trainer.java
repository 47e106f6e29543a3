package io.jlstm.train;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.backend.OpenBlasBackend;
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
import io.jlstm.simd.KernelProvider;
import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * {@link Loss} (Keras' reduction) and one optimizer step per call. Checked against TensorFlow.js
 * on the reference training cases.
 *
 * <p><b>Memory and backends.</b> A pass (forward, loss, backward) runs on native buffers of the
 * trainer's {@link Workspace}: the input, every layer's activations and caches, a copy of the
 * weights as they are at the start of the pass, and the gradients. Its products (the input
 * projection of all steps, each step's recurrent product, and their transposed products on the
 * way back) go through the model's {@link Backend} ({@code java} or {@code openblas}), the one
 * inference uses. The LSTM's pointwise work runs in the vector kernels where it is heavy: the
 * gate activations (the functions inference computes, element for element) and the backward row
 * ({@code Kernels.lstmCellBackward}); its cell update uses inference's fused multiply-add. The
 * GRU's, Dense's and the dropout masks' pointwise work is scalar Java over the native buffers. The
 * weights the optimizer updates and the gradients {@link #gradients} returns are heap arrays
 * (O(parameters) copies per pass).
 *
 * <p>The trainer copies the model's weights when it is created and owns those copies; {@link
 * #toModel} builds a new model from them. The workspace holds about the largest pass's native
 * memory until {@link #close()}, which frees it; a closed trainer refuses further passes but still
 * gives its weights. Not thread-safe.
 */
public final class Trainer implements AutoCloseable {

    private static final Kernels KERNELS = KernelProvider.get();

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
    private final Backend backend;
    /** Whether the backend runs its own threads (OpenBLAS): its products are not split across the step helper. */
    private final boolean blasThreads;
    private final Workspace ws = new Workspace();

    /** Result of one forward and backward pass at the current weights. */
    public record Gradients(float loss, List<SequencedMap<String, float[]>> perLayer) {
    }

    /** A trainer with the mean squared error loss, on the model's backend. */
    public Trainer(Sequential model, Optimizer optimizer) {
        this(model, optimizer, Loss.MSE);
    }

    /**
     * A trainer for {@code model}'s layers, starting from a copy of its weights; its products run
     * on the model's backend ({@link Sequential#backend()}).
     */
    public Trainer(Sequential model, Optimizer optimizer, Loss loss) {
        Objects.requireNonNull(model, "model");
        this.backend = model.backend();
        this.blasThreads = backend instanceof OpenBlasBackend;
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

    /** The backend the products run on (the model's). */
    public Backend backend() {
        return backend;
    }

    /** Frees the native workspace; later passes throw {@link IllegalStateException}. Idempotent. */
    @Override
    public void close() {
        ws.close();
    }

    /** Bytes of native memory the workspace holds now (tests check that passes reuse it). */
    long workspaceBytes() {
        return ws.reservedBytes();
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

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private static float get(MemorySegment s, long i) {
        return s.getAtIndex(F, i);
    }

    private static void set(MemorySegment s, long i, float v) {
        s.setAtIndex(F, i, v);
    }

    private static void add(MemorySegment s, long i, float v) {
        s.setAtIndex(F, i, s.getAtIndex(F, i) + v);
    }

    /** A workspace copy of a heap array. */
    private MemorySegment onWorkspace(float[] a) {
        MemorySegment s = ws.floats(a.length);
        MemorySegment.copy(a, 0, s, F, 0, a.length);
        return s;
    }

    private static float[] array(MemorySegment s) {
        return s.toArray(F);
    }

    /** Copies {@code n} floats from {@code src[srcOff..]} to {@code dst[dstOff..]} (offsets in floats). */
    private static void copy(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long n) {
        MemorySegment.copy(src, srcOff * Float.BYTES, dst, dstOff * Float.BYTES, n * Float.BYTES);
    }

    /** {@code dst[0..n) = src[off..off+n) ⊙ mask}. */
    private static void maskInto(MemorySegment src, long off, int n, float[] mask, MemorySegment dst) {
        for (int i = 0; i < n; i++) {
            set(dst, i, get(src, off + i) * mask[i]);
        }
    }

    /**
     * What a forward pass leaves: the last layer's output (rows of {@code features} values, [B, T,
     * F] when {@code sequence}, else [B, F]), each layer's cache for the backward pass and the
     * workspace copies of the weights. All on the workspace, valid until the next pass.
     */
    private record Forward(MemorySegment output, boolean sequence, int features, int batch, int steps,
                           Object[] caches, List<Map<String, MemorySegment>> weights) {
    }

    /**
     * The model's output for {@code x} [batch, time, features] as the trainer computes it: with
     * {@code training}, every dropout draws its masks (from the dropout seed's stream) as in a
     * training step; without, nothing drops. Tests look at the masks through it.
     */
    float[] output(Tensor x, boolean training) {
        return array(forward(x, training).output());
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
        ws.reset();
        // the weights as this pass sees them: the optimizer updates the heap arrays between passes
        List<Map<String, MemorySegment>> w = new ArrayList<>();
        for (var layer : weights) {
            Map<String, MemorySegment> m = new LinkedHashMap<>();
            for (var e : layer.entrySet()) {
                m.put(e.getKey(), onWorkspace(e.getValue()));
            }
            w.add(m);
        }
        Object[] caches = new Object[specs.size()];
        MemorySegment cur = ws.floats(x.size());
        MemorySegment.copy(x.segment(), 0, cur, 0, x.size() * Float.BYTES);
        boolean sequence = true;
        int features = inputFeatures;
        for (int i = 0; i < specs.size(); i++) {
            LayerSpec spec = specs.get(i);
            if (spec instanceof RecurrentSpec r) {
                RecurrentCache c = recurrentForward(r, w.get(i), "", cur, batch, steps, features,
                        masks(i, training, r.gates(), batch, features, r.units()));
                caches[i] = c;
                cur = c.output();
            } else if (spec instanceof BidirectionalSpec b) {
                BidiCache c = bidiForward(b, w.get(i), cur, batch, steps, features,
                        masks(i, training, b.layer().gates(), batch, features, b.layer().units()),
                        masks(i, training, b.layer().gates(), batch, features, b.layer().units()));
                caches[i] = c;
                cur = c.output;
            } else if (spec instanceof DropoutSpec d) {
                // a new mask per sample, time step and element, as Keras' Dropout without noise_shape
                int n = Math.toIntExact(cur.byteSize() / Float.BYTES);
                float[] m = training ? mask(n, d.rate()) : null;
                caches[i] = new DropoutCache(m);
                if (m != null) {
                    MemorySegment dropped = ws.floats(n);
                    maskInto(cur, 0, n, m, dropped);
                    cur = dropped;
                }
            } else {
                DenseSpec d = (DenseSpec) spec;
                int rows = sequence ? batch * steps : batch;
                DenseCache c = denseForward(d, w.get(i), cur, rows, features);
                caches[i] = c;
                cur = c.output;
            }
            sequence = spec.outputIsSequence(sequence);
            features = spec.outputFeatures(features);
        }
        return new Forward(cur, sequence, features, batch, steps, caches, w);
    }

    private Gradients pass(Tensor x, Tensor y, boolean backward) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(y, "y");
        Forward f = forward(x, backward);
        float[] cur = array(f.output());
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
        MemorySegment d = onWorkspace(dOut);
        for (int i = specs.size() - 1; i >= 0; i--) {
            SequencedMap<String, float[]> g = new LinkedHashMap<>();
            Map<String, MemorySegment> w = f.weights().get(i);
            if (caches[i] instanceof RecurrentCache c) {
                d = recurrentBackward((RecurrentSpec) specs.get(i), w, "", c, d, g);
            } else if (caches[i] instanceof BidiCache c) {
                d = bidiBackward((BidirectionalSpec) specs.get(i), w, c, d, g);
            } else if (caches[i] instanceof DropoutCache c) {
                if (c.mask() != null) { // the same mask on the way back
                    MemorySegment dm = ws.floats(c.mask().length);
                    maskInto(d, 0, c.mask().length, c.mask(), dm);
                    d = dm;
                }
            } else {
                d = denseBackward((DenseSpec) specs.get(i), w, (DenseCache) caches[i], d, g);
            }
            if (l2 > 0) {
                for (var e : g.entrySet()) {
                    if (e.getKey().endsWith("kernel")) {
                        float[] wv = weights.get(i).get(e.getKey());
                        float[] gw = e.getValue();
                        for (int j = 0; j < gw.length; j++) {
                            gw[j] += 2 * l2 * wv[j];
                        }
                    }
                }
            }
            grads.set(i, g);
        }
        return new Gradients((float) value, grads);
    }

    // ------------------------------------------------------------------ products

    /** Products smaller than this many multiply-adds run on one thread (a hand-off costs a few µs). */
    private static final long MIN_SPLIT_MACS = 1L << 20;
    /** Columns of one side of a column split are a multiple of this (the GEMM's 3-vector panels at 512 bits). */
    private static final int SPLIT_COLUMNS = 48;

    /**
     * Row-major {@code C = op(A)·op(B) + beta·C} over workspace buffers, on the model's backend.
     * With {@code jlstm.threads=2} and the java backend a large product is split across the step
     * helper thread, by columns of C (or by rows when C is narrow): the kernels compute every
     * element of C the same way (one fused multiply-add chain over k, then alpha and beta)
     * whatever tile it falls in, so the result is bit-identical to one thread's. OpenBLAS runs its
     * own threads ({@code jlstm.threads} of them) and is called whole.
     */
    private void gemm(boolean transA, boolean transB, int m, int n, int k, MemorySegment a, long aOff, int lda,
                      MemorySegment b, long bOff, int ldb, float beta, MemorySegment c, long cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        StepPool pool = !blasThreads && (long) m * n * k >= MIN_SPLIT_MACS ? StepPool.get() : null;
        int nMid = n / 2 / SPLIT_COLUMNS * SPLIT_COLUMNS;
        int mMid = m / 2;
        if (pool == null || (nMid == 0 && mMid < 4)) {
            backend.sgemm(transA, transB, m, n, k, 1f, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (nMid > 0) {
            pool.halves(part -> {
                int from = part == 0 ? 0 : nMid;
                int cols = part == 0 ? nMid : n - nMid;
                backend.sgemm(transA, transB, m, cols, k, 1f, a, aOff, lda, b, bOff + (transB ? (long) from * ldb : from),
                        ldb, beta, c, cOff + from, ldc);
            });
        } else {
            pool.halves(part -> {
                int from = part == 0 ? 0 : mMid;
                int rows = part == 0 ? mMid : m - mMid;
                backend.sgemm(transA, transB, rows, n, k, 1f, a, aOff + (transA ? from : (long) from * lda), lda, b, bOff,
                        ldb, beta, c, cOff + (long) from * ldc, ldc);
            });
        }
    }

    // ------------------------------------------------------------------ LSTM

    /** What a recurrent layer's forward pass keeps for its backward pass; output in processing order. */
    private sealed interface RecurrentCache permits LstmCache, GruCache {
        MemorySegment output();
    }

    private RecurrentCache recurrentForward(RecurrentSpec spec, Map<String, MemorySegment> w, String prefix,
                                            MemorySegment x, int batch, int steps, int inputs, Masks masks) {
        return spec instanceof LstmSpec l ? lstmForward(l, w, prefix, x, batch, steps, inputs, masks)
                : gruForward((GruSpec) spec, w, prefix, x, batch, steps, inputs, masks);
    }

    private MemorySegment recurrentBackward(RecurrentSpec spec, Map<String, MemorySegment> w, String prefix,
                                            RecurrentCache c, MemorySegment dOut, SequencedMap<String, float[]> g) {
        return c instanceof LstmCache lc ? lstmBackward((LstmSpec) spec, w, prefix, lc, dOut, g)
                : gruBackward((GruSpec) spec, w, prefix, (GruCache) c, dOut, g);
    }

    /** Whether truncated BPTT cuts the gradient between processing steps {@code s} and {@code s + 1}. */
    private static boolean cut(int truncate, int s, int steps) {
        return truncate > 0 && s < steps - 1 && (s + 1) % truncate == 0;
    }

    /**
     * {@code xs[g]}: the layer input [B, T, I] that gate block g's kernel sees (after its input
     * dropout mask; one buffer for every gate when they share it); {@code masks} null without
     * dropout. {@code gates}: the activated gates [T][B, 4H] in processing order; {@code c} and
     * {@code h}: the states [T+1][B, H] (index 0 the zero initial state); {@code actC} =
     * act(c) [T][B, H].
     */
    private record LstmCache(int batch, int steps, int inputs, int units, MemorySegment[] xs, MemorySegment gates,
                             MemorySegment c, MemorySegment h, MemorySegment actC, MemorySegment output, Masks masks)
            implements RecurrentCache {
    }

    /**
     * A recurrent layer's output from its states {@code h} [T+1][B, H]: the whole sequence [B, T,
     * H] in processing order, or the last state [B, H] (a view of {@code h}).
     */
    private MemorySegment layerOutput(boolean sequence, MemorySegment h, int batch, int steps, int hN) {
        long bh = (long) batch * hN;
        if (!sequence) {
            return h.asSlice(steps * bh * Float.BYTES, bh * Float.BYTES);
        }
        MemorySegment out = ws.floats((long) batch * steps * hN);
        for (int s = 0; s < steps; s++) {
            for (int b = 0; b < batch; b++) {
                copy(h, (s + 1) * bh + (long) b * hN, out, ((long) b * steps + s) * hN, hN);
            }
        }
        return out;
    }

    /**
     * Per gate, the input [B, T, I] its kernel block sees: {@code x} times that gate's mask, the
     * same mask at every time step. Gates that share a mask share the buffer; without masks every
     * entry is {@code x}.
     */
    private MemorySegment[] gateInputs(MemorySegment x, float[][] mx, int gates, int batch, int steps, int inputs) {
        MemorySegment[] xs = new MemorySegment[gates];
        for (int g = 0; g < gates; g++) {
            if (mx == null) {
                xs[g] = x;
            } else if (g > 0 && mx[g] == mx[g - 1]) {
                xs[g] = xs[g - 1];
            } else {
                MemorySegment xm = ws.floats((long) batch * steps * inputs);
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < steps; t++) {
                        long o = ((long) b * steps + t) * inputs;
                        for (int p = 0; p < inputs; p++) {
                            set(xm, o + p, get(x, o + p) * mx[g][b * inputs + p]);
                        }
                    }
                }
                xs[g] = xm;
            }
        }
        return xs;
    }

    /** Whether every gate sees the same buffer. */
    private static boolean shared(MemorySegment[] perGate) {
        for (MemorySegment a : perGate) {
            if (a != perGate[0]) {
                return false;
            }
        }
        return true;
    }

    /**
     * {@code out = Σ_g x_g·K[:, block g] + rows of bias}, over all {@code rows} = B·T input rows
     * at once, as the inference path projects a sequence: one product when every gate block sees
     * the same input, else one per block.
     */
    private void project(MemorySegment[] xs, int rows, int inputs, int hN, MemorySegment k, MemorySegment bias,
                         MemorySegment out) {
        int width = xs.length * hN;
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                copy(bias, 0, out, (long) r * width, width);
            }
        }
        float beta = bias != null ? 1f : 0f;
        if (shared(xs)) {
            gemm(false, false, rows, width, inputs, xs[0], 0, inputs, k, 0, width, beta, out, 0, width);
        } else {
            for (int g = 0; g < xs.length; g++) {
                gemm(false, false, rows, hN, inputs, xs[g], 0, inputs, k, g * hN, width, beta, out, g * hN, width);
            }
        }
    }

    /**
     * The input side of a recurrent layer's backward step at input time {@code t}: {@code dK +=
     * x_tᵀ·dz} and {@code dX[:, t] = dz·Kᵀ}, where gate block g saw {@code x⊙mx[g]} (so its
     * share of dX takes the mask on the way back). {@code dz} is [B, gates·H].
     */
    private void inputGradients(MemorySegment[] xs, float[][] mx, int t, int batch, int steps, int inputs, int hN,
                                MemorySegment dz, MemorySegment k, MemorySegment dK, MemorySegment dX,
                                MemorySegment dxGate) {
        int width = xs.length * hN;
        long xOff = (long) t * inputs;
        int ldx = steps * inputs;
        if (shared(xs)) {
            gemm(true, false, inputs, width, batch, xs[0], xOff, ldx, dz, 0, width, 1f, dK, 0, width);
            gemm(false, true, batch, inputs, width, dz, 0, width, k, 0, width, 0f, dX, xOff, ldx);
            if (mx != null) {
                for (int b = 0; b < batch; b++) {
                    long o = (long) b * ldx + xOff;
                    for (int p = 0; p < inputs; p++) {
                        set(dX, o + p, get(dX, o + p) * mx[0][b * inputs + p]);
                    }
                }
            }
            return;
        }
        for (int gate = 0; gate < xs.length; gate++) {
            gemm(true, false, inputs, hN, batch, xs[gate], xOff, ldx, dz, gate * hN, width, 1f, dK, gate * hN, width);
            gemm(false, true, batch, inputs, hN, dz, gate * hN, width, k, gate * hN, width, 0f, dxGate, 0, inputs);
            for (int b = 0; b < batch; b++) {
                long o = (long) b * ldx + xOff;
                for (int p = 0; p < inputs; p++) {
                    add(dX, o + p, get(dxGate, (long) b * inputs + p) * mx[gate][b * inputs + p]);
                }
            }
        }
    }

    private LstmCache lstmForward(LstmSpec spec, Map<String, MemorySegment> w, String prefix, MemorySegment x,
                                  int batch, int steps, int inputs, Masks masks) {
        float[][] mh = masks == null ? null : masks.h();
        MemorySegment[] xs = gateInputs(x, masks == null ? null : masks.x(), 4, batch, steps, inputs);
        int hN = spec.units();
        int g4 = 4 * hN;
        long bh = (long) batch * hN;
        long bg = (long) batch * g4;
        MemorySegment k = w.get(prefix + "kernel");
        MemorySegment u = w.get(prefix + "recurrent_kernel");
        MemorySegment bias = w.get(prefix + "bias");
        MemorySegment gates = ws.floats(steps * bg);
        MemorySegment c = ws.floats((steps + 1) * bh);
        MemorySegment h = ws.floats((steps + 1) * bh);
        MemorySegment actC = ws.floats(steps * bh);
        // x·K + b for every (b, t) at once: rows b·T + t, as the inference path does
        MemorySegment xp = ws.floats((long) batch * steps * g4);
        project(xs, batch * steps, inputs, hN, k, bias, xp);
        MemorySegment hm = mh == null ? null : ws.floats(bh);
        for (int s = 0; s < steps; s++) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            long zo = s * bg; // this step's pre-activations, activated in place by lstmCells
            for (int b = 0; b < batch; b++) {
                copy(xp, ((long) b * steps + t) * g4, gates, zo + (long) b * g4, g4);
            }
            if (s > 0 && mh == null) {
                gemm(false, false, batch, g4, hN, h, s * bh, hN, u, 0, g4, 1f, gates, zo, g4);
            } else if (s > 0) {
                for (int g = 0; g < 4; g++) {
                    maskInto(h, s * bh, (int) bh, mh[g], hm);
                    gemm(false, false, batch, hN, hN, hm, 0, hN, u, g * hN, g4, 1f, gates, zo + g * hN, g4);
                }
            }
            lstmCells(spec, gates, zo, c, h, actC, s * bh, batch, hN);
        }
        MemorySegment out = layerOutput(spec.returnSequences(), h, batch, steps, hN);
        return new LstmCache(batch, steps, inputs, hN, xs, gates, c, h, actC, out, masks);
    }

    /**
     * One step's LSTM cells for the whole batch: {@code gates[zo..]} holds the pre-activations
     * [i|f|g|o] per row and receives the activated gates, computed by the vector kernels'
     * {@code activate} (the function inference computes, element for element); then the new cell
     * state at {@code c[so + B·H..]}, {@code actC[so..] = act(c)} and the new state at {@code
     * h[so + B·H..]}, from the previous cell state at {@code c[so..]}.
     */
    private static void lstmCells(LstmSpec spec, MemorySegment gates, long zo, MemorySegment c, MemorySegment h,
                                  MemorySegment actC, long so, int batch, int hN) {
        int g4 = 4 * hN;
        long bh = (long) batch * hN;
        Activation act = spec.activation();
        Activation rec = spec.recurrentActivation();
        for (int b = 0; b < batch; b++) {
            long gi = zo + (long) b * g4;
            if (act == rec) {
                KERNELS.activate(rec, gates, gi, g4);
            } else {
                KERNELS.activate(rec, gates, gi, 2 * hN);
                KERNELS.activate(act, gates, gi + 2L * hN, hN);
                KERNELS.activate(rec, gates, gi + 3L * hN, hN);
            }
        }
        for (int b = 0; b < batch; b++) {
            long gi = zo + (long) b * g4;
            for (int j = 0; j < hN; j++) {
                long bj = (long) b * hN + j;
                // f·c + i·g with one rounding of the sum, as inference's cell computes it
                float cn = Math.fma(get(gates, gi + hN + j), get(c, so + bj), get(gates, gi + j) * get(gates, gi + 2 * hN + j));
                set(c, so + bh + bj, cn);
            }
        }
        copy(c, so + bh, actC, so, bh);
        KERNELS.activate(act, actC, so, (int) bh);
        for (int b = 0; b < batch; b++) {
            long gi = zo + (long) b * g4;
            for (int j = 0; j < hN; j++) {
                long bj = (long) b * hN + j;
                set(h, so + bh + bj, get(gates, gi + 3 * hN + j) * get(actC, so + bj));
            }
        }
    }

    /** The gradient that reaches state {@code s}'s output from above: dOut's row for step s, if it has one. */
    private static float dOutAt(MemorySegment dOut, boolean sequence, int b, int s, int steps, int hN, int j) {
        if (sequence) {
            return get(dOut, ((long) b * steps + s) * hN + j);
        }
        return s == steps - 1 ? get(dOut, (long) b * hN + j) : 0f;
    }

    /** Fills {@code g} with the weight gradients and returns the gradient of the layer input. */
    private MemorySegment lstmBackward(LstmSpec spec, Map<String, MemorySegment> w, String prefix, LstmCache c,
                                       MemorySegment dOut, SequencedMap<String, float[]> g) {
        int hN = c.units;
        int g4 = 4 * hN;
        int batch = c.batch;
        int steps = c.steps;
        int inputs = c.inputs;
        long bh = (long) batch * hN;
        long bg = (long) batch * g4;
        Activation act = spec.activation();
        Activation rec = spec.recurrentActivation();
        boolean sequence = spec.returnSequences();
        float[][] mx = c.masks == null ? null : c.masks.x();
        float[][] mh = c.masks == null ? null : c.masks.h();
        MemorySegment k = w.get(prefix + "kernel");
        MemorySegment u = w.get(prefix + "recurrent_kernel");
        MemorySegment dK = ws.floats(k.byteSize() / Float.BYTES);
        MemorySegment dU = ws.floats(u.byteSize() / Float.BYTES);
        MemorySegment dB = ws.floats(g4);
        MemorySegment dX = ws.floats((long) batch * steps * inputs);
        MemorySegment dhNext = ws.floats(bh);
        MemorySegment dcNext = ws.floats(bh);
        MemorySegment dz = ws.floats(bg);
        MemorySegment dxGate = shared(c.xs) ? null : ws.floats((long) batch * inputs);
        MemorySegment dhGate = mh == null ? null : ws.floats(bh);
        MemorySegment hm = mh == null ? null : ws.floats(bh);
        for (int s = steps - 1; s >= 0; s--) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            if (cut(truncate, s, steps)) {
                dhNext.fill((byte) 0);
                dcNext.fill((byte) 0);
            }
            long zo = s * bg;
            long so = s * bh;
            // dh = what comes from step s + 1 plus what comes from above
            if (sequence) {
                for (int b = 0; b < batch; b++) {
                    KERNELS.axpy(hN, 1f, dOut, ((long) b * steps + s) * hN, dhNext, (long) b * hN);
                }
            } else if (s == steps - 1) {
                KERNELS.axpy((int) bh, 1f, dOut, 0, dhNext, 0);
            }
            for (int b = 0; b < batch; b++) {
                long gi = (long) b * g4;
                long bj = (long) b * hN;
                KERNELS.lstmCellBackward(c.gates, zo + gi, c.c, so + bj, c.actC, so + bj, dhNext, bj, dcNext, bj, dz, gi,
                        hN, act, rec);
                KERNELS.axpy(g4, 1f, dz, gi, dB, 0);
            }
            // dK += x_tᵀ·dz, dU += h_{s-1}ᵀ·dz, dx_t = dz·Kᵀ, dh_{s-1} = dz·Uᵀ; with dropout each
            // gate block g sees x_t⊙mx[gate] and h⊙mh[gate], so its products take the mask on the way back
            inputGradients(c.xs, mx, t, batch, steps, inputs, hN, dz, k, dK, dX, dxGate);
            if (mh == null) {
                gemm(true, false, hN, g4, batch, c.h, so, hN, dz, 0, g4, 1f, dU, 0, g4);
                gemm(false, true, batch, hN, g4, dz, 0, g4, u, 0, g4, 0f, dhNext, 0, hN);
            } else {
                dhNext.fill((byte) 0);
                for (int gate = 0; gate < 4; gate++) {
                    maskInto(c.h, so, (int) bh, mh[gate], hm);
                    gemm(true, false, hN, hN, batch, hm, 0, hN, dz, gate * hN, g4, 1f, dU, gate * hN, g4);
                    gemm(false, true, batch, hN, hN, dz, gate * hN, g4, u, gate * hN, g4, 0f, dhGate, 0, hN);
                    for (int i = 0; i < bh; i++) {
                        add(dhNext, i, get(dhGate, i) * mh[gate][i]);
                    }
                }
            }
        }
        g.put(prefix + "kernel", array(dK));
        g.put(prefix + "recurrent_kernel", array(dU));
        if (w.containsKey(prefix + "bias")) {
            g.put(prefix + "bias", array(dB));
        }
        return dX;
    }

    // ------------------------------------------------------------------ GRU

    /**
     * Per step (each [T][B, H], processing order): z, r, the candidate hh, and {@code aux}: the
     * recurrent projection of the candidate block (reset_after) or r⊙h (reset_before, h after its
     * dropout mask). {@code xs} as for the LSTM; {@code h} [T+1][B, H]; {@code masks} null without
     * dropout.
     */
    private record GruCache(int batch, int steps, int inputs, int units, MemorySegment[] xs, MemorySegment z,
                            MemorySegment r, MemorySegment hh, MemorySegment aux, MemorySegment h, MemorySegment output,
                            Masks masks) implements RecurrentCache {
    }

    /**
     * Keras' GRU over whole sequences: the input projection of all steps as one product, per step
     * the recurrent products, then the gates. With dropout, gate block g (z, r, h) projects
     * {@code x⊙mx[g]} and {@code h⊙mh[g]}, as Keras' GRUCell; the update {@code z·h + (1−z)·hh}
     * uses h itself.
     */
    private GruCache gruForward(GruSpec spec, Map<String, MemorySegment> w, String prefix, MemorySegment x, int batch,
                                int steps, int inputs, Masks masks) {
        float[][] mh = masks == null ? null : masks.h();
        MemorySegment[] xs = gateInputs(x, masks == null ? null : masks.x(), 3, batch, steps, inputs);
        int hN = spec.units();
        int g3 = 3 * hN;
        long bh = (long) batch * hN;
        Activation act = spec.activation();
        Activation rec = spec.recurrentActivation();
        MemorySegment k = w.get(prefix + "kernel");
        MemorySegment u = w.get(prefix + "recurrent_kernel");
        MemorySegment bias = w.get(prefix + "bias"); // [3H], or [2, 3H] with reset_after: input row, recurrent row
        boolean after = spec.resetAfter();
        MemorySegment z = ws.floats(steps * bh);
        MemorySegment r = ws.floats(steps * bh);
        MemorySegment hh = ws.floats(steps * bh);
        MemorySegment aux = ws.floats(steps * bh);
        MemorySegment h = ws.floats((steps + 1) * bh);
        MemorySegment xz = ws.floats((long) batch * steps * g3);
        project(xs, batch * steps, inputs, hN, k, bias == null ? null : bias.asSlice(0, (long) g3 * Float.BYTES), xz);
        MemorySegment hp = ws.floats((long) batch * g3);
        MemorySegment hm = mh == null ? null : ws.floats(bh);
        int blocks = after ? 3 : 2; // [z | r] always from h; the candidate block from h (reset_after) or r⊙h
        for (int s = 0; s < steps; s++) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            long so = s * bh;
            if (bias != null && after) {
                for (int b = 0; b < batch; b++) {
                    copy(bias, g3, hp, (long) b * g3, g3);
                }
            } else {
                hp.fill((byte) 0);
            }
            if (s > 0 && mh == null) {
                gemm(false, false, batch, blocks * hN, hN, h, so, hN, u, 0, g3, 1f, hp, 0, g3);
            } else if (s > 0) {
                for (int gate = 0; gate < blocks; gate++) {
                    maskInto(h, so, (int) bh, mh[gate], hm);
                    gemm(false, false, batch, hN, hN, hm, 0, hN, u, gate * hN, g3, 1f, hp, gate * hN, g3);
                }
            }
            for (int b = 0; b < batch; b++) {
                long xo = ((long) b * steps + t) * g3;
                long po = (long) b * g3;
                for (int j = 0; j < hN; j++) {
                    long bj = (long) b * hN + j;
                    set(z, so + bj, rec.apply(get(xz, xo + j) + get(hp, po + j)));
                    set(r, so + bj, rec.apply(get(xz, xo + hN + j) + get(hp, po + hN + j)));
                }
            }
            if (!after) {
                for (int b = 0; b < batch; b++) {
                    for (int j = 0; j < hN; j++) {
                        long bj = (long) b * hN + j;
                        float hv = mh == null ? get(h, so + bj) : get(h, so + bj) * mh[2][(int) bj];
                        set(aux, so + bj, get(r, so + bj) * hv); // r⊙h
                    }
                }
                if (s > 0) {
                    gemm(false, false, batch, hN, hN, aux, so, hN, u, 2 * hN, g3, 1f, hp, 2 * hN, g3);
                }
            }
            for (int b = 0; b < batch; b++) {
                long xo = ((long) b * steps + t) * g3;
                long po = (long) b * g3;
                for (int j = 0; j < hN; j++) {
                    long bj = (long) b * hN + j;
                    float proj = get(hp, po + 2 * hN + j);
                    float pre = after ? get(xz, xo + 2 * hN + j) + get(r, so + bj) * proj : get(xz, xo + 2 * hN + j) + proj;
                    if (after) {
                        set(aux, so + bj, proj); // the recurrent projection the reset multiplies
                    }
                    float hhv = act.apply(pre);
                    float zj = get(z, so + bj);
                    set(hh, so + bj, hhv);
                    set(h, so + bh + bj, zj * get(h, so + bj) + (1 - zj) * hhv);
                }
            }
        }
        MemorySegment out = layerOutput(spec.returnSequences(), h, batch, steps, hN);
        return new GruCache(batch, steps, inputs, hN, xs, z, r, hh, aux, h, out, masks);
    }

    private MemorySegment gruBackward(GruSpec spec, Map<String, MemorySegment> w, String prefix, GruCache c,
                                      MemorySegment dOut, SequencedMap<String, float[]> g) {
        int hN = c.units;
        int g3 = 3 * hN;
        int batch = c.batch;
        int steps = c.steps;
        int inputs = c.inputs;
        long bh = (long) batch * hN;
        boolean after = spec.resetAfter();
        boolean sequence = spec.returnSequences();
        Activation act = spec.activation();
        Activation rec = spec.recurrentActivation();
        float[][] mx = c.masks == null ? null : c.masks.x();
        float[][] mh = c.masks == null ? null : c.masks.h();
        MemorySegment k = w.get(prefix + "kernel");
        MemorySegment u = w.get(prefix + "recurrent_kernel");
        MemorySegment bias = w.get(prefix + "bias");
        MemorySegment dK = ws.floats(k.byteSize() / Float.BYTES);
        MemorySegment dU = ws.floats(u.byteSize() / Float.BYTES);
        MemorySegment dB = bias == null ? null : ws.floats(bias.byteSize() / Float.BYTES);
        MemorySegment dX = ws.floats((long) batch * steps * inputs);
        MemorySegment dhNext = ws.floats(bh);
        MemorySegment dhPrev = ws.floats(bh);
        MemorySegment dxz = ws.floats((long) batch * g3); // gradient of the input projection (plus input bias)
        MemorySegment dhp = ws.floats((long) batch * g3); // gradient of the recurrent projection (plus recurrent bias)
        MemorySegment drh = after ? null : ws.floats(bh);  // gradient of r⊙h (reset_before)
        MemorySegment dxGate = shared(c.xs) ? null : ws.floats((long) batch * inputs);
        MemorySegment dhGate = mh == null ? null : ws.floats(bh);
        MemorySegment hm = mh == null ? null : ws.floats(bh);
        int blocks = after ? 3 : 2; // the gate blocks of U that multiply h itself
        for (int s = steps - 1; s >= 0; s--) {
            int t = spec.goBackwards() ? steps - 1 - s : s;
            if (cut(truncate, s, steps)) {
                dhNext.fill((byte) 0);
            }
            long so = s * bh;
            for (int b = 0; b < batch; b++) {
                long po = (long) b * g3;
                for (int j = 0; j < hN; j++) {
                    long bj = (long) b * hN + j;
                    float dh = get(dhNext, bj) + dOutAt(dOut, sequence, b, s, steps, hN, j);
                    float zj = get(c.z, so + bj);
                    float hhj = get(c.hh, so + bj);
                    float dzPre = dh * (get(c.h, so + bj) - hhj) * rec.derivativeFromOutput(zj);
                    float dhhPre = dh * (1 - zj) * act.derivativeFromOutput(hhj);
                    set(dhPrev, bj, dh * zj);
                    set(dxz, po + j, dzPre);
                    set(dhp, po + j, dzPre);
                    set(dxz, po + 2 * hN + j, dhhPre);
                    if (after) {
                        float rj = get(c.r, so + bj);
                        set(dhp, po + 2 * hN + j, dhhPre * rj);
                        float drPre = dhhPre * get(c.aux, so + bj) * rec.derivativeFromOutput(rj);
                        set(dxz, po + hN + j, drPre);
                        set(dhp, po + hN + j, drPre);
                    }
                }
            }
            if (!after) {
                // candidate: pre = xz_h + (r⊙h)·U_h; the gradient reaches r⊙h, then r and h
                gemm(false, true, batch, hN, hN, dxz, 2 * hN, g3, u, 2 * hN, g3, 0f, drh, 0, hN);
                gemm(true, false, hN, hN, batch, c.aux, so, hN, dxz, 2 * hN, g3, 1f, dU, 2 * hN, g3);
                for (int b = 0; b < batch; b++) {
                    long po = (long) b * g3;
                    for (int p = 0; p < hN; p++) {
                        long bp = (long) b * hN + p;
                        float acc = get(drh, bp);
                        float rp = get(c.r, so + bp);
                        float m2 = mh == null ? 1f : mh[2][(int) bp];
                        float hmv = mh == null ? get(c.h, so + bp) : get(c.h, so + bp) * m2; // what r multiplied
                        add(dhPrev, bp, mh == null ? acc * rp : acc * rp * m2);
                        float drPre = acc * hmv * rec.derivativeFromOutput(rp);
                        set(dxz, po + hN + p, drPre);
                        set(dhp, po + hN + p, drPre);
                    }
                }
            }
            inputGradients(c.xs, mx, t, batch, steps, inputs, hN, dxz, k, dK, dX, dxGate);
            copy(dhPrev, 0, dhNext, 0, bh);
            if (mh == null) {
                gemm(true, false, hN, blocks * hN, batch, c.h, so, hN, dhp, 0, g3, 1f, dU, 0, g3);
                gemm(false, true, batch, hN, blocks * hN, dhp, 0, g3, u, 0, g3, 1f, dhNext, 0, hN);
            } else { // gate block g saw h⊙mh[g]
                for (int gate = 0; gate < blocks; gate++) {
                    maskInto(c.h, so, (int) bh, mh[gate], hm);
                    gemm(true, false, hN, hN, batch, hm, 0, hN, dhp, gate * hN, g3, 1f, dU, gate * hN, g3);
                    gemm(false, true, batch, hN, hN, dhp, gate * hN, g3, u, gate * hN, g3, 0f, dhGate, 0, hN);
                    for (int i = 0; i < bh; i++) {
                        add(dhNext, i, get(dhGate, i) * mh[gate][i]);
                    }
                }
            }
            if (dB != null) {
                for (int b = 0; b < batch; b++) {
                    long po = (long) b * g3;
                    for (int j = 0; j < g3; j++) {
                        add(dB, j, get(dxz, po + j));
                        if (after) {
                            add(dB, g3 + j, get(dhp, po + j));
                        }
                    }
                }
            }
        }
        g.put(prefix + "kernel", array(dK));
        g.put(prefix + "recurrent_kernel", array(dU));
        if (dB != null) {
            g.put(prefix + "bias", array(dB));
        }
        return dX;
    }

    // ------------------------------------------------------------------ Bidirectional

    private record BidiCache(int batch, int steps, int units, boolean sequence, RecurrentCache forward,
                             RecurrentCache backward, MemorySegment output) {
    }

    private BidiCache bidiForward(BidirectionalSpec spec, Map<String, MemorySegment> w, MemorySegment x, int batch,
                                  int steps, int inputs, Masks forwardMasks, Masks backwardMasks) {
        RecurrentCache f = recurrentForward(spec.forward(), w, "forward_", x, batch, steps, inputs, forwardMasks);
        RecurrentCache bw = recurrentForward(spec.backward(), w, "backward_", x, batch, steps, inputs, backwardMasks);
        int h = spec.layer().units();
        boolean seq = spec.layer().returnSequences();
        int rows = seq ? steps : 1;
        int width = spec.outputFeatures(inputs);
        MemorySegment out = ws.floats((long) batch * rows * width);
        MemorySegment fOut = f.output();
        MemorySegment bOut = bw.output();
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < rows; t++) {
                long fo = ((long) b * rows + t) * h;
                long bo = ((long) b * rows + (rows - 1 - t)) * h; // the backward sequence flipped back to input time
                long oo = ((long) b * rows + t) * width;
                for (int j = 0; j < h; j++) {
                    float fv = get(fOut, fo + j);
                    float bv = get(bOut, bo + j);
                    switch (spec.mergeMode()) {
                        case CONCAT -> {
                            set(out, oo + j, fv);
                            set(out, oo + h + j, bv);
                        }
                        case SUM -> set(out, oo + j, fv + bv);
                        case AVE -> set(out, oo + j, (fv + bv) * 0.5f);
                        case MUL -> set(out, oo + j, fv * bv);
                    }
                }
            }
        }
        return new BidiCache(batch, steps, h, seq, f, bw, out);
    }

    private MemorySegment bidiBackward(BidirectionalSpec spec, Map<String, MemorySegment> w, BidiCache c,
                                       MemorySegment dOut, SequencedMap<String, float[]> g) {
        int h = c.units;
        int rows = c.sequence ? c.steps : 1;
        int width = spec.mergeMode() == MergeMode.CONCAT ? 2 * h : h;
        MemorySegment fOut = c.forward.output();
        MemorySegment bOut = c.backward.output();
        MemorySegment dF = ws.floats(fOut.byteSize() / Float.BYTES);
        MemorySegment dBw = ws.floats(bOut.byteSize() / Float.BYTES);
        for (int b = 0; b < c.batch; b++) {
            for (int t = 0; t < rows; t++) {
                long fo = ((long) b * rows + t) * h;
                long bo = ((long) b * rows + (rows - 1 - t)) * h;
                long oo = ((long) b * rows + t) * width;
                for (int j = 0; j < h; j++) {
                    switch (spec.mergeMode()) {
                        case CONCAT -> {
                            set(dF, fo + j, get(dOut, oo + j));
                            set(dBw, bo + j, get(dOut, oo + h + j));
                        }
                        case SUM -> {
                            set(dF, fo + j, get(dOut, oo + j));
                            set(dBw, bo + j, get(dOut, oo + j));
                        }
                        case AVE -> {
                            set(dF, fo + j, get(dOut, oo + j) * 0.5f);
                            set(dBw, bo + j, get(dOut, oo + j) * 0.5f);
                        }
                        case MUL -> {
                            set(dF, fo + j, get(dOut, oo + j) * get(bOut, bo + j));
                            set(dBw, bo + j, get(dOut, oo + j) * get(fOut, fo + j));
                        }
                    }
                }
            }
        }
        MemorySegment dxF = recurrentBackward(spec.forward(), w, "forward_", c.forward, dF, g);
        MemorySegment dxB = recurrentBackward(spec.backward(), w, "backward_", c.backward, dBw, g);
        long n = dxF.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            add(dxF, i, get(dxB, i));
        }
        return dxF;
    }

    // ------------------------------------------------------------------ Dropout

    /** The mask a Dropout layer applied in this pass (as its input, flat), or null outside training. */
    private record DropoutCache(float[] mask) {
    }

    // ------------------------------------------------------------------ Dense

    private record DenseCache(int rows, int inputs, MemorySegment x, MemorySegment output) {
    }

    private DenseCache denseForward(DenseSpec spec, Map<String, MemorySegment> w, MemorySegment x, int rows,
                                    int inputs) {
        int n = spec.units();
        MemorySegment k = w.get("kernel");
        MemorySegment bias = w.get("bias");
        MemorySegment out = ws.floats((long) rows * n);
        Activation a = spec.activation().elementwise();
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                copy(bias, 0, out, (long) r * n, n);
            }
        }
        gemm(false, false, rows, n, inputs, x, 0, inputs, k, 0, n, bias != null ? 1f : 0f, out, 0, n);
        if (a != null) {
            KERNELS.activate(a, out, 0, rows * n);
        } else { // softmax over each row, max-subtracted, in double
            for (int r = 0; r < rows; r++) {
                long o = (long) r * n;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    max = Math.max(max, get(out, o + j));
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    sum += Math.exp(get(out, o + j) - max);
                }
                for (int j = 0; j < n; j++) {
                    set(out, o + j, (float) (Math.exp(get(out, o + j) - max) / sum));
                }
            }
        }
        return new DenseCache(rows, inputs, x, out);
    }

    private MemorySegment denseBackward(DenseSpec spec, Map<String, MemorySegment> w, DenseCache c,
                                        MemorySegment dOut, SequencedMap<String, float[]> g) {
        int n = spec.units();
        MemorySegment k = w.get("kernel");
        MemorySegment dK = ws.floats(k.byteSize() / Float.BYTES);
        MemorySegment dB = ws.floats(n);
        MemorySegment dX = ws.floats((long) c.rows * c.inputs);
        MemorySegment dZ = ws.floats((long) c.rows * n);
        Activation a = spec.activation().elementwise();
        for (int r = 0; r < c.rows; r++) {
            long o = (long) r * n;
            float dot = 0f; // softmax: dz_j = y_j (dy_j − Σ dy·y)
            if (a == null) {
                for (int j = 0; j < n; j++) {
                    dot += get(dOut, o + j) * get(c.output, o + j);
                }
            }
            for (int j = 0; j < n; j++) {
                float y = get(c.output, o + j);
                float dz = a == null ? y * (get(dOut, o + j) - dot) : get(dOut, o + j) * a.derivativeFromOutput(y);
                add(dB, j, dz);
                set(dZ, o + j, dz);
            }
        }
        gemm(true, false, c.inputs, n, c.rows, c.x, 0, c.inputs, dZ, 0, n, 0f, dK, 0, n);
        gemm(false, true, c.rows, c.inputs, n, dZ, 0, n, k, 0, n, 0f, dX, 0, c.inputs);
        g.put("kernel", array(dK));
        if (w.containsKey("bias")) {
            g.put("bias", array(dB));
        }
        return dX;
    }
}
