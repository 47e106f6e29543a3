package io.jlstm.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user sees when OpenBLAS is missing or unreadable. The library is loaded once per JVM,
 * so each scenario runs the real {@code jlstm} entry point in a fresh JVM with the properties set.
 */
class OpenBlasFallbackTest {

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    static Run jlstm(List<String> properties, String... args) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path")));
        cmd.addAll(properties);
        cmd.add("io.jlstm.cli.Main");
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jlstm did not finish");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    private Path exampleModel() throws Exception {
        Path cases = ReferenceCasesTest.casesDir();
        Path model = dir.resolve("m.safetensors");
        Run r = jlstm(List.of(), "convert-case", cases.resolve("lstm_last_b1_t7_d1_u16").toString(), model.toString());
        assertEquals(0, r.exit(), r.err());
        return model;
    }

    @Test
    void noLibraryAtAllFallsBackToJavaAndSaysWhy() throws Exception {
        List<String> none = List.of("-Djlstm.openblas.system=false", "-Djlstm.openblas.bundled=false");
        Run info = jlstm(none, "info");
        assertEquals(0, info.exit(), info.err());
        assertTrue(info.out().contains("backend:") && info.out().contains("java (auto: OpenBLAS not available"),
                info.out());

        Path model = exampleModel();
        Path input = dir.resolve("m.input.npy");
        Run auto = jlstm(none, "predict", "--model", model.toString(), "--input", input.toString());
        assertEquals(0, auto.exit(), auto.err());
        assertTrue(auto.err().contains("backend java"), auto.err());

        Run forced = jlstm(none, "predict", "--backend", "openblas", "--model", model.toString(),
                "--input", input.toString());
        assertEquals(2, forced.exit(), forced.err());
        assertTrue(forced.err().contains("OpenBLAS backend unavailable"), forced.err());
        assertFalse(forced.err().contains("\tat "), "no stack trace for a user mistake: " + forced.err());
    }

    @Test
    void anUnreadableLibraryPathIsNamed() throws Exception {
        Path notALibrary = dir.resolve("libopenblas.so.0");
        Files.writeString(notALibrary, "not a shared library");
        for (Path bad : List.of(notALibrary, dir.resolve("missing.so"))) {
            Run info = jlstm(List.of("-Djlstm.openblas.path=" + bad), "info");
            assertEquals(0, info.exit(), info.err());
            assertTrue(info.out().contains(bad.toString()), "the reason names " + bad + ":\n" + info.out());
            assertTrue(info.out().contains("java (auto: OpenBLAS not available"), info.out());
        }
    }
}
