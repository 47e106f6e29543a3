package io.jlstm.layers;

import io.jlstm.simd.Activation;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Keras {@code GRU}: kernel [input, 3·units], recurrent_kernel [units, 3·units], gate blocks
 * z, r, h. With {@code resetAfter} (Keras 3 default) the bias is [2, 3·units] (input bias, then
 * recurrent bias) and the reset gate multiplies the recurrent projection including its bias;
 * without it the bias is [3·units] and the reset is applied to h before the recurrent product.
 * The update is {@code h = z·h_prev + (1−z)·hh}.
 */
public record GruSpec(String name, int units, Activation activation, Activation recurrentActivation,
                      boolean useBias, boolean returnSequences, boolean returnState, boolean goBackwards,
                      boolean resetAfter) implements LayerSpec, RecurrentSpec {

    public GruSpec {
        Specs.requireName(name);
        Specs.requireUnits("GRU", units);
        Objects.requireNonNull(activation, "activation");
        Objects.requireNonNull(recurrentActivation, "recurrentActivation");
    }

    /** Keras 3 defaults: tanh, sigmoid, bias, reset_after, last output only, forwards. */
    public static GruSpec of(int units) {
        return new GruSpec("gru", units, Activation.TANH, Activation.SIGMOID, true, false, false, false, true);
    }

    public GruSpec activation(Activation a) {
        return new GruSpec(name, units, a, recurrentActivation, useBias, returnSequences, returnState, goBackwards, resetAfter);
    }

    public GruSpec recurrentActivation(Activation a) {
        return new GruSpec(name, units, activation, a, useBias, returnSequences, returnState, goBackwards, resetAfter);
    }

    public GruSpec useBias(boolean b) {
        return new GruSpec(name, units, activation, recurrentActivation, b, returnSequences, returnState, goBackwards, resetAfter);
    }

    public GruSpec returnSequences(boolean b) {
        return new GruSpec(name, units, activation, recurrentActivation, useBias, b, returnState, goBackwards, resetAfter);
    }

    public GruSpec returnState(boolean b) {
        return new GruSpec(name, units, activation, recurrentActivation, useBias, returnSequences, b, goBackwards, resetAfter);
    }

    public GruSpec goBackwards(boolean b) {
        return new GruSpec(name, units, activation, recurrentActivation, useBias, returnSequences, returnState, b, resetAfter);
    }

    public GruSpec resetAfter(boolean b) {
        return new GruSpec(name, units, activation, recurrentActivation, useBias, returnSequences, returnState, goBackwards, b);
    }

    @Override
    public String type() {
        return "GRU";
    }

    @Override
    public GruSpec withName(String n) {
        return new GruSpec(n, units, activation, recurrentActivation, useBias, returnSequences, returnState, goBackwards, resetAfter);
    }

    @Override
    public int gates() {
        return 3;
    }

    @Override
    public int stateCount() {
        return 1;
    }

    @Override
    public GruSpec reversed() {
        return goBackwards(!goBackwards);
    }

    @Override
    public GruSpec withReturns(boolean seq, boolean state) {
        return returnSequences(seq).returnState(state);
    }

    @Override
    public int outputFeatures(int inputFeatures) {
        return units;
    }

    @Override
    public SequencedMap<String, long[]> weightShapes(int inputFeatures) {
        SequencedMap<String, long[]> m = new LinkedHashMap<>();
        m.put("kernel", new long[] {inputFeatures, 3L * units});
        m.put("recurrent_kernel", new long[] {units, 3L * units});
        if (useBias) {
            m.put("bias", resetAfter ? new long[] {2, 3L * units} : new long[] {3L * units});
        }
        return m;
    }

    @Override
    public List<String> outputNames() {
        return returnState ? List.of("output", "state_h") : List.of("output");
    }

    @Override
    public boolean outputIsSequence(boolean inputIsSequence) {
        return returnSequences;
    }
}
