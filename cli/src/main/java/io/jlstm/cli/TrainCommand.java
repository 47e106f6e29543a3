package io.jlstm.cli;

import io.jlstm.Sequential;
import io.jlstm.Tensor;
import io.jlstm.io.Csv;
import io.jlstm.io.Npy;
import io.jlstm.train.Callback;
import io.jlstm.train.Fit;
import io.jlstm.train.History;
import io.jlstm.train.Trainer;
import io.jlstm.layers.LayerSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jlstm train}: builds the model a JSON spec describes (Keras' default initialisation,
 * seeded), trains it on X and Y with the {@link Trainer}, prints a line per epoch and the final
 * figures, and writes the model and, if asked, the history.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model described by a JSON spec on .npy/.csv data and save it.",
                "",
                "SPEC: {\"input_features\": 1, \"layers\": [{\"type\": \"LSTM\", \"units\": 50}, "
                        + "{\"type\": \"Dense\", \"units\": 1}], \"loss\": \"mse\", "
                        + "\"optimizer\": {\"name\": \"rmsprop\", \"learning_rate\": 0.001}, \"metrics\": [\"mae\"], "
                        + "\"epochs\": 10, \"batch_size\": 32, \"validation_split\": 0.1, \"seed\": 42}",
                "layers (Keras layer configs: LSTM, GRU, Bidirectional, Dense, Dropout), loss and optimizer are required. "
                        + "Optimizers: sgd (momentum, nesterov), rmsprop (rho, momentum, centered, epsilon), "
                        + "adam (beta_1, beta_2, epsilon, amsgrad, formula keras3|tfjs), adamw (the same and "
                        + "weight_decay); all take learning_rate, clipvalue, clipnorm, global_clipnorm. "
                        + "Losses: mse, mae, binary_crossentropy, categorical_crossentropy, "
                        + "sparse_categorical_crossentropy (with \"from_logits\"). Metrics: mae, accuracy, "
                        + "sparse_categorical_accuracy. Options given here override the spec's training settings.",
                "",
                "X: .npy of shape [batch, time, features]; a rank-2 .npy or a .csv (one row of features per "
                        + "time step) is one sequence, batch 1, as for predict. "
                        + "Y: .npy or .csv of shape [batch, outputs] (a rank-1 .npy is [batch, 1]); "
                        + "for a model whose output keeps the time axis, a .npy [batch, time, outputs]."})
final class TrainCommand implements Callable<Integer> {

    /** Seed when neither the spec nor the command line gives one. */
    static final long DEFAULT_SEED = 42;

    @Spec
    private CommandSpec spec;

    @Option(names = "--spec", required = true, paramLabel = "SPEC.json", description = "The model and training spec.")
    private Path specFile;

    @Option(names = "--x", required = true, paramLabel = "X", description = "Inputs (.npy or .csv).")
    private Path xFile;

    @Option(names = "--y", required = true, paramLabel = "Y", description = "Targets (.npy or .csv).")
    private Path yFile;

    @Option(names = "--out", required = true, paramLabel = "MODEL", description = "Where to write the trained model (.safetensors).")
    private Path out;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs (default: the spec's, else 1).")
    private Integer epochs;

    @Option(names = "--batch-size", paramLabel = "B", description = "Batch size (default: the spec's, else 32).")
    private Integer batchSize;

    @Option(names = "--seed", paramLabel = "S",
            description = "Seed of the initial weights and the shuffle (default: the spec's, else 42).")
    private Long seed;

    @Option(names = "--validation-split", paramLabel = "F",
            description = "Fraction of the samples, from the end, held out (default: the spec's, else 0).")
    private Double validationSplit;

    @Option(names = "--history", paramLabel = "H.json", description = "Also write the training history as JSON.")
    private Path historyFile;

    @Override
    public Integer call() throws IOException {
        if (epochs != null && epochs < 1) {
            throw new UserError("--epochs must be at least 1, got " + epochs);
        }
        if (batchSize != null && batchSize < 1) {
            throw new UserError("--batch-size must be at least 1, got " + batchSize);
        }
        if (validationSplit != null && !(validationSplit >= 0 && validationSplit < 1)) {
            throw new UserError("--validation-split must be in [0, 1), got " + validationSplit);
        }
        TensorFiles.requireWritableFolder(out, "model file");
        if (historyFile != null) {
            TensorFiles.requireWritableFolder(historyFile, "history file");
        }
        TrainSpec s = TrainSpec.read(specFile);
        Tensor x = TensorFiles.readSequences(xFile);
        Tensor y = readTargets(yFile);
        long[] xs = x.shape();
        long[] ys = y.shape();
        if (xs[0] == 0 || xs[1] == 0 || xs[2] == 0) {
            throw new UserError("inputs " + xFile + " are empty (shape " + Arrays.toString(xs)
                    + "): training needs at least one sample of at least one time step");
        }
        if (ys[0] != xs[0]) {
            throw new UserError("inputs " + xFile + " have " + xs[0] + " samples (shape " + Arrays.toString(xs)
                    + ") but targets " + yFile + " have " + ys[0] + " (shape " + Arrays.toString(ys) + ")");
        }
        int features = (int) xs[2];
        if (s.inputFeatures() != null && s.inputFeatures() != features) {
            throw new UserError("spec " + specFile + " has input_features " + s.inputFeatures() + " but inputs "
                    + xFile + " have " + features + " per time step (shape " + Arrays.toString(xs) + ")");
        }
        int nEpochs = epochs != null ? epochs : s.epochs() != null ? s.epochs() : 1;
        int batch = batchSize != null ? batchSize : s.batchSize() != null ? s.batchSize() : 32;
        double split = validationSplit != null ? validationSplit : s.validationSplit() != null ? s.validationSplit() : 0;
        long sd = seed != null ? seed : s.seed() != null ? s.seed() : DEFAULT_SEED;
        if (!(split >= 0 && split < 1)) {
            throw new UserError("spec " + specFile + ": validation_split must be in [0, 1), got " + split);
        }

        PrintWriter w = spec.commandLine().getOut();
        Trainer trainer;
        long params;
        try (Sequential initial = s.initialModel(features, sd)) {
            params = initial.parameterCount();
            int outputs = initial.outputFeatures();
            long last = ys[ys.length - 1];
            long want = s.loss().targetValuesPerRow(outputs);
            if (last != want) {
                throw new UserError("targets " + yFile + " have " + last + " value(s) per sample (shape "
                        + Arrays.toString(ys) + ") but the model has " + outputs + " output(s) and loss "
                        + s.lossName() + " expects " + want + " target value(s) per sample");
            }
            trainer = new Trainer(initial, s.optimizer(), s.loss());
        }
        for (int i = 0; i < s.dropouts().size(); i++) {
            float[] d = s.dropouts().get(i);
            if (d[0] > 0 || d[1] > 0) {
                trainer.dropout(i, d[0], d[1]);
            }
        }
        trainer.dropoutSeed(sd);
        w.println("model: " + describe(s.layers()) + ", " + params + " parameters; loss " + s.lossName()
                + ", optimizer " + s.optimizerSummary()
                + (s.metrics().isEmpty() ? "" : ", metrics " + String.join(", ",
                        s.metrics().stream().map(m -> m.name()).toList())));
        w.println(String.format(Locale.ROOT, "data: X %s, Y %s; %d epochs, batch %d, validation split %s, seed %d",
                Arrays.toString(xs), Arrays.toString(ys), nEpochs, batch, split, sd));
        w.flush();

        History h;
        double seconds;
        try (trainer) {
            Fit fit = Fit.of(trainer).epochs(nEpochs).batchSize(batch).shuffle(s.shuffle(), sd).validationSplit(split)
                    .metrics(s.fitMetrics()).callbacks(new Callback.ProgressListener(Examples.lines(w)));
            long t0 = System.nanoTime();
            h = fit.run(x, y);
            seconds = (System.nanoTime() - t0) / 1e9;
        }

        try (Sequential model = trainer.toModel(null)) {
            model.save(out);
        }
        if (historyFile != null) {
            h.writeJson(historyFile);
        }
        AlignedLines lines = new AlignedLines();
        lines.add("epochs", h.epochs());
        lines.add("training time", String.format(Locale.ROOT, "%.2f s", seconds));
        Map<String, Double> last = h.epoch(h.epochs() - 1);
        for (var e : last.entrySet()) {
            lines.add("final " + e.getKey(), ExampleCommand.fmt(e.getValue()));
        }
        lines.print(w);
        w.println("wrote " + out);
        if (historyFile != null) {
            w.println("wrote " + historyFile);
        }
        w.flush();
        return 0;
    }

    /** Targets as [batch, outputs] (rank 1 as [batch, 1]) or, from a .npy, [batch, time, outputs]. */
    static Tensor readTargets(Path file) throws IOException {
        TensorFiles.Format format = TensorFiles.format(file, "targets");
        TensorFiles.requireReadable(file, "targets file");
        Tensor t = format == TensorFiles.Format.NPY ? Npy.read(file) : Csv.read(file);
        long[] s = t.shape();
        return switch (s.length) {
            case 1 -> t.reshape(s[0], 1);
            case 2, 3 -> t;
            default -> throw new UserError("targets " + file + " have shape " + Arrays.toString(s)
                    + ", expected [batch, outputs]");
        };
    }

    private static String describe(List<LayerSpec> layers) {
        return String.join(" -> ", layers.stream().map(TrainCommand::describe).toList());
    }

    private static String recurrent(io.jlstm.layers.RecurrentSpec r) {
        return r.type() + "(" + r.units() + (r.returnSequences() ? ", return_sequences" : "") + ")";
    }

    private static String describe(LayerSpec l) {
        return switch (l) {
            case io.jlstm.layers.BidirectionalSpec b -> "Bidirectional(" + recurrent(b.layer()) + ", "
                    + b.mergeMode().kerasName() + ")";
            case io.jlstm.layers.LstmSpec r -> recurrent(r);
            case io.jlstm.layers.GruSpec r -> recurrent(r);
            case io.jlstm.layers.DenseSpec d -> "Dense(" + d.units() + ")";
            case io.jlstm.layers.DropoutSpec d -> "Dropout(" + d.rate() + ")";
        };
    }
}
