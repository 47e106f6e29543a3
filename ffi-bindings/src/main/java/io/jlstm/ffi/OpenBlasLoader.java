package io.jlstm.ffi;

import java.lang.foreign.SymbolLookup;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The order in which {@link OpenBlas#load()} looks for a library, as a function of its settings so that
 * tests can run every branch without touching system properties or the JVM-wide cached result.
 * Stateless apart from {@link Once}; thread-safe.
 */
final class OpenBlasLoader {

    static final String PATH_PROPERTY = "jlstm.openblas.path";
    static final String SYSTEM_PROPERTY = "jlstm.openblas.system";
    static final String BUNDLED_PROPERTY = "jlstm.openblas.bundled";
    static final List<String> SYSTEM_NAMES = List.of("libopenblas.so.0", "libopenblas.so");

    private static final System.Logger LOG = System.getLogger("io.jlstm.ffi");

    private OpenBlasLoader() {}

    /** The JVM-wide result: computed on first access (class initialisation is thread-safe and runs once). */
    static final class Once {
        static final OpenBlasLoad LOAD = loadAndLog(Settings.fromSystemProperties());

        private Once() {}
    }

    /**
     * What the loader may try.
     *
     * @param path      the {@code jlstm.openblas.path} value, or null when unset
     * @param system    whether to try the system library by name
     * @param bundled   whether to try the bundled copy
     * @param cacheRoot where the bundled copy is extracted (its versioned folder goes inside)
     * @param resources the class loader that should see the bytedeco jar's resources
     */
    record Settings(String path, boolean system, boolean bundled, Path cacheRoot, ClassLoader resources) {

        static Settings fromSystemProperties() {
            String path = System.getProperty(PATH_PROPERTY);
            return new Settings(path == null || path.isBlank() ? null : path.strip(),
                    !"false".equalsIgnoreCase(System.getProperty(SYSTEM_PROPERTY, "true").strip()),
                    !"false".equalsIgnoreCase(System.getProperty(BUNDLED_PROPERTY, "true").strip()),
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

    /** Tries property, system, bundled in that order; never throws for a missing or broken library. */
    static OpenBlasLoad load(Settings settings) {
        if (settings.path() != null) {
            Path file = Path.of(settings.path());
            try {
                OpenBlas library = OpenBlas.loadFrom(file);
                return new OpenBlasLoad(library, OpenBlasSource.PROPERTY, library.path(),
                        PATH_PROPERTY + "=" + settings.path() + " (" + library.path() + ", " + library.config() + ")");
            } catch (OpenBlasUnavailableException e) {
                // No fallback: the user named this file, and quietly using another one would hide the mistake.
                return OpenBlasLoad.failure(PATH_PROPERTY + "=" + settings.path() + " cannot be loaded: "
                        + (e.path() == null || e.path().toString().equals(settings.path()) ? "" : "(" + e.path() + ") ")
                        + e.reason());
            } catch (IllegalArgumentException e) {  // InvalidPathException
                return OpenBlasLoad.failure(PATH_PROPERTY + "=" + settings.path() + " is not a path: " + e.getMessage());
            }
        }

        String noSystem;
        if (settings.system()) {
            StringBuilder why = new StringBuilder();
            for (String name : SYSTEM_NAMES) {
                try {
                    Set<Path> mappedBefore = NativeLibrary.mappedFiles();
                    SymbolLookup symbols = NativeLibrary.openName(name);
                    // The real file: whichever mapping holds the code we are about to call.
                    Path file = symbols.find("cblas_sgemm").flatMap(NativeLibrary::mappedFileContaining).orElse(null);
                    OpenBlas library = OpenBlas.bind(file, symbols);
                    // The dynamic loader answers a name with any loaded library of that soname, e.g. a
                    // bundled copy some other component opened first: say so rather than imply a search.
                    String where = file == null ? "path unknown"
                            : mappedBefore.contains(file) ? "already loaded in this process from " + file
                            : file.toString();
                    return new OpenBlasLoad(library, OpenBlasSource.SYSTEM, file,
                            "system " + name + " (" + where + ", " + library.config() + ")");
                } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
                    why.append(why.isEmpty() ? "" : "; ").append(name).append(": ").append(e.getMessage());
                }
            }
            noSystem = "no system library: " + why;
        } else {
            noSystem = "system library disabled by " + SYSTEM_PROPERTY + "=false";
        }

        if (!settings.bundled()) {
            return OpenBlasLoad.failure("no OpenBLAS: " + noSystem + "; bundled library disabled by "
                    + BUNDLED_PROPERTY + "=false");
        }
        try {
            Path file = BundledOpenBlas.extract(settings.resources(), settings.cacheRoot()).library();
            OpenBlas library = OpenBlas.loadFrom(file);
            return new OpenBlasLoad(library, OpenBlasSource.BUNDLED, file, "bundled OpenBLAS "
                    + BundledOpenBlas.VERSION + " extracted to " + file.getParent() + " (" + library.config()
                    + ") (" + noSystem + ")");
        } catch (OpenBlasUnavailableException | IllegalArgumentException e) {
            return OpenBlasLoad.failure("no OpenBLAS: " + noSystem + "; bundled: " + e.getMessage());
        }
    }
}
