package io.jlstm.ffi;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** The libraries the tests run on, opened once per test JVM (they stay loaded anyway). */
final class TestLibraries {

    static final String NO_SYSTEM = "system OpenBLAS not installed (apt-get install libopenblas0-pthread)";

    /** Where distributions put libopenblas.so.0 (Debian/Ubuntu multiarch, Fedora, others). */
    private static final List<String> SYSTEM_CANDIDATES = List.of(
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib64/libopenblas.so.0", "/usr/lib/libopenblas.so.0");

    private TestLibraries() {}

    private static final class Bundled {
        static final Path FILE = OpenBlas.extractBundled();
        static final OpenBlas LIBRARY = OpenBlas.loadFrom(FILE);
    }

    private static final class SystemLibrary {
        static final Optional<OpenBlas> LIBRARY = systemFile().map(OpenBlas::loadFrom);
    }

    static OpenBlas bundled() {
        return Bundled.LIBRARY;
    }

    /** The bundled libopenblas.so.0, extracted once per test JVM (each extraction re-hashes ~37 MB). */
    static Path bundledFile() {
        return Bundled.FILE;
    }

    static Optional<Path> systemFile() {
        return SYSTEM_CANDIDATES.stream().map(Path::of).filter(Files::exists).findFirst();
    }

    /** The system library, or the test is skipped with the install hint. */
    static OpenBlas systemOrSkip() {
        assumeTrue(SystemLibrary.LIBRARY.isPresent(), NO_SYSTEM);
        return SystemLibrary.LIBRARY.get();
    }

    /** "bundled" or "system" (parameter of the parameterised tests). */
    static OpenBlas named(String which) {
        return switch (which) {
            case "bundled" -> bundled();
            case "system" -> systemOrSkip();
            default -> throw new IllegalArgumentException(which);
        };
    }
}
