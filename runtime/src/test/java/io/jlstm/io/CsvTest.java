package io.jlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jlstm.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CsvTest {

    @TempDir
    Path dir;

    private Path text(String content) throws IOException {
        return Files.writeString(dir.resolve("data.csv"), content, StandardCharsets.UTF_8);
    }

    private static void assertBitIdentical(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(actual[i]), "element " + i);
        }
    }

    @Test
    void roundTripIsExact() throws IOException {
        float[] values = {0.1f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NaN, Float.NEGATIVE_INFINITY,
                1e-7f, 123456789f, (float) Math.PI, 1f / 3, Float.POSITIVE_INFINITY, -2.5e30f};
        Path f = dir.resolve("x.csv");
        Csv.write(f, Tensor.of(values, 4, 3));
        Tensor back = Csv.read(f);
        assertArrayEquals(new long[] {4, 3}, back.shape());
        assertBitIdentical(values, back.toFloatArray());
    }

    @Test
    void readsHeaderCommentsBlankLinesSpacesAndCrLf() throws IOException {
        Path f = text("\uFEFF# exported by a script\r\n\r\ntime, temp ,load\r\n  # another comment\n"
                + "0, 1.5, -2\n\n 1 ,2e3,+3.25\r\n2,nan,-inf\n");
        Tensor t = Csv.read(f);
        assertArrayEquals(new long[] {3, 3}, t.shape());
        assertBitIdentical(new float[] {0, 1.5f, -2, 1, 2000, 3.25f, 2, Float.NaN, Float.NEGATIVE_INFINITY}, t.toFloatArray());
    }

    @Test
    void raggedRowNamesTheLineAndTheCounts() throws IOException {
        Path f = text("a,b,c\n# c\n1,2,3\n4,5,6\n7,8\n");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Csv.read(f));
        assertEquals(f + ": line 5 has 2 values, expected 3 (as on line 3)", e.getMessage());
    }

    @Test
    void aFirstRowWithATypoIsAnErrorNotAHeader() throws IOException {
        Path f = text("0.1,O.2\n0.3,0.4\n");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Csv.read(f));
        assertTrue(e.getMessage().contains("O.2"), e.getMessage());
    }

    @Test
    void headerWithAnotherColumnCountIsRejected() throws IOException {
        Path f = text("a,b\n1,2,3\n");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Csv.read(f));
        assertEquals(f + ": the header on line 1 has 2 columns, but line 2 has 3 values", e.getMessage());
    }

    @Test
    void textAfterTheHeaderIsRejected() throws IOException {
        Path f = text("1,2\n3,abc\n");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Csv.read(f));
        assertEquals(f + ": line 2, column 2: 'abc' is not a number", e.getMessage());
        Path g = text("1,2\n3,\n");
        assertTrue(assertThrows(ModelFormatException.class, () -> Csv.read(g)).getMessage().contains("column 2: '' is not a number"));
        Path h = text("1,2\n3,4d\n"); // Java's parseFloat would take "4d"; a CSV of numbers should not
        assertTrue(assertThrows(ModelFormatException.class, () -> Csv.read(h)).getMessage().contains("'4d' is not a number"));
    }

    @Test
    void emptyFilesGiveEmptyTensors() throws IOException {
        assertArrayEquals(new long[] {0, 0}, Csv.read(text("")).shape());
        assertArrayEquals(new long[] {0, 0}, Csv.read(text("# nothing\n\n")).shape());
        assertArrayEquals(new long[] {0, 3}, Csv.read(text("a,b,c\n")).shape());
    }

    @Test
    void writesRank1AndRank3AsRows() throws IOException {
        Path f = dir.resolve("r.csv");
        Csv.write(f, Tensor.of(new float[] {1, 2.5f, -3}, 3));
        assertEquals("1.0\n2.5\n-3.0\n", Files.readString(f));
        assertArrayEquals(new long[] {3, 1}, Csv.read(f).shape());

        float[] values = new float[2 * 3 * 4];
        for (int i = 0; i < values.length; i++) {
            values[i] = i;
        }
        Csv.write(f, Tensor.of(values, 2, 3, 4));
        assertEquals(6, Files.readAllLines(f).size());
        assertEquals("4.0,5.0,6.0,7.0", Files.readAllLines(f).get(1));
        Tensor back = Csv.read(f);
        assertArrayEquals(new long[] {6, 4}, back.shape());
        assertArrayEquals(values, back.toFloatArray());
    }

    @Test
    void otherRanksAreRejected() {
        Path f = dir.resolve("r.csv");
        assertThrows(IllegalArgumentException.class, () -> Csv.write(f, Tensor.allocate(1, 1, 1, 1)));
        assertThrows(IllegalArgumentException.class, () -> Csv.write(f, Tensor.of(new float[] {1})));
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path f = dir.resolve("keep.csv");
        Csv.write(f, Tensor.of(new float[] {1, 2}, 1, 2));
        byte[] before = Files.readAllBytes(f);
        Arena arena = Arena.ofConfined();
        Tensor dead = Tensor.allocate(arena, 4, 2);
        arena.close();
        assertThrows(IllegalStateException.class, () -> Csv.write(f, dead));
        assertArrayEquals(before, Files.readAllBytes(f));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList());
        }
    }

    @Test
    void invalidUtf8IsAFormatError() throws IOException {
        Path f = Files.write(dir.resolve("bin.csv"), new byte[] {'1', ',', (byte) 0xC3, '\n'});
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Csv.read(f));
        assertTrue(e.getMessage().contains("not UTF-8"), e::getMessage);
    }
}
