package io.jlstm.simd;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Locale;

/**
 * Chooses the {@link Kernels} implementation once, when this class initialises, in the manner
 * of Lucene's {@code VectorizationProvider}, and logs the choice once at INFO through
 * {@link System.Logger} {@code "io.jlstm.simd"}.
 *
 * <p>The system property {@code jlstm.simd.width} steers it:
 * <ul>
 *   <li>{@code auto} (default): the JVM's preferred vector width on this CPU, or scalar if
 *       that is narrower than 128 bits (a width that holds fewer than 4 floats gains nothing);
 *   <li>{@code scalar} or {@code 0}: the scalar kernels;
 *   <li>{@code 128}, {@code 256}, {@code 512}: that width; if the CPU lacks it, or the value is
 *       anything else, {@code auto} applies and {@link #reason()} says why.
 * </ul>
 * If {@code jdk.incubator.vector} is not in the module graph, the scalar kernels are used and
 * one WARNING is logged saying to pass {@code --add-modules jdk.incubator.vector}. The vector
 * implementation is then never loaded: it is reached only reflectively, after the check.
 *
 * <p>Owns no memory; the chosen implementation is immutable and stateless, so this class and
 * everything it returns are thread-safe.
 */
public final class KernelProvider {
    /** The property that forces a width. */
    static final String WIDTH_PROPERTY = "jlstm.simd.width";
    private static final String VECTOR_MODULE = "jdk.incubator.vector";

    private static final System.Logger LOG = System.getLogger("io.jlstm.simd");
    private static final Kernels SCALAR = new ScalarKernels();
    private static final boolean VECTOR_MODULE_PRESENT =
            ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();

    private static final Kernels CHOSEN;
    private static final String REASON;

    static {
        String[] reason = new String[1];
        CHOSEN = choose(System.getProperty(WIDTH_PROPERTY, "auto"), reason);
        REASON = reason[0];
        LOG.log(System.Logger.Level.INFO, "jlstm kernels: " + CHOSEN.name() + " (" + REASON + ")");
    }

    private KernelProvider() {
    }

    /**
     * Returns the implementation chosen at class initialisation.
     *
     * @return the chosen kernels, the same instance on every call
     */
    public static Kernels get() {
        return CHOSEN;
    }

    /**
     * Returns the scalar implementation, which works everywhere; the reference twin.
     *
     * @return the scalar kernels
     */
    public static Kernels scalar() {
        return SCALAR;
    }

    /**
     * Returns the Vector API implementation at a given width, whatever {@link #get()} chose; for
     * tests and benchmarks. Using several widths in one JVM is correct but slows each of them:
     * the JIT then cannot treat the vector species as a constant.
     *
     * @param bits 128, 256 or 512
     * @return the vector kernels of that width
     * @throws IllegalArgumentException if {@code bits} is not one of those, if the CPU's
     *     preferred vector is narrower, or if {@code jdk.incubator.vector} is not in the module
     *     graph; the message says which
     */
    public static Kernels vector(int bits) {
        if (!VECTOR_MODULE_PRESENT) {
            throw new IllegalArgumentException("no vector kernels: " + VECTOR_MODULE
                    + " is not in the module graph; pass --add-modules " + VECTOR_MODULE);
        }
        return VectorAccess.create(bits);
    }

    /**
     * Says, in one line, why {@link #get()} is what it is.
     *
     * @return the reason, never empty
     */
    public static String reason() {
        return REASON;
    }

    /** The selection rules of the class comment; reason[0] receives the explanation. */
    private static Kernels choose(String property, String[] reason) {
        String value = property.trim().toLowerCase(Locale.ROOT);
        String note = "";
        switch (value) {
            case "scalar", "0" -> {
                reason[0] = WIDTH_PROPERTY + "=" + property + " asks for the scalar kernels";
                return SCALAR;
            }
            case "auto", "128", "256", "512" -> {
            }
            default -> {
                note = "invalid " + WIDTH_PROPERTY + "=" + property
                        + " (expected auto, scalar, 0, 128, 256 or 512), using auto; ";
                value = "auto";
            }
        }
        if (!VECTOR_MODULE_PRESENT) {
            LOG.log(System.Logger.Level.WARNING, VECTOR_MODULE + " is not in the module graph, so the slower "
                    + "scalar kernels are used; pass --add-modules " + VECTOR_MODULE + " to the JVM");
            reason[0] = note + VECTOR_MODULE + " is not in the module graph";
            return SCALAR;
        }
        int preferred = VectorAccess.preferredBitSize();
        if (!value.equals("auto")) {
            int bits = Integer.parseInt(value);
            if (bits <= preferred) {
                reason[0] = note + WIDTH_PROPERTY + "=" + bits + " requested";
                return VectorAccess.create(bits);
            }
            note += WIDTH_PROPERTY + "=" + bits + " exceeds this CPU's " + preferred + "-bit vectors, using auto; ";
        }
        if (preferred < 128) {
            reason[0] = note + "the preferred vector is only " + preferred + " bits, too narrow to pay off";
            return SCALAR;
        }
        reason[0] = note + "auto: the JVM's preferred vector on this CPU is " + preferred + " bits";
        return VectorAccess.create(preferred);
    }

    /**
     * Reaches {@link VectorKernels} by reflection, so that nothing links against it unless the
     * vector module is present. Initialised only on first use, after that check.
     */
    private static final class VectorAccess {
        private static final MethodHandle CREATE;
        private static final MethodHandle PREFERRED_BITS;

        static {
            try {
                Class<?> cls = Class.forName(KernelProvider.class.getPackageName() + ".VectorKernels");
                MethodHandles.Lookup lookup = MethodHandles.lookup();
                CREATE = lookup.findStatic(cls, "create", MethodType.methodType(Kernels.class, int.class));
                PREFERRED_BITS = lookup.findStatic(cls, "preferredBitSize", MethodType.methodType(int.class));
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        static Kernels create(int bits) {
            try {
                return (Kernels) CREATE.invokeExact(bits);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        static int preferredBitSize() {
            try {
                return (int) PREFERRED_BITS.invokeExact();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}
