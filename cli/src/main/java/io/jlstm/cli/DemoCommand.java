package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.StreamingSession;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jlstm demo}: trains the sum-of-sequence model, saves it, loads it back and streams a few
 * held-out sequences through a {@link StreamingSession} one step at a time.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Train the sum-of-sequence model (LSTM(50) -> Dense(1)) in seconds, save it, reload it and "
                + "stream held-out sequences through a session one step at a time, printing each prediction "
                + "beside the true sum and the step latency."})
final class DemoCommand implements Callable<Integer> {

    /** Sequences streamed after training. */
    private static final int STREAMED = 5;

    @Spec
    private CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Folder for model.safetensors (default: a temporary folder, deleted at the end).")
    private Path out;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Seed (default: ${DEFAULT-VALUE}).")
    private long seed;

    /** Fewer samples and epochs, for the tests. */
    @Option(names = "--quick", hidden = true)
    private boolean quick;

    @Override
    public Integer call() throws IOException {
        PrintWriter w = spec.commandLine().getOut();
        int samples = quick ? 300 : 1000;
        int epochs = quick ? 2 : Examples.SUM_EPOCHS;
        java.util.Random data = new java.util.Random(seed);
        Examples.Data d = Examples.sumOfSequence(samples, data);
        Examples.Setup s = new Examples.Setup("sum-of-sequence",
                "LSTM(50) -> Dense(1), rmsprop(lr " + Examples.SUM_LR + ", cosine decay), mse; " + samples
                        + " sequences of 10 uniform(0,1) numbers, target their sum; last 10% held out",
                Examples.sumModel(new java.util.Random(seed ^ 0x5DEECE66DL)), Examples.rmsprop(Examples.SUM_LR),
                d, epochs, 32, 0.1, Examples.SUM_LR, false, true);
        ExampleCommand.Run r = ExampleCommand.train(s, epochs, 32, seed, w);

        boolean temporary = out == null;
        Path dir = temporary ? Files.createTempDirectory("jlstm-demo") : Files.createDirectories(out);
        Path file = dir.resolve("model.safetensors");
        try {
            try (Sequential trained = r.model()) {
                trained.save(file);
            }
            w.println(String.format(Locale.ROOT, "trained in %.1f s, saved to %s", r.seconds(), file));
            int trainedRows = r.history().params().trainingSamples();
            int held = r.history().params().validationSamples();
            try (Sequential model = Sequential.load(file)) {
                w.println("reloaded " + file + " (" + model.parameterCount() + " parameters, backend "
                        + model.backend().name() + ")");
                float[] pred = model.predict(d.xRows(trainedRows, held)).output().toFloatArray();
                double mse = Examples.mse(pred, d.y(), trainedRows, held);
                stream(model, d, trainedRows, w);
                w.println(String.format(Locale.ROOT, "held-out MSE (%d sequences): %s, R² %.4f", held,
                        ExampleCommand.fmt(mse), Examples.r2(pred, d.y(), trainedRows, held)));
            }
        } finally {
            if (temporary) {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            }
        }
        return 0;
    }

    /** Streams {@link #STREAMED} held-out sequences one step at a time; prints predictions and latency. */
    private static void stream(Sequential model, Examples.Data d, int first, PrintWriter w) {
        int t = d.time();
        float[] step = new float[1];
        float[] outBuf = new float[model.outputFeatures()];
        long[] nanos = new long[STREAMED * t];
        float[] preds = new float[STREAMED];
        try (StreamingSession session = model.newSession(1)) {
            // Warm the step path (class loading, then the JIT: the vector kernels are slow until
            // C2 compiles them) so the timings are of steady steps: 1.5 s or 10⁶ steps.
            long warmEnd = System.nanoTime() + 1_500_000_000L;
            for (int k = 0; k < 1_000_000 && (k % 1000 != 0 || System.nanoTime() < warmEnd); k++) {
                step[0] = d.x()[first * t + k % t];
                session.step(step, outBuf);
            }
            for (int i = 0; i < STREAMED; i++) {
                session.reset();
                for (int j = 0; j < t; j++) {
                    step[0] = d.x()[(first + i) * t + j];
                    long t0 = System.nanoTime();
                    session.step(step, outBuf);
                    nanos[i * t + j] = System.nanoTime() - t0;
                }
                preds[i] = outBuf[0];
            }
        }
        w.println("streaming " + STREAMED + " held-out sequences, one step at a time:");
        w.println("  sequence  prediction  true sum   error");
        for (int i = 0; i < STREAMED; i++) {
            float truth = d.y()[first + i];
            w.println(String.format(Locale.ROOT, "  %8d  %10.4f  %8.4f  %+7.4f", i + 1, preds[i], truth,
                    preds[i] - truth));
        }
        double total = 0;
        for (long n : nanos) {
            total += n;
        }
        java.util.Arrays.sort(nanos);
        w.println(String.format(Locale.ROOT, "step latency: mean %.2f µs, median %.2f µs (%d steps, batch 1)",
                total / nanos.length / 1e3, nanos[nanos.length / 2] / 1e3, nanos.length));
    }
}
