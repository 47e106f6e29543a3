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
