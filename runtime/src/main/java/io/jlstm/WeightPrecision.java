package io.jlstm;

import java.util.Locale;

/**
 * How the weights that batch-1 steps stream are stored. The products of a batch-1 step are bound
 * by reading the weights, so halving their bytes nearly halves the step on large layers. The
 * arithmetic is float32 either way; larger batches and saved files always use float32 weights.
 */
public enum WeightPrecision {
    /** float32 weights (the default): results as the reference frameworks compute them. */
    FP32,
    /**
     * bfloat16 copies of the input and recurrent kernels for batch-1 steps (round to nearest even,
     * about three significant digits): opt-in, with a documented error against FP32.
     */
    BF16;

    /** The property that sets the default: {@code jlstm.weights=fp32|bf16}. */
    public static final String PROPERTY = "jlstm.weights";

    /** Parses {@code fp32} or {@code bf16} (any case). */
    public static WeightPrecision parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "fp32", "f32", "float32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown weight precision '" + s + "' (expected fp32 or bf16)");
        };
    }

    /** The precision named by {@value #PROPERTY}, default FP32. */
    public static WeightPrecision fromProperty() {
        String v = System.getProperty(PROPERTY);
        return v == null ? FP32 : parse(v);
    }
}
