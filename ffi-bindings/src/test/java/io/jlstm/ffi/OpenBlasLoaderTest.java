package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loading order, run through {@link OpenBlasLoader#load(OpenBlasLoader.Settings)} with explicit
 * settings so that no test depends on system properties or on the JVM-wide cached {@link OpenBlas#load()}.
 */
class OpenBlasLoaderTest {

    private static final ClassLoader RESOURCES = OpenBlas.class.getClassLoader();

    @TempDir
    Path temp;

    private static final CpuFeatures AVX2 = CpuFeatures.of("test", "sse3", "avx", "fma", "avx2");
    private static final CpuFeatures NO_AVX2 = CpuFeatures.of("test", "sse3", "sse4_2", "avx");

    private static OpenBlasLoader.Settings settings(String path, boolean system, boolean bundled) {
        return new OpenBlasLoader.Settings(path, system, bundled, null, OpenBlasLoader.SYSTEM_NAMES,
                CpuFeatures.read(), BundledOpenBlas.defaultCacheRoot(), RESOURCES);
    }

    /**
     * The system library opened by its path rather than by name, for the prefer tests: a name would be
     * answered with the bundled copy whenever an earlier test in this JVM loaded it (same soname).
     */
    private static OpenBlasLoader.Settings systemByPath(String prefer, CpuFeatures cpu, ClassLoader resources) {
        Path system = TestLibraries.systemFile().orElse(null);
        assumeTrue(system != null, TestLibraries.NO_SYSTEM);
        return new OpenBlasLoader.Settings(null, true, true, prefer, List.of(system.toString()), cpu,
                BundledOpenBlas.defaultCacheRoot(), resources);
    }

    private static boolean genericSystemCore() {
        return OpenBlasLoader.GENERIC_CORES.contains(TestLibraries.systemOrSkip().coreName().toLowerCase(Locale.ROOT));
    }

    private static void assertFailure(OpenBlasLoad load, String... fragments) {
        assertFalse(load.loaded(), load.reason());
        assertNull(load.library());
        assertNull(load.source());
        for (String fragment : fragments) {
            assertTrue(load.reason().contains(fragment), "reason '" + load.reason() + "' lacks '" + fragment + "'");
        }
    }

    @Test
    void propertyNamingAMissingFileFailsWithoutFallback() {
        String missing = temp.resolve("nope/libopenblas.so.0").toString();
        // System and bundled are allowed, and still not used: the user asked for this file.
        assertFailure(OpenBlasLoader.load(settings(missing, true, true)), "jlstm.openblas.path=" + missing,
                "no such file");
    }

    @Test
    void propertyNamingANonLibraryFails() throws IOException {
        Path text = Files.writeString(temp.resolve("libopenblas.so.0"), "just text\n");
        assertFailure(OpenBlasLoader.load(settings(text.toString(), true, true)), text.toString(), "no ELF header");
        assertFailure(OpenBlasLoader.load(settings(temp.toString(), true, true)), temp.toString(), "not a regular file");
    }

    @Test
    void propertyNamingABrokenElfFileReportsTheLoaderError() throws IOException {
        Path broken = Files.write(temp.resolve("libbroken.so"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0});
        OpenBlasLoad load = OpenBlasLoader.load(settings(broken.toString(), true, true));
        assertFailure(load, broken.toString(), "dlopen failed");
        System.out.println("broken ELF: " + load.reason());
    }

    @Test
    void propertyNamingALibraryWithoutBlasNamesTheMissingSymbol() {
        Path gcc = TestLibraries.bundledFile().resolveSibling("libgcc_s.so.1");
        assertFailure(OpenBlasLoader.load(settings(gcc.toString(), true, true)), gcc.toString(),
                "required symbol cblas_sgemm not found");
        OpenBlasUnavailableException e = assertThrows(OpenBlasUnavailableException.class, () -> OpenBlas.loadFrom(gcc));
        assertEquals(gcc, e.path());
    }

    @Test
    void propertyNamingAGoodLibraryLoadsIt() {
        Path file = TestLibraries.bundledFile();
        OpenBlasLoad load = OpenBlasLoader.load(settings(file.toString(), true, true));
        assertTrue(load.loaded(), load.reason());
        assertEquals(OpenBlasSource.PROPERTY, load.source());
        assertEquals(file, load.path());
        assertTrue(load.reason().startsWith("jlstm.openblas.path=" + file), load.reason());
        assertTrue(load.library().config().contains("OpenBLAS 0.3.28"), load.library().config());
    }

    @Test
    void bundledWhenTheSystemLibraryIsDisabled() {
        OpenBlasLoad load = OpenBlasLoader.load(settings(null, false, true));
        assertTrue(load.loaded(), load.reason());
        assertEquals(OpenBlasSource.BUNDLED, load.source());
        assertEquals(TestLibraries.bundledFile(), load.path());
        assertTrue(load.reason().startsWith("bundled OpenBLAS 0.3.28-1.5.11 (core " + load.library().coreName()
                + ") extracted to "), load.reason());
        assertTrue(load.reason().contains("system library disabled by jlstm.openblas.system=false"), load.reason());
        System.out.println("bundled: " + load.reason());
    }

    @Test
    void nothingWhenBothAreDisabled() {
        assertFailure(OpenBlasLoader.load(settings(null, false, false)), "jlstm.openblas.system=false",
                "jlstm.openblas.bundled=false");
    }

    @Test
    void nothingWhenTheJarIsMissing() throws IOException {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            var noJar = new OpenBlasLoader.Settings(null, false, true, null, OpenBlasLoader.SYSTEM_NAMES,
                    CpuFeatures.read(), temp, empty);
            assertFailure(OpenBlasLoader.load(noJar), "bundled:", "is not on the class path");
        }
    }

    @Test
    void systemLibraryByName() {
        OpenBlasLoad load = OpenBlasLoader.load(settings(null, true, false));
        if (TestLibraries.systemFile().isPresent()) {
            assertTrue(load.loaded(), load.reason());
        }
        if (load.loaded()) {
            // Without a system library this can still succeed when a libopenblas.so.0 is already loaded in
            // this JVM (the dynamic loader matches the soname of the bundled copy opened by earlier tests).
            assertEquals(OpenBlasSource.SYSTEM, load.source());
            assertNotNull(load.path(), load.reason());
            assertTrue(Files.isRegularFile(load.path()), load.reason());
            assertTrue(load.reason().startsWith("system libopenblas.so.0 (" + load.path())
                    || load.reason().startsWith("system libopenblas.so.0 (already loaded in this process from "
                    + load.path()), load.reason());
            assertTrue(load.library().config().contains("OpenBLAS"), load.library().config());
            System.out.println("system: " + load.reason());
        } else {
            assertFailure(load, "no system library: libopenblas.so.0: dlopen failed", "libopenblas.so:",
                    "jlstm.openblas.bundled=false");
            System.out.println("system: " + load.reason());
        }
    }

    @Test
    void autoPassesOverAGenericSystemCoreOnAnAvx2Cpu() {
        // This host as it is: on the Cooperlake CI machine, Debian's OpenBLAS 0.3.21 runs "Prescott".
        CpuFeatures cpu = CpuFeatures.read();
        OpenBlasLoad load = OpenBlasLoader.load(systemByPath(null, cpu, RESOURCES));
        assertTrue(load.loaded(), load.reason());
        String core = TestLibraries.systemOrSkip().coreName();
        System.out.println("auto (system core " + core + ", avx2 " + cpu.hasAvx2() + "): " + load.reason());
        if (genericSystemCore() && cpu.hasAvx2()) {
            assertEquals(OpenBlasSource.BUNDLED, load.source(), load.reason());
            assertEquals(TestLibraries.bundledFile(), load.path());
            assertTrue(load.library().config().startsWith("OpenBLAS 0.3.28 "), load.library().config());
            assertTrue(load.reason().startsWith("bundled OpenBLAS 0.3.28-1.5.11 (core "), load.reason());
            assertTrue(load.reason().contains("runs the generic " + core + " core on this AVX2 CPU"
                    + " (set -Djlstm.openblas.prefer=system to use it anyway)"), load.reason());
        } else {
            assertEquals(OpenBlasSource.SYSTEM, load.source(), load.reason());
        }
    }

    @Test
    void autoKeepsAGenericSystemCoreWithoutAvx2() {
        OpenBlasLoad load = OpenBlasLoader.load(systemByPath("auto", NO_AVX2, RESOURCES));
        assertEquals(OpenBlasSource.SYSTEM, load.source(), load.reason());
        assertTrue(Files.isRegularFile(load.path()), load.reason());
        if (genericSystemCore()) {
            assertTrue(load.reason().contains("core is kept: this CPU has no AVX2 (test)"), load.reason());
        }
        System.out.println("auto without avx2: " + load.reason());
    }

    @Test
    void autoFallsBackToTheGenericSystemLibraryWhenTheBundledOneFails() throws IOException {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            OpenBlasLoad load = OpenBlasLoader.load(systemByPath("AUTO", AVX2, empty));
            assertEquals(OpenBlasSource.SYSTEM, load.source(), load.reason());
            if (genericSystemCore()) {
                assertTrue(load.reason().contains("although it runs the generic"), load.reason());
                assertTrue(load.reason().contains("the bundled library cannot be used: "
                        + "org.bytedeco:openblas:0.3.28-1.5.11:linux-x86_64 is not on the class path"), load.reason());
            }
            System.out.println("auto, bundled missing: " + load.reason());
            // The system library is usable: the probe's closed arena is not the one it is bound to.
            assertTrue(load.library().numThreads() >= 1);
        }
    }

    @Test
    void preferSystemKeepsTheSystemLibrary() {
        OpenBlasLoad load = OpenBlasLoader.load(systemByPath("system", AVX2, RESOURCES));
        assertEquals(OpenBlasSource.SYSTEM, load.source(), load.reason());
        assertTrue(load.reason().startsWith("system " + TestLibraries.systemFile().orElseThrow()), load.reason());
        assertFalse(load.reason().contains("generic"), load.reason());
    }

    @Test
    void preferBundledTakesTheBundledLibrary() {
        OpenBlasLoad load = OpenBlasLoader.load(systemByPath(" Bundled ", NO_AVX2, RESOURCES));
        assertEquals(OpenBlasSource.BUNDLED, load.source(), load.reason());
        assertEquals(TestLibraries.bundledFile(), load.path());
        assertTrue(load.reason().endsWith("(preferred by jlstm.openblas.prefer=bundled)"), load.reason());
    }

    @Test
    void preferBundledFallsBackToTheSystemLibrary() throws IOException {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            OpenBlasLoad load = OpenBlasLoader.load(systemByPath("bundled", AVX2, empty));
            assertEquals(OpenBlasSource.SYSTEM, load.source(), load.reason());
            assertTrue(load.reason().contains("(jlstm.openblas.prefer=bundled, but bundled: "
                    + "org.bytedeco:openblas:0.3.28-1.5.11:linux-x86_64 is not on the class path"), load.reason());
        }
    }

    @Test
    void invalidPreferIsAFailureNamingTheAcceptedValues() {
        var fastest = new OpenBlasLoader.Settings(null, true, true, "fastest", OpenBlasLoader.SYSTEM_NAMES, AVX2,
                temp, RESOURCES);
        assertFailure(OpenBlasLoader.load(fastest), "jlstm.openblas.prefer=fastest is not one of auto, system, bundled");
        assertEquals(Optional.of(OpenBlasLoader.Prefer.AUTO), OpenBlasLoader.Prefer.parse(null));
        assertEquals(Optional.of(OpenBlasLoader.Prefer.AUTO), OpenBlasLoader.Prefer.parse(" "));
        assertEquals(Optional.of(OpenBlasLoader.Prefer.SYSTEM), OpenBlasLoader.Prefer.parse("SYSTEM"));
    }

    @Test
    void theExplicitPathIgnoresPrefer() {
        Path file = TestLibraries.bundledFile();
        var withTypo = new OpenBlasLoader.Settings(file.toString(), true, true, "fastest",
                OpenBlasLoader.SYSTEM_NAMES, AVX2, temp, RESOURCES);
        OpenBlasLoad load = OpenBlasLoader.load(withTypo);
        assertEquals(OpenBlasSource.PROPERTY, load.source(), load.reason());
    }

    @Test
    void processWideLoadIsCachedAndNeverThrows() {
        OpenBlasLoad first = OpenBlas.load();
        assertSame(first, OpenBlas.load());
        assertNotNull(first.reason());
        if (first.loaded()) {
            assertTrue(first.library().config().contains("OpenBLAS"), first.library().config());
        }
        System.out.println("load(): " + first.reason());
    }

    @Test
    void recordRejectsHalfFilledOutcomes() {
        assertThrows(IllegalArgumentException.class,
                () -> new OpenBlasLoad(TestLibraries.bundled(), null, null, "half"));
        assertThrows(NullPointerException.class, () -> new OpenBlasLoad(null, null, null, null));
    }
}
