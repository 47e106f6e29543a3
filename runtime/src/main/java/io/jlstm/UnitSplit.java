package io.jlstm;

import io.jlstm.backend.StepPool;
import io.jlstm.simd.Activation;
import io.jlstm.simd.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A batch-1 LSTM sequence on two threads, split by hidden units: thread p owns units
 * [from[p], from[p] + count[p]) with all four of their gates, so it computes its own gate columns
 * of the input projection and of {@code h·U}, then updates its own cells, and the two threads meet
 * once a step (each needs the other's half of h for the next step's product). Against the split of
 * each step's product into column halves (one hand-off per step, the cells on one thread), this
 * takes one hand-off per sequence and one barrier per step, halves the cell updates too, and keeps
 * each thread's half of the weights in its own core's cache from step to step.
 *
 * <p>The weights of each part (its gate columns of the input and recurrent kernels, its bias) are
 * packed once at load into the model's arena, in the layer's precision for the recurrent product
 * and in float32 for the projection, which runs up to {@link #MAX_CHUNK} steps at a time into
 * the part's own gate rows. Memory: about as much again as the layer's packed weights, plus a
 * workspace allocated at load: {@link #MAX_CHUNK} gate rows per part, 128 × 4H floats in all
 * (about 2 KiB per unit), all in the model's arena (freed when the model closes), and for an
 * input the helper may not read a copy kept between calls (see {@link #staged}). One sequence at
 * a time uses the workspace; a second caller meanwhile, or a caller that finds the step helper
 * busy, runs the sequence on its own thread. Results are bit-identical to one thread's: each gate
 * column gets the same products in the same order whichever thread computes it, from the same
 * decoded weights (with 16-bit weights only layers whose halves pair columns as the whole layer
 * does are split, see {@link #worthIt}, and one-row projections use the 16-bit input kernel as
 * the unsplit path). When the helper falls behind by a whole step (the OS descheduled it), the
 * caller's thread computes the helper's halves of the steps until it is back; when it stalls in
 * the middle of a half, or misses many, the caller finishes the sequence alone and the pool keeps
 * work on one thread for a while (see {@link #part}, {@link StepPool#contended}).
 */
final class UnitSplit {

    /**
     * Most steps whose input projection a part computes at once (one GEMM into its gate rows); a
     * sequence is cut into as few chunks as that allows, of nearly even length (the last up to one
     * row per chunk shorter). Each chunk reads the
     * part's packed input kernel again, from L3 once the steps between have streamed the recurrent
     * kernel through L2, and a short last chunk reads it all for a few rows: in chunks of 32 (100 =
     * 3 x 32 + 4), the second layer of W2x2 (512 inputs: 2 MiB per part) projected at 72-79 GFLOP/s
     * a thread, in one chunk at 94-96, and W2x2 on two threads took 6.48-6.59 ms a call against
     * 6.71-6.96 (medians, one JVM, alternating blocks); W2 and W4 did not move.
     */
    static final int MAX_CHUNK = 128;

    /**
     * Rows of each projection chunk of a sequence of {@code steps} (at least 1): the fewest chunks
     * of at most {@link #MAX_CHUNK} rows, as even as they can be (no int overflow for any steps).
     */
    static int chunkRows(int steps) {
        if (steps <= 0) {
            return 1;
        }
        int chunks = (steps - 1) / MAX_CHUNK + 1;
        return (steps - 1) / chunks + 1;
    }

    /** Spacing of the two progress counters and the claim counter in their array (longs): 128 bytes, two cache lines. */
    private static final int PAD = 16;

    private final RecurrentExec layer;
    private final Kernels kernels;
    private final int units;
    private final int[] from = new int[2];
    private final int[] count = new int[2];
    private final MemorySegment[] packedU = new MemorySegment[2];
    private final MemorySegment[] packedW = new MemorySegment[2];
    /** With bf16 weights: part p's input kernel columns in 16 bits, for one-row projections (as the unsplit path). */
    private final MemorySegment[] packedW16 = new MemorySegment[2];
    private final MemorySegment[] bias = new MemorySegment[2];
    private final MemorySegment[] gates = new MemorySegment[2];
    private final MemorySegment[] hBuf = new MemorySegment[2];
    private final MemorySegment c;
    private final AtomicLongArray progress = new AtomicLongArray(3 * PAD);
    private final AtomicBoolean busy = new AtomicBoolean();
    private volatile boolean failed;

    /**
     * Packs the parts' weights and allocates the workspace in {@code arena} (the model's, shared);
     * {@code kernel} [in, 4H], {@code recurrentKernel} [H, 4H] and {@code bias} [4H] (or null) are
     * the layer's float32 weights, row-major.
     */
    UnitSplit(RecurrentExec layer, Kernels kernels, Arena arena, MemorySegment kernel, MemorySegment recurrentKernel,
              MemorySegment bias, boolean bf16) {
        this.layer = layer;
        this.kernels = kernels;
        this.units = layer.units;
        from[0] = 0;
        count[0] = units / 2;
        from[1] = units / 2;
        count[1] = units - units / 2;
        int in = layer.inputFeatures;
        // the gathered columns are temporary: packed, then freed with this arena
        try (Arena temp = Arena.ofConfined()) {
            for (int p = 0; p < 2; p++) {
                int cols = 4 * count[p];
                MemorySegment u = gather(recurrentKernel, units, p, temp);
                MemorySegment w = gather(kernel, in, p, temp);
                packedU[p] = RecurrentExec.packed(kernels, arena, units, cols, u, 0, cols, bf16);
                packedW[p] = RecurrentExec.packed(kernels, arena, in, cols, w, 0, cols, false);
                packedW16[p] = bf16 ? RecurrentExec.packed(kernels, arena, in, cols, w, 0, cols, true) : null;
                this.bias[p] = bias == null ? null : gather(bias, 1, p, arena);
                gates[p] = arena.allocate((long) MAX_CHUNK * cols * Float.BYTES, 64);
                hBuf[p] = arena.allocate((long) units * Float.BYTES, 64);
            }
        }
        c = arena.allocate((long) units * Float.BYTES, 64);
    }

    /**
     * Whether {@code layer} is worth splitting by units at batch 1 with two threads configured, and
     * gives the same bits split as not. With 16-bit weights that needs each half of the units to be
     * a whole number of the vector kernels' column pairs (2 vectors: {@code panelWidth / 4}
     * columns): a paired column's value depends on its partner's bits (Kernels#packPanelsBf16), so
     * each part's packing must pair the same columns as the whole layer's.
     */
    static boolean worthIt(RecurrentExec layer, Kernels kernels) {
        if (StepPool.THREADS < 2 || !layer.lstm || layer.units < MIN_UNITS) {
            return false;
        }
        int pair = Math.max(1, kernels.panelWidth() / 4);
        return !layer.bf16 || (layer.units % 2 == 0 && (layer.units / 2) % pair == 0);
    }

    /** Fewest hidden units split across two threads. */
    static final int MIN_UNITS = 64;

    /** Part p's gate columns of a row-major [rows, 4H] matrix, as a [rows, 4·count[p]] float32 matrix in {@code arena}. */
    private MemorySegment gather(MemorySegment m, int rows, int p, Arena arena) {
        int n = count[p];
        long width = 4L * units;
        MemorySegment out = arena.allocate(Math.max(1, (long) rows * 4 * n) * Float.BYTES, 64);
        for (long r = 0; r < rows; r++) {
            for (int g = 0; g < 4; g++) {
                MemorySegment.copy(m, (r * width + (long) g * units + from[p]) * Float.BYTES,
                        out, (r * 4 * n + (long) g * n) * Float.BYTES, (long) n * Float.BYTES);
            }
        }
        return out;
    }

    /**
     * A copy of the first {@code floats} of {@code x} that the helper may read: the input of a
     * layer after the first lives in the pass's scratch arena, confined to the caller when the
     * model has no layer that needs it shared (closing a shared arena costs about 50 µs, half of a
     * small model's predict). The copy goes to a buffer kept for the next call, grown when too
     * small, in an automatic arena (freed by the garbage collector once replaced or once the model
     * is gone).
     */
    private MemorySegment staged(MemorySegment x, long floats) {
        long bytes = floats * Float.BYTES;
        if (stage == null || stage.byteSize() < bytes) {
            stage = Arena.ofAuto().allocate(Math.max(Float.BYTES, bytes), 64);
        }
        MemorySegment.copy(x, 0, stage, 0, bytes);
        return stage;
    }

    /** See {@link #staged}; used under {@link #busy}. */
    private MemorySegment stage;

    /** Sequences run split so far (written under {@link #busy}; for tests and diagnostics). */
    private volatile long completed;

    /** How many sequences this layer has run split across the two threads. */
    long completed() {
        return completed;
    }

    /**
     * Runs the layer over {@code x} ([steps, in], batch 1) on this thread and the step helper, from
     * {@code init} ({@code [h, c]}, or null for zeros). With {@code seq}, step i's h goes to row i
     * of {@code out} ([steps, H]). The final h and c are copied to {@code hOut} and {@code cOut}.
     * Returns false, having done nothing, when the workspace or the helper is in use, or while the
     * pool backs off after a stall ({@link StepPool#contended}).
     */
    boolean run(MemorySegment x, int steps, MemorySegment[] init, MemorySegment out, boolean seq,
                MemorySegment hOut, MemorySegment cOut) {
        StepPool pool = StepPool.get();
        if (pool == null || !busy.compareAndSet(false, true)) {
            return false;
        }
        try {
            if (!pool.canRead(x)) {
                x = staged(x, (long) steps * layer.inputFeatures);
            }
            if (init == null) {
                hBuf[0].fill((byte) 0);
                c.fill((byte) 0);
            } else {
                long bytes = (long) units * Float.BYTES;
                MemorySegment.copy(init[0], 0, hBuf[0], 0, bytes);
                MemorySegment.copy(init[1], 0, c, 0, bytes);
            }
            progress.set(0, 0);
            progress.set(PAD, 0);
            progress.set(CLAIM, 0);
            failed = false;
            helperStop = false;
            boolean zeroStart = init == null;
            MemorySegment input = x;
            try {
                if (!pool.tryConcurrent(part -> part(part, input, steps, zeroStart, out, seq), false)) {
                    return false;
                }
            } catch (OtherHalfFailed e) {
                // this thread only stopped waiting: the helper's failure (suppressed here) is the cause
                Throwable[] theirs = e.getSuppressed();
                throw new IllegalStateException("the step helper thread failed", theirs.length > 0 ? theirs[0] : null);
            }
            if (helperStop) {
                stalls++;
                pool.stalled();
            } else {
                pool.ranClean(steps);
            }
            long bytes = (long) units * Float.BYTES;
            completed++;
            MemorySegment.copy(hBuf[steps & 1], 0, hOut, 0, bytes);
            MemorySegment.copy(c, 0, cOut, 0, bytes);
            return true;
        } finally {
            busy.set(false);
        }
    }

    /**
     * One streaming step of batch 1 on this thread and the step helper: part p computes its gate
     * columns {@code bias + x·W + h·U} into its first gate row and updates its units of {@code c}
     * (in place) and of h, into a buffer of this workspace; this thread then copies the new h over
     * {@code h}. {@code descending} is the panel order of both products. Allocates nothing.
     * Returns false, having done nothing, when the workspace or the helper is in use (or the pool
     * backs off after a stall, {@link StepPool#contended}), or when the
     * helper may not read the session's memory.
     */
    boolean step(MemorySegment x, MemorySegment h, MemorySegment c, boolean descending) {
        StepPool pool = StepPool.get();
        if (pool == null || !pool.canRead(x) || !pool.canRead(h) || !pool.canRead(c)
                || !busy.compareAndSet(false, true)) {
            return false;
        }
        try {
            streamStep.x = x;
            streamStep.h = h;
            streamStep.c = c;
            streamStep.descending = descending;
            if (!pool.tryConcurrent(streamStep, true)) {
                if (pool.contended()) { // the helper stalled a moment ago: this step on one thread
                    backedOff.incrementAndGet();
                }
                return false;
            }
            MemorySegment.copy(hBuf[0], 0, h, 0, (long) units * Float.BYTES);
            completed++;
            return true;
        } finally {
            streamStep.x = null;
            streamStep.h = null;
            streamStep.c = null;
            busy.set(false);
        }
    }

    /** Thrown by a part that stops waiting at the barrier because the other part failed. */
    private static final class OtherHalfFailed extends RuntimeException {
        OtherHalfFailed() {
            super("the other half of a split LSTM sequence failed", null, true, false);
        }
    }

    /** The task of {@link #step}: one object, reused, so that a streaming step allocates nothing. */
    private final StreamStep streamStep = new StreamStep();

    private final class StreamStep implements StepPool.Halves {
        MemorySegment x;
        MemorySegment h;
        MemorySegment c;
        boolean descending;

        @Override
        public void run(int p) {
            int n = count[p];
            int cols = 4 * n;
            MemorySegment g = gates[p];
            if (bias[p] != null) {
                MemorySegment.copy(bias[p], 0, g, 0, (long) cols * Float.BYTES);
            } else {
                for (int j = 0; j < cols; j++) {
                    g.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, j, 0f);
                }
            }
            if (layer.bf16) {
                kernels.gemvPackedBf16(layer.inputFeatures, cols, packedW16[p], 0, x, 0, g, 0, 0, cols, descending);
            } else {
                kernels.gemvPacked(layer.inputFeatures, cols, packedW[p], 0, x, 0, g, 0, 0, cols, descending);
            }
            if (layer.bf16) {
                kernels.gemvPackedBf16(units, cols, packedU[p], 0, h, 0, g, 0, 0, cols, descending);
            } else {
                kernels.gemvPacked(units, cols, packedU[p], 0, h, 0, g, 0, 0, cols, descending);
            }
            kernels.lstmCell(g, 0, c, from[p], hBuf[0], from[p], n, layer.rspec.activation(),
                    layer.rspec.recurrentActivation());
        }
    }

    // How long the caller's thread waits at a step's barrier before it looks whether the helper has
    // started its half of the step at all, and when a wait also yields the core: StepPool's
    // STEAL_NANOS and YIELD_NANOS. In normal running the helper claims its half within a fraction
    // of a microsecond of the barrier before (it spins there), and the caller arrives after
    // computing its own half, so an unclaimed half then means the helper is not running (not yet
    // woken, or descheduled by the OS for a time slice of milliseconds). With one busy-looping
    // process beside it on the 2 vCPUs, W2 on two threads took 6.1-6.2 ms a call (median; mean
    // 8.1) against 7.2-8.2 ms (mean 30.9, the 90th percentile 110 ms) without the take-over, in one
    // JVM with both versions (ad hoc harness), and the same without the other process.

    /** Slot of the helper-half claim counter in {@link #progress}: the steps of part 1 claimed so far. */
    private static final int CLAIM = 2 * PAD;

    /** Test hook: when positive, the helper sleeps this long before claiming every eighth step (from step 3). */
    static volatile long helperDelayNanos;

    /** Part-1 half steps the caller's thread computed itself (written by the caller under {@link #busy}). */
    private volatile long stolen;

    /** Half steps of part 1 that the caller's thread computed because the helper had not started them. */
    long stolen() {
        return stolen;
    }

    /** Part-1 half steps the helper's part computed (written by whichever thread runs that part, under {@link #busy}). */
    private volatile long helped;

    /** Half steps of part 1 that the helper's part computed. */
    long helped() {
        return helped;
    }

    /**
     * A wait for a half step the helper has claimed is a stall (the helper descheduled in the middle
     * of its half, to run again only after a time slice of milliseconds) when it exceeds
     * {@link StepPool#STALL_NANOS} and this many of the call's mean steps so far, counting only
     * the time the caller itself ran ({@link StepPool#runningWait}). A half the helper is computing
     * normally is done within about one half step of the caller's own (a few microseconds to tens
     * of them for the layers measured).
     */
    static final int STALL_STEPS = 8;

    /**
     * Fewest half steps the caller takes over from the helper in one sequence (or half of its
     * steps, if more), after the helper has computed one of its halves, before it finishes the
     * sequence alone and counts it as a stall: a helper that misses that many shares its core with
     * other work. A helper woken from parking at the start of a sequence misses the first ones,
     * which do not count. With one busy-looping process beside W2 on two vCPUs the
     * caller took over about 70 of each sequence's 100 half steps, a quiet W4 (50 steps) sometimes more
     * than 12 in bursts, and a quarter of the steps as the limit made W4 on two threads as slow as
     * on one (ad hoc harness, 2026-12-07).
     */
    static final int TAKE_LIMIT = 8;

    /** Test hook: when positive, the take-over limit instead of {@link #TAKE_LIMIT} (and half the steps). */
    static volatile int takeLimitForTests;

    /**
     * Set by the caller after a stall: the helper claims no more half steps of this sequence, and the
     * caller computes every later half 1 itself, on one thread, without waiting. Cleared by {@link #run}.
     */
    private volatile boolean helperStop;

    /** Sequences of this layer whose helper stalled (written under {@link #busy}). */
    private volatile long stalls;

    /** Sequences of this layer in which the helper stalled (then the caller finished them alone). */
    long stalls() {
        return stalls;
    }

    /** Sequences and streamed steps left to one thread because the pool was backing off after a stall. */
    private final java.util.concurrent.atomic.AtomicLong backedOff = new java.util.concurrent.atomic.AtomicLong();

    /** Sequences and streamed steps this layer ran on one thread because the helper had stalled recently ({@link StepPool#contended}). */
    long backedOff() {
        return backedOff.get();
    }

    /** Counts a sequence that the layer runs on one thread because the pool is backing off after a stall. */
    void noteBackedOff() {
        backedOff.incrementAndGet();
    }

    /** Test hook: when positive, the helper sleeps this long after claiming the first half 1 it claims from step 5 of a sequence (a stall mid-half). */
    static volatile long helperStallNanos;

    /**
     * Part p of the sequence, each step as two half steps: half q computes part q's gate columns
     * (after projecting part q's chunk of steps, at a chunk's first step) and updates part q's
     * cells. Step i reads h<sub>i-1</sub> from {@code hBuf[i & 1]} and writes h<sub>i</sub> to
     * {@code hBuf[(i + 1) & 1]}; neither half of step i starts before both halves of step i - 1
     * are done, and a buffer is written again only after the step that read it is done.
     *
     * <p>The caller's thread (p = 0) computes every half 0. A half 1 goes to whichever thread claims
     * it first: the helper as soon as the step before is done, or the caller when the helper has not
     * claimed it by the time the caller's own half is done and {@link StepPool#STEAL_NANOS} more have passed
     * (at once while the caller is taking over, until the helper claims a half again). So when the OS
     * deschedules the helper for a time slice, the sequence goes on at one thread's speed instead of
     * waiting for it. When the caller waits for a half the helper did claim longer than
     * {@link StepPool#STALL_NANOS} and {@link #STALL_STEPS} mean steps (the helper descheduled in the middle
     * of it), or has taken over more than {@link #TAKE_LIMIT} halves (or half the steps), it
     * stops the helper ({@code helperStop}: the helper claims no further half) and computes every
     * later half 1 itself; {@link #run} then reports the stall to the pool. Which thread computes a half changes no bit: the same weights, buffers and
     * order of sums, with the panel order set by the step number. The caller copies each whole
     * h<sub>i</sub> to {@code out}, so the helper never touches the caller's memory but {@code x}.
     */
    private void part(int p, MemorySegment x, int steps, boolean zeroStart, MemorySegment out, boolean seq) {
        try {
            if (p == 0) {
                callerPart(x, steps, zeroStart, out, seq);
            } else {
                helperPart(x, steps, zeroStart);
            }
        } catch (Throwable e) {
            failed = true;
            throw e;
        }
    }

    private void callerPart(MemorySegment x, int steps, boolean zeroStart, MemorySegment out, boolean seq) {
        int chunk = chunkRows(steps);
        long hBytes = (long) units * Float.BYTES;
        boolean takingOver = false;
        boolean alone = false; // after a stall: every later half 1 is this thread's, the helper claims none
        long takeLimit = takeLimitForTests > 0 ? takeLimitForTests : Math.max(TAKE_LIMIT, steps / 2);
        // take-overs count toward the limit only once the helper has computed a half of this
        // sequence: one waking from parking misses the first steps (tens of microseconds, all of a
        // short sequence such as W4's), which says nothing about a busy host
        boolean helperSeen = false;
        long tookAwake = 0;
        long took = 0;
        long began = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            halfStep(0, x, steps, chunk, i, zeroStart);
            progress.set(0, i + 1);
            if (progress.get(PAD) <= i) {
                boolean tried = false;
                boolean mine = false;
                long since = takingOver || alone ? 0 : System.nanoTime();
                long stall = 0;
                long waited = 0; // of this wait for a claimed half, the time this thread ran (StepPool.runningWait)
                long look = 0;
                int spins = 0;
                while (progress.get(PAD) <= i) {
                    if (failed) {
                        throw new OtherHalfFailed();
                    }
                    spins++;
                    if (!tried && (takingOver || alone || StepPool.timeToTakeOver(spins, since))) {
                        tried = true;
                        if (progress.get(CLAIM) == i && progress.compareAndSet(CLAIM, i, i + 1)) {
                            mine = true;
                            halfStep(1, x, steps, chunk, i, zeroStart);
                            took++;
                            if (helperSeen) {
                                tookAwake++;
                            }
                            if (!alone && tookAwake > takeLimit) {
                                // the helper keeps missing its halves (it gets a fraction of a core):
                                // the rest alone, without the helper spinning beside this thread
                                // (stopped before step i is published, so it claims no later half)
                                alone = true;
                                helperStop = true;
                            }
                            progress.set(PAD, i + 1);
                            break;
                        }
                        since = System.nanoTime(); // the helper has it: from here on, the wait before yielding
                        look = since;
                        stall = Math.max(StepPool.STALL_NANOS, (since - began) / (i + 1) * STALL_STEPS);
                    } else if (tried) {
                        if (!alone && (spins & 31) == 0) {
                            long now = System.nanoTime();
                            waited = StepPool.runningWait(waited, look, now);
                            look = now;
                            if (waited >= stall) {
                                // the helper stopped in the middle of its half while this thread ran:
                                // once it is done, finish alone
                                alone = true;
                                helperStop = true;
                            }
                        }
                        StepPool.yieldIfLong(spins, since); // the helper may be waiting for this core
                    }
                    Thread.onSpinWait();
                }
                takingOver = mine;
                helperSeen |= !mine;
            } else {
                takingOver = false;
                helperSeen = true;
            }
            if (seq) {
                MemorySegment.copy(hBuf[(i + 1) & 1], 0, out, (long) i * hBytes, hBytes);
            }
        }
        stolen += took;
    }

    /** The helper's part: each half 1 it can claim, in step order, skipping those the caller took. */
    private void helperPart(MemorySegment x, int steps, boolean zeroStart) {
        int chunk = chunkRows(steps);
        long ran = 0;
        int i = 0;
        boolean stalledForTests = false;
        while (i < steps) {
            if (failed) {
                throw new OtherHalfFailed();
            }
            if (progress.get(0) < i || progress.get(PAD) < i) { // step i - 1 done, both halves
                long since = System.nanoTime();
                int spins = 0;
                while ((progress.get(0) < i || progress.get(PAD) < i) && !helperStop) {
                    if (failed) {
                        throw new OtherHalfFailed();
                    }
                    StepPool.yieldIfLong(++spins, since); // the caller may be waiting for this core
                    Thread.onSpinWait();
                }
            }
            long delay = helperDelayNanos;
            if (delay > 0 && (i & 7) == 3) {
                java.util.concurrent.locks.LockSupport.parkNanos(delay);
            }
            if (helperStop) { // the caller finishes the sequence alone
                break;
            }
            long claimed = progress.get(CLAIM);
            if (claimed > i) { // the caller took half 1 of steps up to claimed - 1
                i = (int) claimed;
                continue;
            }
            if (progress.compareAndSet(CLAIM, i, i + 1)) {
                long stallForTests = helperStallNanos;
                if (stallForTests > 0 && i >= 5 && !stalledForTests) {
                    stalledForTests = true;
                    java.util.concurrent.locks.LockSupport.parkNanos(stallForTests);
                }
                halfStep(1, x, steps, chunk, i, zeroStart);
                ran++;
                progress.set(PAD, i + 1);
            }
            i++;
        }
        helped += ran;
    }

    /**
     * Half q of step i: at the first step of a projection chunk part q's gate rows of the chunk
     * ({@code bias + x·W}), then {@code h·U} onto the step's row, then part q's cells.
     */
    private void halfStep(int q, MemorySegment x, int steps, int chunk, int i, boolean zeroStart) {
        int n = count[q];
        int cols = 4 * n;
        boolean back = layer.rspec.goBackwards();
        MemorySegment g = gates[q];
        int i0 = i / chunk * chunk;
        int rows = Math.min(chunk, steps - i0);
        int tLow = back ? steps - i0 - rows : i0;
        if (i == i0) {
            int in = layer.inputFeatures;
            long rowBytes = (long) cols * Float.BYTES;
            if (bias[q] != null) {
                BiasRows.repeat(bias[q], g, rows, rowBytes);
            } else {
                g.asSlice(0, rows * rowBytes).fill((byte) 0);
            }
            if (layer.bf16 && steps == 1) {
                // one row, as the unsplit path projects it: a gemv over the 16-bit input kernel
                kernels.gemvPackedBf16(in, cols, packedW16[q], 0, x, 0, g, 0, 0, cols, false);
            } else {
                kernels.gemmPacked(rows, in, cols, x, (long) tLow * in, in, packedW[q], 0, g, 0, cols, 0, cols, false);
            }
        }
        int t = back ? steps - 1 - i : i;
        long row = (long) (t - tLow) * cols;
        if (!(zeroStart && i == 0)) {
            // the panel order alternates from step to step, starting ascending at the first product
            boolean down = ((i - (zeroStart ? 1 : 0)) & 1) == 1;
            MemorySegment hPrev = hBuf[i & 1];
            if (layer.bf16) {
                kernels.gemvPackedBf16(units, cols, packedU[q], 0, hPrev, 0, g, row, 0, cols, down);
            } else {
                kernels.gemvPacked(units, cols, packedU[q], 0, hPrev, 0, g, row, 0, cols, down);
            }
        }
        kernels.lstmCell(g, row, c, from[q], hBuf[(i + 1) & 1], from[q], n, layer.rspec.activation(),
                layer.rspec.recurrentActivation());
    }
}
