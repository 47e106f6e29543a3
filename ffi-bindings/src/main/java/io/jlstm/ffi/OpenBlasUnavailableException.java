package io.jlstm.ffi;

import java.nio.file.Path;

/**
 * A requested OpenBLAS library could not be extracted, opened or bound. Unchecked: callers of
 * {@link OpenBlas#loadFrom(Path)} and {@link OpenBlas#extractBundled()} asked for one specific library;
 * {@link OpenBlas#load()} never throws it and reports the same reason in its {@link OpenBlasLoad}.
 */
public final class OpenBlasUnavailableException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final transient Path path;
    private final String reason;

    public OpenBlasUnavailableException(Path path, String reason) {
        super(path == null ? reason : path + ": " + reason);
        this.path = path;
        this.reason = reason;
    }

    public OpenBlasUnavailableException(Path path, String reason, Throwable cause) {
        this(path, reason);
        initCause(cause);
    }

    /** The library file concerned, or {@code null} when the failure is not about one file. */
    public Path path() {
        return path;
    }

    /** What went wrong, without the path (the message is "path: reason"). */
    public String reason() {
        return reason;
    }
}
