package io.jlstm.cli;

/**
 * A mistake of the person running the command (a file that is missing, has the wrong shape or the
 * wrong extension, a backend that is not available here): reported as {@code jlstm: error: ...}
 * with exit code 2, never with a stack trace. Immutable.
 */
final class UserError extends RuntimeException {

    private static final long serialVersionUID = 1L;

    UserError(String message) {
        super(message);
    }

    UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
