package io.jlstm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.io.Npy;
import io.jlstm.layers.DropoutSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlstm train}, in-process through {@link Main#run}, on a tiny model and data set. */
class TrainCommandTest {

    private static final int N = 64;
    private static final int T = 5;

    @TempDir
    Path tmp;

    private Path x;
    private Path y;

    record Result(int code, String out, String err) {
    }

    static Result jlstm(Object... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] a = Arrays.stream(args).map(String::valueOf).toArray(String[]::new);
        int code = Main.run(a, new PrintWriter(out), new PrintWriter(err));
        return new Result(code, out.toString(), err.toString());
    }

    @BeforeEach
    void data() throws IOException {
        Random r = new Random(7);
        float[] xs = new float[N * T];
        float[] ys = new float[N];
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int t = 0; t < T; t++) {
                xs[i * T + t] = r.nextFloat();
                s += xs[i * T + t];
            }
            ys[i] = (float) (s / T);
        }
        x = tmp.resolve("x.npy");
        y = tmp.resolve("y.npy");
        Npy.write(x, Tensor.of(xs, N, T, 1));
        Npy.write(y, Tensor.of(ys, N, 1));
    }

    private Path spec(String optimizer) throws IOException {
        Path p = tmp.resolve("spec.json");
        Files.writeString(p, """
                {"input_features": 1,
                 "layers": [{"type": "LSTM", "units": 8, "dropout": 0.05, "recurrent_dropout": 0.05}, {"type": "Dense", "units": 1}],
                 "loss": "mse",
                 "optimizer": %s,
                 "metrics": ["mae"],
                 "epochs": 10, "batch_size": 8, "validation_split": 0.25, "seed": 3}
                """.formatted(optimizer));
        return p;
    }

    @Test
    void trainsSavesAndWritesHistory() throws IOException {
        Path model = tmp.resolve("m.safetensors");
        Path history = tmp.resolve("h.json");
        Result r = jlstm("train", "--spec", spec("{\"name\": \"adam\", \"learning_rate\": 0.01}"), "--x", x, "--y", y,
                "--out", model, "--epochs", 3, "--history", history);
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("Epoch 1/3"), r.out());
        assertTrue(r.out().contains("Epoch 3/3"), r.out());
        assertTrue(r.out().contains("final val_loss"), r.out());
        assertTrue(r.out().contains("final mae"), r.out());

        JsonNode h = new ObjectMapper().readTree(history.toFile()).get("history");
        JsonNode loss = h.get("loss");
        assertEquals(3, loss.size());
        assertEquals(3, h.get("val_loss").size());
        assertTrue(loss.get(2).asDouble() < loss.get(0).asDouble(), "loss did not go down: " + loss);

        try (Sequential m = Sequential.load(model)) {
            assertEquals(1, m.inputFeatures());
            Tensor out = m.predict(Tensor.of(new float[4 * T], 4, T, 1)).output();
            assertArrayEquals(new long[] {4, 1}, out.shape());
        }
    }

    /** GRU dropout keys reach the trainer: the training loss changes, and the same seed repeats it exactly. */
    @Test
    void gruDropoutFromTheSpecIsUsed() throws IOException {
        String layers = "[{\"type\": \"Bidirectional\", \"merge_mode\": \"sum\", \"layer\": {\"type\": \"GRU\", "
                + "\"units\": 4, \"return_sequences\": true, \"reset_after\": false%s}}, "
                + "{\"type\": \"GRU\", \"units\": 4%s}, {\"type\": \"Dense\", \"units\": 1}]";
        String drop = ", \"dropout\": 0.2, \"recurrent_dropout\": 0.3";
        JsonNode plain = history(layers.formatted("", ""), "plain");
        JsonNode dropped = history(layers.formatted(drop, drop), "dropped");
        JsonNode again = history(layers.formatted(drop, drop), "again");
        assertEquals(dropped, again, "same seed, same masks, same history");
        assertTrue(plain.get("loss").get(0).asDouble() != dropped.get("loss").get(0).asDouble(),
                "dropout changed nothing: " + plain + " vs " + dropped);
    }

    @Test
    void dropoutLayerSpecTrainsAndIsSavedWithTheModel() throws IOException {
        String layers = "[{\"type\": \"LSTM\", \"units\": 6, \"return_sequences\": true}, %s"
                + "{\"type\": \"GRU\", \"units\": 4}, {\"type\": \"Dropout\", \"rate\": %s}, "
                + "{\"type\": \"Dense\", \"units\": 1}]";
        JsonNode without = history(layers.formatted("", "0.0").replace("{\"type\": \"Dropout\", \"rate\": 0.0}, ", ""),
                "without");
        JsonNode zero = history(layers.formatted("{\"type\": \"Dropout\", \"rate\": 0.0}, ", "0.0"), "zero");
        JsonNode dropped = history(layers.formatted("{\"type\": \"Dropout\", \"rate\": 0.2}, ", "0.5"), "dropped");
        assertEquals(without, zero, "rate 0 drops nothing and draws nothing");
        assertTrue(without.get("loss").get(0).asDouble() != dropped.get("loss").get(0).asDouble(),
                "Dropout changed nothing: " + without + " vs " + dropped);

        try (Sequential m = Sequential.load(tmp.resolve("dropped.safetensors"))) {
            assertEquals(List.of("LSTM", "Dropout", "GRU", "Dropout", "Dense"), m.layers().stream()
                    .map(l -> l.type()).toList());
            assertEquals(new DropoutSpec("dropout", 0.2f), m.layers().get(1));
            assertEquals(new DropoutSpec("dropout_1", 0.5f), m.layers().get(3));
            Tensor in = Tensor.of(new float[2 * T], 2, T, 1);
            assertArrayEquals(new long[] {2, 1}, m.predict(in).output().shape());
        }
        Result inspect = jlstm("inspect", tmp.resolve("dropped.safetensors"));
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("Dropout") && inspect.out().contains("rate=0.5"), inspect.out());
    }

    @Test
    void badDropoutLayersAreUserErrors() throws IOException {
        Path bad = tmp.resolve("bad.json");
        Path model = tmp.resolve("m.safetensors");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4}, {\"type\": \"Dropout\", \"rate\": 1}], "
                + "\"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model),
                "Dropout layer 'dropout': 'rate' must be a number in [0, 1), got 1");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4}, {\"type\": \"Dropout\", \"rate\": 0.2, "
                + "\"noise_shape\": [null, 1]}], \"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "noise_shape [null,1] is not supported");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4}, {\"type\": \"Dropout\"}], "
                + "\"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "'rate' must be a number");
        assertFalse(Files.exists(model));
    }

    /** Trains {@code layers} for 2 epochs with seed 3 and returns the history. */
    private JsonNode history(String layers, String name) throws IOException {
        Path p = tmp.resolve(name + ".json");
        Files.writeString(p, """
                {"input_features": 1, "layers": %s, "loss": "mse", "optimizer": "adam",
                 "epochs": 2, "batch_size": 16, "seed": 3}
                """.formatted(layers));
        Path h = tmp.resolve(name + ".history.json");
        Result r = jlstm("train", "--spec", p, "--x", x, "--y", y, "--out", tmp.resolve(name + ".safetensors"),
                "--history", h);
        assertEquals(0, r.code(), r.err() + r.out());
        return new ObjectMapper().readTree(h.toFile()).get("history");
    }

    @Test
    void unknownOptimizerIsAUserError() throws IOException {
        Result r = jlstm("train", "--spec", spec("\"adagrad\""), "--x", x, "--y", y,
                "--out", tmp.resolve("m.safetensors"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("unknown optimizer 'adagrad'"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        assertFalse(Files.exists(tmp.resolve("m.safetensors")));
    }

    @Test
    void batchMismatchIsAUserError() throws IOException {
        Path y2 = tmp.resolve("y2.npy");
        Npy.write(y2, Tensor.of(new float[N - 1], N - 1, 1));
        Result r = jlstm("train", "--spec", spec("\"rmsprop\""), "--x", x, "--y", y2,
                "--out", tmp.resolve("m.safetensors"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("64 samples") && r.err().contains("have 63"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void specProblemsAreUserErrors() throws IOException {
        Path bad = tmp.resolve("bad.json");
        Path model = tmp.resolve("m.safetensors");
        Files.writeString(bad, "{\"layers\": [");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "not valid JSON");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4}], \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "no \"loss\"");
        Files.writeString(bad, "{\"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "no \"layers\"");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"GRU\", \"units\": 4}, {\"type\": \"Dense\", \"units\": 1, "
                + "\"dropout\": 0.1}], \"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "LSTM and GRU layers only");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4, \"dropout\": 1.5}], "
                + "\"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "[0, 1)");
        Files.writeString(bad, "{\"layers\": [{\"type\": \"LSTM\", \"units\": 4}], \"loss\": \"hinge\", "
                + "\"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "unknown loss 'hinge'");
        Files.writeString(bad, "{\"input_features\": 3, \"layers\": [{\"type\": \"LSTM\", \"units\": 4}], "
                + "\"loss\": \"mse\", \"optimizer\": \"sgd\", \"metrics\": [\"auc\"]}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "unknown metric 'auc'");
        Files.writeString(bad, "{\"input_features\": 3, \"layers\": [{\"type\": \"LSTM\", \"units\": 1}], "
                + "\"loss\": \"mse\", \"optimizer\": \"sgd\"}");
        assertUserError(jlstm("train", "--spec", bad, "--x", x, "--y", y, "--out", model), "input_features 3");
        assertUserError(jlstm("train", "--spec", tmp.resolve("none.json"), "--x", x, "--y", y, "--out", model),
                "not found");
        Path empty = tmp.resolve("empty.npy");
        Npy.write(empty, Tensor.of(new float[0], 0, T, 1));
        assertUserError(jlstm("train", "--spec", spec("\"sgd\""), "--x", empty, "--y", y, "--out", model), "empty");
        assertFalse(Files.exists(model));
    }

    private static void assertUserError(Result r, String fragment) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("jlstm: error: "), r.err());
        assertTrue(r.err().contains(fragment), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }
}
