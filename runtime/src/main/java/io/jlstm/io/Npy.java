package io.jlstm.io;

import io.jlstm.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0) of C-order arrays.
 *
 * <p>Reading accepts little-endian {@code '<f4'} as is and converts {@code '<f8'}, {@code '<i4'}
 * and {@code '<i8'} to float32 (rounding to nearest; large integers lose precision). It rejects
 * Fortran order, big-endian data, object and structured arrays and any other dtype, naming the
 * file and what it found. Writing produces version 1.0 {@code '<f4'} (2.0 when the header would
 * not fit in 65535 bytes), with the header padded so the data starts 64-byte aligned, as NumPy
 * does; the write is atomic (temporary file, then rename).
 *
 * <p>Tensors returned by {@link #read} own their memory (automatic arena, freed by the garbage
 * collector). Stateless and thread-safe; {@link #write} only reads the tensor, which must not be
 * written to during the call.
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    private Npy() {
    }

    /** The element types read, by their descr without the byte-order character. */
    private enum Kind {
        F4(4), F8(8), I4(4), I8(8);

        final int size;

        Kind(int size) {
            this.size = size;
        }
    }

    /**
     * Reads an {@code .npy} file into a float32 tensor of the array's shape (rank 0 for a NumPy
     * scalar array).
     *
     * @throws ModelFormatException when the file is not a supported {@code .npy} file
     * @throws IOException          when it cannot be read
     */
    public static Tensor read(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        try (Arena arena = Arena.ofConfined();
             FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            MemorySegment bytes = size == 0 ? MemorySegment.NULL : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(file, bytes, size);
        }
    }

    private static Tensor parse(Path file, MemorySegment bytes, long size) throws ModelFormatException {
        if (size < 10 || !Arrays.equals(bytes.asSlice(0, MAGIC.length).toArray(ValueLayout.JAVA_BYTE), MAGIC)) {
            throw new ModelFormatException(file + ": not a .npy file (it does not start with \\x93NUMPY)");
        }
        int major = bytes.get(ValueLayout.JAVA_BYTE, 6) & 0xFF;
        int minor = bytes.get(ValueLayout.JAVA_BYTE, 7) & 0xFF;
        long headerStart;
        long headerLength;
        Charset charset;
        switch (major) {
            case 1 -> {
                headerStart = 10;
                headerLength = bytes.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFF;
                charset = StandardCharsets.ISO_8859_1;
            }
            case 2, 3 -> {
                if (size < 12) {
                    throw new ModelFormatException(file + ": .npy version " + major + "." + minor + " needs a 12-byte preamble, the file has "
                            + size + " bytes");
                }
                headerStart = 12;
                headerLength = bytes.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFF_FFFFL;
                charset = major == 2 ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8;
            }
            default -> throw new ModelFormatException(file + ": .npy format version " + major + "." + minor
                    + " is not supported (supported: 1.0, 2.0, 3.0)");
        }
        if (headerStart + headerLength > size) {
            throw new ModelFormatException(file + ": .npy header length " + headerLength + " is beyond the end of the file ("
                    + size + " bytes)");
        }
        String header = decode(file, bytes.asSlice(headerStart, headerLength), charset);
        Map<String, Object> dict;
        try {
            dict = new HeaderParser(header).parse();
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": .npy header is not a valid dictionary literal: " + e.getMessage()
                    + " in " + header.strip(), e);
        }
        if (!dict.keySet().equals(KEYS)) {
            throw new ModelFormatException(file + ": .npy header must have exactly the keys descr, fortran_order, shape, but has "
                    + dict.keySet());
        }
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
            throw new ModelFormatException(file + ": .npy fortran_order must be True or False, but is " + dict.get("fortran_order"));
        }
        if (fortran) {
            throw new ModelFormatException(file + ": .npy array is in Fortran (column-major) order; only C order is supported"
                    + " (save it with np.ascontiguousarray)");
        }
        long[] shape = shape(file, dict.get("shape"));
        Kind kind = kind(file, dict.get("descr"));

        long dataStart = headerStart + headerLength;
        long count;
        long dataBytes;
        try {
            count = 1;
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            dataBytes = Math.multiplyExact(count, kind.size);
        } catch (ArithmeticException e) {
            throw new ModelFormatException(file + ": .npy shape " + Arrays.toString(shape) + " is too large", e);
        }
        if (size - dataStart != dataBytes) {
            throw new ModelFormatException(file + ": .npy shape " + Arrays.toString(shape) + " of " + dict.get("descr")
                    + " needs " + dataBytes + " bytes of data, but the file has " + (size - dataStart));
        }
        if (count > Integer.MAX_VALUE) {
            throw new ModelFormatException(file + ": .npy array of " + count + " elements is larger than a Tensor can hold ("
                    + Integer.MAX_VALUE + ")");
        }
        Tensor out = Tensor.allocate(shape);
        MemorySegment src = bytes.asSlice(dataStart, dataBytes);
        MemorySegment dst = out.segment();
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        switch (kind) {
            case F4 -> MemorySegment.copy(src, LittleEndian.F32, 0, dst, ValueLayout.JAVA_FLOAT, 0, count);
            case F8 -> {
                ValueLayout.OfDouble layout = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(le);
                for (long i = 0; i < count; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) src.getAtIndex(layout, i));
                }
            }
            case I4 -> {
                ValueLayout.OfInt layout = ValueLayout.JAVA_INT_UNALIGNED.withOrder(le);
                for (long i = 0; i < count; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) src.getAtIndex(layout, i));
                }
            }
            case I8 -> {
                ValueLayout.OfLong layout = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(le);
                for (long i = 0; i < count; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) src.getAtIndex(layout, i));
                }
            }
        }
        return out;
    }

    private static long[] shape(Path file, Object value) throws ModelFormatException {
        if (value instanceof List<?> items) {
            long[] shape = new long[items.size()];
            for (int i = 0; i < shape.length; i++) {
                if (!(items.get(i) instanceof Long d) || d < 0) {
                    throw new ModelFormatException(file + ": .npy shape must be a tuple of non-negative integers, but is " + value);
                }
                shape[i] = d;
            }
            return shape;
        }
        throw new ModelFormatException(file + ": .npy shape must be a tuple of non-negative integers, but is " + value);
    }

    private static String decode(Path file, MemorySegment header, Charset charset) throws ModelFormatException {
        ByteBuffer in = header.asByteBuffer();
        try {
            return charset.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file + ": .npy header is not valid " + charset + " at byte " + in.position(), e);
        }
    }

    private static Kind kind(Path file, Object descr) throws ModelFormatException {
        if (descr instanceof List<?>) {
            throw new ModelFormatException(file + ": .npy array has a structured dtype " + descr
                    + "; only plain numeric arrays are supported");
        }
        if (!(descr instanceof String d)) {
            throw new ModelFormatException(file + ": .npy descr must be a string, but is " + descr);
        }
        String supported = " (supported: '<f4', '<f8', '<i4', '<i8')";
        if (d.length() >= 2 && "|<>=".indexOf(d.charAt(0)) >= 0 && d.charAt(1) == 'O' || d.equals("O")) {
            throw new ModelFormatException(file + ": .npy array holds Python objects (descr '" + d
                    + "'), which cannot be read without pickle" + supported);
        }
        if (d.startsWith(">")) {
            throw new ModelFormatException(file + ": .npy array is big-endian (descr '" + d
                    + "'); convert it with arr.astype('<f4')" + supported);
        }
        return switch (d) {
            case "<f4" -> Kind.F4;
            case "<f8" -> Kind.F8;
            case "<i4" -> Kind.I4;
            case "<i8" -> Kind.I8;
            default -> throw new ModelFormatException(file + ": .npy dtype '" + d + "' is not supported" + supported);
        };
    }

    /**
     * Writes {@code tensor} as a C-order {@code '<f4'} array of the same shape.
     *
     * @throws IOException when the file cannot be written; the target is then unchanged
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensor, "tensor");
        byte[] preamble = preamble(tensor.shape());
        AtomicFile.write(file, channel -> {
            LittleEndian.writeFully(channel, ByteBuffer.wrap(preamble));
            LittleEndian.writeFloats(channel, tensor);
        });
    }

    /** Magic, version, header length and the header, padded with spaces and a newline to a multiple of 64. */
    private static byte[] preamble(long[] shape) {
        StringBuilder dict = new StringBuilder("{'descr': '<f4', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.length; i++) {
            dict.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        dict.append(shape.length == 1 ? ",), }" : "), }");
        int major = 1;
        int prefix = 10;
        int total = pad(prefix + dict.length() + 1);
        if (total - prefix > 0xFFFF) {
            major = 2;
            prefix = 12;
            total = pad(prefix + dict.length() + 1);
        }
        int headerLength = total - prefix;
        ByteBuffer out = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) {
            out.putShort((short) headerLength);
        } else {
            out.putInt(headerLength);
        }
        out.put(dict.toString().getBytes(StandardCharsets.US_ASCII));
        while (out.position() < total - 1) {
            out.put((byte) ' ');
        }
        out.put((byte) '\n');
        return out.array();
    }

    private static int pad(int length) {
        return (length + ALIGN - 1) / ALIGN * ALIGN;
    }

    /**
     * The subset of Python literal syntax that NumPy writes in .npy headers: a dict of quoted
     * keys to strings, True/False, integers (with Python 2's 'L' suffix), and tuples and lists
     * (both as {@code List}; lists appear in structured dtypes, parsed only to be rejected with
     * a clear message).
     */
    private static final class HeaderParser {
        private final String s;
        private int pos;

        HeaderParser(String s) {
            this.s = s;
        }

        Map<String, Object> parse() {
            Map<String, Object> dict = new LinkedHashMap<>();
            expect('{');
            while (!peek('}')) {
                Object key = value();
                if (!(key instanceof String k)) {
                    throw new IllegalArgumentException("key " + key + " at character " + pos + " is not a string");
                }
                expect(':');
                if (dict.put(k, value()) != null) {
                    throw new IllegalArgumentException("key '" + k + "' appears twice");
                }
                if (!peek('}')) {
                    expect(',');
                }
            }
            expect('}');
            skipSpace();
            if (pos != s.length()) {
                throw new IllegalArgumentException("unexpected text after the dictionary at character " + pos);
            }
            return dict;
        }

        private Object value() {
            skipSpace();
            if (pos >= s.length()) {
                throw new IllegalArgumentException("value expected at the end");
            }
            char c = s.charAt(pos);
            if (c == '\'' || c == '"') {
                int end = s.indexOf(c, pos + 1);
                if (end < 0) {
                    throw new IllegalArgumentException("unterminated string at character " + pos);
                }
                String text = s.substring(pos + 1, end);
                pos = end + 1;
                return text;
            }
            if (c == '(' || c == '[') {
                char close = c == '(' ? ')' : ']';
                pos++;
                List<Object> items = new ArrayList<>();
                while (!peek(close)) {
                    items.add(value());
                    if (!peek(close)) {
                        expect(',');
                    }
                }
                expect(close);
                return items;
            }
            int start = pos;
            while (pos < s.length() && (Character.isLetterOrDigit(s.charAt(pos)) || s.charAt(pos) == '-' || s.charAt(pos) == '_')) {
                pos++;
            }
            String word = s.substring(start, pos);
            switch (word) {
                case "True":
                    return Boolean.TRUE;
                case "False":
                    return Boolean.FALSE;
                default:
                    break;
            }
            String digits = word.endsWith("L") ? word.substring(0, word.length() - 1) : word;
            try {
                return Long.parseLong(digits);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("unexpected '" + (word.isEmpty() ? String.valueOf(c) : word)
                        + "' at character " + start);
            }
        }

        private boolean peek(char c) {
            skipSpace();
            return pos < s.length() && s.charAt(pos) == c;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw new IllegalArgumentException("expected '" + c + "' at character " + pos
                        + (pos < s.length() ? ", found '" + s.charAt(pos) + "'" : ", found the end"));
            }
            pos++;
        }

        private void skipSpace() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }
    }
}
