package io.jlstm.io;

import java.io.IOException;

/**
 * A file that is not what it claims to be. The message names the file, what was expected and
 * what came, for example {@code "model.safetensors: tensor 'w' has data_offsets [0, 40], which
 * is 40 bytes, but shape [3, 4] of F32 needs 48"}.
 *
 * <p>Errors of the file system itself (missing file, no permission, disk full) stay plain
 * {@link IOException}s; this subclass is only for bad content.
 */
public class ModelFormatException extends IOException {

    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
