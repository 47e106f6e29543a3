package io.jlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * With {@code -Djlstm.threads=2} the batch-1 recurrent product, the batched packed products and
 * the LSTM cells of a batch are split across two threads, a batch of 8 rows or more runs as
 * two halves of rows, one per thread, and a batch-1 LSTM sequence runs as two halves of its units
 * ({@link UnitSplit}); the numbers must be exactly those of
 * one thread (each column, each cell, is computed by one thread in the same order). The property is read once per JVM, so the two-thread run is a child JVM.
 */
class TwoThreadStepTest {

    /** Prints the outputs of a fixed model and input, one float's bits per line. */
    public static void main(String[] args) {
        if (System.getProperty("jlstm.test.slowHelper", "").equals("stall")) {
            // first a pass with the helper on time, its output dropped: the stall must be longer than
            // 8 of the sequence's mean steps (UnitSplit.STALL_STEPS), which are slow until compiled
            java.io.PrintStream out = System.out;
            System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
            try {
                emit("");
            } finally {
                System.setOut(out);
            }
        }
        emit(System.getProperty("jlstm.test.slowHelper", ""));
    }

    private static void emit(String slow) {
        // "steps": the helper late to claim every eighth step of a split sequence; "all": late to
        // claim each hand-off too. The caller takes those halves over, with the same bits.
        if (slow.equals("steps") || slow.equals("all")) {
            UnitSplit.helperDelayNanos = 300_000;
            // each delay lets the caller take over more halves than UnitSplit.TAKE_LIMIT, after which
            // it would finish the sequence alone: lift the limit, so the helper's return is tested
            UnitSplit.takeLimitForTests = Integer.MAX_VALUE;
        }
        if (slow.equals("all")) {
            io.jlstm.backend.StepPool.delayHelperForTests = 300_000;
        }
        // "stall": the helper stops for 20 ms in the middle of a step from step 5 of each split
        // sequence; the caller finishes that sequence alone and leaves the layer's next one to one thread
        if (slow.equals("stall")) {
            UnitSplit.helperStallNanos = 20_000_000;
        }
        long[] stolen = new long[1];
        long[] stalls = new long[2]; // stalled sequences, sequences left to one thread after one
        StringBuilder stallDetail = new StringBuilder();
        long[] helped = new long[1];
        try (Sequential model = Models.build(3, 128, io.jlstm.backend.Backends.java(),
                io.jlstm.layers.LstmSpec.of(256).returnSequences(true),
                io.jlstm.layers.GruSpec.of(192).resetAfter(false).returnSequences(true),
                io.jlstm.layers.GruSpec.of(160));
             StreamingSession session = model.newSession(1)) {
            Tensor x = Models.random(new java.util.Random(9), 1f, 1, 30, 128);
            StringBuilder sb = new StringBuilder();
            StringBuilder splits = new StringBuilder(); // how many sequences ran split by units (0 on one thread)
            for (float v : model.predict(x).output().toFloatArray()) {
                sb.append(Float.floatToRawIntBits(v)).append('\n');
            }
            // one step from a caller's confined arena: the input projection (128 x 1024) is split,
            // and the helper thread must not be handed the caller's confined memory
            try (Tensor one = Tensor.allocateConfined(1, 1, 128)) {
                for (int f = 0; f < 128; f++) {
                    one.setFlat(f, x.get(0, 0, f));
                }
                for (float v : model.predict(one).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
                // layer outputs kept in the caller's confined arena: the helper must not be given them
                try (java.lang.foreign.Arena mine = java.lang.foreign.Arena.ofConfined()) {
                    Prediction p = model.predict(one, PredictOptions.defaults().keepLayerOutputs(true), mine);
                    for (float v : p.output().toFloatArray()) {
                        sb.append(Float.floatToRawIntBits(v)).append('\n');
                    }
                }
            }
            // a batch: packed GEMMs split by column panels, LSTM cells split by batch rows
            for (float v : model.predict(Models.random(new java.util.Random(10), 1f, 5, 30, 128)).output().toFloatArray()) {
                sb.append(Float.floatToRawIntBits(v)).append('\n');
            }
            // a batch of 12: each thread runs the whole sequence for its half of the rows
            for (float v : model.predict(Models.random(new java.util.Random(11), 1f, 12, 30, 128)).output().toFloatArray()) {
                sb.append(Float.floatToRawIntBits(v)).append('\n');
            }
            // a batch of 12 split by rows, going backwards, from given initial states, returning its states
            try (Sequential back = Models.build(4, 128, io.jlstm.backend.Backends.java(),
                    io.jlstm.layers.LstmSpec.of(160).goBackwards(true).returnState(true))) {
                java.util.Random r = new java.util.Random(12);
                PredictOptions opts = PredictOptions.defaults().initialState(0, Models.random(r, 1f, 12, 160),
                        Models.random(r, 1f, 12, 160));
                for (Tensor t : back.predict(Models.random(r, 1f, 12, 30, 128), opts).outputs().values()) {
                    for (float v : t.toFloatArray()) {
                        sb.append(Float.floatToRawIntBits(v)).append('\n');
                    }
                }
            }
            // batch 1 split by units (UnitSplit): odd units (65 + 66), more steps than one projection
            // chunk (259: three chunks of 87, 87, 85), backwards, from given initial states, returning its states
            try (Sequential back = Models.build(6, 32, io.jlstm.backend.Backends.java(),
                    io.jlstm.layers.LstmSpec.of(131).goBackwards(true).returnState(true))) {
                java.util.Random r = new java.util.Random(15);
                PredictOptions opts = PredictOptions.defaults().initialState(0, Models.random(r, 1f, 1, 131),
                        Models.random(r, 1f, 1, 131));
                for (Tensor t : back.predict(Models.random(r, 1f, 1, 259, 32), opts).outputs().values()) {
                    for (float v : t.toFloatArray()) {
                        sb.append(Float.floatToRawIntBits(v)).append('\n');
                    }
                }
                splits.append("#split backwards ").append(back.unitSplitOffered(0)).append('\n');
                stolen[0] += back.unitSplitStolen(0);
                stalls[0] += back.unitSplitStalls(0);
                stallDetail.append(" backwards ").append(back.unitSplitStalls(0));
                stalls[1] += back.unitSplitOffered(0) - back.unitSplitRuns(0);
                helped[0] += back.unitSplitHelped(0);
            }
            // two stacked layers split by units, both returning sequences: the second reads the
            // first's output from the pass's scratch memory
            try (Sequential stack = Models.build(7, 32, io.jlstm.backend.Backends.java(),
                    io.jlstm.layers.LstmSpec.of(96).returnSequences(true),
                    io.jlstm.layers.LstmSpec.of(96).returnSequences(true))) {
                for (float v : stack.predict(Models.random(new java.util.Random(16), 1f, 1, 70, 32)).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
                splits.append("#split stack ").append(stack.unitSplitOffered(0)).append(' ')
                        .append(stack.unitSplitOffered(1)).append('\n');
                stolen[0] += stack.unitSplitStolen(0) + stack.unitSplitStolen(1);
                for (int l = 0; l < 2; l++) {
                    stalls[0] += stack.unitSplitStalls(l);
                    stallDetail.append(" stack").append(l).append(' ').append(stack.unitSplitStalls(l));
                    stalls[1] += stack.unitSplitOffered(l) - stack.unitSplitRuns(l);
                }
                helped[0] += stack.unitSplitHelped(0) + stack.unitSplitHelped(1);
            }
            // bf16 weights: the batch-1 gemv split streams bf16 panels
            try (Sequential bf = Models.build(5, 128, io.jlstm.backend.Backends.java(), WeightPrecision.BF16,
                    io.jlstm.layers.LstmSpec.of(256))) {
                for (float v : bf.predict(Models.random(new java.util.Random(13), 1f, 1, 30, 128)).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
                // a bf16 sequence of one step (its projection a 16-bit gemv) and bf16 streamed steps
                for (float v : bf.predict(Models.random(new java.util.Random(17), 1f, 1, 1, 128)).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
                try (StreamingSession bs = bf.newSession(1)) {
                    float[] in = new float[128];
                    float[] o = new float[256];
                    java.util.Random r = new java.util.Random(18);
                    for (int t = 0; t < 5; t++) {
                        for (int f = 0; f < 128; f++) {
                            in[f] = r.nextFloat() * 2 - 1;
                        }
                        bs.step(in, o);
                    }
                    for (float v : o) {
                        sb.append(Float.floatToRawIntBits(v)).append('\n');
                    }
                }
                // and a bf16 batch: the backend's sgemm over the float32 weights
                for (float v : bf.predict(Models.random(new java.util.Random(14), 1f, 3, 30, 128)).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
            }
            // bf16 with halves that do not pair columns as the whole layer (48 units each at 512 bits):
            // never split there, the same bits either way
            try (Sequential odd = Models.build(8, 32, io.jlstm.backend.Backends.java(), WeightPrecision.BF16,
                    io.jlstm.layers.LstmSpec.of(96))) {
                for (float v : odd.predict(Models.random(new java.util.Random(19), 1f, 1, 40, 32)).output().toFloatArray()) {
                    sb.append(Float.floatToRawIntBits(v)).append('\n');
                }
            }
            float[] step = new float[128];
            float[] out = new float[160];
            for (int t = 0; t < 30; t++) {
                for (int f = 0; f < 128; f++) {
                    step[f] = x.get(0, t, f);
                }
                session.step(step, out);
            }
            for (float v : out) {
                sb.append(Float.floatToRawIntBits(v)).append('\n');
            }
            // the LSTM(256): three batch-1 predicts and 30 streamed steps
            // split, or left to one thread right after a stall of the helper (then the counts would
            // otherwise depend on the host: a real stall is possible in any run)
            splits.append("#split first ").append(model.unitSplitOffered(0)).append('\n');
            stolen[0] += model.unitSplitStolen(0);
            stalls[0] += model.unitSplitStalls(0);
            stallDetail.append(" first ").append(model.unitSplitStalls(0));
            stalls[1] += model.unitSplitOffered(0) - model.unitSplitRuns(0);
            helped[0] += model.unitSplitHelped(0);
            io.jlstm.backend.StepPool pool = io.jlstm.backend.StepPool.get();
            System.out.print(sb);
            System.out.print(splits);
            System.out.println("%stolen steps " + stolen[0] + " tasks " + (pool == null ? 0 : pool.stolen())
                    + " helped " + helped[0]);
            System.out.println("%stalls " + stalls[0] + " backedoff " + stalls[1] + " (stalls by layer:" + stallDetail + ")");
        }
    }

    private static String run(int threads, String... more) throws Exception {
        String[] props = new String[2 + more.length];
        props[0] = "jlstm.threads=" + threads;
        props[1] = "jlstm.backend=java";
        System.arraycopy(more, 0, props, 2, more.length);
        return ChildJvm.run(TwoThreadStepTest.class, props);
    }

    /** A split sequence projects its inputs in as few chunks of at most MAX_CHUNK steps as it can, nearly even. */
    @Test
    void projectionChunksAreFewAndNearlyEven() {
        int[][] stepsAndRows = {{1, 1}, {50, 50}, {100, 100}, {128, 128}, {129, 65}, {259, 87}, {1000, 125}};
        for (int[] c : stepsAndRows) {
            assertEquals(c[1], UnitSplit.chunkRows(c[0]), c[0] + " steps");
        }
        for (int steps = 1; steps <= 5000; steps++) {
            int rows = UnitSplit.chunkRows(steps);
            int chunks = (steps + rows - 1) / rows;
            assertTrue(rows >= 1 && rows <= UnitSplit.MAX_CHUNK, steps + " steps: chunks of " + rows + " rows");
            assertEquals((steps + UnitSplit.MAX_CHUNK - 1) / UnitSplit.MAX_CHUNK, chunks, steps + " steps: not the fewest chunks");
            assertTrue((long) chunks * rows - steps < chunks, steps + " steps in chunks of " + rows + ": the last too short");
        }
        assertTrue(UnitSplit.chunkRows(Integer.MAX_VALUE) <= UnitSplit.MAX_CHUNK, "no overflow");
    }

    @Test
    void twoThreadsGiveBitIdenticalResults() throws Exception {
        String oneAll = plain(1);
        String twoAll = plain(2);
        assertEquals("#split backwards 0\n#split stack 0 0\n#split first 0\n", splitLines(oneAll),
                "one thread never splits by units");
        assertEquals("#split backwards 1\n#split stack 1 1\n#split first 33\n", splitLines(twoAll),
                "two threads run each batch-1 LSTM sequence and streamed step split by units, a stacked layer's "
                        + "input and a confined input staged");
        String one = values(oneAll);
        String two = values(twoAll);
        assertEquals((4 + 5 + 12) * 160 + 3 * 12 * 160 + 3 * 131 + 70 * 96 + 6 * 256 + 96, one.lines().count(),
                "predict, one confined step twice, a batch of 5, a batch of 12, the backwards batch and its two "
                        + "states, the batch-1 backwards output and its two states, the stacked sequence, "
                        + "the bf16 outputs of 1 row, 1 step, 5 streamed steps and 3 rows, the bf16 LSTM(96), "
                        + "the streamed output");
        assertEquals(one, two);
    }

    /**
     * When the helper thread is late to a step of a split sequence (descheduled by the OS), the
     * caller computes the helper's half of that step and goes on until the helper is back, which
     * then skips the steps taken: the same bits, and both threads computed half steps of the
     * same sequences.
     */
    @Test
    void aHelperLateToStepsIsTakenOverWithTheSameBits() throws Exception {
        long[] c = lateHelperRun("steps");
        assertTrue(c[0] > 0, "the caller took over steps of split sequences: " + java.util.Arrays.toString(c));
        assertTrue(c[2] > 0, "the helper computed steps of split sequences: " + java.util.Arrays.toString(c));
    }

    /**
     * When the helper is late to every hand-off as well (parked, or descheduled), the caller runs
     * the helper's half of the hand-off itself, whole split sequences included: the same bits.
     */
    @Test
    void aHelperLateToHandOffsIsTakenOverWithTheSameBits() throws Exception {
        long[] c = lateHelperRun("all");
        assertTrue(c[0] > 0, "the caller took over steps of split sequences: " + java.util.Arrays.toString(c));
        assertTrue(c[1] > 0, "the caller took over hand-offs: " + java.util.Arrays.toString(c));
    }

    /**
     * When the helper stops in the middle of a half step it has claimed (descheduled by the OS on a
     * busy host), the caller waits for that half, then finishes the sequence alone instead of
     * waiting a time slice at every later barrier; the pool then keeps work on one thread for a
     * while (StepPoolBackoffTest): the same bits.
     */
    @Test
    void aHelperStalledMidHalfLeavesTheSequenceToTheCallerWithTheSameBits() throws Exception {
        String out = run(2, "jlstm.test.slowHelper=stall");
        assertEquals(values(plain(1)), values(out));
        assertEquals("#split backwards 1\n#split stack 1 1\n#split first 33\n", splitLines(out),
                "the sequences and streamed steps were offered the split");
        String line = out.lines().filter(l -> l.startsWith("%stalls")).findFirst().orElseThrow();
        String[] f = line.replace("(", "").replace(")", "").split(" ");
        // of the six sequences, the four of more than 5 steps (the first model's 30-step predict, the
        // backwards one, each stacked layer's) stall, unless the caller took over every half from
        // step 5 (the helper late to claim them: the caller then never waits for it)
        assertTrue(Long.parseLong(f[1]) >= 1, "stalled sequences: " + line);
        // (whether a later sequence then ran on one thread depends on the clock: StepPoolBackoffTest)
    }

    /**
     * Runs the two-thread child with the helper late ({@code jlstm.test.slowHelper=mode}), checks
     * that its outputs are one thread's bits and that it still split, and returns its counts.
     */
    private static long[] lateHelperRun(String mode) throws Exception {
        String out = run(2, "jlstm.test.slowHelper=" + mode);
        assertEquals(values(plain(1)), values(out));
        assertEquals("#split backwards 1\n#split stack 1 1\n#split first 33\n", splitLines(out),
                "the sequences and streamed steps were still offered the split (split, or on one thread just "
                        + "after a stall of the helper)");
        return stolenCounts(out);
    }

    /** The child's "%stolen steps S tasks T helped H" line as {S, T, H}. */
    private static long[] stolenCounts(String out) {
        String line = out.lines().filter(l -> l.startsWith("%stolen")).findFirst().orElseThrow();
        String[] f = line.split(" ");
        return new long[] {Long.parseLong(f[2]), Long.parseLong(f[4]), Long.parseLong(f[6])};
    }

    private static final java.util.Map<Integer, String> OUTPUTS = new java.util.HashMap<>();

    /** The output of the child with {@code threads} threads and no hooks, run once for both tests that need it. */
    private static synchronized String plain(int threads) throws Exception {
        String out = OUTPUTS.get(threads);
        if (out == null) {
            out = run(threads);
            OUTPUTS.put(threads, out);
        }
        return out;
    }

    private static String splitLines(String out) {
        return out.lines().filter(l -> l.startsWith("#")).map(l -> l + "\n").reduce("", String::concat);
    }

    private static String values(String out) {
        return out.lines().filter(l -> !l.startsWith("#") && !l.startsWith("%")).map(l -> l + "\n").reduce("", String::concat);
    }
}
