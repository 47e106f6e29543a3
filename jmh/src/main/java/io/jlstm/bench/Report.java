package io.jlstm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jlstm.bench.Workloads.Workload;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import javax.imageio.ImageIO;

/**
 * Turns a JMH JSON result file of {@link WorkloadBenchmark} and {@link RooflineBenchmark} into a
 * markdown table (jlstm vs ONNX Runtime per workload and thread count, with issue 3's target
 * ratios) and a PNG bar chart of the same ratios. Runs headless.
 *
 * <pre>
 * java -cp jmh/target/classes:$(cat jmh/target/classpath.txt) io.jlstm.bench.Report results.json OUT_DIR
 * </pre>
 * writes {@code OUT_DIR/results.md} and {@code OUT_DIR/results.png}. Missing trials (a failed
 * engine, a filtered run) show as "—" and are left out of the chart.
 */
public final class Report {

    static final String JAVA = "jlstm-java";
    static final String OPENBLAS = "jlstm-openblas";
    static final String BF16 = "jlstm-java-bf16";
    static final String ORT = "onnxruntime";
    static final List<String> ENGINES = List.of(JAVA, OPENBLAS, BF16, ORT);

    /**
     * One JMH result: time per op in microseconds (the median of a sample-time run, else the
     * score), the mean, and bytes allocated per op when -prof gc ran.
     */
    record Trial(String benchmark, Map<String, String> params, double micros, double meanMicros, double errorMicros,
                 Double bytesPerOp) {
        String param(String name) {
            return params.getOrDefault(name, "");
        }
    }

    /**
     * One row of the table: a workload at a thread count, median and mean time per engine in µs
     * (of the engine's trial with the lowest median, when it ran several), and how many trials
     * each engine ran.
     */
    record Row(Workload workload, int threads, Map<String, Double> micros, Map<String, Double> meanMicros,
               Map<String, Double> bytesPerOp, Map<String, Integer> trials) {
        Optional<Map.Entry<String, Double>> bestJlstm() {
            return best(micros);
        }

        Double ort() {
            return micros.get(ORT);
        }

        /** Best fp32 jlstm / ONNX Runtime, from the medians. */
        Double ratio() {
            return bestJlstm().isPresent() && ort() != null ? bestJlstm().get().getValue() / ort() : null;
        }

        /**
         * The same ratio from the means (of the engine that is best by median), which the
         * neighbours' bursts on a shared machine pull up.
         */
        Double meanRatio() {
            Optional<Map.Entry<String, Double>> b = bestJlstm();
            Double mean = b.isPresent() ? meanMicros.get(b.get().getKey()) : null;
            Double o = meanMicros.get(ORT);
            return mean != null && o != null ? mean / o : null;
        }

        private static Optional<Map.Entry<String, Double>> best(Map<String, Double> times) {
            // fp32 engines only: the bf16 weights have their own target (below)
            return times.entrySet().stream().filter(e -> !e.getKey().equals(ORT) && !e.getKey().equals(BF16))
                    .min(Map.Entry.comparingByValue());
        }
    }

    private Report() {
    }

    public static void main(String[] args) throws IOException {
        System.setProperty("java.awt.headless", "true");
        if (args.length >= 2 && args[0].equals("--merge")) {
            merge(Path.of(args[1]), java.util.Arrays.stream(args, 2, args.length).map(Path::of).toList());
            return;
        }
        if (args.length != 2 && args.length != 3) {
            System.err.println("usage: Report RESULTS.json OUT_DIR [ALLOCATION.json]\n"
                    + "       Report --merge OUT.json PART.json...");
            System.exit(2);
        }
        List<Trial> trials = read(Path.of(args[0]));
        List<Trial> allocation = List.of();
        if (args.length == 3) {
            Path a = Path.of(args[2]);
            if (Files.exists(a) && Files.size(a) > 0) {
                allocation = read(a);
            } else {
                System.err.println("Report: no allocation results in " + a + " (its run failed?): no bytes per op");
            }
        }
        Path out = Path.of(args[1]);
        Files.createDirectories(out);
        String machine = machine();
        String date = LocalDate.now().toString();
        List<Row> rows = rows(trials, allocation);
        Files.writeString(out.resolve("results.md"), markdown(rows, trials, machine, date, jdk(args[0])));
        ImageIO.write(chart(rows, "jlstm vs ONNX Runtime, time per call (ONNX Runtime = 1.0) — " + machine + ", " + date),
                "png", out.resolve("results.png").toFile());
        System.out.println("wrote " + out.resolve("results.md") + " and " + out.resolve("results.png"));
    }

    // ------------------------------------------------------------------ reading

    /**
     * Writes the results of several JMH runs (each a JSON array) as one array to {@code out},
     * through a temporary file renamed into place. A part that is not a JSON array is an error
     * naming it; an empty or missing part (a run that failed) contributes nothing.
     */
    static void merge(Path out, List<Path> parts) throws IOException {
        ObjectMapper json = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ArrayNode all = json.createArrayNode();
        for (Path part : parts) {
            if (!Files.exists(part) || Files.size(part) == 0) {
                System.err.println("merge: no results in " + part + " (its run failed?)");
                continue;
            }
            JsonNode node = json.readTree(part.toFile());
            if (node == null || !node.isArray()) {
                throw new IOException("merge: " + part + " is not a JMH JSON result array (found "
                        + (node == null ? "nothing" : node.getNodeType()) + ")");
            }
            node.forEach(all::add);
        }
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        try {
            json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), all);
            Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    static List<Trial> read(Path json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        List<Trial> trials = new ArrayList<>();
        for (JsonNode n : root) {
            String bench = n.path("benchmark").asText();
            Map<String, String> params = new TreeMap<>();
            n.path("params").properties().forEach(e -> params.put(e.getKey(), e.getValue().asText()));
            JsonNode pm = n.path("primaryMetric");
            double scale = toMicros(pm.path("scoreUnit").asText());
            double err = pm.path("scoreError").asDouble(Double.NaN);
            JsonNode gc = n.path("secondaryMetrics").path("gc.alloc.rate.norm");
            boolean sampled = n.path("mode").asText().equals("sample");
            // not from sample time: JMH's own sampling allocates (W1: 3.6 B/op there, 0.14 in average time)
            Double bytes = gc.isMissingNode() || sampled ? null : gc.path("score").asDouble();
            double mean = pm.path("score").asDouble() * scale;
            // sample time: the median per call, as issue 3 quotes ONNX Runtime's figures
            JsonNode median = pm.path("scorePercentiles").path("50.0");
            double micros = sampled && !median.isMissingNode()
                    ? median.asDouble() * scale : mean;
            trials.add(new Trial(bench.substring(bench.lastIndexOf('.', bench.lastIndexOf('.') - 1) + 1), params,
                    micros, mean, err * scale, bytes));
        }
        return trials;
    }

    private static double toMicros(String unit) {
        return switch (unit) {
            case "ns/op" -> 1e-3;
            case "us/op" -> 1;
            case "ms/op" -> 1e3;
            case "s/op" -> 1e6;
            default -> throw new IllegalArgumentException("unexpected JMH unit " + unit + " (run in SampleTime or AverageTime mode)");
        };
    }

    static List<Row> rows(List<Trial> trials) {
        return rows(trials, List.of());
    }

    /**
     * The table's rows: times from {@code trials}, bytes per op from those of them that measured
     * it and from {@code allocation} (an average-time run of the same benchmark with -prof gc).
     */
    static List<Row> rows(List<Trial> trials, List<Trial> allocation) {
        Map<String, Row> rows = new LinkedHashMap<>();
        for (Workload w : Workload.values()) {
            for (int t = 1; t <= 2; t++) {
                rows.put(w.name() + "/" + t, new Row(w, t, new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>(),
                        new LinkedHashMap<>()));
            }
        }
        for (Trial tr : trials) {
            if (!tr.benchmark().equals("WorkloadBenchmark.run")) {
                continue;
            }
            Row r = rows.get(tr.param("workload") + "/" + tr.param("threads"));
            if (r != null) {
                String e = tr.param("engine");
                r.trials().merge(e, 1, Integer::sum);
                // several rounds: the engine's trial with the lowest median (its mean with it)
                Double seen = r.micros().get(e);
                if (seen == null || tr.micros() < seen) {
                    r.micros().put(e, tr.micros());
                    r.meanMicros().put(e, tr.meanMicros());
                }
                if (tr.bytesPerOp() != null) {
                    r.bytesPerOp().put(e, tr.bytesPerOp());
                }
            }
        }
        for (Trial tr : allocation) {
            Row r = rows.get(tr.param("workload") + "/" + tr.param("threads"));
            if (tr.benchmark().equals("WorkloadBenchmark.run") && r != null && tr.bytesPerOp() != null) {
                r.bytesPerOp().put(tr.param("engine"), tr.bytesPerOp());
            }
        }
        return rows.values().stream().filter(r -> !r.micros().isEmpty()).toList();
    }

    /** Issue 3's target for best-jlstm / ONNX Runtime time at equal threads. */
    static double target(Workload w, int threads) {
        return switch (w) {
            case W1 -> threads == 1 ? 0.55 : 0.45;
            case W2, W2x2 -> threads == 1 ? 0.85 : 0.95;
            case W3 -> 1.0;
            case W4 -> 0.6;
        };
    }

    // ------------------------------------------------------------------ markdown

    /** How many trials each engine ran per row, and which of them the table shows. */
    static String roundsText(List<Row> rows) {
        int most = rows.stream().flatMap(r -> r.trials().values().stream()).max(Integer::compare).orElse(1);
        if (most < 2) {
            return "Each engine ran one trial (one fork) per row. ";
        }
        return "Each engine ran " + most + " trials (forks) per row, in " + most + " rounds of all workloads, the engines "
                + "of a row back to back in each: the table shows each engine's trial with the lower median, for every "
                + "engine alike (a neighbour's burst or a JIT compilation that has not settled slows one trial, not "
                + "an engine). ";
    }

    static String markdown(List<Row> rows, List<Trial> trials, String machine, String date, String jdk) {
        Ceilings ceilings = ceilings(trials);
        StringBuilder md = new StringBuilder();
        md.append("## jlstm vs ONNX Runtime (").append(date).append(")\n\n");
        md.append("Machine: ").append(machine).append("; ").append(jdk)
                .append("; ONNX Runtime 1.22.0 (Java, CPU). Time per call: the median of ")
                .append("JMH's sample time, as the issue quotes ONNX Runtime's figures; the targets are judged on it. ")
                .append(roundsText(rows))
                .append("The ratio of the means is shown beside it: other tenants of this shared machine slow some calls ")
                .append("by half or more, which pulls the means up. ")
                .append("W1 is one streaming step; the others one predict of the whole input.\n\n");
        md.append("| workload | threads | jlstm-java | jlstm-openblas | jlstm-java-bf16 | onnxruntime | best fp32 jlstm / onnxruntime | of the means | target | met |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (Row r : rows) {
            Double ratio = r.ratio();
            double target = target(r.workload(), r.threads());
            md.append("| ").append(r.workload()).append(" | ").append(r.threads());
            for (String e : ENGINES) {
                md.append(" | ").append(time(r.micros().get(e)));
            }
            md.append(" | ").append(ratio == null ? "—" : String.format(Locale.ROOT, "%.2f× (%s)", ratio,
                    r.bestJlstm().get().getKey().substring("jlstm-".length())));
            Double meanRatio = r.meanRatio();
            md.append(" | ").append(meanRatio == null ? "—" : String.format(Locale.ROOT, "%.2f×", meanRatio));
            md.append(" | ≤ ").append(String.format(Locale.ROOT, "%.2f×", target));
            md.append(" | ").append(ratio == null ? "—" : verdict(ratio, target,
                    floorRatio(r, r.bestJlstm().get().getKey(), ceilings), Report::ratio)).append(" |\n");
        }

        md.append("\nbf16 weights (opt-in, `-Djlstm.weights=bf16`) against ONNX Runtime's fp32 time, target ≤ 0.50× for W1 and W2:\n\n");
        md.append("| workload | threads | jlstm-java-bf16 | onnxruntime | ratio | of the means | met |\n|---|---:|---:|---:|---:|---:|---|\n");
        for (Row r : rows) {
            Double b = r.micros().get(BF16);
            if (b == null || r.ort() == null || (r.workload() != Workload.W1 && r.workload() != Workload.W2)) {
                continue;
            }
            double q = b / r.ort();
            double qMean = r.meanMicros().get(BF16) / r.meanMicros().get(ORT);
            md.append("| ").append(r.workload()).append(" | ").append(r.threads()).append(" | ").append(time(b))
                    .append(" | ").append(time(r.ort())).append(" | ").append(String.format(Locale.ROOT, "%.2f×", q))
                    .append(" | ").append(String.format(Locale.ROOT, "%.2f×", qMean))
                    .append(" | ").append(verdict(q, 0.5, floorRatio(r, BF16, ceilings), Report::ratio)).append(" |\n");
        }

        md.append("\nTwo threads never slower than one (best jlstm engine at each count):\n\n");
        md.append("| workload | 1 thread | 2 threads | met |\n|---|---:|---:|---|\n");
        for (Workload w : Workload.values()) {
            Optional<Row> one = rows.stream().filter(r -> r.workload() == w && r.threads() == 1).findFirst();
            Optional<Row> two = rows.stream().filter(r -> r.workload() == w && r.threads() == 2).findFirst();
            if (one.isEmpty() || two.isEmpty() || one.get().bestJlstm().isEmpty() || two.get().bestJlstm().isEmpty()) {
                continue;
            }
            double t1 = one.get().bestJlstm().get().getValue();
            double t2 = two.get().bestJlstm().get().getValue();
            md.append("| ").append(w).append(" | ").append(time(t1)).append(" | ").append(time(t2))
                    .append(" | ").append(t2 <= t1 ? "yes" : "no").append(" |\n");
        }

        List<String> alloc = new ArrayList<>();
        for (Row r : rows) {
            if (r.workload() == Workload.W1) {
                for (String e : List.of(JAVA, OPENBLAS)) {
                    Double b = r.bytesPerOp().get(e);
                    if (b != null) {
                        alloc.add(String.format(Locale.ROOT, "%s %d thread%s: %.1f B/op", e, r.threads(),
                                r.threads() == 1 ? "" : "s", b));
                    }
                }
            }
        }
        if (!alloc.isEmpty()) {
            md.append("\nW1 allocation (`-prof gc` in a short average-time run, as JMH's sample time allocates itself; target 0 B/op): ").append(String.join("; ", alloc)).append(".\n");
        }

        md.append(roofline(rows, trials));
        md.append("\nNotes: ONNX Runtime runs W1 as a sequence of length 1 from zero state (the exported graph ")
                .append("has no state inputs): the same arithmetic per step, the state is not carried. ")
                .append("jlstm's 2-thread rows set `jlstm.threads=2`: a batch-1 LSTM runs as two halves of its units, ")
                .append("one per thread (each with all four gates of its half), batches as two halves of their rows, ")
                .append("and OpenBLAS gets two threads. Ratios come from one run on a shared machine: treat ")
                .append("differences under ~10 % as noise (ONNX Runtime's own times moved by 20 % and more between runs here).\n");
        return md.toString();
    }

    /**
     * This machine's limits from the roofline trials of the same run: GFLOP/s of sgemm and GB/s of
     * the reads and gemvs, per thread count (the read rates keyed by the bytes read). With several
     * trials of one benchmark, the fastest.
     */
    record Ceilings(Map<Integer, Double> sgemmGflops, Map<Integer, Double> blasGemvGbs, Double javaGemvGbs,
                    Map<Long, Map<Integer, Double>> readGbs, Double handoffMicros) {

        boolean isEmpty() {
            return sgemmGflops.isEmpty() && blasGemvGbs.isEmpty() && javaGemvGbs == null && readGbs.isEmpty()
                    && handoffMicros == null;
        }

        /**
         * An upper bound on the GB/s of reading a matrix of {@code bytes} forward and backward in
         * turn at {@code threads}: the measured read over the largest measured size no larger than
         * it (a smaller matrix keeps more of itself in L2 between reads, so it reads at least as
         * fast), else the fastest read measured; null when none ran at that thread count.
         */
        Double readFor(double bytes, int threads) {
            Double rate = null;
            double fastest = 0;
            for (var e : readGbs.entrySet()) {
                Double g = e.getValue().get(threads);
                if (g != null) {
                    fastest = Math.max(fastest, g);
                    if (e.getKey() <= bytes + 0.5) {
                        rate = g;
                    }
                }
            }
            return rate != null ? rate : fastest > 0 ? fastest : null;
        }

        /** A read size in bytes as a label. */
        static String sizeLabel(long size) {
            return size >= 1 << 20 ? (size >> 20) + " MiB" : (size >> 10) + " KiB";
        }
    }

    static Ceilings ceilings(List<Trial> trials) {
        Map<Integer, Double> sgemm = new TreeMap<>();
        Map<Integer, Double> blasGemv = new TreeMap<>();
        Map<Integer, Double> javaGemv = new TreeMap<>();
        Map<Long, Map<Integer, Double>> read = new TreeMap<>();
        Double handoff = null;
        double gemvBytes = (double) RooflineBenchmark.GEMV_ROWS * RooflineBenchmark.GEMV_COLS * Float.BYTES;
        double n = RooflineBenchmark.GEMM_N;
        for (Trial t : trials) {
            String name = t.benchmark();
            if (!name.startsWith("RooflineBenchmark.")) {
                continue;
            }
            name = name.substring("RooflineBenchmark.".length());
            double ms = t.micros() * 1e3; // ns: bytes / ns = GB/s
            switch (name) {
                case "sgemm2048" -> sgemm.merge(Integer.parseInt(t.param("threads")), 2 * n * n * n / ms, Math::max);
                case "openblasGemv4MB" -> blasGemv.merge(Integer.parseInt(t.param("threads")), gemvBytes / ms, Math::max);
                case "javaGemv4MB" -> javaGemv.merge(1, gemvBytes / ms, Math::max);
                case "handoff" -> handoff = handoff == null ? t.micros() : Math.min(handoff, t.micros());
                default -> {
                    // readNNMB_Tt / readNNKB_Tt: a 2-thread op reads half the bytes on each of two threads at once
                    var m = java.util.regex.Pattern.compile("read(\\d+)(MB|KB)_(\\d)t").matcher(name);
                    if (m.matches()) {
                        long bytes = Long.parseLong(m.group(1)) << (m.group(2).equals("MB") ? 20 : 10);
                        long perOp = bytes * readPasses(bytes);
                        read.computeIfAbsent(bytes, k -> new TreeMap<>())
                                .merge(Integer.parseInt(m.group(3)), perOp / ms, Math::max);
                    }
                }
            }
        }
        return new Ceilings(sgemm, blasGemv, javaGemv.get(1), read, handoff);
    }

    /**
     * What a call cannot beat at {@code threads}, from this run's ceilings, in µs, with the
     * weights in 32 bits or (bf16) 16 bits; null without the ceilings it needs. Per layer, the
     * longer of two times (a kernel could overlap them): the weight bytes it must read at the read
     * rate (the recurrent kernel for each of the T − 1 products from a zero state, the first being
     * zero; W1's one step reads its input kernel too), and all its flops (those products and the
     * input projection of the T steps) at the sgemm rate. A batch (W3) is its flops at the sgemm rate.
     */
    static Double floorMicros(Workload w, int threads, boolean bf16, Ceilings c) {
        Double sgemm = c.sgemmGflops().get(threads);
        if (sgemm == null) {
            return null;
        }
        if (w.batch > 1) {
            return w.flops() / sgemm / 1e3;
        }
        double bytesPerWeight = bf16 ? 2 : Float.BYTES;
        double ns = 0;
        int features = w.inputs;
        for (int l = 0; l < w.layers; l++) {
            double gates = 4.0 * w.hidden;
            if (w.streaming()) {
                double weights = (features + (double) w.hidden) * gates;
                Double read = c.readFor(weights * bytesPerWeight, threads);
                if (read == null) {
                    return null;
                }
                ns += Math.max(weights * bytesPerWeight / read, 2 * weights / sgemm);
            } else {
                double recurrent = (double) w.hidden * gates;
                Double read = c.readFor(recurrent * bytesPerWeight, threads);
                if (read == null) {
                    return null;
                }
                double flops = 2 * recurrent * (w.steps - 1) + 2.0 * w.steps * features * gates;
                ns += Math.max((w.steps - 1) * recurrent * bytesPerWeight / read, flops / sgemm);
            }
            features = w.hidden;
        }
        return ns / 1e3;
    }

    /**
     * Row {@code r}'s floor for weights in bf16 or not, when no engine with such weights (for
     * float32 ONNX Runtime too) measured faster than it; null otherwise: a ceiling that a
     * measurement beat (the 2048³ sgemm is not the fastest GEMM possible) rules nothing out.
     */
    static Double standingFloor(Row r, boolean bf16, Ceilings c) {
        Double floor = floorMicros(r.workload(), r.threads(), bf16, c);
        if (floor == null) {
            return null;
        }
        for (String e : bf16 ? List.of(BF16) : List.of(JAVA, OPENBLAS, ORT)) {
            Double t = r.micros().get(e);
            if (t != null && t < floor) {
                return null;
            }
        }
        return floor;
    }

    /** Row {@code r}'s standing floor for {@code engine}'s weights as a ratio to ONNX Runtime's time, or null. */
    static Double floorRatio(Row r, String engine, Ceilings c) {
        Double floor = standingFloor(r, engine.equals(BF16), c);
        return floor == null || r.ort() == null ? null : floor / r.ort();
    }

    /** The verdict on a time against its target time and floor: yes, out of reach (the floor is above the target), or no. */
    static String verdict(double value, double target, Double floor, java.util.function.DoubleFunction<String> format) {
        if (value <= target) {
            return "yes";
        }
        return floor != null && floor > target ? "out of reach (floor " + format.apply(floor) + ")" : "no";
    }

    static String ratio(double r) {
        return String.format(Locale.ROOT, "%.2f×", r);
    }

    /**
     * How many times one op of {@link RooflineBenchmark}'s reads sums its {@code bytes}: once, or
     * for a read of at most {@link RooflineBenchmark#READ_L1} as many times as make
     * {@link RooflineBenchmark#READ_SMALL}, so that the op's fixed cost (the final reduction,
     * JMH's own call) weighs on it as on the 256 KiB read. Here and not in the benchmark, which
     * needs the Vector API: the report runs without it.
     */
    static long readPasses(long bytes) {
        return bytes <= RooflineBenchmark.READ_L1 ? RooflineBenchmark.READ_SMALL / bytes : 1;
    }

    /** The ceilings of this machine, measured in the same run, and each row's floor from them. */
    static String roofline(List<Row> rows, List<Trial> trials) {
        Ceilings c = ceilings(trials);
        if (c.isEmpty()) {
            return "";
        }
        StringBuilder md = new StringBuilder("\nRoofline, measured in the same run (its own JMH invocation, just before the workloads):\n\n");
        c.sgemmGflops().forEach((t, g) -> md.append(String.format(Locale.ROOT,
                "- OpenBLAS sgemm 2048³, %d thread%s: %.1f GFLOP/s%n", t, t == 1 ? "" : "s", g)));
        if (c.javaGemvGbs() != null) {
            md.append(String.format(Locale.ROOT, "- Java kernel gemv (transposed) over 4 MiB, 1 thread: %.1f GB/s%n",
                    c.javaGemvGbs()));
        }
        c.blasGemvGbs().forEach((t, g) -> md.append(String.format(Locale.ROOT,
                "- OpenBLAS sgemv (transposed) over 4 MiB, %d thread%s: %.1f GB/s%n", t, t == 1 ? "" : "s", g)));
        c.readGbs().forEach((bytes, perThreads) -> perThreads.forEach((t, g) -> md.append(String.format(Locale.ROOT,
                "- Read bandwidth over %s, forward and backward in turn, %d thread%s: %.1f GB/s%s%n",
                Ceilings.sizeLabel(bytes), t, t == 1 ? "" : "s", g, readPasses(bytes) > 1
                        ? " (stays in L1, read " + readPasses(bytes) + " times an op; no workload's weights are this"
                          + " small, so no floor uses it: set against the next size, it shows how much faster L1"
                          + " feeds the core than L2)"
                        : ""))));
        if (c.handoffMicros() != null) {
            md.append(String.format(Locale.ROOT, "- Hand-off between two threads, a flag set by one and seen by the other "
                    + "and back: %.2f µs round trip (a batch-1 step split across two threads waits for one one-way "
                    + "hand-off, the other's half of h)%n", c.handoffMicros()));
        }

        md.append("\nFloors: the least time a call can take here (see below), against the target time ")
                .append("(the target ratio times ONNX Runtime's median) and the best jlstm engine:\n\n")
                .append("| workload | weights | threads | floor | target time | best jlstm | floor / best | met |\n")
                .append("|---|---|---:|---:|---:|---:|---:|---|\n");
        for (Row r : rows) {
            Double ort = r.ort();
            List<Map.Entry<String, Double>> entries = new ArrayList<>();
            r.bestJlstm().ifPresent(entries::add);
            Double b16 = r.micros().get(BF16);
            boolean bf16Target = r.workload() == Workload.W1 || r.workload() == Workload.W2;
            if (b16 != null && bf16Target) {
                entries.add(Map.entry(BF16, b16));
            }
            for (Map.Entry<String, Double> e : entries) {
                boolean bf16 = e.getKey().equals(BF16);
                Double floor = floorMicros(r.workload(), r.threads(), bf16, c);
                Double standing = standingFloor(r, bf16, c);
                double ratio = bf16 ? 0.5 : target(r.workload(), r.threads());
                Double targetMicros = ort == null ? null : ratio * ort;
                md.append("| ").append(r.workload()).append(" | ").append(bf16 ? "bf16" : "fp32").append(" | ")
                        .append(r.threads()).append(" | ").append(time(floor))
                        .append(floor != null && standing == null ? " (beaten)" : "").append(" | ").append(time(targetMicros))
                        .append(" | ").append(time(e.getValue())).append(" (").append(e.getKey().substring("jlstm-".length()))
                        .append(") | ").append(floor == null ? "—" : String.format(Locale.ROOT, "%.0f %%", 100 * floor / e.getValue()))
                        .append(" | ").append(targetMicros == null ? "—" : verdict(e.getValue(), targetMicros, standing, f -> time(f)))
                        .append(" |\n");
            }
        }
        md.append("\nA floor is, per layer, the longer of its weight bytes at the read rate (the recurrent kernel for ")
                .append("each of the T − 1 products from a zero state, the first being zero; W1's one step reads its input ")
                .append("kernel too) and all its flops (those products and the input projection of the T steps) at the ")
                .append("sgemm rate; W3, a batch of 64, is its flops at the sgemm rate, so its floor / best is its fraction ")
                .append("of sgemm (target ≥ 90 %). The read rate is the one measured over the largest matrix no larger than ")
                .append("the weights, read forward and backward in turn as the kernels stream them, so that part of it stays ")
                .append("in the L2 of each core");
        long l2 = l2Bytes();
        if (l2 > 0) {
            md.append(" (").append(l2 >> 10).append(" KiB here)");
        }
        md.append(". A target time below the floor is out of reach on this machine in that run, unless some engine ")
                .append("with the same weights measured faster than the floor (marked beaten): then the floor proves nothing.\n");
        return md.toString();
    }

    /** A sysfs cache size ("1024K", "2M", "512") in bytes. */
    static long cacheSize(String text) {
        String size = text.strip();
        long scale = size.endsWith("K") ? 1024 : size.endsWith("M") ? 1024 * 1024 : 1;
        return Long.parseLong(size.replaceAll("[KM]$", "")) * scale;
    }

    /** The level-2 cache of CPU 0 in bytes (Linux sysfs), or 0 when unknown. */
    static long l2Bytes() {
        try {
            for (int i = 0; i < 8; i++) {
                Path dir = Path.of("/sys/devices/system/cpu/cpu0/cache/index" + i);
                if (!Files.isDirectory(dir)) {
                    break;
                }
                if (Files.readString(dir.resolve("level")).strip().equals("2")) {
                    return cacheSize(Files.readString(dir.resolve("size")));
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or not readable: the size is only a label.
        }
        return 0;
    }

    static String time(Double micros) {
        if (micros == null) {
            return "—";
        }
        if (micros >= 1000) {
            return String.format(Locale.ROOT, "%.2f ms", micros / 1000);
        }
        return String.format(Locale.ROOT, micros >= 100 ? "%.0f µs" : "%.1f µs", micros);
    }

    // ------------------------------------------------------------------ chart

    private static final Color[] COLORS = {new Color(0x3b6fb6), new Color(0x48a868), new Color(0xe0a030),
            new Color(0x999999)};

    /**
     * Grouped bars per (workload, threads), each engine's time divided by ONNX Runtime's, on a
     * log scale (the engines differ by orders of magnitude while work is in progress); a red dash
     * marks the target ratio. Below the 1.0 line means faster than ONNX Runtime.
     */
    static BufferedImage chart(List<Row> rows, String title) {
        List<Row> shown = rows.stream().filter(r -> r.ort() != null).toList();
        int width = Math.max(900, 110 * shown.size() + 140);
        int height = 560;
        int left = 70;
        int right = 20;
        int top = 70;
        int bottom = 80;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, left, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString("log scale; below 1.0 = faster than ONNX Runtime; red dash = issue 3 target", left, 48);

        double lo = 0.1;
        double hi = 10;
        for (Row r : shown) {
            for (Double v : r.micros().values()) {
                double ratio = v / r.ort();
                lo = Math.min(lo, ratio);
                hi = Math.max(hi, ratio);
            }
        }
        double logLo = Math.floor(Math.log10(lo));
        double logHi = Math.ceil(Math.log10(hi));
        int plotH = height - top - bottom;
        int plotW = width - left - right;
        java.util.function.DoubleToIntFunction y =
                v -> top + (int) Math.round(plotH * (logHi - Math.log10(v)) / (logHi - logLo));

        for (int e = (int) logLo; e <= (int) logHi; e++) {
            double v = Math.pow(10, e);
            int yy = y.applyAsInt(v);
            g.setColor(e == 0 ? Color.BLACK : new Color(0xdddddd));
            g.setStroke(new BasicStroke(e == 0 ? 1.5f : 1f));
            g.drawLine(left, yy, width - right, yy);
            g.setColor(Color.BLACK);
            String label = e >= 0 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%." + (-e) + "f", v);
            g.drawString(label + "×", left - 8 - g.getFontMetrics().stringWidth(label + "×"), yy + 4);
        }

        int groups = Math.max(1, shown.size());
        double groupW = (double) plotW / groups;
        int barW = (int) Math.min(28, (groupW - 16) / ENGINES.size());
        FontMetrics fm = g.getFontMetrics();
        for (int i = 0; i < shown.size(); i++) {
            Row r = shown.get(i);
            int x0 = left + (int) (i * groupW + (groupW - barW * ENGINES.size()) / 2);
            int base = y.applyAsInt(Math.pow(10, logLo));
            for (int e = 0; e < ENGINES.size(); e++) {
                Double v = r.micros().get(ENGINES.get(e));
                if (v == null) {
                    continue;
                }
                double ratio = v / r.ort();
                int yy = y.applyAsInt(ratio);
                g.setColor(COLORS[e]);
                g.fillRect(x0 + e * barW, yy, barW - 2, base - yy);
                if (e < 2) {
                    g.setColor(Color.BLACK);
                    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
                    String s = ratio >= 10 ? String.format(Locale.ROOT, "%.0f", ratio) : String.format(Locale.ROOT, "%.2f", ratio);
                    g.drawString(s, x0 + e * barW + (barW - 2 - g.getFontMetrics().stringWidth(s)) / 2, yy - 3);
                }
            }
            int ty = y.applyAsInt(target(r.workload(), r.threads()));
            g.setColor(Color.RED);
            g.setStroke(new BasicStroke(2.5f));
            g.drawLine(x0 - 4, ty, x0 + barW * ENGINES.size() + 2, ty);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            fm = g.getFontMetrics();
            String l1 = r.workload() + " · " + r.threads() + "t";
            String l2 = "ORT " + time(r.ort());
            int cx = left + (int) (i * groupW + groupW / 2);
            g.drawString(l1, cx - fm.stringWidth(l1) / 2, height - bottom + 18);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
            g.drawString(l2, cx - g.getFontMetrics().stringWidth(l2) / 2, height - bottom + 32);
        }

        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int lx = left;
        int ly = height - 22;
        for (int e = 0; e < ENGINES.size(); e++) {
            g.setColor(COLORS[e]);
            g.fillRect(lx, ly - 10, 12, 12);
            g.setColor(Color.BLACK);
            g.drawString(ENGINES.get(e), lx + 16, ly);
            lx += 30 + g.getFontMetrics().stringWidth(ENGINES.get(e));
        }
        g.dispose();
        return img;
    }

    // ------------------------------------------------------------------ machine

    static String machine() {
        String cpu = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim().replaceAll("\\s+", " ");
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or not readable: the name is only a label.
        }
        int cores = Runtime.getRuntime().availableProcessors();
        return cpu + ", " + cores + " CPU" + (cores == 1 ? "" : "s");
    }

    private static String jdk(String json) {
        try {
            JsonNode root = new ObjectMapper().readTree(Path.of(json).toFile());
            if (root.size() > 0) {
                return "JDK " + root.get(0).path("jdkVersion").asText() + ", JMH " + root.get(0).path("jmhVersion").asText();
            }
        } catch (IOException e) {
            // Fall through: the label is optional.
        }
        return "JDK " + Runtime.version();
    }
}
