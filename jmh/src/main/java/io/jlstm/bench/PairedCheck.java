package io.jlstm.bench;

import io.jlstm.bench.Workloads.Workload;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A cross-check of {@link WorkloadBenchmark}'s ratios, not a replacement for it: one jlstm engine
 * and ONNX Runtime on one workload in one JVM, timed call by call in alternating blocks, so that
 * both see the same moments of a shared, noisy machine (the JMH comparison runs each engine in
 * its own fork, seconds or minutes apart). Each block starts after a {@value #PAUSE_MS} ms pause and
 * its first call is not counted, so that the other engine's worker threads (jlstm's step helper,
 * ONNX Runtime's pool), which spin for a while after a call, are idle by then. A warm-up pass of
 * the same length comes first.
 *
 * <p>usage: {@code PairedCheck WORKLOAD THREADS [ENGINE] [BLOCK] [BLOCKS]}: ENGINE defaults to
 * jlstm-java; BLOCK (calls per block) and BLOCKS (blocks per engine) default by workload so that
 * a block lasts about 50 ms or more and a check about 5-30 s (a block of short calls must be
 * long: the first calls after a pause run on cold caches). Prints each engine's median and 25th
 * percentile and the ratio of the medians.
 */
public final class PairedCheck {

    /** Idle time before each block: the other engine's worker threads stop spinning and park. */
    static final long PAUSE_MS = 20;

    private PairedCheck() {
    }

    public static void main(String[] args) throws Exception {
        String line;
        try {
            line = check(args);
        } catch (IllegalArgumentException e) {
            System.err.println("PairedCheck: " + e.getMessage());
            System.err.println("usage: PairedCheck WORKLOAD THREADS [ENGINE] [BLOCK] [BLOCKS]");
            System.exit(2);
            return;
        }
        System.out.println(line);
    }

    /**
     * Runs the check that {@link #main}'s arguments describe (2 to 5 of them) and returns its line.
     *
     * @throws IllegalArgumentException for a wrong argument, naming what was expected and what came
     */
    static String check(String... args) throws Exception {
        if (args.length < 2 || args.length > 5) {
            throw new IllegalArgumentException("expected WORKLOAD THREADS [ENGINE] [BLOCK] [BLOCKS], got "
                    + args.length + " arguments");
        }
        Workload w;
        try {
            w = Workload.valueOf(args[0]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("WORKLOAD must be one of " + Arrays.toString(Workload.values())
                    + ", got '" + args[0] + "'", e);
        }
        int threads = positive(args[1], "THREADS");
        String engine = args.length > 2 ? args[2] : "jlstm-java";
        List<String> jlstmEngines = WorkloadEngine.ENGINES.stream().filter(e -> !e.equals("onnxruntime")).toList();
        if (!jlstmEngines.contains(engine)) {
            throw new IllegalArgumentException("ENGINE is the jlstm engine compared with onnxruntime, one of "
                    + jlstmEngines + ", got '" + engine + "'");
        }
        int[] byWorkload = switch (w) { // calls per block, blocks per engine
            case W1 -> new int[] {8000, 10};
            case W4 -> new int[] {500, 30};
            case W2 -> new int[] {10, 30};
            case W2x2 -> new int[] {5, 30};
            case W3 -> new int[] {2, 12};
        };
        int block = args.length > 3 ? positive(args[3], "BLOCK") : byWorkload[0];
        int blocks = args.length > 4 ? positive(args[4], "BLOCKS") : byWorkload[1];
        if ((long) block * blocks > 10_000_000) {
            throw new IllegalArgumentException("BLOCK x BLOCKS must be at most 10000000 calls per engine, got "
                    + block + " x " + blocks);
        }
        long[][] ns = new long[2][block * blocks];
        try (WorkloadEngine jlstm = new WorkloadEngine(w, engine, threads);
             WorkloadEngine ort = new WorkloadEngine(w, "onnxruntime", threads)) {
            WorkloadEngine[] engines = {jlstm, ort};
            Object sink = null;
            for (int pass = 0; pass < 2; pass++) { // pass 0 warms up
                int[] n = new int[2];
                for (int b = 0; b < blocks; b++) {
                    for (int q = 0; q < 2; q++) {
                        int e = (b + q) & 1; // who goes first alternates too
                        Thread.sleep(PAUSE_MS);
                        for (int i = -1; i < block; i++) {
                            long start = System.nanoTime();
                            sink = engines[e].call();
                            long took = System.nanoTime() - start;
                            if (i >= 0) {
                                ns[e][n[e]++] = took;
                            }
                        }
                    }
                }
            }
            if (sink == null) {
                throw new IllegalStateException("no result");
            }
        }
        Arrays.sort(ns[0]);
        Arrays.sort(ns[1]);
        double j = ns[0][ns[0].length / 2] / 1e3;
        double o = ns[1][ns[1].length / 2] / 1e3;
        return String.format(Locale.ROOT, "%s, %d thread(s), %d calls each: %s median %.1f us (p25 %.1f), "
                        + "onnxruntime median %.1f us (p25 %.1f), ratio %.3f",
                w, threads, ns[0].length, engine, j, ns[0][ns[0].length / 4] / 1e3, o, ns[1][ns[1].length / 4] / 1e3,
                j / o);
    }

    private static int positive(String s, String name) {
        int v;
        try {
            v = Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a whole number, got '" + s + "'", e);
        }
        if (v < 1) {
            throw new IllegalArgumentException(name + " must be at least 1, got " + v);
        }
        return v;
    }
}
