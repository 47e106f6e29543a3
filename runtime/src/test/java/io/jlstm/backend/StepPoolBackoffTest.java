package io.jlstm.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The step helper's back-off after a stall, on a clock the test sets. */
class StepPoolBackoffTest {

    private long now = 1_000;

    @Test
    void aStallStopsSplittingForAWhileThatDoublesAndHalves() {
        StepPool.Backoff b = new StepPool.Backoff(() -> now);
        assertFalse(b.active(), "no stall yet: split");
        b.stalled();
        assertTrue(b.active(), "right after a stall: one thread");
        now += StepPool.SOLO_MIN_NANOS - 1;
        assertTrue(b.active(), "still within the first back-off");
        now += 1;
        assertFalse(b.active(), "the first back-off is over");
        assertEquals(2 * StepPool.SOLO_MIN_NANOS, b.nextNanos(), "a second stall backs off twice as long");
        b.stalled();
        now += 2 * StepPool.SOLO_MIN_NANOS - 1;
        assertTrue(b.active(), "within the doubled back-off");
        now += 1;
        assertFalse(b.active());
        assertEquals(4 * StepPool.SOLO_MIN_NANOS, b.nextNanos());
        for (int i = 1; i < StepPool.CLEAN_BARRIERS; i++) {
            b.ranClean(1);
        }
        assertEquals(4 * StepPool.SOLO_MIN_NANOS, b.nextNanos(), "fewer clean barriers than CLEAN_BARRIERS: no halving");
        b.ranClean(1);
        assertEquals(2 * StepPool.SOLO_MIN_NANOS, b.nextNanos(), "CLEAN_BARRIERS clean barriers halve the next back-off");
        b.ranClean(100); // a split sequence of 100 steps
        b.ranClean(100);
        assertEquals(StepPool.SOLO_MIN_NANOS, b.nextNanos(), "never below the least back-off");
        for (int i = 0; i < 40; i++) {
            b.stalled();
        }
        assertEquals(StepPool.SOLO_MAX_NANOS, b.nextNanos(), "never above the longest back-off");
        assertEquals(42, b.stalls());
    }

    @Test
    void aStallRightAfterABackOffEndsIsKept() {
        StepPool.Backoff b = new StepPool.Backoff(() -> now);
        b.stalled();
        now += StepPool.SOLO_MIN_NANOS;
        b.stalled(); // recorded before anyone saw the first back-off end
        assertTrue(b.active(), "the second stall's back-off, not cleared with the first");
        b.ranClean(StepPool.CLEAN_BARRIERS);
        now += StepPool.SOLO_MIN_NANOS;
        assertTrue(b.active(), "clean work shortens the next back-off, not the current one");
    }

    @Test
    void theClockMayWrap() {
        now = Long.MAX_VALUE - 10;
        StepPool.Backoff b = new StepPool.Backoff(() -> now);
        b.stalled();
        now += 20; // past Long.MAX_VALUE: nanoTime readings are compared by difference
        assertTrue(b.active(), "within the back-off across the wrap");
        now += StepPool.SOLO_MIN_NANOS;
        assertFalse(b.active());
    }
}
