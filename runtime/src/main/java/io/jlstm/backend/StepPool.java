package io.jlstm.backend;

import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A second thread for the products against packed weights: the batch-1 recurrent product, which
 * is bound by reading the weights, and the batched ones ({@link Kernels#gemmPacked}: the recurrent
 * product of a batch and the input projection), which are bound by arithmetic. The caller computes
 * the first half of the column panels while the helper computes the second half, so the two
 * cores' caches, load ports and FMA units share the work.
 *
 * <p>One helper thread per JVM (daemon, started on first use), shared by every model. A step
 * hands its half over through plain fields published by a volatile sequence number, so a hand-off
 * allocates nothing. The helper spins for a short while after each task (a sequence of steps
 * comes every few tens of microseconds) and then parks. When another caller holds the helper, a
 * step simply runs alone: results do not depend on which thread computes which columns. When the
 * helper has not started its half by the time the caller has finished its own and waited
 * {@link #STEAL_NANOS} (parked, or descheduled by the OS on a busy host), the caller claims that
 * half and runs it itself (see {@link #handOff}).
 *
 * <p>Enabled with {@code -Djlstm.threads=2} (default 1). Owns no memory. Used by the runtime's
 * layers and by the trainer; an internal class, not a stable API.
 */
public final class StepPool {

    /** Threads for one product: the value of {@code jlstm.threads}, at least 1. */
    public static final int THREADS = Backends.threads();

    /** Below this many weights (floats) one thread is faster than a hand-off. */
    public static final long MIN_SPLIT = 1L << 17;

    private static final long SPIN_NANOS = 200_000;
    private static volatile StepPool shared;

    private final AtomicBoolean owned = new AtomicBoolean();
    private final Thread helper;
    private volatile long posted;     // sequence number of the last task handed over
    private volatile long finished;   // sequence number of the last task the helper completed
    /** Sequence number of the last task whose part 1 a thread claimed: the helper, or the caller when the helper had not started it. */
    private final AtomicLong claimed = new AtomicLong();
    /** Part-1 halves the caller ran itself (for tests and diagnostics). */
    private volatile long stolen;
    private volatile boolean parked;
    private volatile Throwable failure;

    /** Work split in two halves: part 0 runs on the caller, part 1 on the helper (or both on the caller). */
    public interface Halves {
        /** Runs half {@code part} (0 or 1) of the work. */
        void run(int part);
    }

    // the task: written by the owner before it publishes `posted`, read by the helper after
    private Halves halves;
    private Kernels kernels;
    private boolean bf16;
    private int m;
    private int k;
    private int n;
    private MemorySegment packed;
    private MemorySegment x;
    private long xOff;
    private int ldx;
    private MemorySegment y;
    private long yOff;
    private int ldy;
    private int mid; // first column of the helper's half
    private boolean descending;

    /** The product described by the fields, as halves (one object, so a hand-off allocates nothing). */
    private final Halves productTask = this::productHalf;

    private StepPool() {
        helper = Thread.ofPlatform().daemon().name("jlstm-step-helper").unstarted(this::work);
        helper.start();
    }

    /** The shared pool, or null when one thread is configured. */
    public static StepPool get() {
        if (THREADS < 2) {
            return null;
        }
        StepPool p = shared;
        if (p == null) {
            synchronized (StepPool.class) {
                p = shared;
                if (p == null) {
                    p = new StepPool();
                    shared = p;
                }
            }
        }
        return p;
    }

    /**
     * {@code y[0:n) += x · packed} like {@link Kernels#gemvPacked}, split across this thread and the
     * helper when the helper is free; otherwise on this thread alone. Each thread visits its panels
     * in the order {@code descending} says.
     */
    public void gemvPacked(Kernels kern, boolean bf16Weights, int rows, int cols, MemorySegment w, MemorySegment in,
                    MemorySegment out, long outOff, boolean descending) {
        product(kern, bf16Weights, 1, rows, cols, w, in, 0, rows, out, outOff, cols, descending);
    }

    /**
     * {@code y[m, 0:n) += x[m, k] · packed} like {@link Kernels#gemmPacked} (float32 weights), split
     * across this thread and the helper when the helper is free; otherwise on this thread alone.
     */
    public void gemmPacked(Kernels kern, int rows, int depth, int cols, MemorySegment in, long inOff, int ldIn,
                    MemorySegment w, MemorySegment out, long outOff, int ldOut, boolean descending) {
        product(kern, false, rows, depth, cols, w, in, inOff, ldIn, out, outOff, ldOut, descending);
    }

    private void product(Kernels kern, boolean bf16Weights, int rows, int depth, int cols, MemorySegment w,
                         MemorySegment in, long inOff, int ldIn, MemorySegment out, long outOff, int ldOut,
                         boolean descendingPanels) {
        int panel = kern.panelWidth();
        int panels = (cols + panel - 1) / panel;
        // Memory the helper may not read (a caller's confined arena) keeps the product on this thread.
        if (panels < 2 || !w.isAccessibleBy(helper) || !in.isAccessibleBy(helper) || !out.isAccessibleBy(helper)
                || contended() || !owned.compareAndSet(false, true)) {
            run(kern, bf16Weights, rows, depth, cols, w, in, inOff, ldIn, out, outOff, ldOut, 0, cols,
                    descendingPanels);
            return;
        }
        try {
            kernels = kern;
            bf16 = bf16Weights;
            m = rows;
            k = depth;
            n = cols;
            packed = w;
            x = in;
            xOff = inOff;
            ldx = ldIn;
            y = out;
            yOff = outOff;
            ldy = ldOut;
            mid = (panels / 2) * panel;
            descending = descendingPanels;
            handOff(productTask, true);
        } finally {
            kernels = null;
            packed = null;
            x = null;
            y = null;
            halves = null;
            owned.set(false);
        }
    }

    /** Half of the product described by the fields: columns [0, mid) or [mid, n). */
    private void productHalf(int part) {
        run(kernels, bf16, m, k, n, packed, x, xOff, ldx, y, yOff, ldy, part == 0 ? 0 : mid, part == 0 ? mid : n,
                descending);
    }

    /** Whether the helper thread may read {@code seg} (memory of a confined arena it may not). */
    public boolean canRead(MemorySegment seg) {
        return seg.isAccessibleBy(helper);
    }

    /**
     * Runs {@code task.run(0)} here and {@code task.run(1)} on the helper when it is free (and not
     * backing off after a stall, {@link #contended}), else both here; returns when both are done.
     * The caller makes sure the helper may read the task's memory ({@link #canRead}). The halves
     * must write disjoint memory.
     */
    public void halves(Halves task) {
        if (contended() || !owned.compareAndSet(false, true)) {
            task.run(0);
            task.run(1);
            return;
        }
        try {
            handOff(task, true);
        } finally {
            halves = null;
            owned.set(false);
        }
    }

    /**
     * Runs {@code task.run(0)} here and {@code task.run(1)} on the helper at the same time, and
     * returns true once both are done; returns false, running nothing, when another caller holds
     * the helper or while the pool backs off after a stall ({@link #contended}). For halves that
     * wait for each other (a barrier between them), which must not run one after the other on one
     * thread. Each half must stop waiting once the other has failed.
     * Part 0 must be able to finish without part 1 running (taking its work over), and part 1 must
     * then be able to run after it on this thread: when the helper has not started part 1 once
     * part 0 returns, this thread runs part 1 itself. With {@code judge} the hand-off counts as a
     * stall or as clean work by its own wait ({@link #handOff}); without, the task reports that
     * itself ({@link #stalled}, {@link #ranClean}), as a split sequence does for its steps.
     */
    public boolean tryConcurrent(Halves task, boolean judge) {
        if (contended() || !owned.compareAndSet(false, true)) {
            return false;
        }
        try {
            handOff(task, judge);
        } finally {
            halves = null;
            owned.set(false);
        }
        return true;
    }

    /**
     * How long the caller waits for the helper's half after finishing its own before it looks
     * whether the helper has started that half at all. A spinning helper claims a task within a
     * fraction of a microsecond of the hand-off; one that has to be woken from parking takes some
     * microseconds more, and one that the OS has descheduled, a time slice of milliseconds. Waiting
     * this long first keeps a helper that is merely waking from losing its half to a caller that
     * would compute it slower (the helper's weights are in the other core's cache).
     */
    public static final long STEAL_NANOS = 20_000;

    /**
     * How long a thread spins waiting for the other before it also yields its core at each look: a
     * wait that long means the other thread is not running, maybe because the OS queued it behind
     * this one on the same core.
     */
    public static final long YIELD_NANOS = 50_000;

    /**
     * For a caller's wait loop (look {@code spins} of a wait begun at {@code since}, from
     * {@link System#nanoTime}): whether it is time to try taking the other thread's half over. The
     * clock is read at every 32nd look only.
     */
    public static boolean timeToTakeOver(int spins, long since) {
        return (spins & 31) == 0 && System.nanoTime() - since >= STEAL_NANOS;
    }

    /** For a wait loop: yields this thread's core at every 32nd look once the wait begun at {@code since} has lasted {@link #YIELD_NANOS}. */
    public static void yieldIfLong(int spins, long since) {
        if ((spins & 31) == 0 && System.nanoTime() - since >= YIELD_NANOS) {
            Thread.yield();
        }
    }

    /**
     * Least wait for a half the helper has claimed that counts as a stall: the helper descheduled by
     * the OS in the middle of its half (more runnable threads than cores on a busy host), so that it
     * runs again only after a time slice of milliseconds. A hand-off's wait must also exceed twice
     * the caller's own half; {@code UnitSplit} applies its own rule to the steps of a sequence.
     */
    public static final long STALL_NANOS = 200_000;

    /**
     * The longest gap between two looks at the clock in a wait loop (32 spins apart, about a
     * microsecond) that counts as waiting: a longer one means this thread did not run in between
     * (descheduled, or stopped at a safepoint, a garbage collection's pause, with the helper), which
     * says nothing about the helper. (A design choice: how many stalls it filters was not measured
     * on its own.)
     */
    public static final long PAUSE_NANOS = 50_000;

    /**
     * For a wait loop that looks at the clock every few spins: {@code waited} plus the time from the
     * look at {@code last} to the one at {@code now} if this thread ran through it (no longer than
     * {@link #PAUSE_NANOS}).
     */
    public static long runningWait(long waited, long last, long now) {
        long gap = now - last;
        return gap >= 0 && gap < PAUSE_NANOS ? waited + gap : waited;
    }

    /** How long splitting is off after a first stall; each stall while backing off doubles it, up to {@link #SOLO_MAX_NANOS}. */
    static final long SOLO_MIN_NANOS = 2_000_000;

    /** The longest that splitting stays off after a stall. */
    static final long SOLO_MAX_NANOS = 256_000_000;

    /**
     * When to stop splitting work after a stall, and for how long: {@link #SOLO_MIN_NANOS} after a
     * first stall, doubling with each stall before clean split work has halved it again, up to
     * {@link #SOLO_MAX_NANOS}. Under a load that keeps descheduling the helper, splitting is tried
     * again about every quarter second and costs about one stall each time; once the load is gone,
     * work splits again within that time. Thread-safe: a stall is never lost (the end of a back-off
     * is cleared by compare-and-set); racing updates of the next back-off's length may lose one
     * doubling or halving, which only changes how long a later back-off lasts.
     */
    static final class Backoff {
        private final java.util.function.LongSupplier clock;
        /** Clock reading until which work is not split, or 0 (no stall lately). */
        private final AtomicLong until = new AtomicLong();
        private volatile long nanos = SOLO_MIN_NANOS;
        /** Barriers of clean split work since the back-off last halved. */
        private volatile long clean;
        private final AtomicLong stalls = new AtomicLong();

        Backoff(java.util.function.LongSupplier clock) {
            this.clock = clock;
        }

        /** Whether work should stay on one thread now. Reads the clock only while backing off. */
        boolean active() {
            long u = until.get();
            if (u == 0) {
                return false;
            }
            if (clock.getAsLong() - u < 0) {
                return true;
            }
            until.compareAndSet(u, 0); // over; a stall recorded meanwhile set another value and stays
            return false;
        }

        /** Records a stall: no splitting for the current back-off, which doubles for the next one. */
        void stalled() {
            long d = nanos;
            long u = clock.getAsLong() + d;
            until.set(u == 0 ? 1 : u); // 0 means none
            nanos = Math.min(SOLO_MAX_NANOS, 2 * d);
            clean = 0;
            stalls.incrementAndGet();
        }

        /**
         * Records {@code barriers} barriers of split work without a stall (a hand-off is one, a split
         * sequence one a step): every {@link #CLEAN_BARRIERS} of them halve the next back-off, down to
         * {@link #SOLO_MIN_NANOS}.
         */
        void ranClean(long barriers) {
            if (nanos == SOLO_MIN_NANOS) {
                return; // nothing to halve: no write on the common path
            }
            long c = clean + barriers;
            if (c >= CLEAN_BARRIERS) {
                nanos = Math.max(SOLO_MIN_NANOS, nanos / 2);
                c = 0;
            }
            clean = c;
        }

        /** The back-off the next stall starts. */
        long nextNanos() {
            return nanos;
        }

        long stalls() {
            return stalls.get();
        }
    }

    /** Barriers of clean split work that halve the next back-off ({@link Backoff#ranClean}). */
    static final int CLEAN_BARRIERS = 64;

    private final Backoff backoff = new Backoff(System::nanoTime);

    /**
     * Whether the helper stalled a moment ago ({@link Backoff}): then callers run their work on one
     * thread until the back-off ends. With two threads waiting for each other at every step, a
     * helper that the OS deschedules costs a time slice at each barrier: with one busy-looping
     * process beside W2 on two vCPUs, a call took 5.96 ms on two threads against 4.02 on one
     * (jlstm bench, before the back-off).
     */
    public boolean contended() {
        return backoff.active();
    }

    /** Records a stall of the helper (see {@link #STALL_NANOS}): splitting stops for a while. */
    public void stalled() {
        backoff.stalled();
    }

    /** Records {@code barriers} barriers of split work that ran without a stall ({@link Backoff#ranClean}). */
    public void ranClean(long barriers) {
        backoff.ranClean(barriers);
    }

    /** How many stalls of the helper this pool has seen. */
    public long stalls() {
        return backoff.stalls();
    }

    /** Whether the caller took part 1 of the last task: then it takes the next one without waiting, unless the helper claims it first (owner only). */
    private boolean takingOver;

    /**
     * With the pool owned: hands {@code task.run(1)} to the helper, runs {@code task.run(0)} here,
     * and returns once both are done (never while the helper may still write), rethrowing a failure.
     * When the helper has not claimed part 1 by then and {@link #STEAL_NANOS} more (not yet woken
     * from parking, or descheduled by the OS), this thread claims it and runs it itself, and goes on
     * doing so without the wait until the helper claims a task again or is found parked (then it
     * gets the wait to wake up): a busy host costs about one thread's speed rather than a time
     * slice of waiting per call. With {@code judge}, a wait for a half the helper did claim that
     * exceeds {@link #STALL_NANOS} and twice this thread's half counts as a stall ({@link #stalled}),
     * and a hand-off without one as one barrier of clean work ({@link #ranClean}); without, the
     * halves judge themselves (a split sequence's steps, {@code UnitSplit}).
     */
    private void handOff(Halves task, boolean judge) {
        halves = task;
        long seq = posted + 1;
        posted = seq; // publishes the task and the fields it reads
        if (parked) {
            LockSupport.unpark(helper);
            // a helper parked since the last call gets the full wait to wake up: calls further apart
            // than its spinning would otherwise all be taken over, the helper waking only to lose
            takingOver = false;
        }
        Throwable own = null;
        long began = System.nanoTime();
        try {
            task.run(0);
        } catch (Throwable t) {
            own = t;
        }
        boolean took = false;
        boolean stall = false;
        if (finished != seq) {
            long since = takingOver ? 0 : System.nanoTime();
            long stallAfter = 0;
            long waited = 0; // of the wait for a claimed half, the time this thread ran (runningWait)
            long look = 0;
            int spins = 0;
            boolean tried = false;
            while (finished != seq) {
                spins++;
                if (!tried && (takingOver || timeToTakeOver(spins, since))) {
                    tried = true;
                    if (claimed.get() == seq - 1 && claimed.compareAndSet(seq - 1, seq)) {
                        took = true;
                        stolen++;
                        try {
                            task.run(1);
                        } catch (Throwable t) {
                            if (own == null) {
                                own = t;
                            } else {
                                own.addSuppressed(t);
                            }
                        }
                        break;
                    }
                    since = System.nanoTime(); // the helper has it: from here on, the wait before yielding
                    stallAfter = Math.max(STALL_NANOS, 2 * (since - began));
                    look = since;
                } else if (tried) {
                    if (judge && !stall && (spins & 31) == 0) {
                        long now = System.nanoTime();
                        waited = runningWait(waited, look, now);
                        look = now;
                        stall = waited >= stallAfter; // descheduled in the middle of its half, most likely
                    }
                    yieldIfLong(spins, since); // the helper may be waiting for this core
                }
                Thread.onSpinWait();
            }
        }
        takingOver = took;
        if (judge) {
            if (stall) {
                stalled();
            } else {
                ranClean(1);
            }
        }
        rethrow(own);
    }

    /** How many part-1 halves the caller ran itself because the helper had not started them. */
    public long stolen() {
        return stolen;
    }

    /** After both halves are done: throws this thread's failure (the helper's suppressed) or the helper's. */
    private void rethrow(Throwable own) {
        Throwable theirs = failure;
        failure = null; // a failure belongs to this call only
        if (own != null) {
            if (theirs != null) {
                own.addSuppressed(theirs);
            }
            if (own instanceof RuntimeException re) {
                throw re;
            }
            if (own instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(own);
        }
        if (theirs != null) {
            throw new IllegalStateException("the step helper thread failed", theirs);
        }
    }

    private static void run(Kernels kern, boolean bf16Weights, int rows, int depth, int cols, MemorySegment w,
                            MemorySegment in, long inOff, int ldIn, MemorySegment out, long outOff, int ldOut,
                            int from, int to, boolean descending) {
        if (rows > 1) {
            kern.gemmPacked(rows, depth, cols, in, inOff, ldIn, w, 0, out, outOff, ldOut, from, to, descending);
        } else if (bf16Weights) {
            kern.gemvPackedBf16(depth, cols, w, 0, in, inOff, out, outOff, from, to, descending);
        } else {
            kern.gemvPacked(depth, cols, w, 0, in, inOff, out, outOff, from, to, descending);
        }
    }

    /**
     * Test hook: when positive, the helper sleeps this long after it sees each task and before it
     * claims it, so that the caller takes some of them over. Zero in normal use.
     */
    public static volatile long delayHelperForTests;

    private void work() {
        long done = 0;
        long idleSince = System.nanoTime();
        while (true) {
            long seq = posted;
            if (seq != done) {
                long delay = delayHelperForTests;
                if (delay > 0) {
                    LockSupport.parkNanos(delay);
                }
                // tasks are posted one at a time: seq - 1 was run here or taken by the caller
                if (claimed.compareAndSet(seq - 1, seq)) {
                    try {
                        halves.run(1);
                    } catch (Throwable t) {
                        failure = t;
                    }
                    finished = seq;
                }
                done = seq;
                idleSince = System.nanoTime();
            } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                parked = true;
                if (posted == done) {
                    LockSupport.park(this);
                }
                parked = false;
                idleSince = System.nanoTime();
            }
        }
    }
}
