package io.jlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NpyTest {

    @TempDir
    Path dir;

    /** A .npy file as NumPy lays it out: magic, version, header length, header padded to 64 with spaces and '\n', data. */
    private static byte[] npy(int major, String dict, byte[] data) {
        int prefix = major == 1 ? 10 : 12;
        byte[] text = dict.getBytes(StandardCharsets.UTF_8);
        int total = (prefix + text.length + 1 + 63) / 64 * 64;
        ByteBuffer b = ByteBuffer.allocate(total + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) {
            b.putShort((short) (total - prefix));
        } else {
            b.putInt(total - prefix);
        }
        b.put(text);
        while (b.position() < total - 1) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n').put(data);
        return b.array();
    }

    private static byte[] le(int bytesPer, double... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * bytesPer).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            switch (bytesPer) {
                case 4 -> b.putFloat((float) v);
                case 8 -> b.putDouble(v);
                default -> throw new IllegalArgumentException();
            }
        }
        return b.array();
    }

    private Path file(byte[] content) throws IOException {
        return Files.write(dir.resolve("a.npy"), content);
    }

    private void rejected(byte[] content, String fragment) throws IOException {
        Path f = file(content);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Npy.read(f));
        assertTrue(e.getMessage().contains(f.toString()), e::getMessage);
        assertTrue(e.getMessage().contains(fragment), () -> "'" + fragment + "' not in: " + e.getMessage());
    }

    @Test
    void roundTripOfManyShapes() throws IOException {
        SplittableRandom rnd = new SplittableRandom(3);
        for (long[] shape : List.of(new long[] {2, 3}, new long[] {5}, new long[0], new long[] {0, 4}, new long[] {2, 3, 4},
                new long[] {300_001})) {
            Tensor t = Tensor.allocate(shape);
            for (long i = 0; i < t.size(); i++) {
                t.setFlat(i, (float) rnd.nextGaussian());
            }
            Path f = dir.resolve("t.npy");
            Npy.write(f, t);
            Tensor back = Npy.read(f);
            assertArrayEquals(shape, back.shape());
            assertArrayEquals(t.toFloatArray(), back.toFloatArray());
        }
    }

    @Test
    void writesWhatNumpySaveWrites() throws IOException {
        // np.save(f, np.float32([[1, 2, 3], [4, 5, 6]])): version 1.0, header length 118, data at byte 128.
        Path f = dir.resolve("n.npy");
        Npy.write(f, Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assertArrayEquals(npy(1, dict, le(4, 1, 2, 3, 4, 5, 6)), Files.readAllBytes(f));
        assertEquals(128 + 24, Files.size(f));

        Npy.write(f, Tensor.of(new float[] {7}, 1));
        String text = new String(Files.readAllBytes(f), 10, 118, StandardCharsets.US_ASCII).strip();
        assertEquals("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", text);
    }

    @Test
    void readsHandMadeVersion1Float64() throws IOException {
        Tensor t = Npy.read(file(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", le(8, 0.1, -2, 1e300, 3.5))));
        assertArrayEquals(new long[] {2, 2}, t.shape());
        assertArrayEquals(new float[] {0.1f, -2f, Float.POSITIVE_INFINITY, 3.5f}, t.toFloatArray());
    }

    @Test
    void readsVersion2AndVersion3Headers() throws IOException {
        Tensor t2 = Npy.read(file(npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", le(4, 1, 2, 3))));
        assertArrayEquals(new float[] {1, 2, 3}, t2.toFloatArray());
        Tensor t3 = Npy.read(file(npy(3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}", le(4, 4, 5))));
        assertArrayEquals(new long[] {1, 2}, t3.shape());
        assertArrayEquals(new float[] {4, 5}, t3.toFloatArray());
    }

    @Test
    void readsIntegersAndPython2LongShapes() throws IOException {
        ByteBuffer i4 = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(-1).putInt(7).putInt(1 << 24);
        Tensor t = Npy.read(file(npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3L,), }", i4.array())));
        assertArrayEquals(new float[] {-1, 7, 1 << 24}, t.toFloatArray());
        ByteBuffer i8 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MIN_VALUE).putLong(3);
        Tensor u = Npy.read(file(npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8.array())));
        assertArrayEquals(new float[] {-0x1p63f, 3}, u.toFloatArray());
    }

    @Test
    void rejectsFortranOrder() throws IOException {
        rejected(npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", le(4, 1, 2, 3, 4)),
                "Fortran (column-major) order");
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', quoteCharacter = '"', value = {
            "'>f4'      ; big-endian (descr '>f4')",
            "'|O'       ; Python objects (descr '|O')",
            "'<f2'      ; dtype '<f2' is not supported (supported: '<f4', '<f8', '<i4', '<i8')",
            "'<u4'      ; dtype '<u4' is not supported",
            "[('a', '<f4'), ('b', '<i4')] ; structured dtype [[a, <f4], [b, <i4]]"})
    void rejectsOtherDtypes(String descr, String message) throws IOException {
        rejected(npy(1, "{'descr': " + descr.strip() + ", 'fortran_order': False, 'shape': (1,), }", le(4, 1)), message.strip());
    }

    @Test
    void rejectsTruncatedAndOverlongData() throws IOException {
        rejected(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", le(4, 1, 2, 3, 4, 5)),
                "shape [3] of <f8 needs 24 bytes of data, but the file has 20");
        rejected(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le(4, 1, 2)),
                "needs 4 bytes of data, but the file has 8");
    }

    @Test
    void rejectsBrokenPreambleAndHeader() throws IOException {
        rejected("not numpy at all".getBytes(StandardCharsets.US_ASCII), "not a .npy file");
        rejected(new byte[3], "not a .npy file");
        byte[] v4 = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le(4, 1));
        v4[6] = 4;
        rejected(v4, "format version 4.0 is not supported");
        byte[] longHeader = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le(4, 1));
        longHeader[8] = (byte) 0xFF;
        longHeader[9] = (byte) 0x7F;
        rejected(longHeader, "header length 32767 is beyond the end of the file");
        rejected(npy(1, "{'descr': '<f4', 'shape': (1,), }", le(4, 1)), "exactly the keys descr, fortran_order, shape");
        rejected(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", le(4, 1)), "shape must be a tuple of non-negative integers, but is [-1]");
        rejected(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ", le(4, 1)), "found the end");
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path f = dir.resolve("keep.npy");
        Npy.write(f, Tensor.of(new float[] {1, 2}, 2));
        byte[] before = Files.readAllBytes(f);
        Arena arena = Arena.ofConfined();
        Tensor dead = Tensor.allocate(arena, 8);
        arena.close();
        assertThrows(IllegalStateException.class, () -> Npy.write(f, dead));
        assertArrayEquals(before, Files.readAllBytes(f));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList());
        }
    }
}
