package io.jlstm.layers;

import java.util.SequencedMap;

/**
 * The configuration of one layer, as Keras names it: pure data, no weights, immutable.
 * {@link #weightShapes(int)} says which weight tensors the layer needs for a given input width,
 * in Keras' {@code get_weights()} order.
 */
public sealed interface LayerSpec permits LstmSpec, GruSpec, BidirectionalSpec, DenseSpec, DropoutSpec {

    /** Keras class name: {@code LSTM}, {@code GRU}, {@code Bidirectional}, {@code Dense}, {@code Dropout}. */
    String type();

    /** The layer's name, used in error messages (Keras style, e.g. {@code lstm_1}). */
    String name();

    /** This spec with another name. */
    LayerSpec withName(String name);

    /** Width of the last axis of the output for an input of {@code inputFeatures}. */
    int outputFeatures(int inputFeatures);

    /** Weight names and shapes for an input of {@code inputFeatures}, in Keras order. */
    SequencedMap<String, long[]> weightShapes(int inputFeatures);

    /** Names of the outputs this layer returns, in Keras order ({@code output} first). */
    java.util.List<String> outputNames();

    /** Whether the output keeps the time axis, given whether the input has one. */
    boolean outputIsSequence(boolean inputIsSequence);
}
