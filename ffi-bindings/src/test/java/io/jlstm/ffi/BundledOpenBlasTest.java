package io.jlstm.ffi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Extraction to the cache folder: written once, reused while the checksum matches, replaced when not. */
class BundledOpenBlasTest {

    private static final ClassLoader RESOURCES = OpenBlas.class.getClassLoader();
    private static final FileTime LONG_AGO = FileTime.from(Instant.parse("2020-01-01T00:00:00Z"));

    @TempDir
    Path cache;

    @Test
    void extractsOnceThenReusesTheCachedFiles() throws IOException {
        BundledOpenBlas.Extraction first = BundledOpenBlas.extract(RESOURCES, cache);
        Path dir = cache.resolve("openblas-0.3.28-1.5.11-linux-x86_64");
        assertEquals(dir.resolve("libopenblas.so.0"), first.library());
        assertEquals(List.of("libgcc_s.so.1", "libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0"), first.written());
        for (String name : BundledOpenBlas.FILES) {
            assertEquals(resourceSize(name), Files.size(dir.resolve(name)), name);
            Files.setLastModifiedTime(dir.resolve(name), LONG_AGO);
        }

        BundledOpenBlas.Extraction second = BundledOpenBlas.extract(RESOURCES, cache);
        assertEquals(List.of(), second.written());
        for (String name : BundledOpenBlas.FILES) {
            assertEquals(LONG_AGO, Files.getLastModifiedTime(dir.resolve(name)), name + " was rewritten");
        }
        assertNoTemporaryFilesLeft(dir);
    }

    @Test
    void replacesACorruptedOrMissingCachedFile() throws IOException {
        Path dir = BundledOpenBlas.extract(RESOURCES, cache).library().getParent();
        // Same size, one byte flipped: only the checksum can tell.
        Path gcc = dir.resolve("libgcc_s.so.1");
        byte[] bytes = Files.readAllBytes(gcc);
        bytes[bytes.length / 2] ^= 0x5a;
        Files.write(gcc, bytes);
        Files.delete(dir.resolve("libquadmath.so.0"));

        BundledOpenBlas.Extraction again = BundledOpenBlas.extract(RESOURCES, cache);
        assertEquals(List.of("libgcc_s.so.1", "libquadmath.so.0"), again.written());
        assertArrayEquals(resourceBytes("libgcc_s.so.1"), Files.readAllBytes(gcc));
        assertArrayEquals(resourceBytes("libquadmath.so.0"), Files.readAllBytes(dir.resolve("libquadmath.so.0")));
        assertNoTemporaryFilesLeft(dir);
    }

    @Test
    void missingJarIsReported() {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            OpenBlasUnavailableException e = assertThrows(OpenBlasUnavailableException.class,
                    () -> BundledOpenBlas.extract(empty, cache));
            assertTrue(e.getMessage().contains("org.bytedeco:openblas:0.3.28-1.5.11:linux-x86_64 is not on the class path"),
                    e.getMessage());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void unwritableCacheIsReported() throws IOException {
        Path file = Files.writeString(cache.resolve("a-file"), "not a folder");
        OpenBlasUnavailableException e = assertThrows(OpenBlasUnavailableException.class,
                () -> BundledOpenBlas.extract(RESOURCES, file));
        assertTrue(e.getMessage().contains("jlstm.cache.dir"), e.getMessage());
    }

    @Test
    void publicExtractionUsesTheConfiguredCacheFolder() {
        Path library = TestLibraries.bundledFile();  // OpenBlas.extractBundled(), once per JVM
        assertEquals(BundledOpenBlas.defaultCacheRoot().resolve("openblas-0.3.28-1.5.11-linux-x86_64")
                .resolve("libopenblas.so.0"), library);
        assertTrue(Files.isRegularFile(library));
    }

    private static void assertNoTemporaryFilesLeft(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(List.of("libgcc_s.so.1", "libgfortran.so.5", "libopenblas.so.0", "libquadmath.so.0"), names);
        }
    }

    private static byte[] resourceBytes(String name) throws IOException {
        try (InputStream in = RESOURCES.getResourceAsStream(BundledOpenBlas.RESOURCE_DIR + name)) {
            return in.readAllBytes();
        }
    }

    private static long resourceSize(String name) throws IOException {
        try (InputStream in = RESOURCES.getResourceAsStream(BundledOpenBlas.RESOURCE_DIR + name)) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        }
    }
}
