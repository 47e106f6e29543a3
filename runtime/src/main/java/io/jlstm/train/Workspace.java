package io.jlstm.train;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The native memory of a {@link Trainer}'s passes: activations, caches, weight mirrors and
 * gradients, handed out as zeroed float buffers from one block that is reused pass after pass.
 *
 * <p><b>Ownership.</b> Every buffer belongs to a shared arena owned by this workspace (shared so
 * that the step helper thread can read and write its half of a split product). A buffer is valid
 * until the next {@link #reset()} (the start of the next pass) and must not be used after it.
 * When a pass needed more than the block holds, it took extra blocks; the next {@link #reset()}
 * closes that arena and opens a new one with a single block of the size the pass needed, so the
 * workspace holds about the largest pass's memory. {@link #close()} frees everything. Not
 * thread-safe: one trainer, one caller thread (the helper only touches buffers during a product
 * the caller waits for).
 */
final class Workspace implements AutoCloseable {

    private static final long ALIGN = 64;

    private Arena arena = Arena.ofShared();
    private MemorySegment block = MemorySegment.NULL;
    private long used;
    /** Bytes the current pass has asked for so far. */
    private long needed;
    private boolean closed;

    /**
     * Starts a pass: the buffers of the previous one may be overwritten from now on.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    void reset() {
        if (closed) {
            throw new IllegalStateException("the trainer is closed");
        }
        if (needed > block.byteSize()) {
            arena.close(); // every buffer of the last pass is dead: they are per pass
            arena = Arena.ofShared();
            block = arena.allocate(needed, ALIGN);
        }
        used = 0;
        needed = 0;
    }

    /** {@code n} zeroed floats, 64-byte aligned, valid until the next {@link #reset()}. */
    MemorySegment floats(long n) {
        if (closed) {
            throw new IllegalStateException("the trainer is closed");
        }
        if (n < 0 || n > Long.MAX_VALUE / (2 * Float.BYTES)) {
            throw new IllegalArgumentException("buffer of " + n + " floats");
        }
        long bytes = n * Float.BYTES;
        long rounded = (bytes + ALIGN - 1) & -ALIGN;
        needed += rounded;
        if (used + rounded > block.byteSize()) {
            // this pass outgrew the block: a fresh one, at least twice the last; the next reset
            // replaces all of them by one block of the whole pass's size
            block = arena.allocate(Math.max(rounded, 2 * block.byteSize()), ALIGN);
            used = 0;
        }
        MemorySegment s = block.asSlice(used, bytes);
        used += rounded;
        s.fill((byte) 0);
        return s;
    }

    /** Bytes of native memory held now. */
    long reservedBytes() {
        return block.byteSize();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
            block = MemorySegment.NULL;
        }
    }
}
