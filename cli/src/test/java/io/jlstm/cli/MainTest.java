package io.jlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backends;
import io.jlstm.cases.ReferenceCase;
import io.jlstm.io.Csv;
import io.jlstm.io.Npy;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The jlstm command end to end, in-process through {@link Main#run}, against the reference cases. */
class MainTest {

    /** Surefire sets the property; from an IDE the module folder is the working directory. */
    private static final Path CASES = Path.of(System.getProperty("jlstm.oracle.dir", "../../shared/oracle/cases"));

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
        void assertNoStackTrace() {
            assertFalse(err.contains("\tat "), () -> "stack trace on stderr:\n" + err);
            assertFalse(out.contains("\tat "), () -> "stack trace on stdout:\n" + out);
        }
    }

    static Result jlstm(Object... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] a = Arrays.stream(args).map(String::valueOf).toArray(String[]::new);
        int code = Main.run(a, new PrintWriter(out), new PrintWriter(err));
        return new Result(code, out.toString(), err.toString());
    }

    static Result ok(Object... args) {
        Result r = jlstm(args);
        assertEquals(0, r.code(), () -> "jlstm " + Arrays.toString(args) + " failed:\n" + r.err());
        return r;
    }

    private Path convert(String caseName) {
        Path model = tmp.resolve(caseName + ".safetensors");
        Result r = ok("convert-case", CASES.resolve(caseName), model);
        assertTrue(r.out().contains("wrote " + model), r.out());
        assertTrue(Files.isRegularFile(tmp.resolve(caseName + ".input.npy")));
        return model;
    }

    private static void assertClose(ReferenceCase c, String what, Tensor expected, Tensor actual)
            throws java.io.IOException {
        assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), what + " shape");
        ReferenceCase.Tolerance tol = c.tolerance();
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        for (int i = 0; i < e.length; i++) {
            int j = i;
            assertTrue(tol.accepts(a[i], e[i]),
                    () -> c.name() + " " + what + "[" + j + "]: expected " + e[j] + ", got " + a[j]);
        }
    }

    // ------------------------------------------------------------------ convert-case + predict

    @ParameterizedTest
    @ValueSource(strings = {"lstm_seq_state_b4_t33_d13_u37", "gru_resetafter_true_seq_state_b4_t7_d13_u16",
            "gru_resetafter_false_last_b1_t33_d1_u37", "bidi_lstm_concat_seq_state_b4_t7_d13_u16",
            "stacked_lstm16_lstm8_dense1_b4_t33_d1", "lstm_gobackwards_seq_state_b4_t7_d13_u16"})
    void convertedCasePredictsTheExpectedOutputs(String name) throws IOException {
        ReferenceCase c = ReferenceCase.read(CASES.resolve(name));
        Path model = convert(name);
        Path y = tmp.resolve("y.npy");
        Result r = ok("predict", "--model", model, "--input", tmp.resolve(name + ".input.npy"), "--output", y,
                "--all-outputs", "--backend", "java");
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("jlstm predict: backend java"), r.err());
        for (ReferenceCase.Expected e : c.outputs()) {
            Path file = e.name().equals("output") ? y : tmp.resolve("y." + e.name() + ".npy");
            assertTrue(Files.isRegularFile(file), () -> file + " not written; stderr: " + r.err());
            assertClose(c, e.name(), e.read(), Npy.read(file));
        }
    }

    static Stream<String> forwardCases() throws IOException {
        List<String> names = new ArrayList<>();
        for (Path dir : ReferenceCase.list(CASES)) {
            if (ReferenceCase.read(dir).kind().equals("forward")) {
                names.add(dir.getFileName().toString());
            }
        }
        return names.stream();
    }

    /** Every forward case, main output printed to stdout, with the default backend. */
    @ParameterizedTest
    @MethodSource("forwardCases")
    void printedOutputMatchesEveryForwardCase(String name) throws IOException {
        ReferenceCase c = ReferenceCase.read(CASES.resolve(name));
        Path model = convert(name);
        Result r = ok("predict", "-m", model, "-i", tmp.resolve(name + ".input.npy"));
        Tensor expected = c.outputs().getFirst().read();
        long[] s = expected.shape();
        long columns = s[s.length - 1];
        String[] lines = r.out().strip().split("\n");
        assertEquals(expected.size() / columns, lines.length, "rows printed");
        float[] values = new float[(int) expected.size()];
        int k = 0;
        for (String line : lines) {
            String[] cells = line.split(",");
            assertEquals(columns, cells.length, line);
            for (String cell : cells) {
                values[k++] = Float.parseFloat(cell);
            }
        }
        assertClose(c, "output", expected, Tensor.of(values, s));
    }

    @Test
    void csvInputAndCsvOutputRoundTrip() throws IOException {
        String name = "lstm_last_b1_t7_d1_u16";
        ReferenceCase c = ReferenceCase.read(CASES.resolve(name));
        Path model = convert(name);
        long[] s = c.inputShape();
        Path x = tmp.resolve("x.csv");
        Csv.write(x, c.input().reshape(s[1], s[2]));
        Path y = tmp.resolve("y.csv");
        ok("predict", "--model", model, "--input", x, "--output", y);
        Tensor actual = Csv.read(y);
        assertClose(c, "output", c.outputs().getFirst().read(), actual);
    }

    @Test
    void rankTwoNpyIsOneSequence() throws IOException {
        String name = "lstm_last_b1_t7_d1_u16";
        ReferenceCase c = ReferenceCase.read(CASES.resolve(name));
        Path model = convert(name);
        long[] s = c.inputShape();
        Path x = tmp.resolve("x2.npy");
        Npy.write(x, c.input().reshape(s[1], s[2]));
        Path y = tmp.resolve("y.npy");
        ok("predict", "--model", model, "--input", x, "--output", y);
        assertClose(c, "output", c.outputs().getFirst().read(), Npy.read(y));
    }

    @Test
    void allOutputsWithoutOutputFilePrintsEachAfterItsName() {
        Path model = convert("lstm_state_b4_t33_d13_u16");
        Result r = ok("predict", "-m", model, "-i", tmp.resolve("lstm_state_b4_t33_d13_u16.input.npy"),
                "--all-outputs");
        assertTrue(r.out().startsWith("# output [4, 16]\n"), r.out());
        assertTrue(r.out().contains("# state_h [4, 16]\n"), r.out());
        assertTrue(r.out().contains("# state_c [4, 16]\n"), r.out());
        assertEquals(3 + 3 * 4, r.out().strip().split("\n").length);
    }

    @Test
    void trainingCaseConvertsToItsForwardModel() throws IOException {
        Path model = tmp.resolve("train.safetensors");
        ok("convert-case", CASES.resolve("train_sgd_lstm8_dense1"), model, "--no-input");
        assertFalse(Files.exists(tmp.resolve("train.input.npy")));
        try (Sequential m = Sequential.load(model, Backends.java())) {
            assertEquals(3, m.inputFeatures());
            assertEquals(1, m.outputFeatures());
        }
    }

    // ------------------------------------------------------------------ info, inspect

    @Test
    void infoPrintsKernelsAndBackend() {
        Result r = ok("info");
        for (String key : List.of("java:", "os:", "cpu:", "cpu features:", "vector module:", "vector width:",
                "kernels:", "backend:", "openblas:")) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(key)), () -> key + " missing in\n" + r.out());
        }
        Result forced = ok("info", "--backend", "java");
        assertTrue(forced.out().contains("backend (--backend java): java"), forced.out());
    }

    @Test
    void inspectShowsLayersAndParameterCount() throws IOException {
        String name = "stacked_lstm16_lstm8_dense1_b4_t33_d1";
        Path model = convert(name);
        long params;
        try (Sequential m = Sequential.load(model, Backends.java())) {
            params = m.parameterCount();
        }
        Result r = ok("inspect", model);
        assertTrue(r.out().contains("LSTM"), r.out());
        assertTrue(r.out().contains("Dense"), r.out());
        assertTrue(r.out().contains("[batch, time, 16]"), r.out());
        assertTrue(r.out().contains("layers.2.kernel"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("parameters:\\s+" + params)), r.out());

        Result j = ok("inspect", "--json", model);
        JsonNode root = new ObjectMapper().readTree(j.out());
        assertEquals(params, root.get("parameters").asLong());
        assertEquals(3, root.get("layers").size());
        assertEquals(1, root.get("input_features").asInt());
        long sum = 0;
        for (JsonNode l : root.get("layers")) {
            sum += l.get("parameters").asLong();
        }
        assertEquals(params, sum);
        assertEquals("output", root.get("outputs").get(0).get("name").asText());
    }

    @Test
    void inspectBidirectionalShowsMergeMode() {
        Result r = ok("inspect", convert("bidi_lstm_concat_seq_state_b4_t7_d13_u16"));
        assertTrue(r.out().contains("merge_mode=concat"), r.out());
        assertTrue(r.out().contains("forward_state_h [batch, 16]"), r.out());
    }

    // ------------------------------------------------------------------ errors

    @Test
    void missingModelFileIsAUserError() {
        Path missing = tmp.resolve("nope.safetensors");
        Path x = tmp.resolve("x.csv");
        Result r = jlstm("predict", "--model", missing, "--input", x);
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("jlstm: error: "), r.err());
        assertTrue(r.err().contains(missing.toString()), r.err());
        r.assertNoStackTrace();
    }

    @Test
    void wrongFeatureCountNamesBothCounts() throws IOException {
        Path model = convert("lstm_seq_b4_t7_d13_u16");
        Path x = tmp.resolve("x12.npy");
        Npy.write(x, Tensor.of(new float[2 * 5 * 12], 2, 5, 12));
        Result r = jlstm("predict", "--model", model, "--input", x);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("jlstm: error: "), r.err());
        assertTrue(r.err().contains("12") && r.err().contains("13"), r.err());
        r.assertNoStackTrace();
    }

    @Test
    void unknownOptionPrintsUsage() {
        Result r = jlstm("predict", "--modle", "m.safetensors");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("jlstm: error: "), r.err());
        assertTrue(r.err().contains("Usage: jlstm predict"), r.err());
        r.assertNoStackTrace();
        Result none = jlstm();
        assertEquals(2, none.code());
        assertTrue(none.err().contains("Usage: jlstm"), none.err());
    }

    @Test
    void unknownBackendIsAUsageError() {
        Result r = jlstm("predict", "-m", "m.safetensors", "-i", "x.npy", "--backend", "cuda");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown backend 'cuda'"), r.err());
        r.assertNoStackTrace();
    }

    @Test
    void corruptModelFileIsAUserError() throws IOException {
        Path model = tmp.resolve("corrupt.safetensors");
        byte[] junk = new byte[4096];
        new Random(7).nextBytes(junk);
        Files.write(model, junk);
        Path x = tmp.resolve("x.csv");
        Files.writeString(x, "1\n2\n");
        for (Result r : List.of(jlstm("predict", "-m", model, "-i", x), jlstm("inspect", model),
                jlstm("inspect", "--json", model))) {
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith("jlstm: error: "), r.err());
            assertTrue(r.err().contains(model.toString()), r.err());
            r.assertNoStackTrace();
        }
    }

    @Test
    void badInputFilesAreUserErrors() throws IOException {
        Path model = convert("lstm_last_b1_t7_d1_u16");
        Path txt = tmp.resolve("x.txt");
        Files.writeString(txt, "1\n");
        Path ragged = tmp.resolve("ragged.csv");
        Files.writeString(ragged, "1,2\n3\n");
        Path nan = tmp.resolve("nan.csv");
        Files.writeString(nan, "1\nNaN\n");
        Path rank1 = tmp.resolve("r1.npy");
        Npy.write(rank1, Tensor.of(new float[] {1, 2}, 2));
        List<Result> results = List.of(
                jlstm("predict", "-m", model, "-i", txt),
                jlstm("predict", "-m", model, "-i", ragged),
                jlstm("predict", "-m", model, "-i", nan, "--reject-nonfinite"),
                jlstm("predict", "-m", model, "-i", rank1),
                jlstm("predict", "-m", model, "-i", tmp.resolve("missing.npy")),
                jlstm("predict", "-m", model, "-i", nan, "-o", tmp.resolve("y.json")),
                jlstm("predict", "-m", model, "-i", nan, "-o", tmp.resolve("no/such/dir/y.npy")),
                jlstm("convert-case", tmp.resolve("no-case"), tmp.resolve("m.safetensors")),
                jlstm("convert-case", tmp, tmp.resolve("m.safetensors")));
        for (Result r : results) {
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith("jlstm: error: "), r.err());
            r.assertNoStackTrace();
        }
        // NaN without --reject-nonfinite is computed with
        ok("predict", "-m", model, "-i", nan);
    }

    @Test
    void misspeltRequiredOptionIsNamed() {
        Result r = jlstm("predict", "-m", "m.safetensors", "--inptu", "x.npy");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("'--inptu'"), r.err());
        assertTrue(r.err().contains("Usage: jlstm predict"), r.err());
        r.assertNoStackTrace();
    }

    /** A command that fails the way a bug would. */
    @Command(name = "boom")
    static final class Boom implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            throw new NullPointerException("something was null");
        }
    }

    private static Result withBoom(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new Main()).addSubcommand("boom", new Boom());
        int code = Main.execute(cl, args, new PrintWriter(out), new PrintWriter(err));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void internalErrorExitsOneAndShowsTheTraceOnlyWithDebug() {
        Result quiet = withBoom("boom");
        assertEquals(1, quiet.code());
        assertTrue(quiet.err().startsWith("jlstm: internal error: NullPointerException: something was null"),
                quiet.err());
        if (!"1".equals(System.getenv("JLSTM_DEBUG"))) {
            quiet.assertNoStackTrace();
        }
        Result debug = withBoom("boom", "--debug");
        assertEquals(1, debug.code());
        assertTrue(debug.err().contains("\tat "), debug.err());
    }

    @Test
    void userMistakesAndBugsAreToldApart() {
        assertTrue(Failures.isUserMistake(new java.nio.file.NoSuchFileException("m.safetensors")));
        assertTrue(Failures.isUserMistake(new io.jlstm.io.ModelFormatException("bad")));
        assertTrue(Failures.isUserMistake(new IllegalArgumentException("shape")));
        assertFalse(Failures.isUserMistake(new IllegalStateException("bug")));
        assertFalse(Failures.isUserMistake(new NullPointerException()));
        assertEquals("no such file or folder: m.safetensors",
                Failures.message(new java.nio.file.NoSuchFileException("m.safetensors")));
    }

    @Test
    void outputNamesGoBeforeTheExtension() {
        assertEquals(Path.of("out/y.state_h.npy"), TensorFiles.withSuffix(Path.of("out/y.npy"), "state_h"));
        assertEquals(Path.of("y.state_h"), TensorFiles.withSuffix(Path.of("y"), "state_h"));
        assertEquals(Path.of("d/m.input.npy"), TensorFiles.replaceExtension(Path.of("d/m.safetensors"), "input.npy"));
    }

    @Test
    void cpuInfoOfAnUnreadableFileIsUnknown() {
        CpuInfo c = CpuInfo.read(tmp.resolve("no-cpuinfo"));
        assertEquals("unknown", c.model());
        assertEquals("unknown", c.featureLine());
    }
}
