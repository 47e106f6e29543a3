package io.jlstm;

import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Options of one {@link Sequential#predict(Tensor, PredictOptions)} call. Immutable; the "with"
 * methods return copies. The tensors given as initial states are read during the call only.
 */
public final class PredictOptions {

    private static final PredictOptions DEFAULTS = new PredictOptions(NonFinitePolicy.PROPAGATE, Map.of(), false);

    private final NonFinitePolicy nonFinite;
    private final Map<Integer, Tensor[]> initialStates;
    private final boolean layerOutputs;

    private PredictOptions(NonFinitePolicy nonFinite, Map<Integer, Tensor[]> initialStates, boolean layerOutputs) {
        this.nonFinite = nonFinite;
        this.initialStates = initialStates;
        this.layerOutputs = layerOutputs;
    }

    /** Propagate non-finite inputs, zero initial states, no per-layer outputs. */
    public static PredictOptions defaults() {
        return DEFAULTS;
    }

    public PredictOptions nonFinite(NonFinitePolicy policy) {
        return new PredictOptions(Objects.requireNonNull(policy, "policy"), initialStates, layerOutputs);
    }

    /**
     * Initial state of recurrent layer {@code layerIndex}: h (and c for LSTM), each [batch, units];
     * for Bidirectional the forward states, then the backward ones.
     */
    public PredictOptions initialState(int layerIndex, Tensor... states) {
        Objects.requireNonNull(states, "states");
        for (Tensor t : states) {
            Objects.requireNonNull(t, "initial state tensor");
        }
        Map<Integer, Tensor[]> m = new TreeMap<>(initialStates);
        m.put(layerIndex, states.clone());
        return new PredictOptions(nonFinite, Map.copyOf(m), layerOutputs);
    }

    /** Also return the output of every layer ({@link Prediction#layerOutput(int)}). */
    public PredictOptions keepLayerOutputs(boolean keep) {
        return new PredictOptions(nonFinite, initialStates, keep);
    }

    public NonFinitePolicy nonFinite() {
        return nonFinite;
    }

    public Map<Integer, Tensor[]> initialStates() {
        return initialStates;
    }

    public boolean keepLayerOutputs() {
        return layerOutputs;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("PredictOptions[nonFinite=").append(nonFinite);
        initialStates.forEach((k, v) -> sb.append(", initialState[").append(k).append("]=").append(Arrays.toString(v)));
        return sb.append(", keepLayerOutputs=").append(layerOutputs).append(']').toString();
    }
}
