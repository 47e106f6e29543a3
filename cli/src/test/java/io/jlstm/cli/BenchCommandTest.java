package io.jlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code jlstm bench} in-process, on the small workload with a 2 s budget. */
class BenchCommandTest {

    record Result(int code, String out, String err) {
    }

    static Result jlstm(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void benchPrintsATableOfTheWorkload() {
        long start = System.nanoTime();
        Result r = jlstm("bench", "--workloads", "W4", "--seconds", "2");
        double seconds = (System.nanoTime() - start) / 1e9;

        assertEquals(0, r.code(), () -> "bench failed:\n" + r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).matches("workload\\s+shape\\s+backend\\s+threads\\s+samples\\s+median\\s+per step"),
                () -> "header: " + lines.get(0));
        List<String> rows = lines.stream().filter(l -> l.startsWith("W4 ")).toList();
        assertFalse(rows.isEmpty(), () -> "no W4 row in:\n" + r.out());
        assertTrue(rows.stream().anyMatch(l -> l.matches("W4\\s+1x50x32->128\\s+java\\s+\\d+\\s+\\d+.*µs")),
                () -> "no java row for W4 in:\n" + r.out());
        assertTrue(rows.stream().allMatch(l -> l.matches(".*\\s\\d+\\.\\d+ (µs|ms)\\s+\\d+\\.\\d+ µs")),
                () -> "rows without median and per-step times:\n" + r.out());
        assertTrue(r.out().contains("JMH (jmh/run-comparison"), r.out());
        assertTrue(r.err().contains("[####################] done"), () -> "progress bar: " + r.err());
        assertTrue(seconds < 10, "took " + seconds + " s with a 2 s budget");
    }

    @Test
    void jsonHasOneObjectPerRun() throws Exception {
        Result r = jlstm("bench", "--workloads", "W4", "--backends", "java", "--seconds", "0.5", "--json");
        assertEquals(0, r.code(), () -> "bench failed:\n" + r.err());
        JsonNode runs = new ObjectMapper().readTree(r.out());
        assertEquals(1, runs.size(), r.out());
        JsonNode run = runs.get(0);
        assertEquals("W4", run.path("workload").asText());
        assertEquals("java", run.path("backend").asText());
        assertTrue(run.path("medianMicros").asDouble() > 0, r.out());
        assertEquals(run.path("medianMicros").asDouble() / 50, run.path("perStepMicros").asDouble(), 1e-9);
    }

    @Test
    void unknownWorkloadIsAUsageError() {
        Result r = jlstm("bench", "--workloads", "W9");
        assertEquals(Main.EXIT_USAGE, r.code());
        assertTrue(r.err().contains("unknown workload 'W9'"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }
}
