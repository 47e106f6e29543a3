package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
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

    private static OpenBlasLoader.Settings settings(String path, boolean system, boolean bundled) {
        return new OpenBlasLoader.Settings(path, system, bundled, BundledOpenBlas.defaultCacheRoot(), RESOURCES);
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
        assertTrue(load.reason().startsWith("bundled OpenBLAS 0.3.28-1.5.11 extracted to "), load.reason());
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
            var noJar = new OpenBlasLoader.Settings(null, false, true, temp, empty);
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
