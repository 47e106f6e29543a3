package io.jlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writing safetensors: round trips, conformance to the format as the reference writes it, atomicity. */
class SafetensorsWriterTest {

    @TempDir
    Path dir;

    private static Tensor random(SplittableRandom rnd, long... shape) {
        Tensor t = Tensor.allocate(shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, (float) rnd.nextGaussian());
        }
        return t;
    }

    /** Tensors in a non-alphabetical order, with edge-case values and a tensor larger than the writer's staging buffer. */
    private static SequencedMap<String, Tensor> sample() {
        SplittableRandom rnd = new SplittableRandom(7);
        SequencedMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("lstm_1/kernel", random(rnd, 13, 4 * 37));
        tensors.put("dense/bias", Tensor.of(new float[] {-0f, Float.MIN_VALUE, Float.MAX_VALUE,
                Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7fc12345)}, 5));
        tensors.put("big", random(rnd, 300_001));
        tensors.put("empty", Tensor.allocate(0, 4));
        tensors.put("scalar", Tensor.of(new float[] {42.5f}));
        tensors.put("ünïcode ✓", random(rnd, 2, 3, 1));
        return tensors;
    }

    private static void assertBitIdentical(Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        for (long i = 0; i < expected.size(); i++) {
            assertEquals(Float.floatToRawIntBits(expected.getFlat(i)), Float.floatToRawIntBits(actual.getFlat(i)), "element " + i);
        }
    }

    @Test
    void roundTripKeepsValuesBitsOrderAndMetadata() throws IOException {
        Path file = dir.resolve("model.safetensors");
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "jlstm");
        metadata.put("layers", "[{\"type\":\"lstm\",\"units\":37}]");
        metadata.put("note", "ünïcode ✓");
        SequencedMap<String, Tensor> tensors = sample();
        SafetensorsWriter.write(file, metadata, tensors);

        try (SafetensorsFile f = SafetensorsFile.open(file); Arena arena = Arena.ofConfined()) {
            assertEquals(metadata, f.metadata());
            assertEquals(List.copyOf(metadata.keySet()), List.copyOf(f.metadata().keySet()));
            assertEquals(List.copyOf(tensors.keySet()), f.tensors().stream().map(TensorInfo::name).toList());
            for (var e : tensors.entrySet()) {
                assertEquals(DType.F32, f.info(e.getKey()).dtype());
                assertBitIdentical(e.getValue(), f.readF32(e.getKey(), e.getValue().shape(), arena));
                assertBitIdentical(e.getValue(), f.viewF32(e.getKey(), e.getValue().shape()));
            }
        }
    }

    @Test
    void emptyMetadataIsLeftOutOfTheHeader() throws IOException {
        Path file = dir.resolve("m.safetensors");
        SafetensorsWriter.write(file, Map.of(), new LinkedHashMap<>(Map.of("a", Tensor.of(new float[] {1f}, 1))));
        assertFalse(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).contains("__metadata__"));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of(), f.metadata());
        }
    }

    @Test
    void matchesTheReferenceWriterByteForByte() throws IOException {
        // What Python's safetensors.numpy.save_file({"w": np.float32([[1, 2]])}, f, metadata={"format": "np"}) writes:
        // dtype, shape, data_offsets in that order, no spaces, header padded with spaces to a multiple of 8.
        Path file = dir.resolve("ref.safetensors");
        SafetensorsWriter.write(file, Map.of("format", "np"),
                new LinkedHashMap<>(Map.of("w", Tensor.of(new float[] {1f, 2f}, 1, 2))));
        String json = "{\"__metadata__\":{\"format\":\"np\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}";
        byte[] header = (json + " ".repeat(-json.length() & 7)).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer expected = ByteBuffer.allocate(8 + header.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        expected.putLong(header.length).put(header).putFloat(1f).putFloat(2f);
        assertArrayEquals(expected.array(), Files.readAllBytes(file));
    }

    /**
     * Reads the writer's output with a parser written here from the format description, not with
     * {@link SafetensorsFile}, and checks the rules a standard reader relies on.
     */
    @Test
    void outputFollowsTheFormatAsAnIndependentParserReadsIt() throws IOException {
        Path file = dir.resolve("spec.safetensors");
        SequencedMap<String, Tensor> tensors = sample();
        SafetensorsWriter.write(file, Map.of("k", "v"), tensors);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);

        long n = buf.getLong(0);
        assertTrue(n > 0 && 8 + n <= bytes.length, "header length " + n);
        assertEquals(0, (8 + n) % 8, "data section starts 8-byte aligned");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{"), "header starts with '{'");
        int lastBrace = header.lastIndexOf('}');
        assertTrue(header.substring(lastBrace + 1).chars().allMatch(c -> c == ' '), "padding is spaces only");
        assertTrue(header.length() - lastBrace - 1 < 8, "no more padding than needed");

        JsonNode root = new ObjectMapper().readTree(header.substring(0, lastBrace + 1));
        List<String> keys = new ArrayList<>();
        root.fieldNames().forEachRemaining(keys::add);
        assertEquals("__metadata__", keys.getFirst(), "metadata comes first");
        assertEquals("v", root.get("__metadata__").get("k").asText());
        keys.removeFirst();
        assertEquals(List.copyOf(tensors.keySet()), keys);

        long dataStart = 8 + n;
        long expectedBegin = 0;
        for (String name : keys) {
            JsonNode entry = root.get(name);
            assertEquals(List.of("dtype", "shape", "data_offsets"), Stream.of("dtype", "shape", "data_offsets")
                    .filter(entry::has).toList());
            assertEquals(3, entry.size());
            assertEquals("F32", entry.get("dtype").asText());
            long count = 1;
            long[] shape = new long[entry.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                assertTrue(entry.get("shape").get(i).isIntegralNumber());
                shape[i] = entry.get("shape").get(i).asLong();
                count *= shape[i];
            }
            Tensor original = tensors.get(name);
            assertArrayEquals(original.shape(), shape);
            long begin = entry.get("data_offsets").get(0).asLong();
            long end = entry.get("data_offsets").get(1).asLong();
            assertEquals(expectedBegin, begin, name + ": offsets contiguous from 0");
            assertEquals(count * 4, end - begin, name + ": byte count");
            for (long i = 0; i < count; i++) {
                int bits = buf.getInt((int) (dataStart + begin + 4 * i)); // little-endian f32
                assertEquals(Float.floatToRawIntBits(original.getFlat(i)), bits, name + "[" + i + "]");
            }
            expectedBegin = end;
        }
        assertEquals(bytes.length - dataStart, expectedBegin, "data section ends with the last tensor");
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of("version", "1"), new LinkedHashMap<>(Map.of("a", Tensor.of(new float[] {1f, 2f}, 2))));
        byte[] before = Files.readAllBytes(file);

        Arena arena = Arena.ofConfined();
        Tensor dead = Tensor.allocate(arena, 1000);
        arena.close();
        SequencedMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("fine", Tensor.of(new float[] {3f}, 1));
        tensors.put("dead", dead); // fails after the header and the first tensor are written
        assertThrows(IllegalStateException.class, () -> SafetensorsWriter.write(file, Map.of("version", "2"), tensors));

        assertArrayEquals(before, Files.readAllBytes(file));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void tensorNamedLikeTheMetadataIsRejectedBeforeWriting() {
        Path file = dir.resolve("x.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(file, Map.of(),
                new LinkedHashMap<>(Map.of("__metadata__", Tensor.of(new float[] {1f}, 1)))));
        assertTrue(e.getMessage().contains("__metadata__"));
        assertFalse(Files.exists(file));
    }

    @Test
    void replacedFileKeepsOrdinaryPermissions() throws IOException {
        if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return;
        }
        Path plain = Files.createFile(dir.resolve("plain"));
        Path file = dir.resolve("w.safetensors");
        SafetensorsWriter.write(file, Map.of(), new LinkedHashMap<>(Map.of("a", Tensor.of(new float[] {1f}, 1))));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(file));
    }

    @Test
    void concurrentReadsAgree() throws IOException {
        Path file = dir.resolve("c.safetensors");
        SequencedMap<String, Tensor> tensors = sample();
        SafetensorsWriter.write(file, Map.of(), tensors);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            IntStream.range(0, 64).parallel().forEach(i -> {
                String name = List.copyOf(tensors.keySet()).get(i % tensors.size());
                try {
                    assertBitIdentical(tensors.get(name), f.readF32(name, null, Arena.ofAuto()));
                } catch (ModelFormatException e) {
                    throw new AssertionError(e);
                }
            });
        }
    }

    @Test
    void viewOfAlignedF32DataCopiesNothing() throws IOException {
        Path file = dir.resolve("v.safetensors");
        SafetensorsWriter.write(file, Map.of(), sample());
        Tensor view;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            MemorySegment raw = f.data("big");
            view = f.viewF32("big", null);
            if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
                assertEquals(raw.address(), view.segment().address());
            }
            assertTrue(view.segment().isReadOnly());
            assertThrows(IllegalArgumentException.class, () -> view.setFlat(0, 1f)); // read-only segment
        }
        assertThrows(IllegalStateException.class, () -> view.getFlat(0));
    }
}
