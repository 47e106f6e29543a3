package io.jlstm.layers;

import io.jlstm.simd.Activation;

/** Activations a Dense layer accepts: the element-wise ones plus softmax over the last axis. */
public enum DenseActivation {
    LINEAR(Activation.LINEAR), RELU(Activation.RELU), SIGMOID(Activation.SIGMOID),
    HARD_SIGMOID(Activation.HARD_SIGMOID), TANH(Activation.TANH), SOFTMAX(null);

    private final Activation elementwise;

    DenseActivation(Activation elementwise) {
        this.elementwise = elementwise;
    }

    /** The element-wise activation, or null for softmax. */
    public Activation elementwise() {
        return elementwise;
    }

    public String kerasName() {
        return this == SOFTMAX ? "softmax" : elementwise.kerasName();
    }

    public static DenseActivation fromKerasName(String s) {
        if ("softmax".equals(s)) {
            return SOFTMAX;
        }
        try {
            Activation a = Activation.fromKerasName(s);
            for (DenseActivation d : values()) {
                if (d.elementwise == a) {
                    return d;
                }
            }
        } catch (IllegalArgumentException e) {
            // fall through to the message that lists what Dense accepts
        }
        throw new IllegalArgumentException("unknown Dense activation '" + s
                + "' (expected linear, relu, sigmoid, hard_sigmoid, tanh or softmax)");
    }
}
