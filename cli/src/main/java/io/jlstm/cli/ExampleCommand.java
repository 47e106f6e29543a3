package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.train.Callback;
import io.jlstm.train.Fit;
import io.jlstm.train.History;
import io.jlstm.train.LearningRateSchedule;
import io.jlstm.train.Losses;
import io.jlstm.train.Trainer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code jlstm example NAME}: trains one of the training issue's seed examples with the {@link
 * Trainer} (on the backend {@code jlstm.backend} selects), prints a line per epoch and the final figures, and writes history.json,
 * loss.png and model.safetensors.
 */
@Command(name = "example", mixinStandardHelpOptions = true,
        description = {"Train one of the seed examples and write history.json, loss.png and model.safetensors.",
                "Examples: sum-of-sequence, random-regression, relu-lstm, stacked-forecast, fashion-mnist."})
final class ExampleCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME",
            description = "sum-of-sequence, random-regression, relu-lstm, stacked-forecast or fashion-mnist.")
    private String name;

    @Option(names = "--data", paramLabel = "DIR",
            description = "fashion-mnist: folder of the IDX files (default: /usr/share/datasets/fashion-mnist, "
                    + "from Debian's dataset-fashion-mnist).")
    private Path data;

    @Option(names = "--limit", paramLabel = "N", hidden = true,
            description = "fashion-mnist: use only the first N training images (and N/6 test images).")
    private int limit;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs (default: the example's own).")
    private Integer epochs;

    @Option(names = "--batch-size", paramLabel = "B", description = "Batch size (default: the example's own).")
    private Integer batchSize;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42",
            description = "Seed of the data, the initial weights and the shuffle (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--learning-rate", paramLabel = "LR",
            description = "Learning rate (default: the example's own).")
    private Float learningRate;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Folder for history.json, loss.png and model.safetensors (default: ./jlstm-example-NAME).")
    private Path out;

    @Override
    public Integer call() throws IOException {
        if (!Examples.NAMES.contains(name)) {
            throw new UserError(Examples.unknown(name));
        }
        if (epochs != null && epochs < 1) {
            throw new UserError("--epochs must be at least 1, got " + epochs);
        }
        if (batchSize != null && batchSize < 1) {
            throw new UserError("--batch-size must be at least 1, got " + batchSize);
        }
        if (learningRate != null && !(learningRate > 0 && Float.isFinite(learningRate))) {
            throw new UserError("--learning-rate must be positive, got " + learningRate);
        }
        PrintWriter w = spec.commandLine().getOut();
        Path dir = out != null ? out : Path.of("jlstm-example-" + name);
        if (name.equals("fashion-mnist")) {
            return FashionMnist.run(data != null ? data : FashionMnist.DEFAULT_DATA, limit,
                    epochs == null ? 10 : epochs, batchSize == null ? 128 : batchSize, seed,
                    learningRate == null ? 0.001f : learningRate, dir, w);
        }
        Files.createDirectories(dir);

        Examples.Setup s = Examples.setup(name, seed, learningRate == null ? 0f : learningRate);
        Run r = train(s, epochs == null ? s.epochs() : epochs, batchSize == null ? s.batchSize() : batchSize, seed,
                w);
        try (Sequential model = r.model()) {
            Path modelFile = dir.resolve("model.safetensors");
            model.save(modelFile);
            Path historyFile = dir.resolve("history.json");
            r.history().writeJson(historyFile);
            Path png = dir.resolve("loss.png");
            LossCurve.write(png, "jlstm example " + name + " (" + r.history().epochs() + " epochs)",
                    r.history().loss(), r.history().params().hasValidation() ? r.history().valLoss() : List.of());
            figures(s, r, model, w);
            w.println("wrote " + historyFile);
            w.println("wrote " + png);
            w.println("wrote " + modelFile);
        }
        return 0;
    }

    /** A finished training: the trained model, its history and the training wall time. */
    record Run(Sequential model, History history, double seconds) {
    }

    static Run train(Examples.Setup s, int epochs, int batch, long seed, PrintWriter w) {
        w.println("example " + s.name() + ": " + s.summary());
        w.println(String.format(Locale.ROOT, "%d samples of %d steps x %d feature(s), %d epochs, batch %d, seed %d, "
                        + "%d parameters", s.data().samples(), s.data().time(), s.data().features(), epochs, batch,
                seed, s.model().parameterCount()));
        w.flush();
        if (s.cosineDecay()) {
            // Decay to 5% over the run: RMSprop at a constant rate leaves the held-out loss jumping
            // between epochs; the decay lets the last epochs settle.
            int trainRows = (int) Math.floor(s.data().samples() * (1.0 - s.validationSplit()));
            int steps = epochs * ((trainRows + batch - 1) / batch);
            s.optimizer().withSchedule(LearningRateSchedule.cosineDecay(s.learningRate(), steps, 0.05f));
        }
        Trainer trainer;
        try (Sequential initial = s.model()) {
            trainer = new Trainer(initial, s.optimizer(), Losses.meanSquaredError());
        }
        try (trainer) {
            Fit fit = Fit.of(trainer).epochs(epochs).batchSize(batch).shuffle(true, seed)
                    .validationSplit(s.validationSplit()).callbacks(new Callback.ProgressListener(Examples.lines(w)));
            long t0 = System.nanoTime();
            History h = fit.run(s.data().xTensor(), s.data().yTensor());
            double seconds = (System.nanoTime() - t0) / 1e9;
            return new Run(trainer.toModel(null), h, seconds);
        }
    }

    private static void figures(Examples.Setup s, Run r, Sequential model, PrintWriter w) {
        Examples.Data d = s.data();
        History h = r.history();
        int trained = h.params().trainingSamples();
        AlignedLines lines = new AlignedLines();
        lines.add("epochs", h.epochs());
        lines.add("training time", String.format(Locale.ROOT, "%.1f s (%.0f samples/s)", r.seconds(),
                (double) trained * h.epochs() / r.seconds()));
        lines.add("final training loss", fmt(h.loss().getLast()));
        int held = h.params().validationSamples();
        if (held > 0) {
            float[] pred = model.predict(d.xRows(trained, held)).output().toFloatArray();
            double mse = Examples.mse(pred, d.y(), trained, held);
            lines.add("held-out samples", held);
            lines.add("held-out MSE", fmt(mse));
            if (s.persistenceBaseline()) {
                double p = Examples.persistenceMse(d, trained, held);
                lines.add("persistence MSE", fmt(p));
                lines.add("persistence / model", String.format(Locale.ROOT, "%.2fx%s", p / mse,
                        p / mse >= 2 ? "" : " (below the 2x bar)"));
            } else {
                double r2 = Examples.r2(pred, d.y(), trained, held);
                lines.add("held-out R²", String.format(Locale.ROOT, "%.4f", r2));
                if (s.name().equals("sum-of-sequence")) {
                    lines.add("bar (MSE < 0.01)", mse < 0.01 ? "reached" : "not reached (try more --epochs)");
                }
            }
        }
        lines.print(w);
    }

    static String fmt(double v) {
        return Math.abs(v) >= 1e-3 || v == 0 ? String.format(Locale.ROOT, "%.4f", v)
                : String.format(Locale.ROOT, "%.4e", v);
    }
}
