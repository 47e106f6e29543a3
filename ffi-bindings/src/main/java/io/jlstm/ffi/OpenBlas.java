package io.jlstm.ffi;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * OpenBLAS through FFM downcalls: single-precision GEMM and GEMV on off-heap segments, and the thread
 * count. Knows no tensors: callers pass segments, offsets and leading dimensions, and every length and
 * leading dimension is checked here before native code sees it.
 *
 * <p><b>Lifetime.</b> A library, once opened, stays loaded for the life of the JVM (it is opened in
 * {@link java.lang.foreign.Arena#global()}): OpenBLAS starts worker threads that run its code, and
 * downcall handles may be used from any thread at any time, so there is no safe moment to unload it.
 *
 * <p><b>Memory.</b> The caller owns every segment passed in; nothing is retained after a call returns.
 * The segments must be native (off-heap). The linker keeps each segment's arena alive for the duration
 * of the downcall: a segment whose arena is already closed fails with {@link IllegalStateException}
 * before native code runs, and closing a shared arena while one of its segments is inside a call fails
 * in the closing thread. Output ranges that overlap input ranges give undefined results, as in BLAS;
 * this is not checked because interleaved layouts (columns of one buffer) are legitimate.
 *
 * <p><b>Threads.</b> Instances are immutable and may be shared between threads; OpenBLAS's pthread
 * builds accept concurrent calls. {@link #setNumThreads} changes a setting global to the loaded library
 * (every instance over the same file shares it).
 */
@SuppressWarnings("restricted")  // this module exists to make native calls; callers pass --enable-native-access
public final class OpenBlas {

    // cblas.h enums (C int).
    private static final int ROW_MAJOR = 101;
    private static final int NO_TRANS = 111;
    private static final int TRANS = 112;

    private static final Linker LINKER = Linker.nativeLinker();

    // Address choice: parameters stay ADDRESS (MemorySegment), and the handles are unbound (the function
    // address is their first argument) and held in static finals. Why:
    //  - Safety: for ADDRESS arguments the linker checks that each segment's arena is alive and holds it
    //    open across the call, so a closed or concurrently closed arena is an exception, not a
    //    use-after-free inside BLAS. Raw JAVA_LONG addresses plus reachabilityFence would keep only the
    //    segment object reachable, not its arena open.
    //  - No allocation: a segment with offset 0 is passed as is; with an offset we pass asSlice(off*4).
    //    Because the handle is a static final constant, C2 inlines the whole downcall adapter into
    //    sgemm/sgemv and the slice, which then never escapes, is scalar-replaced (measured: 0 bytes per
    //    call once compiled, see OpenBlasAllocationTest; about 40 bytes per slice before that). Handles in
    //    instance fields would not be constants, and each slice would then be a real allocation.
    // No Linker.Option.critical: sgemm runs long enough to need the normal thread-state transition (a
    // critical call blocks safepoints for its whole duration). For sgemv the transition costs tens of
    // nanoseconds against microseconds for a recurrent step (256 x 1024 floats) while a large gemv would
    // stall every GC safepoint, so it is not worth a second, size-dependent path either.
    private static final MethodHandle SGEMM = LINKER.downcallHandle(FunctionDescriptor.ofVoid(
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,          // order, transA, transB
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,          // m, n, k
            ValueLayout.JAVA_FLOAT,                                                    // alpha
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT,                                 // a, lda
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT,                                 // b, ldb
            ValueLayout.JAVA_FLOAT,                                                    // beta
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT));                               // c, ldc
    private static final MethodHandle SGEMV = LINKER.downcallHandle(FunctionDescriptor.ofVoid(
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,                                // order, trans
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,                                // m, n
            ValueLayout.JAVA_FLOAT,                                                    // alpha
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT,                                 // a, lda
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT,                                 // x, incx
            ValueLayout.JAVA_FLOAT,                                                    // beta
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT));                               // y, incy
    private static final MethodHandle SET_NUM_THREADS =
            LINKER.downcallHandle(FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
    private static final MethodHandle GET_INT = LINKER.downcallHandle(FunctionDescriptor.of(ValueLayout.JAVA_INT));
    private static final MethodHandle GET_STRING = LINKER.downcallHandle(FunctionDescriptor.of(ValueLayout.ADDRESS));

    private final Path path;
    private final MemorySegment sgemm;
    private final MemorySegment sgemv;
    private final MemorySegment setNumThreads;
    private final MemorySegment getNumThreads;
    private final String config;
    private final String coreName;

    private OpenBlas(Path path, SymbolLookup symbols) {
        this.path = path;
        this.sgemm = require(symbols, "cblas_sgemm");
        this.sgemv = require(symbols, "cblas_sgemv");
        this.setNumThreads = require(symbols, "openblas_set_num_threads");
        this.getNumThreads = require(symbols, "openblas_get_num_threads");
        this.config = callString(require(symbols, "openblas_get_config")).orElse("unknown");
        this.coreName = symbols.find("openblas_get_corename").flatMap(OpenBlas::callString).orElse("unknown");
    }

    /**
     * Binds an opened library. The path is the file it came from, if known.
     *
     * @throws OpenBlasUnavailableException naming the first required symbol that is missing
     */
    static OpenBlas bind(Path path, SymbolLookup symbols) {
        return new OpenBlas(path, symbols);
    }

    private static MemorySegment require(SymbolLookup symbols, String name) {
        return symbols.find(name).orElseThrow(() -> new OpenBlasUnavailableException(null,
                "required symbol " + name + " not found (not an OpenBLAS library?)"));
    }

    private static Optional<String> callString(MemorySegment function) {
        try {
            MemorySegment s = (MemorySegment) GET_STRING.invokeExact(function);
            return s.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(NativeLibrary.cString(s).strip());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The process-wide OpenBLAS, loaded once per JVM on first use (thread-safe). Never throws for a
     * missing or broken library: the failure and its reason are in the returned record, and are also
     * logged once at WARNING through {@code System.getLogger("io.jlstm.ffi")}.
     *
     * <p>Order: (1) the file named by {@code jlstm.openblas.path}, and if it is set but cannot be loaded
     * that is the outcome, with no fallback (the settings below are then ignored). Otherwise the system
     * library, opened by name ({@code libopenblas.so.0} then {@code libopenblas.so}; skipped when
     * {@code jlstm.openblas.system=false}), and the bundled copy from the
     * {@code org.bytedeco:openblas:0.3.28-1.5.11:linux-x86_64} jar, extracted to
     * {@code ${jlstm.cache.dir:-${user.home}/.cache/jlstm}/openblas-0.3.28-1.5.11-linux-x86_64/} (checked by
     * SHA-256, reused when it matches; skipped when {@code jlstm.openblas.bundled=false}), in the order
     * {@code jlstm.openblas.prefer} gives:
     * <ul>
     *   <li>{@code auto} (default): (2) the system library, unless its {@code openblas_get_corename()} is a
     *       generic pre-AVX2 kernel set (Prescott, Core2, Nehalem, ... "generic", "unknown") while the CPU
     *       has AVX2 (the {@code flags} of /proc/cpuinfo; where that cannot be read, the system library is
     *       kept). That happens when the system OpenBLAS is older than the CPU, and costs several times the
     *       time per call. It is then unloaded again and (3) the bundled copy is used; if that cannot be
     *       loaded, the system library after all. The reason names both.</li>
     *   <li>{@code system}: (2) the system library whenever it loads, else (3) the bundled copy.</li>
     *   <li>{@code bundled}: (2) the bundled copy, else (3) the system library.</li>
     * </ul>
     * Any other {@code prefer} value is a failure naming it and the accepted ones (the default is not
     * substituted for a typo). A library lacking one of cblas_sgemm, cblas_sgemv, openblas_set_num_threads,
     * openblas_get_num_threads, openblas_get_config is not used; the bundled copy must also report
     * OpenBLAS 0.3.28 and be the file that was mapped.
     */
    public static OpenBlasLoad load() {
        return OpenBlasLoader.Once.LOAD;
    }

    /**
     * Loads exactly this file, uncached and without fallback (for tests and tools). Loading the same file
     * twice returns two instances over the one library the dynamic loader keeps.
     *
     * @throws OpenBlasUnavailableException with the path and the reason when it cannot be loaded or bound
     */
    public static OpenBlas loadFrom(Path library) {
        Objects.requireNonNull(library, "library");
        Path file = library.toAbsolutePath();
        SymbolLookup symbols = NativeLibrary.openFile(file);
        try {
            return new OpenBlas(file, symbols);
        } catch (OpenBlasUnavailableException e) {
            throw new OpenBlasUnavailableException(file, e.reason(), e);
        }
    }

    /**
     * Extracts the bundled library (or reuses a cached copy whose checksum matches) and returns the path
     * of {@code libopenblas.so.0}; its companions lie beside it.
     *
     * @throws OpenBlasUnavailableException when the jar is not on the class path, the platform is not
     *                                      linux-x86_64, or the cache folder cannot be written
     */
    public static Path extractBundled() {
        return BundledOpenBlas.extract(OpenBlas.class.getClassLoader(), BundledOpenBlas.defaultCacheRoot()).library();
    }

    /** The file the library was loaded from; null when it was opened by name and could not be resolved. */
    public Path path() {
        return path;
    }

    /** {@code openblas_get_config()}, e.g. "OpenBLAS 0.3.28 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=128". */
    public String config() {
        return config;
    }

    /** {@code openblas_get_corename()} (the kernel set chosen for this CPU), or "unknown". */
    public String coreName() {
        return coreName;
    }

    /** {@code openblas_get_num_threads()}. */
    public int numThreads() {
        try {
            return (int) GET_INT.invokeExact(getNumThreads);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Forwards to {@code openblas_set_num_threads(n)}, a setting of the whole loaded library. */
    public void setNumThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("setNumThreads: n must be >= 1, got " + n);
        }
        try {
            SET_NUM_THREADS.invokeExact(setNumThreads, n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Row-major {@code C = alpha*op(A)*op(B) + beta*C} ({@code cblas_sgemm}). op(A) is m x k, op(B) is
     * k x n, C is m x n. Offsets count floats from the start of their segment. A is stored m x k with
     * {@code lda >= max(1,k)}, or if transA k x m with {@code lda >= max(1,m)}; B is stored k x n with
     * {@code ldb >= max(1,n)}, or if transB n x k with {@code ldb >= max(1,k)}; {@code ldc >= max(1,n)}.
     * When m or n is 0 nothing happens; when k is 0, C is scaled by beta.
     *
     * @throws IllegalArgumentException for a negative dimension or offset, a too-small leading dimension,
     *                                  a heap segment, a read-only C, or a segment too small for its matrix
     * @throws IllegalStateException    when a segment's arena is closed
     */
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda,
                      MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc) {
        nonNegative("sgemm", "m", m);
        nonNegative("sgemm", "n", n);
        nonNegative("sgemm", "k", k);
        int aRows = transA ? k : m;
        int aCols = transA ? m : k;
        int bRows = transB ? n : k;
        int bCols = transB ? k : n;
        leadingDimension("sgemm", "lda", lda, aCols, transA ? "m (A stored k x m, transA)" : "k (A stored m x k)");
        leadingDimension("sgemm", "ldb", ldb, bCols, transB ? "k (B stored n x k, transB)" : "n (B stored k x n)");
        leadingDimension("sgemm", "ldc", ldc, n, "n (C is m x n)");
        matrix("sgemm", "a", a, "aOff", aOff, aRows, aCols, "lda", lda, false);
        matrix("sgemm", "b", b, "bOff", bOff, bRows, bCols, "ldb", ldb, false);
        matrix("sgemm", "c", c, "cOff", cOff, m, n, "ldc", ldc, true);
        if (m == 0 || n == 0) {
            return;
        }
        try {
            SGEMM.invokeExact(sgemm, ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k,
                    alpha, at(a, aOff), lda, at(b, bOff), ldb, beta, at(c, cOff), ldc);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Row-major {@code y = alpha*op(A)*x + beta*y} ({@code cblas_sgemv}, unit strides). A is stored m x n
     * with {@code lda >= max(1,n)}; without trans x has n elements and y has m, with trans x has m and y
     * has n. Offsets count floats. When the inner length is 0, y is scaled by beta (BLAS itself would
     * leave y untouched).
     *
     * @throws IllegalArgumentException as for {@link #sgemm}
     * @throws IllegalStateException    when a segment's arena is closed
     */
    public void sgemv(boolean trans, int m, int n, float alpha, MemorySegment a, long aOff, int lda,
                      MemorySegment x, long xOff, float beta, MemorySegment y, long yOff) {
        nonNegative("sgemv", "m", m);
        nonNegative("sgemv", "n", n);
        leadingDimension("sgemv", "lda", lda, n, "n (A stored m x n)");
        int xLength = trans ? m : n;
        int yLength = trans ? n : m;
        matrix("sgemv", "a", a, "aOff", aOff, m, n, "lda", lda, false);
        vector("sgemv", "x", x, "xOff", xOff, xLength, false);
        vector("sgemv", "y", y, "yOff", yOff, yLength, true);
        if (yLength == 0) {
            return;
        }
        if (xLength == 0) {
            // cblas_sgemv returns at once when m or n is 0; the product is still beta*y.
            for (long i = 0; i < yLength; i++) {
                float v = beta == 0f ? 0f : beta * y.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + i);
                y.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, yOff + i, v);
            }
            return;
        }
        try {
            SGEMV.invokeExact(sgemv, ROW_MAJOR, trans ? TRANS : NO_TRANS, m, n,
                    alpha, at(a, aOff), lda, at(x, xOff), 1, beta, at(y, yOff), 1);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The segment from float {@code off} on; the whole segment when off is 0 (nothing to allocate). */
    private static MemorySegment at(MemorySegment segment, long off) {
        // off may point past the end only for an empty operand (k == 0), which BLAS does not read.
        return off == 0 || off > segment.byteSize() / Float.BYTES ? segment : segment.asSlice(off * Float.BYTES);
    }

    private static void nonNegative(String op, String name, int value) {
        if (value < 0) {
            throw new IllegalArgumentException(op + ": " + name + " must be >= 0, got " + value);
        }
    }

    private static void leadingDimension(String op, String name, int ld, int columns, String what) {
        int min = Math.max(1, columns);
        if (ld < min) {
            throw new IllegalArgumentException(op + ": " + name + " must be >= max(1, " + what + ") = " + min
                    + ", got " + ld);
        }
    }

    private static void segment(String op, String name, MemorySegment segment, String offName, long off,
                                boolean written) {
        Objects.requireNonNull(segment, () -> op + ": " + name + " is null");
        if (!segment.isNative()) {
            throw new IllegalArgumentException(op + ": " + name + " is a heap segment; BLAS needs an off-heap"
                    + " segment (Arena.allocate or a mapped file)");
        }
        if (written && segment.isReadOnly()) {
            throw new IllegalArgumentException(op + ": " + name + " is read-only but is the output");
        }
        if (off < 0) {
            throw new IllegalArgumentException(op + ": " + offName + " must be >= 0, got " + off);
        }
    }

    /** A stored rows x cols row-major matrix at float offset off with leading dimension ld. */
    private static void matrix(String op, String name, MemorySegment segment, String offName, long off,
                               int rows, int cols, String ldName, int ld, boolean written) {
        segment(op, name, segment, offName, off, written);
        if (rows == 0 || cols == 0) {
            return;
        }
        long available = segment.byteSize() / Float.BYTES;
        long needed = saturatedAdd(off, (long) (rows - 1) * ld + cols);  // the span is < 2^62
        if (needed > available) {
            throw new IllegalArgumentException(op + ": " + name + " is too small for a " + rows + " x " + cols
                    + " matrix: needs " + offName + " " + off + " + (" + rows + " - 1) * " + ldName + " " + ld
                    + " + " + cols + " = " + needed + " floats, has " + available
                    + " (" + segment.byteSize() + " bytes)");
        }
    }

    private static void vector(String op, String name, MemorySegment segment, String offName, long off,
                               int length, boolean written) {
        segment(op, name, segment, offName, off, written);
        if (length == 0) {
            return;
        }
        long available = segment.byteSize() / Float.BYTES;
        long needed = saturatedAdd(off, length);
        if (needed > available) {
            throw new IllegalArgumentException(op + ": " + name + " is too small for " + length + " elements:"
                    + " needs " + offName + " " + off + " + " + length + " = " + needed + " floats, has "
                    + available + " (" + segment.byteSize() + " bytes)");
        }
    }

    /** a + b for non-negative a and b, capped at Long.MAX_VALUE (which no segment reaches). */
    private static long saturatedAdd(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("unexpected checked exception from a downcall", t);
    }

    @Override
    public String toString() {
        return "OpenBlas[" + (path == null ? "?" : path) + ", " + config + "]";
    }
}
