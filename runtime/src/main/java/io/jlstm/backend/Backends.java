package io.jlstm.backend;

import io.jlstm.ffi.OpenBlas;
import io.jlstm.ffi.OpenBlasLoad;
import io.jlstm.simd.KernelProvider;
import java.util.Locale;

/**
 * Chooses the backend for the heavy products. The choice is made when asked (usually once, when a
 * model is loaded), can be forced with the system property {@code jlstm.backend}
 * ({@code auto}, {@code java}, {@code openblas}), and always comes with its reason.
 *
 * <p>{@code auto} picks OpenBLAS when it loads and the Java kernels otherwise. A forced
 * {@code openblas} that cannot load is an error, not a silent fallback: the user asked for it.
 */
public final class Backends {

    /** The property that forces a backend. */
    public static final String PROPERTY = "jlstm.backend";

    private static final System.Logger LOG = System.getLogger("io.jlstm.backend");
    private static volatile boolean fallbackLogged;

    private Backends() {
    }

    /** Threads one product may use: the system property {@code jlstm.threads}, default 1. */
    public static int threads() {
        return Math.max(1, Integer.getInteger("jlstm.threads", 1));
    }

    /** A backend and why it was chosen. */
    public record Selection(Backend backend, String reason) {
    }

    /** The pure-Java backend with the kernels chosen by {@link KernelProvider}. */
    public static Backend java() {
        return new JavaBackend(KernelProvider.get());
    }

    /**
     * The OpenBLAS backend.
     *
     * @throws IllegalStateException if OpenBLAS cannot be loaded, with the loader's reason
     */
    public static Backend openblas() {
        OpenBlasLoad load = OpenBlas.load();
        if (!load.loaded()) {
            throw new IllegalStateException("OpenBLAS backend unavailable: " + load.reason());
        }
        return new OpenBlasBackend(load.library(), load.reason());
    }

    /** Backend by name: {@code java}, {@code openblas} or {@code auto}. */
    public static Selection byName(String name) {
        String n = name == null ? "auto" : name.trim().toLowerCase(Locale.ROOT);
        switch (n) {
            case "java":
                return new Selection(java(), "java backend requested (" + KernelProvider.reason() + ")");
            case "openblas":
                return new Selection(openblas(), "openblas backend requested: " + OpenBlas.load().reason());
            case "auto":
            case "":
                OpenBlasLoad load = OpenBlas.load();
                if (load.loaded()) {
                    return new Selection(new OpenBlasBackend(load.library(), load.reason()),
                            "auto: OpenBLAS loaded: " + load.reason());
                }
                if (!fallbackLogged) {
                    fallbackLogged = true;
                    LOG.log(System.Logger.Level.WARNING,
                            "OpenBLAS not available, using the Java backend: " + load.reason());
                }
                return new Selection(java(), "auto: OpenBLAS not available (" + load.reason()
                        + "), using java (" + KernelProvider.reason() + ")");
            default:
                throw new IllegalArgumentException("unknown backend '" + name
                        + "' (expected auto, java or openblas; set by -D" + PROPERTY + ")");
        }
    }

    /** The backend named by the system property {@value #PROPERTY} (default {@code auto}). */
    public static Selection select() {
        return byName(System.getProperty(PROPERTY, "auto"));
    }
}
