package io.jlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlstm example} and {@code jlstm demo}, in-process through {@link Main#run}, with few epochs. */
class ExampleCommandTest {

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Result jlstm(Object... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] a = Arrays.stream(args).map(String::valueOf).toArray(String[]::new);
        int code = Main.run(a, new PrintWriter(out), new PrintWriter(err));
        return new Result(code, out.toString(), err.toString());
    }

    private static void assertOutputs(Path dir, int epochs, boolean validation) throws IOException {
        JsonNode h = new ObjectMapper().readTree(dir.resolve("history.json").toFile());
        JsonNode loss = h.findValue("loss");
        assertNotNull(loss, h::toString);
        assertEquals(epochs, loss.size(), h::toString);
        assertEquals(validation, h.findValue("val_loss") != null, h::toString);
        BufferedImage png = ImageIO.read(dir.resolve("loss.png").toFile());
        assertNotNull(png, "loss.png is not an image");
        assertTrue(png.getWidth() >= 400 && png.getHeight() >= 300, png.getWidth() + "x" + png.getHeight());
        assertTrue(Files.size(dir.resolve("loss.png")) > 5_000, "loss.png is nearly empty");
        try (Sequential m = Sequential.load(dir.resolve("model.safetensors"))) {
            assertEquals(1, m.inputFeatures());
            assertEquals(1, m.outputFeatures());
        }
    }

    @Test
    void sumOfSequenceTrainsAndWritesItsFiles() throws IOException {
        Path dir = tmp.resolve("sum");
        Result r = jlstm("example", "sum-of-sequence", "--epochs", 2, "--out", dir);
        assertEquals(0, r.code(), r::err);
        assertTrue(r.out().contains("Epoch 1/2") && r.out().contains("Epoch 2/2"), r.out());
        assertTrue(r.out().contains("held-out MSE:") && r.out().contains("held-out R²:"), r.out());
        assertOutputs(dir, 2, true);
    }

    @Test
    void randomRegressionTrainsAndWritesItsFiles() throws IOException {
        Path dir = tmp.resolve("rr");
        Result r = jlstm("example", "random-regression", "--epochs", 1, "--out", dir);
        assertEquals(0, r.code(), r::err);
        assertTrue(r.out().contains("Epoch 1/1"), r.out());
        assertOutputs(dir, 1, false);
    }

    @Test
    void fashionMnistWithoutDataNamesThePackage() {
        Result r = jlstm("example", "fashion-mnist", "--data", tmp.resolve("none"), "--out", tmp.resolve("f"));
        assertEquals(2, r.code(), r::err);
        assertTrue(r.err().contains("dataset-fashion-mnist"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    /** Writes a gzipped IDX image file and its label file of {@code n} random images. */
    private static void idx(java.nio.file.Path dir, String prefix, int n, java.util.Random r) throws Exception {
        try (var out = new java.io.DataOutputStream(new java.util.zip.GZIPOutputStream(
                Files.newOutputStream(dir.resolve(prefix + "-images-idx3-ubyte.gz"))))) {
            out.writeInt(2051);
            out.writeInt(n);
            out.writeInt(28);
            out.writeInt(28);
            byte[] px = new byte[n * 28 * 28];
            r.nextBytes(px);
            out.write(px);
        }
        try (var out = new java.io.DataOutputStream(new java.util.zip.GZIPOutputStream(
                Files.newOutputStream(dir.resolve(prefix + "-labels-idx1-ubyte.gz"))))) {
            out.writeInt(2049);
            out.writeInt(n);
            for (int i = 0; i < n; i++) {
                out.writeByte(r.nextInt(10));
            }
        }
    }

    @Test
    void fashionMnistRunsOnIdxFiles() throws Exception {
        java.nio.file.Path data = Files.createDirectories(tmp.resolve("idx"));
        java.util.Random r = new java.util.Random(3);
        idx(data, "train", 120, r);
        idx(data, "t10k", 30, r);
        java.nio.file.Path dir = tmp.resolve("fm");
        Result res = jlstm("example", "fashion-mnist", "--data", data, "--epochs", 1, "--batch-size", 32, "--out", dir);
        assertEquals(0, res.code(), res::err);
        assertTrue(res.out().contains("test accuracy"), res.out());
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        assertTrue(Files.isRegularFile(dir.resolve("history.json")));
        assertTrue(Files.isRegularFile(dir.resolve("loss.png")));
    }

    @Test
    void unknownExampleIsAUserError() {
        Result r = jlstm("example", "no-such-example", "--out", tmp.resolve("x"));
        assertEquals(2, r.code(), r::err);
        assertTrue(r.err().contains("unknown example 'no-such-example'") && r.err().contains("sum-of-sequence"),
                r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void badEpochsIsAUserError() {
        Result r = jlstm("example", "sum-of-sequence", "--epochs", 0, "--out", tmp.resolve("x"));
        assertEquals(2, r.code(), r::err);
        assertTrue(r.err().contains("--epochs"), r.err());
    }

    @Test
    void demoTrainsSavesReloadsAndStreams() {
        Path dir = tmp.resolve("demo");
        Result r = jlstm("demo", "--quick", "--out", dir);
        assertEquals(0, r.code(), r::err);
        assertTrue(r.out().contains("reloaded"), r.out());
        assertTrue(r.out().contains("true sum"), r.out());
        assertTrue(r.out().contains("step latency: mean"), r.out());
        assertTrue(r.out().contains("held-out MSE"), r.out());
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
    }
}
