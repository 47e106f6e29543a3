package io.jlstm.ffi;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The order in which {@link OpenBlas#load()} looks for a library, as a function of its settings so that
 * tests can run every branch without touching system properties or the JVM-wide cached result.
 * Stateless apart from {@link Once}; thread-safe.
 */
final class OpenBlasLoader {

    static final String PATH_PROPERTY = "jlstm.openblas.path";
    static final String SYSTEM_PROPERTY = "jlstm.openblas.system";
    static final String BUNDLED_PROPERTY = "jlstm.openblas.bundled";
    static final String PREFER_PROPERTY = "jlstm.openblas.prefer";
    static final List<String> SYSTEM_NAMES = List.of("libopenblas.so.0", "libopenblas.so");

    /**
     * {@code openblas_get_corename()} values (lower case) of OpenBLAS's generic or pre-AVX2 x86 kernel
     * sets. A DYNAMIC_ARCH build older than the CPU falls back to one of these (OpenBLAS 0.3.21 runs
     * "Prescott", SSE3 kernels, on a Cooperlake Xeon: a 64-input, 256-unit LSTM step took 90 µs there
     * against 13.6 µs with the bundled 0.3.28's "Cooperlake" kernels). Under {@link Prefer#AUTO}, a system
     * library running one of these on a CPU with AVX2 is passed over for the bundled copy. "unknown" is
     * what {@link OpenBlas#coreName()} says when the library has no openblas_get_corename.
     */
    static final Set<String> GENERIC_CORES = Set.of("prescott", "core2", "penryn", "dunnington", "nehalem",
            "katmai", "coppermine", "northwood", "banias", "atom", "opteron", "opteron_sse3", "barcelona",
            "athlon", "generic", "unknown");

    private static final System.Logger LOG = System.getLogger("io.jlstm.ffi");

    private OpenBlasLoader() {}

    /** {@code jlstm.openblas.prefer}: which of the system and bundled libraries to try first. */
    enum Prefer {
        /** The system library unless it runs a {@linkplain #GENERIC_CORES generic core} on an AVX2 CPU. */
        AUTO,
        /** The system library whenever it loads (the behaviour before {@code prefer} existed). */
        SYSTEM,
        /** The bundled library, the system library only when the bundled one cannot be used. */
        BUNDLED;

        static final String ACCEPTED = Arrays.stream(values()).map(p -> p.name().toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(", "));

        /** Case-insensitive; null or blank is AUTO; empty for anything else. */
        static Optional<Prefer> parse(String value) {
            if (value == null || value.isBlank()) {
                return Optional.of(AUTO);
            }
            return Arrays.stream(values()).filter(p -> p.name().equalsIgnoreCase(value.strip())).findFirst();
        }
    }

    /** The JVM-wide result: computed on first access (class initialisation is thread-safe and runs once). */
    static final class Once {
        static final OpenBlasLoad LOAD = loadAndLog(Settings.fromSystemProperties());

        private Once() {}
    }

    /**
     * What the loader may try.
     *
     * @param path        the {@code jlstm.openblas.path} value, or null when unset
     * @param system      whether to try the system library by name
     * @param bundled     whether to try the bundled copy
     * @param prefer      the {@code jlstm.openblas.prefer} value as given (null means auto); an invalid
     *                    value makes {@link #load} fail, naming it, unless {@code path} is set
     * @param systemNames the names (or paths) the system library is opened by, in order
     * @param cpu         the CPU's features (only AVX2 is asked, under prefer=auto)
     * @param cacheRoot   where the bundled copy is extracted (its versioned folder goes inside)
     * @param resources   the class loader that should see the bytedeco jar's resources
     */
    record Settings(String path, boolean system, boolean bundled, String prefer, List<String> systemNames,
                    CpuFeatures cpu, Path cacheRoot, ClassLoader resources) {

        Settings {
            systemNames = List.copyOf(systemNames);
            Objects.requireNonNull(cpu, "cpu");
        }

        static Settings fromSystemProperties() {
            String path = System.getProperty(PATH_PROPERTY);
            return new Settings(path == null || path.isBlank() ? null : path.strip(),
                    !"false".equalsIgnoreCase(System.getProperty(SYSTEM_PROPERTY, "true").strip()),
                    !"false".equalsIgnoreCase(System.getProperty(BUNDLED_PROPERTY, "true").strip()),
                    System.getProperty(PREFER_PROPERTY), SYSTEM_NAMES, CpuFeatures.read(),
                    BundledOpenBlas.defaultCacheRoot(), OpenBlas.class.getClassLoader());
        }
    }

    static OpenBlasLoad loadAndLog(Settings settings) {
        OpenBlasLoad load = load(settings);
        if (load.loaded()) {
            LOG.log(System.Logger.Level.DEBUG, "OpenBLAS: {0}", load.reason());
        } else {
            LOG.log(System.Logger.Level.WARNING, "OpenBLAS unavailable: {0}", load.reason());
        }
        return load;
    }

    /**
     * Tries the property, then the system and bundled libraries in the order {@code prefer} gives (see
     * {@link OpenBlas#load()}); never throws for a missing or broken library or an invalid setting.
     */
    static OpenBlasLoad load(Settings settings) {
        if (settings.path() != null) {
            return loadProperty(settings.path());
        }
        Optional<Prefer> parsed = Prefer.parse(settings.prefer());
        if (parsed.isEmpty()) {
            // Like the path: a typo is reported, not silently replaced by a default.
            return OpenBlasLoad.failure(PREFER_PROPERTY + "=" + settings.prefer() + " is not one of "
                    + Prefer.ACCEPTED);
        }
        Prefer prefer = parsed.get();
        if (!settings.system()) {
            return bundledOrFail(settings, "system library disabled by " + SYSTEM_PROPERTY + "=false");
        }
        if (prefer == Prefer.AUTO && settings.bundled()) {
            return auto(settings);
        }
        if (prefer == Prefer.BUNDLED && settings.bundled()) {
            OpenBlas bundled;
            try {
                bundled = loadBundled(settings);
            } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
                String why = "bundled: " + e.getMessage();
                SystemOpen system = openSystem(settings.systemNames(), Arena.global());
                return system.library() != null
                        ? system.load(" (" + PREFER_PROPERTY + "=bundled, but " + why + ")")
                        : OpenBlasLoad.failure("no OpenBLAS: " + why + "; " + system.why());
            }
            return bundledLoad(bundled, "preferred by " + PREFER_PROPERTY + "=bundled");
        }
        // prefer=system, or the bundled library is disabled: the system library if it loads.
        SystemOpen system = openSystem(settings.systemNames(), Arena.global());
        return system.library() != null ? system.load("") : bundledOrFail(settings, system.why());
    }

    private static OpenBlasLoad loadProperty(String path) {
        try {
            OpenBlas library = OpenBlas.loadFrom(Path.of(path));
            return new OpenBlasLoad(library, OpenBlasSource.PROPERTY, library.path(),
                    PATH_PROPERTY + "=" + path + " (" + library.path() + ", " + library.config() + ")");
        } catch (OpenBlasUnavailableException e) {
            // No fallback: the user named this file, and quietly using another one would hide the mistake.
            return OpenBlasLoad.failure(PATH_PROPERTY + "=" + path + " cannot be loaded: "
                    + (e.path() == null || e.path().toString().equals(path) ? "" : "(" + e.path() + ") ")
                    + e.reason());
        } catch (IllegalArgumentException e) {  // InvalidPathException
            return OpenBlasLoad.failure(PATH_PROPERTY + "=" + path + " is not a path: " + e.getMessage());
        }
    }

    /**
     * prefer=auto with the bundled library allowed: look at the system library in an arena of its own,
     * keep it unless it runs a generic core on an AVX2 CPU, else unload it and use the bundled copy.
     */
    private static OpenBlasLoad auto(Settings settings) {
        SystemOpen probe;
        try (Arena arena = Arena.ofShared()) {
            probe = openSystem(settings.systemNames(), arena);
            if (probe.library() == null) {
                return bundledOrFail(settings, probe.why());
            }
            String core = probe.library().coreName();
            boolean generic = GENERIC_CORES.contains(core.toLowerCase(Locale.ROOT));
            if (!generic || !settings.cpu().hasAvx2()) {
                // Reopen for good in the global arena (one more reference to the same loaded object, so
                // closing the probe's arena below unloads nothing); downcalls on global-arena symbols
                // need no liveness check of a shared arena either.
                SystemOpen kept;
                try {
                    kept = probe.reopenGlobal();
                } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
                    return bundledOrFail(settings, "system " + probe.description() + " cannot be reopened: "
                            + e.getMessage());
                }
                return kept.load(generic ? " (its generic " + core + " core is kept: " + noAvx2(settings.cpu()) + ")"
                        : "");
            }
            // Leaving the try closes the arena: dlclose unloads the rejected library (when nothing else in
            // the process holds it) before the bundled copy, of the same soname, is opened by path.
            // Measured safe with OpenBLAS 0.3.21 pthread: its destructor joins its worker threads, and
            // the library and its libgfortran are then gone from /proc/self/maps, also after an sgemm;
            // repeated 20 times. Its symbols, bound to the closed arena, can no longer be called.
        }
        String rejected = "the system " + probe.description() + " runs the generic " + probe.library().coreName()
                + " core on this AVX2 CPU";
        try {
            OpenBlas bundled = loadBundled(settings);
            return bundledLoad(bundled, null, ": " + rejected + " (set -D" + PREFER_PROPERTY
                    + "=system to use it anyway)");
        } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
            // The generic system library after all: slow beats none.
            SystemOpen again;
            try {
                again = probe.reopenGlobal();
            } catch (OpenBlasUnavailableException | IllegalArgumentException e2) {
                return OpenBlasLoad.failure("no OpenBLAS: " + rejected + ", and the bundled library cannot be used: "
                        + e.getMessage() + "; reopening the system library failed: " + e2.getMessage());
            }
            return again.load(", although it runs the generic " + probe.library().coreName()
                    + " core on this AVX2 CPU: the bundled library cannot be used: " + e.getMessage());
        }
    }

    private static String noAvx2(CpuFeatures cpu) {
        return cpu.flags().isEmpty() ? "cannot tell whether this CPU has AVX2, " + cpu.source()
                : "this CPU has no AVX2 (" + cpu.source() + ")";
    }

    private static OpenBlasLoad bundledOrFail(Settings settings, String noSystem) {
        if (!settings.bundled()) {
            return OpenBlasLoad.failure("no OpenBLAS: " + noSystem + "; bundled library disabled by "
                    + BUNDLED_PROPERTY + "=false");
        }
        try {
            return bundledLoad(loadBundled(settings), noSystem);
        } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
            return OpenBlasLoad.failure("no OpenBLAS: " + noSystem + "; bundled: " + e.getMessage());
        }
    }

    private static OpenBlasLoad bundledLoad(OpenBlas library, String note) {
        return bundledLoad(library, note, "");
    }

    /** "bundled OpenBLAS V (core C) extracted to DIR (config)" + suffix + " (note)". */
    private static OpenBlasLoad bundledLoad(OpenBlas library, String note, String suffix) {
        Path file = library.path();
        return new OpenBlasLoad(library, OpenBlasSource.BUNDLED, file, "bundled OpenBLAS "
                + BundledOpenBlas.VERSION + " (core " + library.coreName() + ") extracted to " + file.getParent()
                + " (" + library.config() + ")" + suffix + (note == null ? "" : " (" + note + ")"));
    }

    /**
     * Extracts and opens the bundled copy by absolute path, and checks that the dynamic loader really
     * mapped that file and that it is OpenBLAS {@value BundledOpenBlas#OPENBLAS_VERSION}. (A path, unlike a
     * name, is never answered with an already-loaded library of the same soname, but this costs nothing
     * and would catch a bad cache folder or a loader that thinks otherwise.)
     */
    private static OpenBlas loadBundled(Settings settings) {
        Path file = BundledOpenBlas.extract(settings.resources(), settings.cacheRoot()).library().toAbsolutePath();
        SymbolLookup symbols = NativeLibrary.openFile(file);
        Optional<Path> mapped = symbols.find("cblas_sgemm").flatMap(NativeLibrary::mappedFileContaining);
        if (mapped.isPresent() && !sameFile(mapped.get(), file)) {
            throw new OpenBlasUnavailableException(file, "dlopen gave another library's cblas_sgemm, from "
                    + mapped.get());
        }
        OpenBlas library;
        try {
            library = OpenBlas.bind(file, symbols);
        } catch (OpenBlasUnavailableException e) {
            throw new OpenBlasUnavailableException(file, e.reason(), e);
        }
        String expected = "OpenBLAS " + BundledOpenBlas.OPENBLAS_VERSION;
        if (!library.config().equals(expected) && !library.config().startsWith(expected + " ")) {
            throw new OpenBlasUnavailableException(file, "not the bundled OpenBLAS: openblas_get_config() says \""
                    + library.config() + "\", expected \"" + expected + " ...\"");
        }
        return library;
    }

    private static boolean sameFile(Path a, Path b) {
        if (a.equals(b)) {
            return true;
        }
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The system library opened by the first name that works, or why none did.
     *
     * @param library     the bound library, or null
     * @param name        the name it was opened by
     * @param file        the file that holds its code, when /proc/self/maps tells
     * @param description "NAME (WHERE, CONFIG)"
     * @param why         "no system library: NAME: ERROR; ..." when library is null
     */
    private record SystemOpen(OpenBlas library, String name, Path file, String description, String why) {

        OpenBlasLoad load(String suffix) {
            return new OpenBlasLoad(library, OpenBlasSource.SYSTEM, file, "system " + description + suffix);
        }

        /**
         * The same library in the global arena: by its file when known, since after the probe's arena is
         * closed and a bundled copy opened, the name would match the bundled copy's soname instead.
         */
        SystemOpen reopenGlobal() {
            OpenBlas global = OpenBlas.bind(file, file != null ? NativeLibrary.openFile(file) : NativeLibrary.openName(name));
            return new SystemOpen(global, name, file, description, why);
        }
    }

    private static SystemOpen openSystem(List<String> names, Arena arena) {
        StringBuilder why = new StringBuilder();
        for (String name : names) {
            try {
                Set<Path> mappedBefore = NativeLibrary.mappedFiles();
                SymbolLookup symbols = NativeLibrary.openName(name, arena);
                // The real file: whichever mapping holds the code we are about to call.
                Path file = symbols.find("cblas_sgemm").flatMap(NativeLibrary::mappedFileContaining).orElse(null);
                OpenBlas library = OpenBlas.bind(file, symbols);
                // The dynamic loader answers a name with any loaded library of that soname, e.g. a
                // bundled copy some other component opened first: say so rather than imply a search.
                String where = file == null ? "path unknown"
                        : mappedBefore.contains(file) ? "already loaded in this process from " + file
                        : file.toString();
                return new SystemOpen(library, name, file, name + " (" + where + ", " + library.config() + ")", null);
            } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
                why.append(why.isEmpty() ? "" : "; ").append(name).append(": ").append(e.getMessage());
            }
        }
        return new SystemOpen(null, null, null, null, "no system library: " + why);
    }
}
