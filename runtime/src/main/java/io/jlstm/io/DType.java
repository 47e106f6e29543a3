package io.jlstm.io;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The safetensors element types jlstm reads: {@link #F32} (read and written), {@link #F16} and
 * {@link #BF16} (read, and converted to float32 by {@link SafetensorsFile#readF32}). Every other
 * safetensors type (F64, I32, U8, BOOL, F8_E4M3, ...) is rejected when a file is opened.
 *
 * <p>Immutable, and so thread-safe.
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4),
    /** IEEE 754 binary16 (half precision). */
    F16(2),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /**
     * The type a safetensors header names ({@code "F32"}, {@code "F16"}, {@code "BF16"}); names
     * are case-sensitive, as in the format.
     *
     * @throws ModelFormatException for any other name; the message lists the supported ones
     */
    public static DType parse(String safetensorsName) throws ModelFormatException {
        for (DType t : values()) {
            if (t.name().equals(safetensorsName)) {
                return t;
            }
        }
        throw new ModelFormatException("dtype '" + safetensorsName + "' is not supported (supported: "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")) + ")");
    }
}
