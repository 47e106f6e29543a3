package io.jlstm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.jlstm.Sequential;
import io.jlstm.StreamingSession;
import io.jlstm.Tensor;
import io.jlstm.backend.Backend;
import io.jlstm.backend.Backends;
import io.jlstm.backend.OpenBlasBackend;
import io.jlstm.layers.LstmSpec;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code jlstm bench}: the workloads of the benchmark suite (issue 3) on this machine, on each
 * jlstm backend, within a time budget. For each workload and backend it warms up, then times
 * calls with {@link System#nanoTime()} (several calls per sample when one call is short) and
 * reports the median. A quick look only: JMH ({@code jmh/run-comparison}), with ONNX Runtime in
 * the same run, is the source of truth.
 *
 * <p>Sets the system property {@code jlstm.threads} and OpenBLAS's thread count while it runs
 * when {@code --threads} is given, and puts both back afterwards.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Time the standard LSTM workloads on this machine with each jlstm backend (under a minute).",
                "A quick look: jmh/run-comparison (JMH, with ONNX Runtime in the same run) is the source of truth.",
                "Workloads: W1 streaming step 1x1x64->256; W2 1x100x128->512; W2x2 the same, two layers;",
                "W3 64x100x128->512; W4 1x50x32->128 (batch x steps x inputs -> units)."})
final class BenchCommand implements Callable<Integer> {

    /** A workload of the benchmark suite; the same table as jmh's io.jlstm.bench.Workloads. */
    record Workload(String name, int batch, int steps, int inputs, int hidden, int layers) {
        boolean streaming() {
            return name.equals("W1");
        }

        String shape() {
            return batch + "x" + steps + "x" + inputs + "->" + hidden + (layers > 1 ? " x" + layers + " layers" : "");
        }
    }

    static final List<Workload> WORKLOADS = List.of(
            new Workload("W1", 1, 1, 64, 256, 1),
            new Workload("W2", 1, 100, 128, 512, 1),
            new Workload("W2x2", 1, 100, 128, 512, 2),
            new Workload("W3", 64, 100, 128, 512, 1),
            new Workload("W4", 1, 50, 32, 128, 1));

    static final String THREADS_PROPERTY = "jlstm.threads";
    private static final long SEED = 42;
    /** A timed sample lasts at least this long, so that nanoTime's granularity does not matter. */
    private static final long MIN_SAMPLE_NANOS = 1_000_000;
    /** At least this many samples per workload, even past the budget. */
    private static final int MIN_SAMPLES = 3;
    private static final int BAR_WIDTH = 20;

    @Spec
    private CommandSpec spec;

    @Option(names = "--workloads", split = ",", paramLabel = "LIST",
            description = "Workloads to run, from W1, W2, W2x2, W3, W4 (default: all).")
    private List<String> workloadNames;

    @Option(names = "--backends", split = ",", paramLabel = "LIST",
            description = "Backends to run: java, openblas (default: both; openblas is skipped with a note if it cannot load).")
    private List<String> backendNames;

    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for the backends (sets jlstm.threads and OpenBLAS's thread count; default: as configured).")
    private Integer threads;

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "30",
            description = "Time budget in seconds, shared by all runs (default: ${DEFAULT-VALUE}); each run still takes "
                    + MIN_SAMPLES + " samples.")
    private double seconds;

    @Option(names = "--json", description = "Print the results as JSON instead of a table.")
    private boolean json;

    /** One timed run. */
    record Result(String workload, String shape, String backend, int threads, int samples, int callsPerSample,
                  double medianMicros, double perStepMicros) {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<Workload> workloads = workloads();
        if (!(seconds > 0) || seconds > 3600) {
            throw new ParameterException(spec.commandLine(), "--seconds must be in (0, 3600], got " + seconds);
        }
        if (threads != null && threads < 1) {
            throw new ParameterException(spec.commandLine(), "--threads must be >= 1, got " + threads);
        }
        Map<String, Backend> backends = backends(err);

        String oldThreads = System.getProperty(THREADS_PROPERTY);
        Map<OpenBlasBackend, Integer> oldBlasThreads = new LinkedHashMap<>();
        if (threads != null) {
            System.setProperty(THREADS_PROPERTY, threads.toString());
            for (Backend b : backends.values()) {
                if (b instanceof OpenBlasBackend ob) {
                    oldBlasThreads.put(ob, ob.library().numThreads());
                    ob.library().setNumThreads(threads);
                }
            }
        }
        List<Result> results = new ArrayList<>();
        try {
            int runs = workloads.size() * backends.size();
            long sliceNanos = (long) (seconds * 1e9 / runs);
            int done = 0;
            for (Workload w : workloads) {
                for (var b : backends.entrySet()) {
                    Progress progress = new Progress(err, done, runs, w.name() + " " + b.getKey());
                    results.add(run(w, b.getKey(), b.getValue(), sliceNanos, progress));
                    done++;
                }
            }
            new Progress(err, runs, runs, "done").finish();
        } finally {
            if (threads != null) {
                if (oldThreads == null) {
                    System.clearProperty(THREADS_PROPERTY);
                } else {
                    System.setProperty(THREADS_PROPERTY, oldThreads);
                }
                oldBlasThreads.forEach((b, n) -> b.library().setNumThreads(n));
            }
        }

        String note = "jlstm bench is a quick look; JMH (jmh/run-comparison, with ONNX Runtime in the same run) "
                + "is the source of truth.";
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(results));
            err.println(note);
        } else {
            printTable(out, results);
            out.println();
            out.println(note);
        }
        return 0;
    }

    private List<Workload> workloads() {
        if (workloadNames == null || workloadNames.isEmpty()) {
            return WORKLOADS;
        }
        List<Workload> chosen = new ArrayList<>();
        for (String name : workloadNames) {
            Workload w = WORKLOADS.stream().filter(x -> x.name().equalsIgnoreCase(name.trim())).findFirst()
                    .orElseThrow(() -> new ParameterException(spec.commandLine(), "unknown workload '" + name
                            + "' (expected " + String.join(", ", WORKLOADS.stream().map(Workload::name).toList()) + ")"));
            if (!chosen.contains(w)) {
                chosen.add(w);
            }
        }
        return chosen;
    }

    /** The backends by name; a default openblas that cannot load is skipped, a requested one is an error. */
    private Map<String, Backend> backends(PrintWriter err) {
        boolean requested = backendNames != null && !backendNames.isEmpty();
        List<String> names = requested ? backendNames : List.of("java", "openblas");
        Map<String, Backend> backends = new LinkedHashMap<>();
        for (String raw : names) {
            String name = raw.trim().toLowerCase(Locale.ROOT);
            if (!name.equals("java") && !name.equals("openblas")) {
                throw new ParameterException(spec.commandLine(), "unknown backend '" + raw + "' (expected java or openblas)");
            }
            try {
                backends.putIfAbsent(name, Backends.byName(name).backend());
            } catch (IllegalStateException e) {
                if (requested) {
                    throw new UserError(e.getMessage(), e);
                }
                err.println("jlstm bench: skipping openblas: " + e.getMessage());
            }
        }
        return backends;
    }

    /** Warms up (40-70 % of the slice), then takes samples until the slice is spent (at least MIN_SAMPLES). */
    private Result run(Workload w, String backendName, Backend backend, long sliceNanos, Progress progress) {
        long start = System.nanoTime();
        try (Sequential model = model(w, backend)) {
            Random rnd = new Random(SEED + 1);
            float[] x = new float[w.batch() * w.steps() * w.inputs()];
            for (int i = 0; i < x.length; i++) {
                x[i] = rnd.nextFloat() * 2 - 1;
            }
            StreamingSession session = w.streaming() ? model.newSession(w.batch()) : null;
            try {
                float[] out = new float[model.outputFeatures() * w.batch()];
                Tensor input = Tensor.of(x, w.batch(), w.steps(), w.inputs());
                Runnable call = session != null ? () -> session.step(x, out) : () -> model.predict(input);

                // Warm up in chunks of ~100 ms until at least 40 % of the slice is spent and the
                // time per call has settled (the Vector API kernels take seconds of C2 compilation),
                // but no longer than 70 % of the slice.
                long warmMin = start + sliceNanos * 2 / 5;
                long warmMax = start + sliceNanos * 7 / 10;
                double perCall = Double.MAX_VALUE;
                while (true) {
                    long calls = 0;
                    long t0 = System.nanoTime();
                    do {
                        call.run();
                        calls++;
                        progress.update(System.nanoTime() - start, sliceNanos);
                    } while (System.nanoTime() - t0 < 100_000_000L);
                    double chunk = (double) (System.nanoTime() - t0) / calls;
                    boolean settled = chunk > 0.9 * perCall;
                    perCall = Math.min(perCall, chunk);
                    long now = System.nanoTime();
                    if (now >= warmMax || (now >= warmMin && settled)) {
                        break;
                    }
                }
                int batch = (int) Math.max(1, Math.min(1_000_000, MIN_SAMPLE_NANOS / perCall));

                List<Double> samples = new ArrayList<>();
                long end = start + sliceNanos;
                while (samples.size() < MIN_SAMPLES || System.nanoTime() < end) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < batch; i++) {
                        call.run();
                    }
                    samples.add((System.nanoTime() - t0) / 1e3 / batch);
                    progress.update(System.nanoTime() - start, sliceNanos);
                }
                double median = median(samples);
                int usedThreads = threads != null ? threads
                        : backend instanceof OpenBlasBackend ob ? ob.library().numThreads() : javaThreads();
                return new Result(w.name(), w.shape(), backendName, usedThreads, samples.size(), batch, median,
                        median / w.steps());
            } finally {
                if (session != null) {
                    session.close();
                }
            }
        }
    }

    /** The java backend's threads as configured: jlstm.threads, else 1. */
    private static int javaThreads() {
        try {
            return Math.max(1, Integer.parseInt(System.getProperty(THREADS_PROPERTY, "1").trim()));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** One LSTM layer per {@code layers}, uniform(-0.1, 0.1) weights from a fixed seed. */
    static Sequential model(Workload w, Backend backend) {
        Random rnd = new Random(SEED);
        Sequential.Builder b = Sequential.builder(w.inputs());
        int features = w.inputs();
        for (int l = 0; l < w.layers(); l++) {
            LstmSpec spec = LstmSpec.of(w.hidden()).returnSequences(l < w.layers() - 1).withName("lstm_" + l);
            Map<String, Tensor> weights = new LinkedHashMap<>();
            for (var e : spec.weightShapes(features).entrySet()) {
                Tensor t = Tensor.allocate(e.getValue());
                for (long i = 0; i < t.size(); i++) {
                    t.setFlat(i, (rnd.nextFloat() * 2 - 1) * 0.1f);
                }
                weights.put(e.getKey(), t);
            }
            b.add(spec, weights);
            features = w.hidden();
        }
        return b.backend(backend).build();
    }

    static double median(List<Double> samples) {
        double[] s = samples.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static void printTable(PrintWriter out, List<Result> results) {
        String[] head = {"workload", "shape", "backend", "threads", "samples", "median", "per step"};
        List<String[]> rows = new ArrayList<>();
        rows.add(head);
        for (Result r : results) {
            rows.add(new String[] {r.workload(), r.shape(), r.backend(), Integer.toString(r.threads()),
                    r.samples() + (r.callsPerSample() > 1 ? " x" + r.callsPerSample() : ""),
                    time(r.medianMicros()), String.format(Locale.ROOT, "%.2f µs", r.perStepMicros())});
        }
        int[] width = new int[head.length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                // Text columns left, numbers right.
                String cell = i < 3 ? String.format("%-" + width[i] + "s", row[i]) : String.format("%" + width[i] + "s", row[i]);
                line.append(i == 0 ? "" : "  ").append(cell);
            }
            out.println(line.toString().stripTrailing());
        }
    }

    static String time(double micros) {
        return micros >= 1000 ? String.format(Locale.ROOT, "%.2f ms", micros / 1000)
                : String.format(Locale.ROOT, "%.1f µs", micros);
    }

    /** A one-line progress bar on stderr, redrawn in place at most every 100 ms. Not thread-safe. */
    static final class Progress {
        private final PrintWriter err;
        private final int done;
        private final int total;
        private final String label;
        private long lastDraw = Long.MIN_VALUE;
        private int lastFilled = -1;

        Progress(PrintWriter err, int done, int total, String label) {
            this.err = err;
            this.done = done;
            this.total = total;
            this.label = label;
        }

        void update(long elapsed, long slice) {
            long now = System.nanoTime();
            double fraction = (done + Math.min(1.0, (double) elapsed / slice)) / total;
            int filled = (int) Math.round(fraction * BAR_WIDTH);
            if (filled == lastFilled && now - lastDraw < 100_000_000L) {
                return;
            }
            lastDraw = now;
            lastFilled = filled;
            draw(filled);
        }

        void finish() {
            draw(BAR_WIDTH);
            err.println();
        }

        private void draw(int filled) {
            err.print("\r[" + "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled) + "] " + label + "          ");
            err.flush();
        }
    }
}
