package io.jlstm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * A dense, row-major float32 array over a {@link MemorySegment}.
 *
 * <p><b>Memory.</b> A tensor either <em>owns</em> its memory or is a <em>view</em>:
 * <ul>
 *   <li>{@link #allocate(long...)} and {@link #of(float[], long...)} allocate in an automatic
 *       arena ({@link Arena#ofAuto()}): the memory is freed by the garbage collector once the
 *       tensor is unreachable, and {@link #close()} does nothing. This is what results returned
 *       by the library use, so a forgotten tensor never leaks native memory.</li>
 *   <li>{@link #allocate(Arena, long...)} allocates in the caller's arena; the memory lives as
 *       long as that arena, and closing the arena invalidates the tensor.</li>
 *   <li>{@link #wrap(MemorySegment, long...)} is a view of memory the caller owns.</li>
 *   <li>{@link #allocateConfined(long...)} owns a confined arena that {@link #close()} frees at
 *       once (for callers who want deterministic release).</li>
 * </ul>
 *
 * <p><b>Threads.</b> A tensor has no internal state beyond its memory; concurrent reads are safe,
 * concurrent writes are the caller's business. Values are stored in native byte order.
 */
public final class Tensor implements AutoCloseable {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final long[] shape;
    private final long size;
    private final MemorySegment data;
    private final Arena ownedArena; // closed by close(); null when the memory is not ours to free

    private Tensor(MemorySegment data, Arena ownedArena, long[] shape) {
        this.shape = shape;
        this.size = checkedSize(shape);
        if (data.byteSize() < size * Float.BYTES) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is too small for shape "
                    + Arrays.toString(shape) + " (" + size * Float.BYTES + " bytes needed)");
        }
        this.data = data;
        this.ownedArena = ownedArena;
    }

    /** A zero-filled tensor in an automatic (garbage-collected) arena. */
    public static Tensor allocate(long... shape) {
        return allocate(Arena.ofAuto(), shape);
    }

    /** A zero-filled tensor whose memory lives as long as {@code arena}. */
    public static Tensor allocate(Arena arena, long... shape) {
        Objects.requireNonNull(arena, "arena");
        long[] s = shape.clone();
        long n = checkedSize(s);
        return new Tensor(arena.allocate(Math.max(1, n) * Float.BYTES, 64), null, s);
    }

    /** A zero-filled tensor that owns a confined arena: only the creating thread may use it, and {@link #close()} frees it. */
    public static Tensor allocateConfined(long... shape) {
        long[] s = shape.clone();
        long n = checkedSize(s);
        Arena arena = Arena.ofConfined();
        return new Tensor(arena.allocate(Math.max(1, n) * Float.BYTES, 64), arena, s);
    }

    /** A copy of {@code values} with the given shape, in an automatic arena. */
    public static Tensor of(float[] values, long... shape) {
        Objects.requireNonNull(values, "values");
        long n = checkedSize(shape);
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
                    + " values, but " + values.length + " were given");
        }
        Tensor t = allocate(shape);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** A view of {@code segment} (owned by the caller) with the given shape. */
    public static Tensor wrap(MemorySegment segment, long... shape) {
        Objects.requireNonNull(segment, "segment");
        return new Tensor(segment, null, shape.clone());
    }

    private static long checkedSize(long[] shape) {
        Objects.requireNonNull(shape, "shape");
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException("negative dimension " + shape[i] + " at axis " + i
                        + " of shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, shape[i]);
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
                    + " values, more than the " + Integer.MAX_VALUE + " a tensor supports");
        }
        return n;
    }

    /** The shape (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of axis {@code axis}; negative axes count from the end. */
    public long dim(int axis) {
        int a = axis < 0 ? shape.length + axis : axis;
        if (a < 0 || a >= shape.length) {
            throw new IllegalArgumentException("axis " + axis + " out of range for rank " + shape.length);
        }
        return shape[a];
    }

    /** Number of elements. */
    public long size() {
        return size;
    }

    /** The memory: at least {@code size()*4} bytes, float32 in native order. Owned as the class javadoc says. */
    public MemorySegment segment() {
        return data;
    }

    public float getFlat(long index) {
        return data.getAtIndex(F32, Objects.checkIndex(index, size));
    }

    public void setFlat(long index, float value) {
        data.setAtIndex(F32, Objects.checkIndex(index, size), value);
    }

    /** Element at a full index (one coordinate per axis). */
    public float get(long... index) {
        return data.getAtIndex(F32, flatIndex(index));
    }

    public void set(float value, long... index) {
        data.setAtIndex(F32, flatIndex(index), value);
    }

    private long flatIndex(long[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index of rank " + index.length + " for a tensor of rank " + shape.length);
        }
        long flat = 0;
        for (int i = 0; i < shape.length; i++) {
            flat = flat * shape[i] + Objects.checkIndex(index[i], shape[i]);
        }
        return flat;
    }

    /** A heap copy of all values, row-major. */
    public float[] toFloatArray() {
        float[] out = new float[(int) size];
        MemorySegment.copy(data, F32, 0, out, 0, out.length);
        return out;
    }

    /** A view of the same memory with another shape of the same size. */
    public Tensor reshape(long... newShape) {
        long n = checkedSize(newShape);
        if (n != size) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " (" + size
                    + " values) to " + Arrays.toString(newShape) + " (" + n + " values)");
        }
        return new Tensor(data, null, newShape.clone());
    }

    /** True when every value is finite (no NaN, no infinity). */
    public boolean allFinite() {
        for (long i = 0; i < size; i++) {
            if (!Float.isFinite(data.getAtIndex(F32, i))) {
                return false;
            }
        }
        return true;
    }

    /** Frees the memory if this tensor owns a confined arena; otherwise does nothing. */
    @Override
    public void close() {
        if (ownedArena != null && ownedArena.scope().isAlive()) {
            ownedArena.close();
        }
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}
