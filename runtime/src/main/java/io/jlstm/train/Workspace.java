package io.jlstm.train;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;

/**
 * The native memory of a {@link Trainer}'s passes: activations, caches, weight mirrors and
 * gradients, handed out as zeroed float buffers from one block that is reused pass after pass.
 *
 * <p><b>Ownership.</b> Every buffer belongs to a shared arena owned by this workspace (shared so
 * that the step helper thread can read and write its half of a split product). A buffer is valid
 * until the next {@link #reset()} (the start of the next pass) and must not be used after it.
 * When a pass needs more than the block holds, it takes extra blocks; the next {@link #reset()}
 * closes that arena and opens a new one with a single block of the size the pass needed, so the
 * workspace holds about the largest pass's memory (plus, during a pass that outgrows it, the
 * extra blocks, each at least as large as what the pass had asked for so far). {@link #close()}
 * frees everything; a workspace that is never closed is freed once it is unreachable (a cleaner
 * closes its arena). Not thread-safe: one trainer, one caller thread (the helper only touches
 * buffers during a product the caller waits for).
 */
final class Workspace implements AutoCloseable {

    private static final long ALIGN = 64;
    private static final Cleaner CLEANER = Cleaner.create();

    /** The arena, held apart from the workspace so that the cleaner does not keep the workspace alive. */
    private static final class Memory implements Runnable {
        Arena arena = Arena.ofShared();

        @Override
        public void run() {
            arena.close();
        }
    }

    private final Memory memory = new Memory();
    private final Cleaner.Cleanable cleanable = CLEANER.register(this, memory);
    private MemorySegment block = MemorySegment.NULL;
    private long used;
    /** Bytes the current pass has asked for so far. */
    private long needed;
    /** Bytes of every block the arena holds. */
    private long held;
    /** Whether the current pass took more than one block. */
    private boolean grew;
    private boolean closed;

    /**
     * Starts a pass: the buffers of the previous one may be overwritten from now on.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    void reset() {
        checkOpen();
        if (grew || needed > block.byteSize()) {
            // every buffer of the last pass is dead (they are per pass): one block of its size
            memory.arena.close();
            memory.arena = Arena.ofShared();
            block = memory.arena.allocate(Math.max(needed, ALIGN), ALIGN);
            held = block.byteSize();
        }
        used = 0;
        needed = 0;
        grew = false;
    }

    /** {@code n} zeroed floats, 64-byte aligned, valid until the next {@link #reset()}. */
    MemorySegment floats(long n) {
        checkOpen();
        if (n < 0 || n > Long.MAX_VALUE / (2 * Float.BYTES)) {
            throw new IllegalArgumentException("buffer of " + n + " floats");
        }
        long bytes = n * Float.BYTES;
        long rounded = (bytes + ALIGN - 1) & -ALIGN;
        needed += rounded;
        if (used + rounded > block.byteSize()) {
            // this pass outgrew the block: another one, as large as the pass so far (so a pass
            // takes a few blocks at most); the next reset replaces them by one of the pass's size
            block = memory.arena.allocate(Math.max(rounded, needed), ALIGN);
            held += block.byteSize();
            grew = used > 0 || held > block.byteSize();
            used = 0;
        }
        MemorySegment s = block.asSlice(used, bytes);
        used += rounded;
        s.fill((byte) 0);
        return s;
    }

    /** Bytes of native memory held now, every block included. */
    long reservedBytes() {
        return held;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the trainer is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            block = MemorySegment.NULL;
            held = 0;
            cleanable.clean();
        }
    }
}
