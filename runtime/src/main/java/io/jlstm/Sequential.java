package io.jlstm;

import io.jlstm.backend.Backend;
import io.jlstm.backend.StepPool;
import io.jlstm.backend.Backends;
import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.DenseSpec;
import io.jlstm.layers.DropoutSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.RecurrentSpec;
import io.jlstm.simd.KernelProvider;
import io.jlstm.simd.Kernels;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * A stack of layers run one after the other, as Keras' {@code Sequential}: input
 * [batch, time, features], output of the last layer (and its states if it returns them).
 *
 * <p><b>Memory.</b> The model copies its weights into a shared arena it owns; {@link #close()}
 * frees them. Results of {@link #predict} are allocated in an automatic arena (or the caller's,
 * see {@link #predict(Tensor, PredictOptions, Arena)}); scratch memory of a call is freed when the
 * call returns.
 *
 * <p><b>Threads.</b> Immutable after construction and safe to share: any number of threads may
 * call {@link #predict} at once. Each {@link StreamingSession} belongs to one thread. Closing a
 * model while other threads still use it is a caller error; their calls then fail with
 * IllegalStateException: calls that start after close() fail, and close() itself fails (leaving
 * the model open) while a call on another thread is still inside the native code.
 */
public final class Sequential implements AutoCloseable {

    private final int inputFeatures;
    private final List<LayerSpec> specs;
    private final List<LayerExec> layers;
    private final List<SequencedMap<String, MemorySegment>> weights;
    private final Backend backend;
    private final String backendReason;
    private final Kernels kernels;
    private final Arena arena;
    private final WeightPrecision precision;
    /** Whether a batch-1 step of this model hands half its product to the step helper thread. */
    private final boolean splitsSteps;
    private volatile boolean closed;

    private Sequential(int inputFeatures, List<LayerSpec> specs, List<? extends Map<String, Tensor>> weights,
                       Backend backend, String backendReason, WeightPrecision precision) {
        if (inputFeatures <= 0) {
            throw new IllegalArgumentException("input features must be positive, got " + inputFeatures);
        }
        if (specs.isEmpty()) {
            throw new IllegalArgumentException("a model needs at least one layer");
        }
        if (weights.size() != specs.size()) {
            throw new IllegalArgumentException(specs.size() + " layers but " + weights.size() + " weight sets");
        }
        this.inputFeatures = inputFeatures;
        this.specs = List.copyOf(uniqueNames(specs));
        this.backend = Objects.requireNonNull(backend, "backend");
        this.backendReason = backendReason;
        this.kernels = KernelProvider.get();
        this.precision = Objects.requireNonNull(precision, "precision");
        this.arena = Arena.ofShared();
        try {
            List<LayerExec> execs = new ArrayList<>();
            List<SequencedMap<String, MemorySegment>> ws = new ArrayList<>();
            int features = inputFeatures;
            boolean sequence = true;
            for (int i = 0; i < this.specs.size(); i++) {
                LayerSpec spec = this.specs.get(i);
                if (i < this.specs.size() - 1 && returnsState(spec)) {
                    throw new IllegalArgumentException(describe(spec) + " (layer " + i + ") sets return_state, "
                            + "which only the last layer of a Sequential model may do");
                }
                if (spec instanceof RecurrentSpec && !sequence) {
                    throw new IllegalArgumentException(describe(spec) + " (layer " + i + ") needs a sequence input, "
                            + "but layer " + (i - 1) + " returns [batch, features]: set return_sequences on it");
                }
                SequencedMap<String, MemorySegment> w = copyWeights(spec, features, weights.get(i), i);
                ws.add(w);
                execs.add(bind(spec, features, w));
                sequence = spec.outputIsSequence(sequence);
                features = spec.outputFeatures(features);
            }
            this.layers = List.copyOf(execs);
            this.splitsSteps = StepPool.THREADS > 1 && execs.stream().anyMatch(Sequential::splitsSteps);
            this.weights = List.copyOf(ws);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Sequences that layer {@code i} has run split by units across two threads ({@link UnitSplit}); 0 when it does not split. */
    long unitSplitRuns(int i) {
        UnitSplit u = unitSplit(i);
        return u == null ? 0 : u.completed();
    }

    /** Layer i's sequences and streamed steps that ran split or, the helper having stalled a moment before, on one thread ({@link UnitSplit#backedOff}); tests. */
    long unitSplitOffered(int i) {
        UnitSplit u = unitSplit(i);
        return u == null ? 0 : u.completed() + u.backedOff();
    }

    /** Layer i's split sequences in which the helper stalled mid-half and the caller finished alone (tests). */
    long unitSplitStalls(int i) {
        UnitSplit u = unitSplit(i);
        return u == null ? 0 : u.stalls();
    }

    /** Half steps of layer i's split sequences that the caller's thread took over from the helper (tests). */
    long unitSplitStolen(int i) {
        UnitSplit u = unitSplit(i);
        return u == null ? 0 : u.stolen();
    }

    /** Half steps of layer i's split sequences that the helper's part computed (tests). */
    long unitSplitHelped(int i) {
        UnitSplit u = unitSplit(i);
        return u == null ? 0 : u.helped();
    }

    /** Layer i's split by units, or null when it has none. */
    private UnitSplit unitSplit(int i) {
        return layers.get(i) instanceof RecurrentExec r ? r.unitSplit : null;
    }

    private static boolean splitsSteps(LayerExec layer) {
        return switch (layer) {
            case RecurrentExec r -> r.splits();
            case BidirectionalExec b -> b.forwardLayer.splits() || b.backwardLayer.splits();
            default -> false;
        };
    }

    private static boolean returnsState(LayerSpec spec) {
        return switch (spec) {
            case RecurrentSpec r -> r.returnState();
            case BidirectionalSpec b -> b.layer().returnState();
            default -> false;
        };
    }

    private static String describe(LayerSpec spec) {
        return spec.type() + " layer '" + spec.name() + "'";
    }

    /** Keras-style unique names: the second "lstm" becomes "lstm_1". */
    private static List<LayerSpec> uniqueNames(List<LayerSpec> specs) {
        Map<String, Integer> seen = new HashMap<>();
        List<LayerSpec> out = new ArrayList<>();
        for (LayerSpec s : specs) {
            Objects.requireNonNull(s, "layer spec");
            String name = s.name();
            int n = seen.merge(name, 1, Integer::sum);
            out.add(n == 1 ? s : s.withName(name + "_" + (n - 1)));
        }
        return out;
    }

    private SequencedMap<String, MemorySegment> copyWeights(LayerSpec spec, int features, Map<String, Tensor> given,
                                                            int index) {
        Objects.requireNonNull(given, "weights of layer " + index);
        SequencedMap<String, long[]> shapes = spec.weightShapes(features);
        for (String k : given.keySet()) {
            if (!shapes.containsKey(k)) {
                throw new IllegalArgumentException(describe(spec) + ": unexpected weight '" + k + "' (expects "
                        + shapes.keySet() + ")");
            }
        }
        SequencedMap<String, MemorySegment> out = new LinkedHashMap<>();
        for (var e : shapes.entrySet()) {
            Tensor t = given.get(e.getKey());
            if (t == null) {
                throw new IllegalArgumentException(describe(spec) + ": weight '" + e.getKey() + "' is missing (expects "
                        + shapes.keySet() + ")");
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException(describe(spec) + ": weight '" + e.getKey() + "' has shape "
                        + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.getValue())
                        + (e.getKey().endsWith("kernel") && !e.getKey().contains("recurrent")
                        ? " (input has " + features + " features)" : ""));
            }
            long bytes = t.size() * Float.BYTES;
            MemorySegment copy = arena.allocate(Math.max(bytes, 4), 64);
            MemorySegment.copy(t.segment(), 0, copy, 0, bytes);
            out.put(e.getKey(), copy);
        }
        return out;
    }

    private LayerExec bind(LayerSpec spec, int features, SequencedMap<String, MemorySegment> w) {
        return switch (spec) {
            case RecurrentSpec r -> recurrent(r, features, w, "");
            case BidirectionalSpec b -> new BidirectionalExec(b, features,
                    recurrent(b.forward(), features, w, "forward_"),
                    recurrent(b.backward(), features, w, "backward_"));
            case DenseSpec d -> new DenseExec(d, features, w.get("kernel"), w.get("bias"));
            case DropoutSpec d -> new DropoutExec(d, features);
        };
    }

    private RecurrentExec recurrent(RecurrentSpec r, int features, Map<String, MemorySegment> w, String prefix) {
        return new RecurrentExec(r, features, w.get(prefix + "kernel"), w.get(prefix + "recurrent_kernel"),
                w.get(prefix + "bias"), kernels, arena, precision);
    }

    // ------------------------------------------------------------------ construction

    /** Starts a model whose input has {@code inputFeatures} features per time step. */
    public static Builder builder(int inputFeatures) {
        return new Builder(inputFeatures);
    }

    /** Collects layers and weights; the weights are copied when {@link #build()} runs. Not thread-safe. */
    public static final class Builder {
        private final int inputFeatures;
        private final List<LayerSpec> specs = new ArrayList<>();
        private final List<Map<String, Tensor>> weights = new ArrayList<>();
        private Backends.Selection backend;
        private WeightPrecision precision;

        private Builder(int inputFeatures) {
            this.inputFeatures = inputFeatures;
        }

        /** Adds a layer with its weights by Keras name ({@code kernel}, {@code recurrent_kernel}, {@code bias}, …). */
        public Builder add(LayerSpec spec, Map<String, Tensor> layerWeights) {
            specs.add(Objects.requireNonNull(spec, "spec"));
            weights.add(Map.copyOf(Objects.requireNonNull(layerWeights, "layerWeights")));
            return this;
        }

        /** Uses this backend instead of the one {@link Backends#select()} picks. */
        public Builder backend(Backend b) {
            this.backend = new Backends.Selection(Objects.requireNonNull(b, "backend"), "given by the caller");
            return this;
        }

        /**
         * Stores the weights that batch-1 steps stream in this precision (default: the property
         * {@value WeightPrecision#PROPERTY}, else FP32).
         */
        public Builder weightPrecision(WeightPrecision p) {
            this.precision = Objects.requireNonNull(p, "precision");
            return this;
        }

        public Sequential build() {
            Backends.Selection sel = backend != null ? backend : Backends.select();
            return new Sequential(inputFeatures, specs, weights, sel.backend(), sel.reason(),
                    precision != null ? precision : WeightPrecision.fromProperty());
        }
    }

    /** Loads a jlstm safetensors model file with the backend {@link Backends#select()} picks. */
    public static Sequential load(Path file) throws IOException {
        return ModelFile.read(file, null);
    }

    /** Loads a jlstm safetensors model file and runs it on {@code backend}. */
    public static Sequential load(Path file, Backend backend) throws IOException {
        return ModelFile.read(file, Objects.requireNonNull(backend, "backend"));
    }

    static Sequential create(int inputFeatures, List<LayerSpec> specs, List<? extends Map<String, Tensor>> weights,
                             Backend backend) {
        Backends.Selection sel = backend != null ? new Backends.Selection(backend, "given by the caller")
                : Backends.select();
        return new Sequential(inputFeatures, specs, weights, sel.backend(), sel.reason(), WeightPrecision.fromProperty());
    }

    /** Writes this model as a safetensors file (temporary file, then renamed into place). */
    public void save(Path file) throws IOException {
        ensureOpen();
        ModelFile.write(this, file);
    }

    // ------------------------------------------------------------------ description

    public int inputFeatures() {
        return inputFeatures;
    }

    /** Width of the last axis of the main output. */
    public int outputFeatures() {
        return layers.getLast().outputFeatures;
    }

    /** The layers, with the names they have in this model. */
    public List<LayerSpec> layers() {
        return specs;
    }

    /** Input width of layer {@code i}. */
    public int layerInputFeatures(int i) {
        return layers.get(i).inputFeatures;
    }

    /** Names of the outputs {@link #predict} returns, in order. */
    public List<String> outputNames() {
        return specs.getLast().outputNames();
    }

    /** Total number of weights. */
    public long parameterCount() {
        long n = 0;
        for (var w : weights) {
            for (MemorySegment s : w.values()) {
                n += s.byteSize() / Float.BYTES;
            }
        }
        return n;
    }

    /** The weights of layer {@code i} as read-only views of the model's memory (valid until close). */
    public SequencedMap<String, Tensor> layerWeights(int i) {
        ensureOpen();
        LayerSpec spec = specs.get(i);
        SequencedMap<String, long[]> shapes = spec.weightShapes(layers.get(i).inputFeatures);
        SequencedMap<String, Tensor> out = new LinkedHashMap<>();
        for (var e : weights.get(i).entrySet()) {
            out.put(e.getKey(), Tensor.wrap(e.getValue().asReadOnly(), shapes.get(e.getKey())));
        }
        return out;
    }

    public Backend backend() {
        return backend;
    }

    /** How the weights of batch-1 steps are stored. */
    public WeightPrecision weightPrecision() {
        return precision;
    }

    /** Why this backend was chosen. */
    public String backendReason() {
        return backendReason;
    }

    Kernels kernels() {
        return kernels;
    }

    List<LayerExec> execs() {
        return layers;
    }

    // ------------------------------------------------------------------ inference

    /** Runs the model on [batch, time, features] with default options. */
    public Prediction predict(Tensor input) {
        return predict(input, PredictOptions.defaults());
    }

    public Prediction predict(Tensor input, PredictOptions options) {
        return predict(input, options, Arena.ofAuto());
    }

    /**
     * Runs the model on {@code input} [batch, time, features]; the result tensors are allocated in
     * {@code resultArena}, which the caller owns.
     *
     * @throws IllegalArgumentException if the input's rank, batch, time or feature count is wrong,
     *         or (with {@link NonFinitePolicy#REJECT}) it holds NaN or infinity
     * @throws IllegalStateException if the model is closed
     */
    public Prediction predict(Tensor input, PredictOptions options, Arena resultArena) {
        ensureOpen();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(resultArena, "resultArena");
        long[] shape = input.shape();
        if (shape.length != 3) {
            throw new IllegalArgumentException("input must have rank 3 [batch, time, features], got shape "
                    + Arrays.toString(shape));
        }
        if (shape[2] != inputFeatures) {
            throw new IllegalArgumentException(describe(specs.getFirst()) + ": input has " + shape[2]
                    + " features, kernel expects " + inputFeatures);
        }
        if (shape[0] <= 0 || shape[1] <= 0) {
            throw new IllegalArgumentException("input must have at least one batch row and one time step, got shape "
                    + Arrays.toString(shape));
        }
        if (options.nonFinite() == NonFinitePolicy.REJECT) {
            rejectNonFinite(input, "input");
        }
        int batch = Math.toIntExact(shape[0]);
        int steps = Math.toIntExact(shape[1]);
        Map<Integer, MemorySegment[]> init = initialStates(options, batch);

        // Confined unless the step helper thread will read the scratch (jlstm.threads > 1 and a
        // batch-1 product big enough to split, or a batch, whose products split at any layer size):
        // closing a shared arena costs a handshake with every thread, more than a small model's
        // whole predict.
        boolean shared = StepPool.THREADS > 1 && (batch > 1 || splitsSteps);
        try (Arena scratch = shared ? Arena.ofShared() : Arena.ofConfined()) {
            ExecContext ctx = new ExecContext(backend, kernels, resultArena, scratch);
            // Outputs of the layers in between live in scratch unless the caller keeps them.
            ExecContext between = options.keepLayerOutputs() ? ctx : new ExecContext(backend, kernels, scratch, scratch);
            MemorySegment current = input.segment();
            if (!current.isNative() || shared) {
                // Native libraries read native memory only, and the step helper thread cannot read a
                // caller's confined arena: such inputs are copied once into scratch.
                MemorySegment copy = ctx.scratchFloats(input.size());
                MemorySegment.copy(current, 0, copy, 0, input.size() * Float.BYTES);
                current = copy;
            }
            boolean sequence = true;
            int features = inputFeatures;
            List<Tensor> layerOut = options.keepLayerOutputs() ? new ArrayList<>() : null;
            MemorySegment[] outs = null;
            for (int i = 0; i < layers.size(); i++) {
                LayerExec layer = layers.get(i);
                outs = layer.forward(i == layers.size() - 1 ? ctx : between, current, batch, steps, sequence,
                        init.get(i));
                sequence = layer.spec.outputIsSequence(sequence);
                features = layer.outputFeatures;
                current = outs[0];
                if (layerOut != null) {
                    layerOut.add(Tensor.wrap(current, outputShape(batch, steps, sequence, features)));
                }
            }
            SequencedMap<String, Tensor> named = new LinkedHashMap<>();
            List<String> names = outputNames();
            named.put(names.getFirst(), Tensor.wrap(outs[0], outputShape(batch, steps, sequence, features)));
            for (int j = 1; j < names.size(); j++) {
                LayerExec last = layers.getLast();
                named.put(names.get(j), Tensor.wrap(outs[j], batch, last.stateWidth(j - 1)));
            }
            return new Prediction(named, layerOut);
        }
    }

    private static long[] outputShape(int batch, int steps, boolean sequence, int features) {
        return sequence ? new long[] {batch, steps, features} : new long[] {batch, features};
    }

    private Map<Integer, MemorySegment[]> initialStates(PredictOptions options, int batch) {
        Map<Integer, MemorySegment[]> init = new HashMap<>();
        for (var e : options.initialStates().entrySet()) {
            int i = e.getKey();
            if (i < 0 || i >= layers.size()) {
                throw new IllegalArgumentException("initial state for layer " + i + ", but the model has "
                        + layers.size() + " layers");
            }
            LayerExec layer = layers.get(i);
            Tensor[] states = e.getValue();
            if (layer.stateTensors() == 0) {
                throw new IllegalArgumentException(layer.describe() + " (layer " + i + ") takes no initial state");
            }
            if (states.length != layer.stateTensors()) {
                throw new IllegalArgumentException(layer.describe() + " (layer " + i + ") takes "
                        + layer.stateTensors() + " initial state tensors, got " + states.length);
            }
            MemorySegment[] segs = new MemorySegment[states.length];
            for (int j = 0; j < states.length; j++) {
                long[] want = {batch, layer.stateWidth(j)};
                if (!Arrays.equals(states[j].shape(), want)) {
                    throw new IllegalArgumentException(layer.describe() + " (layer " + i + "): initial state " + j
                            + " has shape " + Arrays.toString(states[j].shape()) + ", expected " + Arrays.toString(want));
                }
                segs[j] = states[j].segment();
            }
            init.put(i, segs);
        }
        return init;
    }

    static void rejectNonFinite(Tensor t, String what) {
        long n = t.size();
        MemorySegment s = t.segment();
        for (long i = 0; i < n; i++) {
            float v = s.getAtIndex(Tensor.F32, i);
            if (!Float.isFinite(v)) {
                throw new IllegalArgumentException(what + " holds " + v + " at flat index " + i + " (shape "
                        + Arrays.toString(t.shape()) + "); non-finite inputs are rejected by NonFinitePolicy.REJECT");
            }
        }
    }

    // ------------------------------------------------------------------ streaming

    /** A streaming session for {@code batch} sequences, propagating non-finite inputs. */
    public StreamingSession newSession(int batch) {
        return newSession(batch, NonFinitePolicy.PROPAGATE);
    }

    /**
     * A streaming session that steps {@code batch} sequences one time step at a time. The session
     * belongs to the calling thread.
     *
     * @throws IllegalArgumentException if a layer needs the whole sequence (Bidirectional, go_backwards)
     */
    public StreamingSession newSession(int batch, NonFinitePolicy policy) {
        ensureOpen();
        return new StreamingSession(this, batch, policy);
    }

    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("model is closed");
        }
    }

    boolean isClosed() {
        return closed;
    }

    /** Frees the weights. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true; // new calls fail from here on
        try {
            arena.close();
        } catch (IllegalStateException inUse) {
            // a call on another thread still holds the weights: keep the model usable and say so
            closed = false;
            throw new IllegalStateException("model is in use by another thread (a predict or session step is "
                    + "running); close it after that call returns", inUse);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Sequential[input=").append(inputFeatures);
        for (LayerSpec s : specs) {
            sb.append(", ").append(s.type()).append(" '").append(s.name()).append('\'');
        }
        return sb.append(", backend=").append(backend.name()).append(']').toString();
    }
}
