package io.jlstm;

/**
 * What to do with NaN or infinite values in an input. It applies to the input tensor (or step
 * input) only; initial states and weights are taken as given.
 */
public enum NonFinitePolicy {
    /** Compute anyway (the default): NaN and infinities flow through the arithmetic as IEEE 754 says. */
    PROPAGATE,
    /** Check every input value first and throw IllegalArgumentException naming the first bad one. */
    REJECT
}
