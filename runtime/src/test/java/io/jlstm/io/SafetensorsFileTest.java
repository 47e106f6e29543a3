package io.jlstm.io;

import static io.jlstm.io.SafetensorsTestFiles.bytes;
import static io.jlstm.io.SafetensorsTestFiles.littleEndianFloats;
import static io.jlstm.io.SafetensorsTestFiles.littleEndianShorts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Reading safetensors: every check of {@link SafetensorsFile#open} on hand-made corrupt files, and conversions. */
class SafetensorsFileTest {

    @TempDir
    Path dir;

    private static final String ONE = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    /** Opens the bytes and returns the rejection, after checking that it names the file and each fragment. */
    private ModelFormatException rejected(byte[] content, String... fragments) throws IOException {
        Path file = SafetensorsTestFiles.write(dir, "bad.safetensors", content);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().contains(file.toString()), () -> "no file name in: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), () -> "'" + f + "' not in: " + e.getMessage());
        }
        return e;
    }

    private SafetensorsFile open(byte[] content) throws IOException {
        return SafetensorsFile.open(SafetensorsTestFiles.write(dir, "ok.safetensors", content));
    }

    @Test
    void emptyFileIsRejected() throws IOException {
        rejected(new byte[0], "0 bytes", "shorter than the 8-byte header length");
    }

    @Test
    void fileShorterThanEightBytesIsRejected() throws IOException {
        rejected(new byte[] {2, 0, 0, 0, 0}, "5 bytes", "shorter than the 8-byte header length");
    }

    @Test
    void headerLengthZeroIsRejected() throws IOException {
        rejected(bytes(0, new byte[0], new byte[16]), "header length is 0");
    }

    @Test
    void headerLengthBeyondFileIsRejected() throws IOException {
        rejected(bytes(100, "{}".getBytes(StandardCharsets.US_ASCII), new byte[0]),
                "header length 100", "beyond the end of the file (10 bytes, so at most 2 bytes of header)");
    }

    @Test
    void headerLengthAboveBoundIsRejected() throws IOException {
        rejected(bytes(200L << 20, "{}".getBytes(StandardCharsets.US_ASCII), new byte[0]),
                "header length 209715200", "above the limit of 104857600 bytes");
    }

    @Test
    void headerLengthWithTopBitSetIsShownUnsigned() throws IOException {
        rejected(bytes(-1L, "{}".getBytes(StandardCharsets.US_ASCII), new byte[0]),
                "header length 18446744073709551615", "above the limit");
    }

    @Test
    void headerThatIsNotUtf8IsRejected() throws IOException {
        byte[] header = {'{', '"', (byte) 0xFF, '"', ':', '1', '}', ' '};
        rejected(bytes(header.length, header, new byte[0]), "not valid UTF-8 at byte 2", "8 bytes");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{not json}", "{\"a\":", "{} {}", "{\"a\":NaN}"})
    void headerThatIsNotJsonIsRejected(String json) throws IOException {
        rejected(bytes(json, new byte[4]), "header is not valid JSON");
    }

    @Test
    void headerOfOnlySpacesIsRejected() throws IOException {
        rejected(bytes("        ", new byte[0]), "header must be a JSON object, but it is empty");
    }

    @Test
    void duplicateKeysAreRejected() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"t\":{}}", new byte[4]),
                "not valid JSON", "Duplicate field 't'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[1, 2]", "\"text\"", "42", "null"})
    void headerThatIsNotAnObjectIsRejected(String json) throws IOException {
        rejected(bytes(json, new byte[0]), "header must be a JSON object");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"shape\":[1],\"data_offsets\":[0,4]}          | has no 'dtype' (it has: shape, data_offsets)",
            "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}      | has no 'shape'",
            "{\"dtype\":\"F32\",\"shape\":[1]}               | has no 'data_offsets'"})
    void entryWithoutAFieldIsRejected(String entry, String message) throws IOException {
        rejected(bytes("{\"t\":" + entry.strip() + "}", new byte[4]), "tensor 't'", message.strip());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "[1,2]                                                          | must be an object",
            "{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}            | dtype must be a string, but it is a number",
            "{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}     | shape must be an array of integers, but it is a string",
            "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}     | shape[0] must be an integer, but it is a number (1.5)",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}   | data_offsets must be an array of integers, but it is an object",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}   | data_offsets[1] must be an integer, but it is a string",
            "{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]} | shape[0] must be an integer"})
    void entryWithWrongJsonTypesIsRejected(String entry, String message) throws IOException {
        rejected(bytes("{\"t\":" + entry.strip() + "}", new byte[4]), "tensor 't'", message.strip());
    }

    @Test
    void negativeDimensionIsRejected() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}", new byte[0]),
                "tensor 't'", "shape[1] is negative: [2,-1]");
    }

    @Test
    void unknownDtypeIsRejectedListingTheSupportedOnes() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]),
                "tensor 't'", "dtype 'F64' is not supported (supported: F32, F16, BF16)");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "[0]       | must be [begin, end], but it has 1 numbers: [0]",
            "[0,4,8]   | must be [begin, end], but it has 3 numbers: [0, 4, 8]",
            "[8,4]     | data_offsets [8, 4] have begin > end"})
    void dataOffsetsThatAreNotARangeAreRejected(String offsets, String message) throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offsets.strip() + "}}", new byte[8]),
                "tensor 't'", message.strip());
    }

    @Test
    void endBeyondDataSectionIsRejected() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[12]),
                "tensor 't'", "data_offsets [0, 16] end beyond the data section, which has 12 bytes");
    }

    @Test
    void byteCountThatDoesNotMatchTheShapeIsRejected() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]),
                "tensor 't'", "span 8 bytes, but shape [3] of F32 needs 12");
    }

    @Test
    void byteCountOfHalfPrecisionUsesTwoBytes() throws IOException {
        rejected(bytes("{\"t\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", new byte[12]),
                "span 12 bytes, but shape [3] of BF16 needs 6");
    }

    @Test
    void overlappingTensorsAreRejected() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        rejected(bytes(json, new byte[20]), "tensors 'a' (bytes 0..8) and 'c' (bytes 4..12) overlap");
    }

    @Test
    void metadataThatIsNotAnObjectIsRejected() throws IOException {
        rejected(bytes("{\"__metadata__\":[\"a\"]}", new byte[0]), "__metadata__ must be an object of strings, but it is an array");
    }

    @Test
    void metadataWithANonStringValueIsRejected() throws IOException {
        rejected(bytes("{\"__metadata__\":{\"ok\":\"yes\",\"layers\":3}}", new byte[0]),
                "__metadata__ must map strings to strings, but key 'layers' holds a number (3)");
    }

    @Test
    void zeroElementTensorsAreAllowedAnywhere() throws IOException {
        // An empty range overlaps nothing, even inside another tensor's bytes.
        String json = "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                + "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        try (SafetensorsFile f = open(bytes(json, littleEndianFloats(1f, 2f)));
             Arena arena = Arena.ofConfined()) {
            Tensor e = f.readF32("e", new long[] {0, 3}, arena);
            assertArrayEquals(new long[] {0, 3}, e.shape());
            assertEquals(0, e.size());
            assertEquals(0, f.data("e").byteSize());
            assertArrayEquals(new float[] {1f, 2f}, f.readF32("t", null, arena).toFloatArray());
        }
    }

    @Test
    void headerOrderAndMetadataAreKept() throws IOException {
        String json = "{\"z\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                + "\"__metadata__\":{\"b\":\"2\",\"a\":\"1\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"m\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}    ";
        try (SafetensorsFile f = open(bytes(json, littleEndianFloats(1f, 2f, 3f)))) {
            assertEquals(List.of("z", "a", "m"), f.tensors().stream().map(TensorInfo::name).toList());
            assertEquals(List.of("b", "a"), List.copyOf(f.metadata().keySet()));
            assertEquals(Map.of("a", "1", "b", "2"), f.metadata());
            assertThrows(UnsupportedOperationException.class, () -> f.metadata().put("c", "3"));
            assertThrows(UnsupportedOperationException.class, () -> f.tensors().clear());
            assertEquals(new TensorInfo("a", DType.F32, new long[] {1}, 4, 8), f.info("a"));
            Tensor scalar = f.readF32("z", new long[0], Arena.ofAuto());
            assertEquals(0, scalar.rank());
            assertEquals(1f, scalar.getFlat(0));
        }
    }

    @Test
    void metadataIsEmptyWhenAbsent() throws IOException {
        try (SafetensorsFile f = open(bytes(ONE, littleEndianFloats(1f, 2f)))) {
            assertEquals(Map.of(), f.metadata());
        }
    }

    @Test
    void missingTensorNamesTheOnesPresent() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        try (SafetensorsFile f = open(bytes(json, new byte[8]))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.readF32("x", null, Arena.ofAuto()));
            assertEquals("tensor 'x' is missing from " + f.path() + " (it has: a, b)", e.getMessage());
            assertThrows(ModelFormatException.class, () -> f.data("x"));
            assertThrows(ModelFormatException.class, () -> f.info("x"));
        }
    }

    @Test
    void wrongShapeIsReported() throws IOException {
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}";
        try (SafetensorsFile f = open(bytes(json, new byte[48]))) {
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> f.readF32("w", new long[] {3, 5}, Arena.ofAuto()));
            assertEquals("tensor 'w' in " + f.path() + " has shape [3, 4], expected [3, 5]", e.getMessage());
            assertThrows(ModelFormatException.class, () -> f.viewF32("w", new long[] {12}));
        }
    }

    @Test
    void halfPrecisionIsConvertedExactly() throws IOException {
        // F16: 1, -2, +inf, smallest subnormal (2^-24), 65504 (max). BF16: 1, 3.140625, -0, NaN.
        byte[] f16 = littleEndianShorts(0x3C00, 0xC000, 0x7C00, 0x0001, 0x7BFF);
        byte[] bf16 = littleEndianShorts(0x3F80, 0x4049, 0x8000, 0x7FC0);
        byte[] data = new byte[f16.length + bf16.length];
        System.arraycopy(f16, 0, data, 0, f16.length);
        System.arraycopy(bf16, 0, data, f16.length, bf16.length);
        String json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[10,18]}}";
        try (SafetensorsFile f = open(bytes(json, data)); Arena arena = Arena.ofConfined()) {
            assertEquals(DType.F16, f.info("h").dtype());
            assertArrayEquals(new float[] {1f, -2f, Float.POSITIVE_INFINITY, 0x1p-24f, 65504f},
                    f.readF32("h", new long[] {5}, arena).toFloatArray());
            float[] b = f.readF32("b", new long[] {2, 2}, arena).toFloatArray();
            assertEquals(1f, b[0]);
            assertEquals(3.140625f, b[1]);
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(b[2]));
            assertTrue(Float.isNaN(b[3]));
            // Not F32 data: the view is a converted, read-only copy.
            Tensor view = f.viewF32("b", null);
            assertArrayEquals(b, view.toFloatArray());
            assertTrue(view.segment().isReadOnly());
        }
    }

    @Test
    void unalignedF32DataIsReadAndViewedAsACopy() throws IOException {
        // Header of 57 bytes: the data section starts at byte 65, so the floats are not 4-byte aligned.
        String json = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
        assertEquals(57, json.length());
        try (SafetensorsFile f = open(bytes(json, littleEndianFloats(1.5f, -2.5f)))) {
            assertArrayEquals(new float[] {1.5f, -2.5f}, f.readF32("t", null, Arena.ofAuto()).toFloatArray());
            Tensor view = f.viewF32("t", new long[] {2});
            assertArrayEquals(new float[] {1.5f, -2.5f}, view.toFloatArray());
            assertTrue(view.segment().isReadOnly());
        }
    }

    @Test
    void segmentsAreReadOnlyAndDieWithTheFile() throws IOException {
        SafetensorsFile f = open(bytes(ONE, littleEndianFloats(1f, 2f)));
        MemorySegment raw = f.data("t");
        assertTrue(raw.isReadOnly());
        assertEquals(8, raw.byteSize());
        assertThrows(IllegalArgumentException.class, () -> raw.set(ValueLayout.JAVA_BYTE, 0, (byte) 1));
        Tensor copy = f.readF32("t", null, Arena.ofAuto());
        f.close();
        f.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> raw.get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> f.data("t"));
        assertThrows(IllegalStateException.class, () -> f.readF32("t", null, Arena.ofAuto()));
        assertArrayEquals(new float[] {1f, 2f}, copy.toFloatArray(), "a copy outlives the file");
        assertEquals(1, f.tensors().size(), "the header stays readable");
    }

    @Test
    void missingFileIsAPlainIOException() {
        IOException e = assertThrows(IOException.class, () -> SafetensorsFile.open(dir.resolve("absent.safetensors")));
        assertTrue(!(e instanceof ModelFormatException));
    }

    @Test
    void dtypeParseRejectsUnknownNames() {
        assertEquals(DType.BF16, assertDoesNotThrowParse("BF16"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> DType.parse("f32"));
        assertEquals("dtype 'f32' is not supported (supported: F32, F16, BF16)", e.getMessage());
        assertEquals(4, DType.F32.byteSize());
        assertEquals(2, DType.F16.byteSize());
        assertEquals(2, DType.BF16.byteSize());
    }

    private static DType assertDoesNotThrowParse(String name) {
        try {
            return DType.parse(name);
        } catch (ModelFormatException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void tensorInfoCopiesItsShape() {
        long[] shape = {2, 3};
        TensorInfo info = new TensorInfo("t", DType.F32, shape, 0, 24);
        shape[0] = 9;
        info.shape()[1] = 9;
        assertArrayEquals(new long[] {2, 3}, info.shape());
        assertEquals(6, info.elementCount());
        assertEquals(24, info.byteSize());
        assertEquals(info, new TensorInfo("t", DType.F32, new long[] {2, 3}, 0, 24));
        assertEquals(info.hashCode(), new TensorInfo("t", DType.F32, new long[] {2, 3}, 0, 24).hashCode());
        assertThrows(IllegalArgumentException.class, () -> new TensorInfo("t", DType.F32, new long[] {-1}, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new TensorInfo("t", DType.F32, new long[] {1}, 8, 4));
    }
}
