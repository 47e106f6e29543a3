package io.jlstm;

import io.jlstm.layers.BidirectionalSpec;
import io.jlstm.layers.LayerSpec;
import io.jlstm.layers.RecurrentSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * Runs a model one time step at a time for {@code batch} sequences, keeping h (and c) of every
 * recurrent layer between steps. Each {@link #step} returns the model's output for the sequence
 * seen so far: the same numbers {@link Sequential#predict} gives for the prefix (to float rounding;
 * with {@link WeightPrecision#BF16} a step also rounds the input kernel to bfloat16, which a
 * multi-step predict computes in float32).
 *
 * <p><b>Memory.</b> All buffers are allocated once, when the session is created, in an arena the
 * session owns; {@link #close()} frees them. Stepping allocates nothing. The tensors
 * returned by {@link #step} and {@link #state} are views of session memory: valid until the next
 * step, reset or close, and overwritten by them.
 *
 * <p><b>Threads.</b> A session belongs to the thread that created it; any call from another thread
 * throws IllegalStateException before touching memory. The model may be shared by many sessions.
 */
public final class StreamingSession implements AutoCloseable {

    private final Sequential model;
    private final int batch;
    private final NonFinitePolicy policy;
    private final Thread owner;
    private final Arena arena;
    private final ExecContext ctx;
    private final LayerExec[] layers;
    private final MemorySegment input;            // [B, F0]
    private final MemorySegment[] gateBuffers;    // per recurrent layer [B, G·H]
    private final RecurrentExec.StepState[] states;
    private final MemorySegment[] denseOut;       // per Dense layer [B, U]
    private final Tensor inputView;
    private final Tensor outputView;
    private final MemorySegment output;
    private final int inFeatures;
    private final int outFeatures;
    private boolean closed;

    StreamingSession(Sequential model, int batch, NonFinitePolicy policy) {
        this.model = model;
        if (batch <= 0) {
            throw new IllegalArgumentException("a session needs a batch of at least 1, got " + batch);
        }
        this.batch = batch;
        this.policy = Objects.requireNonNull(policy, "policy");
        this.owner = Thread.currentThread();
        this.layers = model.execs().toArray(new LayerExec[0]);
        for (int i = 0; i < layers.length; i++) {
            LayerSpec spec = layers[i].spec;
            if (spec instanceof BidirectionalSpec) {
                throw new IllegalArgumentException(layers[i].describe() + " (layer " + i
                        + ") needs the whole sequence, so the model cannot be streamed; use Sequential.predict");
            }
            if (spec instanceof RecurrentSpec r && r.goBackwards()) {
                throw new IllegalArgumentException(layers[i].describe() + " (layer " + i
                        + ") has go_backwards, which needs the whole sequence; use Sequential.predict");
            }
        }
        // Shared, not confined: the step helper thread (jlstm.threads > 1) reads the session's
        // buffers. Confinement to the owning thread is enforced by check() instead.
        this.arena = Arena.ofShared();
        try {
            this.ctx = new ExecContext(model.backend(), model.kernels(), arena, arena);
            this.inFeatures = model.inputFeatures();
            this.outFeatures = model.outputFeatures();
            this.input = ctx.scratchFloats((long) batch * inFeatures);
            this.gateBuffers = new MemorySegment[layers.length];
            this.states = new RecurrentExec.StepState[layers.length];
            this.denseOut = new MemorySegment[layers.length];
            MemorySegment last = input;
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] instanceof RecurrentExec r) {
                    gateBuffers[i] = ctx.scratchFloats((long) batch * r.width);
                    states[i] = new RecurrentExec.StepState(r, batch, ctx::scratchFloats);
                    last = states[i].h;
                } else if (layers[i] instanceof DenseExec) {
                    denseOut[i] = ctx.scratchFloats((long) batch * layers[i].outputFeatures);
                    last = denseOut[i];
                } // Dropout is the identity at inference: the next layer reads what this one was given
            }
            this.output = last;
            this.inputView = Tensor.wrap(input, batch, inFeatures);
            // read-only: when the last layer is recurrent the output is its live h
            this.outputView = Tensor.wrap(output.asReadOnly(), batch, outFeatures);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public int batch() {
        return batch;
    }

    public int inputFeatures() {
        return inFeatures;
    }

    public int outputFeatures() {
        return outFeatures;
    }

    /**
     * One time step: {@code x} holds [batch, features] row-major. Returns the output [batch, outputs],
     * a session-owned view overwritten by the next step.
     */
    public Tensor step(float[] x) {
        check();
        Objects.requireNonNull(x, "x");
        if (x.length != (long) batch * inFeatures) {
            throw new IllegalArgumentException("step input has " + x.length + " values, expected batch " + batch
                    + " × " + inFeatures + " features = " + (long) batch * inFeatures);
        }
        MemorySegment.copy(x, 0, input, Tensor.F32, 0, x.length);
        return run();
    }

    /** One time step from a tensor of shape [batch, features] or [batch, 1, features]. */
    public Tensor step(Tensor x) {
        check();
        Objects.requireNonNull(x, "x");
        long[] s = x.shape();
        boolean ok = (s.length == 2 && s[0] == batch && s[1] == inFeatures)
                || (s.length == 3 && s[0] == batch && s[1] == 1 && s[2] == inFeatures);
        if (!ok) {
            throw new IllegalArgumentException("step input has shape " + Arrays.toString(s) + ", expected ["
                    + batch + ", " + inFeatures + "] (or [" + batch + ", 1, " + inFeatures + "])");
        }
        MemorySegment.copy(x.segment(), 0, input, 0, (long) batch * inFeatures * Float.BYTES);
        return run();
    }

    /** One time step that copies the output into {@code out} (batch × outputs values). */
    public void step(float[] x, float[] out) {
        check();
        Objects.requireNonNull(out, "out");
        if (out.length != (long) batch * outFeatures) {
            throw new IllegalArgumentException("output array has " + out.length + " values, expected batch " + batch
                    + " × " + outFeatures + " outputs = " + (long) batch * outFeatures);
        }
        step(x);
        MemorySegment.copy(output, Tensor.F32, 0, out, 0, out.length);
    }

    private Tensor run() {
        if (policy == NonFinitePolicy.REJECT) {
            Sequential.rejectNonFinite(inputView, "step input");
        }
        MemorySegment current = input;
        for (int i = 0; i < layers.length; i++) {
            LayerExec layer = layers[i];
            if (layer instanceof RecurrentExec r) {
                RecurrentExec.StepState st = states[i];
                if (batch == 1 && r.unitSplit != null && r.unitSplit.step(current, st.h, st.c, st.descending)) {
                    // both threads, each with all four gates of half the units (UnitSplit)
                    st.descending = !st.descending;
                    current = st.h;
                    continue;
                }
                MemorySegment xp = gateBuffers[i];
                if (batch == 1 && r.streamStep(ctx.kernels(), current, xp, states[i])) {
                    // one thread: the two products panel by panel (RecurrentExec#streamStep)
                    current = states[i].h;
                    continue;
                }
                r.projectInputs(current, 0, r.inputFeatures, batch, xp, states[i].descending);
                r.step(ctx.backend(), ctx.kernels(), xp, 0, r.width, batch, states[i], false);
                current = states[i].h;
            } else if (layer instanceof DenseExec d) {
                d.apply(ctx, current, batch, denseOut[i]);
                current = denseOut[i];
            }
        }
        return outputView;
    }

    /** Sets every state to zero, as at the start of a sequence. */
    public void reset() {
        check();
        for (RecurrentExec.StepState s : states) {
            if (s != null) {
                s.load(null, 0, 0);
            }
        }
    }

    /**
     * Sets the state of recurrent layer {@code layer}: h, and c for LSTM, each [batch, units].
     */
    public void setState(int layer, Tensor... state) {
        check();
        RecurrentExec r = recurrentLayer(layer);
        Objects.requireNonNull(state, "state");
        if (state.length != r.stateTensors()) {
            throw new IllegalArgumentException(r.describe() + " (layer " + layer + ") has " + r.stateTensors()
                    + " state tensors, got " + state.length);
        }
        MemorySegment[] segs = new MemorySegment[state.length];
        for (int j = 0; j < state.length; j++) {
            long[] want = {batch, r.units};
            if (!Arrays.equals(state[j].shape(), want)) {
                throw new IllegalArgumentException(r.describe() + " (layer " + layer + "): state " + j + " has shape "
                        + Arrays.toString(state[j].shape()) + ", expected " + Arrays.toString(want));
            }
            segs[j] = state[j].segment();
        }
        states[layer].load(segs, 0, (long) batch * r.units * Float.BYTES);
    }

    /** State {@code which} (0 = h, 1 = c) of recurrent layer {@code layer}, as a session-owned view [batch, units]. */
    public Tensor state(int layer, int which) {
        check();
        RecurrentExec r = recurrentLayer(layer);
        if (which < 0 || which >= r.stateTensors()) {
            throw new IllegalArgumentException(r.describe() + " has " + r.stateTensors() + " state tensors, asked for "
                    + which);
        }
        MemorySegment s = which == 0 ? states[layer].h : states[layer].c;
        return Tensor.wrap(s.asReadOnly(), batch, r.units); // a view: writes would corrupt the next step
    }

    /** How many steps recurrent layer {@code layer} ran through RecurrentExec#streamStep (for tests). */
    long streamSteps(int layer) {
        return states[layer] == null ? 0 : states[layer].streamSteps;
    }

    private RecurrentExec recurrentLayer(int layer) {
        if (layer < 0 || layer >= layers.length) {
            throw new IllegalArgumentException("layer " + layer + " does not exist (the model has " + layers.length
                    + " layers)");
        }
        if (!(layers[layer] instanceof RecurrentExec r)) {
            throw new IllegalArgumentException(layers[layer].describe() + " (layer " + layer + ") has no state");
        }
        return r;
    }

    private void check() {
        Thread t = Thread.currentThread();
        if (t != owner) {
            throw new IllegalStateException("this session belongs to thread '" + owner.getName()
                    + "' and was used from thread '" + t.getName() + "'; create one session per thread");
        }
        if (closed) {
            throw new IllegalStateException("session is closed");
        }
        model.ensureOpen();
    }

    /** Frees the session's memory. Idempotent; must be called from the owning thread. */
    @Override
    public void close() {
        Thread t = Thread.currentThread();
        if (t != owner) {
            throw new IllegalStateException("this session belongs to thread '" + owner.getName()
                    + "' and cannot be closed from thread '" + t.getName() + "'");
        }
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
