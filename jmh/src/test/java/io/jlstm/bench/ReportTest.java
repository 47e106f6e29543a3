package io.jlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the report reads JMH's results, and the sysfs strings like "1024K" its roofline text names. */
class ReportTest {

    @Test
    void sampleTimeIsJudgedOnTheMedianAndKeepsTheMean(@TempDir Path dir) throws IOException {
        Path json = dir.resolve("results.json");
        Files.writeString(json, """
                [ { "benchmark": "io.jlstm.bench.WorkloadBenchmark.run", "mode": "sample",
                    "params": { "engine": "jlstm-java", "threads": "1", "workload": "W2" },
                    "primaryMetric": { "score": 5.9, "scoreError": 0.1, "scoreUnit": "ms/op",
                                       "scorePercentiles": { "0.0": 5.1, "50.0": 5.5, "100.0": 11.2 } } },
                  { "benchmark": "io.jlstm.bench.WorkloadBenchmark.run", "mode": "sample",
                    "params": { "engine": "onnxruntime", "threads": "1", "workload": "W2" },
                    "primaryMetric": { "score": 6910, "scoreError": 90, "scoreUnit": "us/op",
                                       "scorePercentiles": { "0.0": 5660, "50.0": 6875, "100.0": 15745 } } },
                  { "benchmark": "io.jlstm.bench.RooflineBenchmark.sgemm2048", "mode": "avgt", "params": {},
                    "primaryMetric": { "score": 190, "scoreError": 3, "scoreUnit": "ms/op" } } ]
                """);
        List<Report.Trial> trials = Report.read(json);
        assertEquals(5500, trials.get(0).micros(), 1e-9);
        assertEquals(5900, trials.get(0).meanMicros(), 1e-9);
        assertEquals(190_000, trials.get(2).micros(), 1e-9, "average time has no median: its score");
        Report.Row w2 = Report.rows(trials).stream().filter(r -> r.workload() == Workloads.Workload.W2).findFirst().orElseThrow();
        assertEquals(5500.0 / 6875, w2.ratio(), 1e-12);
        assertEquals(5900.0 / 6910, w2.meanRatio(), 1e-12);
    }

    /** A sample-time WorkloadBenchmark trial with the given median and mean (µs). */
    private static String trial(String engine, String threads, String workload, double median, double mean) {
        return """
                { "benchmark": "io.jlstm.bench.WorkloadBenchmark.run", "mode": "sample",
                  "params": { "engine": "%s", "threads": "%s", "workload": "%s" },
                  "primaryMetric": { "score": %s, "scoreError": 1, "scoreUnit": "us/op",
                                     "scorePercentiles": { "50.0": %s } } }""".formatted(engine, threads, workload, mean, median);
    }

    @Test
    void severalRoundsKeepEachEnginesTrialWithTheLowerMedian(@TempDir Path dir) throws IOException {
        Path json = dir.resolve("results.json");
        Files.writeString(json, "[" + String.join(",",
                trial("jlstm-java", "2", "W2x2", 15_160, 16_000),
                trial("onnxruntime", "2", "W2x2", 7_770, 8_000),
                trial("jlstm-java", "2", "W2x2", 6_900, 7_400),
                trial("onnxruntime", "2", "W2x2", 7_900, 7_950)) + "]");
        Report.Row r = Report.rows(Report.read(json)).get(0);
        assertEquals(6_900, r.micros().get(Report.JAVA), 1e-9, "the second round's trial, the faster one");
        assertEquals(7_400, r.meanMicros().get(Report.JAVA), 1e-9, "its mean goes with it");
        assertEquals(7_770, r.ort(), 1e-9, "ONNX Runtime likewise keeps its faster trial, the first");
        assertEquals(2, r.trials().get(Report.ORT));
        assertTrue(Report.roundsText(List.of(r)).contains("2 trials"), Report.roundsText(List.of(r)));
    }

    @Test
    void floorsComeFromTheRunsCeilingsAndMarkTargetsBelowThemOutOfReach(@TempDir Path dir) throws IOException {
        // sgemm at exactly 100 GFLOP/s, reading 4 MiB at exactly 100 GB/s, both on one thread
        double sgemmMs = 2.0 * 2048 * 2048 * 2048 / 100 / 1e6;
        double readUs = (4 << 20) / 100.0 / 1e3;
        Path json = dir.resolve("results.json");
        Files.writeString(json, "[" + String.join(",",
                """
                { "benchmark": "io.jlstm.bench.RooflineBenchmark.sgemm2048", "mode": "avgt", "params": { "threads": "1" },
                  "primaryMetric": { "score": %s, "scoreError": 0, "scoreUnit": "ms/op" } }""".formatted(sgemmMs),
                """
                { "benchmark": "io.jlstm.bench.RooflineBenchmark.read4MB_1t", "mode": "avgt", "params": {},
                  "primaryMetric": { "score": %s, "scoreError": 0, "scoreUnit": "us/op" } }""".formatted(readUs),
                """
                { "benchmark": "io.jlstm.bench.RooflineBenchmark.handoff", "mode": "sample", "params": {},
                  "primaryMetric": { "score": 0.2, "scoreError": 0.3, "scoreUnit": "us/op",
                                     "scorePercentiles": { "0.0": 0.03, "50.0": 0.06, "100.0": 40.0 } } }""",
                trial("jlstm-java", "1", "W2", 5_000, 5_100),
                trial("jlstm-java-bf16", "1", "W2", 2_700, 2_800),
                trial("onnxruntime", "1", "W2", 4_800, 5_200),
                trial("jlstm-java", "1", "W4", 150, 160),
                trial("onnxruntime", "1", "W4", 120, 125)) + "]");
        List<Report.Trial> trials = Report.read(json);
        Report.Ceilings c = Report.ceilings(trials);
        assertEquals(100, c.sgemmGflops().get(1), 1e-9);
        assertEquals(100, c.readFor(5.0 * (1 << 20), 1), 1e-9, "5 MiB: the 4 MiB read, the largest no larger");
        assertEquals(100, c.readFor(2.0 * (1 << 20), 1), 1e-9, "nothing measured over 2 MiB or less: the fastest read");
        assertEquals(null, c.readFor(2.0 * (1 << 20), 2), "no read ran on 2 threads");
        assertEquals(0.06, c.handoffMicros(), 1e-12, "the hand-off's median round trip");
        // per layer the longer of: 99 recurrent products of 4 MiB at 100 GB/s, and their flops
        // with those of the projection (100 rows of 128 inputs onto 2048 gates) at 100 GFLOP/s
        double flopsNs = (99 * 2.0 * 512 * 2048 + 2.0 * 100 * 128 * 2048) / 100;
        double fp32 = Math.max(99 * (4 << 20) / 100.0, flopsNs) / 1e3;
        assertEquals(fp32, Report.floorMicros(Workloads.Workload.W2, 1, false, c), 1e-6);
        double bf16 = Math.max(99 * (2 << 20) / 100.0, flopsNs) / 1e3;
        assertEquals(bf16, Report.floorMicros(Workloads.Workload.W2, 1, true, c), 1e-6);
        assertEquals(null, Report.floorMicros(Workloads.Workload.W2, 2, false, c), "no 2-thread ceilings in this run");

        String md = Report.markdown(Report.rows(trials), trials, "test machine", "2026-12-02", "JDK 25");
        assertTrue(md.contains("and back: 0.06 µs round trip"), md);
        // target 0.85 x 4800 = 4080 µs is below the 4152 µs floor, which no engine beat
        assertTrue(md.contains("| W2 | 1 | 5.00 ms | — | 2.70 ms | 4.80 ms | 1.04× (java) | 0.98× | ≤ 0.85× | out of reach (floor 0.87×) |"), md);
        assertTrue(md.contains("| W2 | fp32 | 1 | 4.15 ms | 4.08 ms | 5.00 ms (java) | 83 % | out of reach (floor 4.15 ms) |"), md);
        // bf16: the target 2.40 ms is below its 2.60 ms floor (here the flops at the sgemm rate)
        assertTrue(md.contains("| W2 | bf16 | 1 | 2.60 ms | 2.40 ms | 2.70 ms (java-bf16) | 96 % | out of reach (floor 2.60 ms) |"), md);
        // W4: ONNX Runtime's 120 µs beat the 128 µs floor, which then rules nothing out
        assertTrue(md.contains("| W4 | 1 | 150 µs | — | — | 120 µs | 1.25× (java) | 1.28× | ≤ 0.60× | no |"), md);
        assertTrue(md.contains("| W4 | fp32 | 1 | 128 µs (beaten) | 72.0 µs | 150 µs (java) | 86 % | no |"), md);
    }

    @Test
    void anL1ReadIsShownButNoFloorUsesIt(@TempDir Path dir) throws IOException {
        // 16 KiB at 300 GB/s (L1; an op reads it 16 times), 256 KiB at 150 GB/s (L2), one thread
        Path json = dir.resolve("results.json");
        Files.writeString(json, "[" + String.join(",",
                """
                { "benchmark": "io.jlstm.bench.RooflineBenchmark.read16KB_1t", "mode": "avgt", "params": {},
                  "primaryMetric": { "score": %s, "scoreError": 0, "scoreUnit": "us/op" } }""".formatted(16 * (16 << 10) / 300.0 / 1e3),
                """
                { "benchmark": "io.jlstm.bench.RooflineBenchmark.read256KB_1t", "mode": "avgt", "params": {},
                  "primaryMetric": { "score": %s, "scoreError": 0, "scoreUnit": "us/op" } }""".formatted((256 << 10) / 150.0 / 1e3),
                trial("jlstm-java", "1", "W4", 150, 160),
                trial("onnxruntime", "1", "W4", 200, 210)) + "]");
        List<Report.Trial> trials = Report.read(json);
        Report.Ceilings c = Report.ceilings(trials);
        assertEquals(300, c.readGbs().get(16L << 10).get(1), 1e-9);
        assertEquals(150, c.readFor(256 << 10, 1), 1e-9, "W4's recurrent kernel: the 256 KiB read, not the L1 one");
        assertEquals(150, c.readFor(4 << 20, 1), 1e-9);
        String md = Report.markdown(Report.rows(trials), trials, "test machine", "2026-12-05", "JDK 25");
        assertTrue(md.contains("- Read bandwidth over 16 KiB, forward and backward in turn, 1 thread: 300.0 GB/s (stays in L1, read 16 times an op;"), md);
        assertTrue(md.contains("- Read bandwidth over 256 KiB, forward and backward in turn, 1 thread: 150.0 GB/s\n"), md);
    }

    @Test
    void bytesPerOpComeFromTheAverageTimeRunNotFromSampleTime(@TempDir Path dir) throws IOException {
        String gc = """
                "secondaryMetrics": { "gc.alloc.rate.norm": { "score": %s, "scoreUnit": "B/op" } }""";
        Path sampled = dir.resolve("results.json");
        Files.writeString(sampled, """
                [ { "benchmark": "io.jlstm.bench.WorkloadBenchmark.run", "mode": "sample",
                    "params": { "engine": "jlstm-java", "threads": "1", "workload": "W1" },
                    "primaryMetric": { "score": 16.0, "scoreError": 0.1, "scoreUnit": "us/op",
                                       "scorePercentiles": { "50.0": 15.4 } }, %s } ]
                """.formatted(gc.formatted("3.6")));
        Path averaged = dir.resolve("allocation.json");
        Files.writeString(averaged, """
                [ { "benchmark": "io.jlstm.bench.WorkloadBenchmark.run", "mode": "avgt",
                    "params": { "engine": "jlstm-java", "threads": "1", "workload": "W1" },
                    "primaryMetric": { "score": 16.8, "scoreError": 0.3, "scoreUnit": "us/op" }, %s } ]
                """.formatted(gc.formatted("0.14")));
        assertEquals(null, Report.read(sampled).get(0).bytesPerOp(), "JMH's sampling allocates: not the engine's");
        Report.Row w1 = Report.rows(Report.read(sampled), Report.read(averaged)).get(0);
        assertEquals(15.4, w1.micros().get(Report.JAVA), 1e-12, "the time stays the sample-time median");
        assertEquals(0.14, w1.bytesPerOp().get(Report.JAVA), 1e-12);
    }

    @Test
    void mergesTheRunsOfEachWorkloadIntoOneArray(@TempDir Path dir) throws IOException {
        Path a = dir.resolve("W2-1.json");
        Path b = dir.resolve("W2-2.json");
        Files.writeString(a, "[ { \"benchmark\": \"x.A.run\" }, { \"benchmark\": \"x.B.run\" } ]");
        Files.writeString(b, "[ { \"benchmark\": \"x.C.run\" } ]");
        Path out = dir.resolve("results.json");
        Report.merge(out, List.of(a, dir.resolve("failed-run.json"), b));
        String merged = Files.readString(out);
        assertTrue(merged.indexOf("x.A.run") < merged.indexOf("x.B.run") && merged.indexOf("x.B.run") < merged.indexOf("x.C.run"),
                merged);
        try (var files = Files.list(dir)) {
            assertEquals(3, files.count(), "no temporary file left behind");
        }

        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{ \"benchmark\": \"x.D.run\" }");
        IOException e = assertThrows(IOException.class, () -> Report.merge(out, List.of(a, bad)));
        assertTrue(e.getMessage().contains("bad.json") && e.getMessage().contains("OBJECT"), e.getMessage());
        assertEquals(merged, Files.readString(out), "a failed merge leaves the old results in place");
    }

    @Test
    void readsSysfsCacheSizes() {
        assertEquals(1024L * 1024, Report.cacheSize("1024K\n"));
        assertEquals(2L * 1024 * 1024, Report.cacheSize("2M"));
        assertEquals(512L, Report.cacheSize("512"));
        assertThrows(NumberFormatException.class, () -> Report.cacheSize("big"));
    }

    @Test
    void theL2SizeIsZeroOrPlausible() {
        long l2 = Report.l2Bytes();
        assertTrue(l2 == 0 || (l2 >= 64 * 1024 && l2 <= 64L * 1024 * 1024), "L2 of CPU 0: " + l2 + " bytes");
    }
}
