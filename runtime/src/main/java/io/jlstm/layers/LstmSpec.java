package io.jlstm.layers;

import io.jlstm.simd.Activation;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * Keras {@code LSTM}: kernel [input, 4·units], recurrent_kernel [units, 4·units], bias [4·units],
 * gate blocks i, f, c, o. {@code activation} is used for the candidate and for the output
 * ({@code h = o·act(c)}), {@code recurrentActivation} for the three gates.
 */
public record LstmSpec(String name, int units, Activation activation, Activation recurrentActivation,
                       boolean useBias, boolean returnSequences, boolean returnState, boolean goBackwards)
        implements LayerSpec, RecurrentSpec {

    public LstmSpec {
        Specs.requireName(name);
        Specs.requireUnits("LSTM", units);
        Objects.requireNonNull(activation, "activation");
        Objects.requireNonNull(recurrentActivation, "recurrentActivation");
    }

    /** Keras 3 defaults: tanh, sigmoid, bias, last output only, forwards. */
    public static LstmSpec of(int units) {
        return new LstmSpec("lstm", units, Activation.TANH, Activation.SIGMOID, true, false, false, false);
    }

    public LstmSpec activation(Activation a) {
        return new LstmSpec(name, units, a, recurrentActivation, useBias, returnSequences, returnState, goBackwards);
    }

    public LstmSpec recurrentActivation(Activation a) {
        return new LstmSpec(name, units, activation, a, useBias, returnSequences, returnState, goBackwards);
    }

    public LstmSpec useBias(boolean b) {
        return new LstmSpec(name, units, activation, recurrentActivation, b, returnSequences, returnState, goBackwards);
    }

    public LstmSpec returnSequences(boolean b) {
        return new LstmSpec(name, units, activation, recurrentActivation, useBias, b, returnState, goBackwards);
    }

    public LstmSpec returnState(boolean b) {
        return new LstmSpec(name, units, activation, recurrentActivation, useBias, returnSequences, b, goBackwards);
    }

    public LstmSpec goBackwards(boolean b) {
        return new LstmSpec(name, units, activation, recurrentActivation, useBias, returnSequences, returnState, b);
    }

    @Override
    public String type() {
        return "LSTM";
    }

    @Override
    public LstmSpec withName(String n) {
        return new LstmSpec(n, units, activation, recurrentActivation, useBias, returnSequences, returnState, goBackwards);
    }

    @Override
    public int gates() {
        return 4;
    }

    @Override
    public int stateCount() {
        return 2;
    }

    @Override
    public LstmSpec reversed() {
        return goBackwards(!goBackwards);
    }

    @Override
    public LstmSpec withReturns(boolean seq, boolean state) {
        return returnSequences(seq).returnState(state);
    }

    @Override
    public int outputFeatures(int inputFeatures) {
        return units;
    }

    @Override
    public SequencedMap<String, long[]> weightShapes(int inputFeatures) {
        SequencedMap<String, long[]> m = new LinkedHashMap<>();
        m.put("kernel", new long[] {inputFeatures, 4L * units});
        m.put("recurrent_kernel", new long[] {units, 4L * units});
        if (useBias) {
            m.put("bias", new long[] {4L * units});
        }
        return m;
    }

    @Override
    public List<String> outputNames() {
        return returnState ? List.of("output", "state_h", "state_c") : List.of("output");
    }

    @Override
    public boolean outputIsSequence(boolean inputIsSequence) {
        return returnSequences;
    }
}
