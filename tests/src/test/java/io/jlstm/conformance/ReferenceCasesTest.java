package io.jlstm.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jlstm.Prediction;
import io.jlstm.PredictOptions;
import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.cases.ReferenceCase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs every reference case in the folder named by {@code jlstm.oracle.dir} (default
 * {@code ../shared/oracle/cases}) through the public API, on every backend, and compares each output
 * and intermediate with the case's tolerance. The case format is read, never case names; a case
 * that cannot be run fails, naming the case and the feature.
 */
class ReferenceCasesTest {

    static Path casesDir() {
        String p = System.getProperty("jlstm.oracle.dir");
        Path dir = p != null ? Path.of(p) : Path.of("../shared/oracle/cases");
        if (!Files.isDirectory(dir) && p == null) {
            dir = Path.of("../../shared/oracle/cases"); // run from a module folder
        }
        return dir.toAbsolutePath().normalize();
    }

    static List<Backend> backends() {
        List<Backend> list = new ArrayList<>();
        list.add(Backends.java());
        list.add(Backends.openblas()); // the bundled library is always on the class path: its absence is a failure
        return list;
    }

    @TestFactory
    Stream<DynamicTest> everyCaseOnEveryBackend() throws Exception {
        Path dir = casesDir();
        assertTrue(Files.isDirectory(dir), "reference case folder " + dir + " does not exist (set -Djlstm.oracle.dir)");
        List<Path> cases = ReferenceCase.list(dir);
        assertFalse(cases.isEmpty(), "no reference cases (folders with case.json) in " + dir);
        List<DynamicTest> tests = new ArrayList<>();
        for (Path c : cases) {
            // training cases too: the trainer's products run on the model's backend
            for (Backend backend : backends()) {
                tests.add(DynamicTest.dynamicTest(c.getFileName() + " [" + backend.name() + "]",
                        () -> runCase(c, backend)));
            }
        }
        return tests.stream();
    }

    static void runCase(Path dir, Backend backend) throws Exception {
        ReferenceCase rc = ReferenceCase.read(dir);
        switch (rc.kind()) {
            case "forward" -> runForward(rc, backend);
            case "training" -> TrainingCases.run(rc, backend);
            default -> fail("case " + rc.name() + ": unsupported case kind '" + rc.kind() + "'");
        }
    }

    static void runForward(ReferenceCase rc, Backend backend) throws Exception {
        Sequential model;
        try {
            model = rc.toModel(backend);
        } catch (IllegalArgumentException e) {
            throw new AssertionError("case " + rc.name() + " cannot be run: unsupported feature: " + e.getMessage(), e);
        }
        try (model) {
            Prediction p = model.predict(rc.input(), PredictOptions.defaults().keepLayerOutputs(true));
            List<ReferenceCase.Expected> outputs = rc.outputs();
            assertFalse(outputs.isEmpty(), "case " + rc.name() + " lists no outputs");
            assertEquals(outputs.stream().map(ReferenceCase.Expected::name).toList(), List.copyOf(p.outputs().keySet()),
                    "case " + rc.name() + ": output names");
            for (ReferenceCase.Expected e : outputs) {
                compare(rc, "output '" + e.name() + "'", p.get(e.name()), e);
            }
            for (ReferenceCase.Expected e : rc.intermediates()) {
                compare(rc, "layer " + e.layer() + " " + e.name(), p.layerOutput(e.layer()), e);
            }
        }
    }

    static void compare(ReferenceCase rc, String what, Tensor actual, ReferenceCase.Expected e) throws Exception {
        Tensor expected = e.read();
        String where = "case " + rc.name() + ", " + what;
        assertEquals(Arrays.toString(e.shape()), Arrays.toString(actual.shape()), where + ": shape");
        ReferenceCase.Tolerance tol = rc.tolerance();
        double worst = 0;
        long worstAt = -1;
        for (long i = 0; i < expected.size(); i++) {
            float a = actual.getFlat(i);
            float x = expected.getFlat(i);
            if (!tol.accepts(a, x)) {
                fail(where + ": at flat index " + i + " got " + a + ", expected " + x + " (|diff| "
                        + Math.abs(a - x) + " > atol " + tol.atol() + " + rtol " + tol.rtol() + "·|expected|)");
            }
            double d = Math.abs(a - x);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        assertTrue(expected.size() > 0, where + ": empty expected tensor");
        System.out.printf("%s: max |diff| %.3g at %d%n", where, worst, worstAt);
    }
}
