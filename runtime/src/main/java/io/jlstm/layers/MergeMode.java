package io.jlstm.layers;

import java.util.Locale;

/** How Bidirectional combines the forward and backward outputs (Keras {@code merge_mode}). */
public enum MergeMode {
    /** [forward, backward] on the last axis. */
    CONCAT,
    /** forward + backward. */
    SUM,
    /** (forward + backward) / 2. */
    AVE,
    /** forward · backward. */
    MUL;

    public String kerasName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static MergeMode fromKerasName(String s) {
        if (s != null) {
            for (MergeMode m : values()) {
                if (m.kerasName().equals(s)) {
                    return m;
                }
            }
        }
        throw new IllegalArgumentException("unknown merge_mode '" + s + "' (expected concat, sum, ave or mul)");
    }
}
