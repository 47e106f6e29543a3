package io.jlstm.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Sorts failures into user mistakes (exit 2) and internal errors (exit 1) and words them.
 *
 * <p>User mistakes: {@link UserError}; any {@link IOException} (a missing or unreadable file, or
 * {@code ModelFormatException} for a file whose content is wrong), also wrapped in
 * {@link UncheckedIOException}; {@link IllegalArgumentException}, which the runtime throws for
 * wrong shapes and values with a message that names both sides; a training run that diverged
 * (its settings, not the program, are at fault). Everything else is a bug.
 */
final class Failures {

    private Failures() {
    }

    static boolean isUserMistake(Throwable e) {
        return e instanceof UserError || e instanceof IOException || e instanceof UncheckedIOException
                || e instanceof IllegalArgumentException || e instanceof io.jlstm.train.Fit.TrainingDivergedException;
    }

    /** One line for the user; the file system exceptions, whose message is often only a path, get a verb. */
    static String message(Throwable e) {
        Throwable t = e instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : e;
        if (t instanceof FileSystemException f && f.getReason() == null) {
            String what = switch (f) {
                case NoSuchFileException n -> "no such file or folder";
                case AccessDeniedException a -> "permission denied";
                case FileAlreadyExistsException x -> "already exists";
                case NotDirectoryException d -> "not a folder";
                default -> f.getClass().getSimpleName();
            };
            return what + ": " + f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "");
        }
        String m = t.getMessage();
        if (t instanceof io.jlstm.train.Fit.TrainingDivergedException) {
            return m + " (try a lower learning rate or gradient clipping)";
        }
        if (m == null || m.isBlank()) {
            return t.getClass().getName();
        }
        return isUserMistake(t) ? m : t.getClass().getSimpleName() + ": " + m;
    }
}
