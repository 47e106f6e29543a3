package io.jlstm.layers;

import io.jlstm.simd.Activation;

/** What LSTM and GRU share: the options of a Keras recurrent layer. */
public sealed interface RecurrentSpec permits LstmSpec, GruSpec {
    String type();

    String name();

    int units();

    Activation activation();

    Activation recurrentActivation();

    boolean useBias();

    boolean returnSequences();

    boolean returnState();

    boolean goBackwards();

    /** Number of gate blocks: 4 for LSTM (i, f, c, o), 3 for GRU (z, r, h). */
    int gates();

    /** Number of state tensors: 2 for LSTM (h, c), 1 for GRU (h). */
    int stateCount();

    /** This spec processing the sequence in the other direction (Keras' backward layer). */
    RecurrentSpec reversed();

    /** This spec with other return flags (used by Bidirectional, which owns those flags). */
    RecurrentSpec withReturns(boolean returnSequences, boolean returnState);

    RecurrentSpec withName(String name);

    /** Weight names and shapes for an input of {@code inputFeatures}, in Keras order. */
    java.util.SequencedMap<String, long[]> weightShapes(int inputFeatures);
}
