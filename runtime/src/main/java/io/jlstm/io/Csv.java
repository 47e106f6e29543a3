package io.jlstm.io;

import io.jlstm.Tensor;

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.Channels;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * CSV files of numbers: one row per line, cells separated by commas (no quoting).
 *
 * <p>Reading skips blank lines and lines whose first non-blank character is {@code '#'}; the
 * first remaining line is a header, and skipped, when none of its cells is a number. Cells
 * are decimal numbers ({@code 1}, {@code -2.5}, {@code 3e-7}) or NaN/infinity as Java and
 * Python write them ({@code NaN}, {@code nan}, {@code Infinity}, {@code -inf}); spaces around
 * cells are ignored. Every row must have the same number of cells. The result is a rank-2
 * tensor {@code [rows, columns]}.
 *
 * <p>Writing takes rank 1 (one value per line), rank 2 (one row per line) or rank 3
 * {@code [b, t, f]} (written as {@code b*t} rows of {@code f} values), no header, values as
 * {@link Float#toString(float)} writes them, which reads back to the same float. The write is
 * atomic (temporary file, then rename).
 *
 * <p>Tensors returned by {@link #read} own their memory (automatic arena, freed by the garbage
 * collector). Stateless and thread-safe; {@link #write} only reads the tensor, which must not be
 * written to during the call.
 */
public final class Csv {

    private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    private Csv() {
    }

    /**
     * Reads a CSV of numbers into a {@code [rows, columns]} tensor ({@code [0, columns]} when
     * there is a header but no rows, {@code [0, 0]} when there is nothing).
     *
     * @throws ModelFormatException when a row has another number of cells than the first one,
     *                              or a cell after the header is not a number; the message names
     *                              the line
     * @throws IOException          when the file cannot be read or is not UTF-8
     */
    public static Tensor read(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        float[] values = new float[1024];
        int count = 0;
        int columns = -1;
        int columnsLine = 0;
        int headerColumns = -1;
        int headerLine = 0;
        long rows = 0;
        boolean first = true;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int lineNumber = 0;
            for (String line; (line = in.readLine()) != null; ) {
                lineNumber++;
                if (lineNumber == 1 && line.startsWith("\uFEFF")) {
                    line = line.substring(1);
                }
                String trimmed = line.strip();
                if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                    continue;
                }
                String[] cells = line.split(",", -1);
                if (first) {
                    first = false;
                    // A header has no number in it; a first row with some numbers and one typo is
                    // data with a bad cell (reported below), not a header to drop silently.
                    if (Arrays.stream(cells).noneMatch(Csv::isNumber)) {
                        headerColumns = cells.length;
                        headerLine = lineNumber;
                        continue;
                    }
                }
                if (columns < 0) {
                    columns = cells.length;
                    columnsLine = lineNumber;
                    if (headerColumns >= 0 && headerColumns != columns) {
                        throw new ModelFormatException(file + ": the header on line " + headerLine + " has " + headerColumns
                                + " columns, but line " + lineNumber + " has " + columns + " values");
                    }
                } else if (cells.length != columns) {
                    throw new ModelFormatException(file + ": line " + lineNumber + " has " + cells.length
                            + " values, expected " + columns + " (as on line " + columnsLine + ")");
                }
                if (count + columns > values.length) {
                    if ((long) count + columns > Integer.MAX_VALUE - 8) {
                        throw new ModelFormatException(file + ": more than " + count + " values, too many for a Tensor");
                    }
                    values = Arrays.copyOf(values, (int) Math.min(Integer.MAX_VALUE - 8L, Math.max((long) count + columns, 2L * values.length)));
                }
                for (int c = 0; c < columns; c++) {
                    String cell = cells[c].strip();
                    if (!isNumber(cell)) {
                        throw new ModelFormatException(file + ": line " + lineNumber + ", column " + (c + 1) + ": '" + cell
                                + "' is not a number");
                    }
                    values[count++] = parse(cell);
                }
                rows++;
            }
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file + ": not UTF-8 text", e);
        }
        int cols = columns >= 0 ? columns : Math.max(headerColumns, 0);
        Tensor out = Tensor.allocate(rows, cols);
        MemorySegment.copy(values, 0, out.segment(), ValueLayout.JAVA_FLOAT, 0, count);
        return out;
    }

    private static boolean isNumber(String cell) {
        String s = cell.strip();
        return special(s) != null || DECIMAL.matcher(s).matches();
    }

    private static float parse(String cell) {
        Float special = special(cell);
        return special != null ? special : Float.parseFloat(cell);
    }

    /** NaN and the infinities in the spellings of Java ({@code Float.toString}) and Python/NumPy. */
    private static Float special(String s) {
        String body = s.startsWith("+") || s.startsWith("-") ? s.substring(1) : s;
        boolean negative = s.startsWith("-");
        if (body.equalsIgnoreCase("nan")) {
            return Float.NaN;
        }
        if (body.equalsIgnoreCase("inf") || body.equalsIgnoreCase("infinity")) {
            return negative ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
        }
        return null;
    }

    /**
     * Writes a rank 1, 2 or 3 tensor as described in the class comment.
     *
     * @throws IllegalArgumentException for any other rank
     * @throws IOException              when the file cannot be written; the target is then unchanged
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensor, "tensor");
        long[] shape = tensor.shape();
        long columns = switch (shape.length) {
            case 1 -> 1;
            case 2 -> shape[1];
            case 3 -> shape[2];
            default -> throw new IllegalArgumentException("CSV holds tensors of rank 1, 2 or 3 ([b, t, f] as b*t rows), not rank "
                    + shape.length + " " + Arrays.toString(shape));
        };
        long n = tensor.size();
        AtomicFile.write(file, channel -> {
            // Not closed here: closing the stream would close the channel, which AtomicFile still forces.
            OutputStream out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16);
            StringBuilder line = new StringBuilder();
            for (long i = 0; i < n; i++) {
                line.append(Float.toString(tensor.getFlat(i)));
                line.append((i + 1) % columns == 0 ? '\n' : ',');
                if (line.length() >= 8192) {
                    out.write(line.toString().getBytes(StandardCharsets.US_ASCII));
                    line.setLength(0);
                }
            }
            out.write(line.toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
        });
    }
}
