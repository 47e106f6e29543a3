package io.jlstm.cli;

import io.jlstm.Tensor;
import io.jlstm.io.Csv;
import io.jlstm.io.Npy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Tensors in the files the command reads and writes, chosen by extension: {@code .npy} (any
 * shape) and {@code .csv} (rows of numbers). Stateless.
 */
final class TensorFiles {

    /** The formats, by file extension. */
    enum Format { NPY, CSV }

    private TensorFiles() {
    }

    /** The format of {@code file} by its extension; {@code what} names the file's role in the message. */
    static Format format(Path file, String what) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".npy")) {
            return Format.NPY;
        }
        if (name.endsWith(".csv")) {
            return Format.CSV;
        }
        throw new UserError(what + " " + file + ": unknown file type (expected a .npy or .csv file name)");
    }

    /** Fails unless {@code file} is a readable regular file, naming it and its role. */
    static void requireReadable(Path file, String what) {
        if (!Files.exists(file)) {
            throw new UserError(what + " not found: " + file);
        }
        if (Files.isDirectory(file)) {
            throw new UserError(what + " " + file + " is a folder, expected a file");
        }
        if (!Files.isReadable(file)) {
            throw new UserError(what + " " + file + " cannot be read (permission denied)");
        }
    }

    /** Fails unless the folder {@code file} would be written into exists. */
    static void requireWritableFolder(Path file, String what) {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new UserError(what + " " + file + ": folder " + parent + " does not exist");
        }
        if (Files.isDirectory(file)) {
            throw new UserError(what + " " + file + " is a folder, expected a file name");
        }
    }

    /**
     * Reads a model input as [batch, time, features]: a rank-3 .npy as it is, a rank-2 .npy or a
     * CSV ([time, features], one row per time step) as one sequence.
     */
    static Tensor readSequences(Path file) throws IOException {
        Format format = format(file, "input");
        requireReadable(file, "input file");
        Tensor t = format == Format.NPY ? Npy.read(file) : Csv.read(file);
        long[] s = t.shape();
        return switch (s.length) {
            case 3 -> t;
            case 2 -> {
                if (s[0] == 0) {
                    throw new UserError("input " + file + " has no rows (time steps)");
                }
                yield t.reshape(1, s[0], s[1]);
            }
            default -> throw new UserError("input " + file + " has shape " + Arrays.toString(s)
                    + ", expected [batch, time, features] or [time, features]");
        };
    }

    /** Writes {@code t} to {@code file} in the format of its extension. */
    static void write(Path file, Tensor t) throws IOException {
        switch (format(file, "output")) {
            case NPY -> Npy.write(file, t);
            case CSV -> Csv.write(file, t);
        }
    }

    /** {@code y.npy} with {@code state_h} gives {@code y.state_h.npy}, beside it. */
    static Path withSuffix(Path file, String suffix) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String named = dot > 0 ? name.substring(0, dot) + "." + suffix + name.substring(dot)
                : name + "." + suffix;
        return file.resolveSibling(named);
    }

    /** {@code m.safetensors} with {@code input.npy} gives {@code m.input.npy}, beside it. */
    static Path replaceExtension(Path file, String newTail) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String base = dot > 0 ? name.substring(0, dot) : name;
        return file.resolveSibling(base + "." + newTail);
    }

    /**
     * Prints {@code t} as rows of comma-separated {@link Float#toString(float)} values: one row per
     * last-axis vector ([b, f]: b rows; [b, t, f]: b·t rows).
     */
    static void printRows(PrintWriter out, Tensor t) {
        long[] s = t.shape();
        long columns = s.length == 0 ? 1 : s[s.length - 1];
        long n = t.size();
        if (columns == 0) {
            return;
        }
        StringBuilder line = new StringBuilder();
        for (long i = 0; i < n; i++) {
            line.append(t.getFlat(i));
            if ((i + 1) % columns == 0) {
                out.println(line);
                line.setLength(0);
            } else {
                line.append(',');
            }
        }
    }

    static String shape(long[] s) {
        return Arrays.toString(s);
    }
}
