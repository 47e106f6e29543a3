package io.jlstm;

import io.jlstm.simd.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A second thread for the batch-1 recurrent product, which is bound by reading the weights: the
 * caller computes the first half of the column panels while the helper computes the second half,
 * so the two cores' caches and load ports share the stream.
 *
 * <p>One helper thread per JVM (daemon, started on first use), shared by every model. A step
 * hands its half over through plain fields published by a volatile sequence number, so a hand-off
 * allocates nothing. The helper spins for a short while after each task (a sequence of steps
 * comes every few tens of microseconds) and then parks. When another caller holds the helper, a
 * step simply runs alone: results do not depend on which thread computes which columns.
 *
 * <p>Enabled with {@code -Djlstm.threads=2} (default 1). Owns no memory.
 */
final class StepPool {

    /** Threads for one product: the value of {@code jlstm.threads}, at least 1. */
    static final int THREADS = io.jlstm.backend.Backends.threads();

    /** Below this many weights (floats) one thread is faster than a hand-off. */
    static final long MIN_SPLIT = 1L << 17;

    private static final long SPIN_NANOS = 200_000;
    private static volatile StepPool shared;

    private final AtomicBoolean owned = new AtomicBoolean();
    private final Thread helper;
    private volatile long posted;     // sequence number of the last task handed over
    private volatile long finished;   // sequence number of the last task completed
    private volatile boolean parked;
    private volatile Throwable failure;

    // the task: written by the owner before it publishes `posted`, read by the helper after
    private Kernels kernels;
    private boolean bf16;
    private int k;
    private int n;
    private MemorySegment packed;
    private MemorySegment x;
    private MemorySegment y;
    private long yOff;
    private int j0;
    private int j1;

    private StepPool() {
        helper = Thread.ofPlatform().daemon().name("jlstm-step-helper").unstarted(this::work);
        helper.start();
    }

    /** The shared pool, or null when one thread is configured. */
    static StepPool get() {
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
     * helper when the helper is free; otherwise on this thread alone.
     */
    void gemvPacked(Kernels kern, boolean bf16Weights, int rows, int cols, MemorySegment w, MemorySegment in,
                    MemorySegment out, long outOff) {
        int panel = kern.panelWidth();
        int panels = (cols + panel - 1) / panel;
        // Memory the helper may not read (a caller's confined arena) keeps the product on this thread.
        if (panels < 2 || !w.isAccessibleBy(helper) || !in.isAccessibleBy(helper) || !out.isAccessibleBy(helper)
                || !owned.compareAndSet(false, true)) {
            run(kern, bf16Weights, rows, cols, w, in, out, outOff, 0, cols);
            return;
        }
        try {
            int mid = (panels / 2) * panel;
            kernels = kern;
            bf16 = bf16Weights;
            k = rows;
            n = cols;
            packed = w;
            x = in;
            y = out;
            yOff = outOff;
            j0 = mid;
            j1 = cols;
            long seq = posted + 1;
            posted = seq; // publishes the fields above
            if (parked) {
                LockSupport.unpark(helper);
            }
            Throwable own = null;
            try {
                run(kern, bf16Weights, rows, cols, w, in, out, outOff, 0, mid);
            } catch (Throwable t) {
                own = t;
            }
            // never give the helper up (nor return) while it still writes into out
            while (finished != seq) {
                Thread.onSpinWait();
            }
            Throwable theirs = failure;
            failure = null; // a failure belongs to this call only
            if (own != null) {
                if (theirs != null) {
                    own.addSuppressed(theirs);
                }
                throw own instanceof RuntimeException re ? re : new IllegalStateException(own);
            }
            if (theirs != null) {
                throw new IllegalStateException("the step helper thread failed", theirs);
            }
        } finally {
            kernels = null;
            packed = null;
            x = null;
            y = null;
            owned.set(false);
        }
    }

    private static void run(Kernels kern, boolean bf16Weights, int rows, int cols, MemorySegment w, MemorySegment in,
                            MemorySegment out, long outOff, int from, int to) {
        if (bf16Weights) {
            kern.gemvPackedBf16(rows, cols, w, 0, in, 0, out, outOff, from, to);
        } else {
            kern.gemvPacked(rows, cols, w, 0, in, 0, out, outOff, from, to);
        }
    }

    private void work() {
        long done = 0;
        long idleSince = System.nanoTime();
        while (true) {
            long seq = posted;
            if (seq != done) {
                try {
                    run(kernels, bf16, k, n, packed, x, y, yOff, j0, j1);
                } catch (Throwable t) {
                    failure = t;
                }
                done = seq;
                finished = seq;
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
