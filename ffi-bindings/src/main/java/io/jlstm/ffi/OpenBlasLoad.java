package io.jlstm.ffi;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Outcome of loading OpenBLAS: either a library or the reason there is none. Immutable.
 *
 * @param library the loaded library, or {@code null} when loading failed
 * @param source  how it was found, or {@code null} when loading failed
 * @param path    the file that was loaded; may be {@code null} for {@link OpenBlasSource#SYSTEM} when only
 *                the name could be resolved, and is {@code null} on failure
 * @param reason  one human-readable line: which library was loaded and why, or why none could be
 */
public record OpenBlasLoad(OpenBlas library, OpenBlasSource source, Path path, String reason) {

    public OpenBlasLoad {
        Objects.requireNonNull(reason, "reason");
        if ((library == null) != (source == null)) {
            throw new IllegalArgumentException(
                    "library and source are both set or both null, got library=" + library + ", source=" + source);
        }
    }

    /** True when a library was loaded. */
    public boolean loaded() {
        return library != null;
    }

    static OpenBlasLoad failure(String reason) {
        return new OpenBlasLoad(null, null, null, reason);
    }
}
