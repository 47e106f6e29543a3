package io.jlstm.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.jlstm.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * A safetensors file opened for reading.
 *
 * <p>Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON (an object
 * whose keys are tensor names, each mapped to {@code {"dtype", "shape", "data_offsets"}}, plus an
 * optional {@code "__metadata__"} string map), then the data section; data offsets are relative
 * to its start, {@code 8 + N}. {@link #open} checks all of it before returning.
 *
 * <p><b>Memory.</b> The file is memory-mapped read-only into a shared arena that this object
 * owns. Every segment handed out by {@link #data} (and every tensor from {@link #viewF32}) is a
 * read-only slice of that mapping, valid until {@link #close()}; using one afterwards throws
 * {@link IllegalStateException}. Tensors from {@link #readF32} are copies in the caller's arena
 * and outlive this object. The file must not be truncated while it is open (the JVM would fault
 * on the missing pages).
 *
 * <p><b>Threads.</b> All reads are thread-safe. {@link #close()} must not race with reads in
 * other threads: a shared arena cannot be closed while another thread is accessing it.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Headers above this are refused rather than read: real ones are a few KiB to a few MiB. */
    static final long MAX_HEADER_BYTES = 100L << 20;

    static final String METADATA_KEY = "__metadata__";

    /** Element layouts of the file: little-endian, no alignment promised. */
    private static final ValueLayout.OfShort LE_U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final Arena arena;
    private final MemorySegment dataSection;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> tensors;
    private final List<TensorInfo> tensorList;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SafetensorsFile(Path path, Arena arena, MemorySegment dataSection, Map<String, String> metadata,
                            Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.dataSection = dataSection;
        this.metadata = metadata;
        this.tensors = tensors;
        this.tensorList = List.copyOf(tensors.values());
    }

    /**
     * Maps and checks a safetensors file.
     *
     * @throws ModelFormatException when the content is not a valid safetensors file of the
     *                              supported dtypes; the message names the file and the problem
     * @throws IOException          when the file cannot be read
     */
    public static SafetensorsFile open(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapped;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = channel.size();
                if (size < 8) {
                    throw new ModelFormatException(file + ": not a safetensors file: " + size
                            + " bytes, shorter than the 8-byte header length");
                }
                mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            return parse(file, arena, mapped);
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    private static SafetensorsFile parse(Path file, Arena arena, MemorySegment mapped) throws ModelFormatException {
        long size = mapped.byteSize();
        long headerLength = mapped.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        String lengthText = Long.toUnsignedString(headerLength);
        if (headerLength == 0) {
            throw new ModelFormatException(file + ": header length is 0; a safetensors header is at least '{}'");
        }
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new ModelFormatException(file + ": header length " + lengthText + " is above the limit of "
                    + MAX_HEADER_BYTES + " bytes (100 MiB); not a safetensors file, or a corrupt one");
        }
        if (headerLength > size - 8) {
            throw new ModelFormatException(file + ": header length " + lengthText + " is beyond the end of the file ("
                    + size + " bytes, so at most " + (size - 8) + " bytes of header)");
        }
        byte[] headerBytes = mapped.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root = parseJson(file, headerBytes);

        MemorySegment dataSection = mapped.asSlice(8 + headerLength);
        long dataSize = dataSection.byteSize();
        Map<String, String> metadata = Map.of();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            String name = entry.getKey();
            if (name.equals(METADATA_KEY)) {
                metadata = parseMetadata(file, entry.getValue());
            } else {
                tensors.put(name, parseEntry(file, name, entry.getValue(), dataSize));
            }
        }
        checkNoOverlap(file, tensors.values());
        return new SafetensorsFile(file, arena, dataSection, metadata, Collections.unmodifiableMap(tensors));
    }

    private static JsonNode parseJson(Path file, byte[] headerBytes) throws ModelFormatException {
        ByteBuffer in = ByteBuffer.wrap(headerBytes);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file + ": header (" + headerBytes.length
                    + " bytes) is not valid UTF-8 at byte " + in.position(), e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JacksonException e) {
            throw new ModelFormatException(file + ": header is not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (at character " + e.getLocation().getCharOffset() + ")"), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": header must be a JSON object, but it is "
                    + (root == null || root.isMissingNode() ? "empty" : describe(root)));
        }
        return root;
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) throws ModelFormatException {
        if (!node.isObject()) {
            throw new ModelFormatException(file + ": " + METADATA_KEY + " must be an object of strings, but it is "
                    + describe(node));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(file + ": " + METADATA_KEY + " must map strings to strings, but key '"
                        + e.getKey() + "' holds " + describe(e.getValue()));
            }
            metadata.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode node, long dataSize) throws ModelFormatException {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject()) {
            throw new ModelFormatException(where + " must be an object with dtype, shape and data_offsets, but it is "
                    + describe(node));
        }
        JsonNode dtypeNode = required(where, node, "dtype");
        JsonNode shapeNode = required(where, node, "shape");
        JsonNode offsetsNode = required(where, node, "data_offsets");
        if (!dtypeNode.isTextual()) {
            throw new ModelFormatException(where + ": dtype must be a string, but it is " + describe(dtypeNode));
        }
        DType dtype;
        try {
            dtype = DType.parse(dtypeNode.textValue());
        } catch (ModelFormatException e) {
            throw new ModelFormatException(where + ": " + e.getMessage(), e);
        }
        long[] shape = nonNegativeLongs(where, "shape", shapeNode);
        long[] offsets = nonNegativeLongs(where, "data_offsets", offsetsNode);
        if (offsets.length != 2) {
            throw new ModelFormatException(where + ": data_offsets must be [begin, end], but it has "
                    + offsets.length + " numbers: " + Arrays.toString(offsets));
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw new ModelFormatException(where + ": data_offsets " + Arrays.toString(offsets)
                    + " have begin > end");
        }
        if (end > dataSize) {
            throw new ModelFormatException(where + ": data_offsets " + Arrays.toString(offsets)
                    + " end beyond the data section, which has " + dataSize + " bytes");
        }
        long expectedBytes;
        try {
            long count = 1;
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            expectedBytes = Math.multiplyExact(count, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new ModelFormatException(where + ": shape " + Arrays.toString(shape) + " is too large (overflows 64 bits)", e);
        }
        if (end - begin != expectedBytes) {
            throw new ModelFormatException(where + ": data_offsets " + Arrays.toString(offsets) + " span "
                    + (end - begin) + " bytes, but shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + expectedBytes);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static JsonNode required(String where, JsonNode entry, String field) throws ModelFormatException {
        JsonNode value = entry.get(field);
        if (value == null) {
            List<String> present = new ArrayList<>();
            entry.fieldNames().forEachRemaining(present::add);
            throw new ModelFormatException(where + " has no '" + field + "' (it has: " + String.join(", ", present) + ")");
        }
        return value;
    }

    private static long[] nonNegativeLongs(String where, String field, JsonNode node) throws ModelFormatException {
        if (!node.isArray()) {
            throw new ModelFormatException(where + ": " + field + " must be an array of integers, but it is " + describe(node));
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw new ModelFormatException(where + ": " + field + "[" + i + "] must be an integer, but it is "
                        + describe(v) + " in " + node);
            }
            values[i] = v.longValue();
            if (values[i] < 0) {
                throw new ModelFormatException(where + ": " + field + "[" + i + "] is negative: " + node);
            }
        }
        return values;
    }

    /** Empty ranges overlap nothing; the reference writer never leaves gaps, but gaps are harmless, so allowed. */
    private static void checkNoOverlap(Path file, Iterable<TensorInfo> infos) throws ModelFormatException {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo info : infos) {
            if (info.end() > info.begin()) {
                sorted.add(info);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1);
            TensorInfo b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw new ModelFormatException(file + ": tensors '" + a.name() + "' (bytes " + a.begin() + ".." + a.end()
                        + ") and '" + b.name() + "' (bytes " + b.begin() + ".." + b.end() + ") overlap");
            }
        }
    }

    private static String describe(JsonNode node) {
        String kind = switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            default -> node.getNodeType().toString().toLowerCase();
        };
        String text = node.toString();
        return kind + " (" + (text.length() > 80 ? text.substring(0, 77) + "..." : text) + ")";
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** The {@code __metadata__} map, in file order; empty when the file has none. Unmodifiable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor's header entry, in header order. Unmodifiable. */
    public List<TensorInfo> tensors() {
        return tensorList;
    }

    /**
     * The header entry of tensor {@code name}.
     *
     * @throws ModelFormatException when the file has no such tensor; the message lists those it has
     */
    public TensorInfo info(String name) throws ModelFormatException {
        Objects.requireNonNull(name, "name");
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new ModelFormatException("tensor '" + name + "' is missing from " + path + " (it has: "
                    + String.join(", ", tensors.keySet()) + ")");
        }
        return info;
    }

    /**
     * The raw little-endian bytes of tensor {@code name}: a read-only slice of the mapping, valid
     * until {@link #close()}. Not aligned beyond what the file gives.
     *
     * @throws ModelFormatException  when the file has no such tensor
     * @throws IllegalStateException when this file is closed
     */
    public MemorySegment data(String name) throws ModelFormatException {
        TensorInfo info = info(name);
        checkOpen();
        return dataSection.asSlice(info.begin(), info.byteSize());
    }

    /**
     * Tensor {@code name} as float32, copied into {@code arena}: F32 is copied (and byte-swapped
     * on big-endian machines), F16 and BF16 are converted exactly. The tensor's memory belongs to
     * {@code arena} and outlives this file.
     *
     * @param expectedShape the shape the caller needs, or {@code null} to take the file's
     * @throws ModelFormatException  when the tensor is missing or its shape is not {@code expectedShape}
     * @throws IllegalStateException when this file is closed
     */
    public Tensor readF32(String name, long[] expectedShape, Arena arena) throws ModelFormatException {
        Objects.requireNonNull(arena, "arena");
        TensorInfo info = checkedInfo(name, expectedShape);
        MemorySegment src = data(name);
        Tensor out = Tensor.allocate(arena, info.shape());
        convertToF32(info, src, out.segment());
        return out;
    }

    /**
     * Tensor {@code name} as a read-only float32 tensor that lives until {@link #close()}. When
     * the tensor is F32, the machine little-endian and the data 4-byte aligned in memory (always
     * so for files from {@link SafetensorsWriter} and the reference writer), this is a view of
     * the mapping and copies nothing; otherwise it is converted into memory owned by this file,
     * allocated anew on each call and freed by {@link #close()}.
     *
     * @param expectedShape the shape the caller needs, or {@code null} to take the file's
     * @throws ModelFormatException  when the tensor is missing or its shape is not {@code expectedShape}
     * @throws IllegalStateException when this file is closed
     */
    public Tensor viewF32(String name, long[] expectedShape) throws ModelFormatException {
        TensorInfo info = checkedInfo(name, expectedShape);
        MemorySegment src = data(name);
        if (info.dtype() == DType.F32 && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN
                && src.address() % Float.BYTES == 0) {
            return Tensor.wrap(src, info.shape());
        }
        Tensor copy = Tensor.allocate(this.arena, info.shape());
        convertToF32(info, src, copy.segment());
        return Tensor.wrap(copy.segment().asReadOnly(), info.shape());
    }

    private TensorInfo checkedInfo(String name, long[] expectedShape) throws ModelFormatException {
        TensorInfo info = info(name);
        if (expectedShape != null && !Arrays.equals(expectedShape, info.shape())) {
            throw new ModelFormatException("tensor '" + name + "' in " + path + " has shape "
                    + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(expectedShape));
        }
        return info;
    }

    private static void convertToF32(TensorInfo info, MemorySegment src, MemorySegment dst) {
        long n = info.elementCount();
        switch (info.dtype()) {
            case F32 -> MemorySegment.copy(src, LittleEndian.F32, 0, dst, ValueLayout.JAVA_FLOAT, 0, n);
            case F16 -> {
                for (long i = 0; i < n; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.float16ToFloat(src.getAtIndex(LE_U16, i)));
                }
            }
            case BF16 -> {
                for (long i = 0; i < n; i++) {
                    // bfloat16 is the top half of a binary32: shifting back is exact, NaNs included.
                    int bits = (src.getAtIndex(LE_U16, i) & 0xFFFF) << 16;
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.intBitsToFloat(bits));
                }
            }
        }
    }

    private void checkOpen() {
        if (closed.get()) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    /**
     * Unmaps the file; segments and views handed out become invalid. Idempotent. Must not race
     * with reads in other threads.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors"
                + (metadata.isEmpty() ? "" : ", metadata " + metadata.keySet().stream().collect(Collectors.joining(", ", "{", "}")))
                + "]";
    }
}
